"""Generate broker/command_docs.json from Redis's src/commands/*.json.

Usage: python scripts/gen_command_docs.py GIT_DIR > broker/command_docs.json

GIT_DIR is a (bare) clone of github.com/redis/redis; commands come from tag 7.0.15, the few 7.2
additions fanout implements (``client|no-touch``, ``client|setinfo``) from 7.2.4,
and fanout's own FANOUT.* commands from ``FANOUT`` below. Run it again after a
command is added to the broker's table or the tag changes; the broker reads the
file on the first COMMAND INFO/DOCS (``broker/commandinfo.py``).

Per command and subcommand (``container|sub``), what COMMAND INFO and COMMAND DOCS
answer, worked out here the way Redis 7.0.15 works it out at start-up, so the
broker only has to serve it:

- ``flags`` in ``addReplyFlagsForCommand``'s order, ``movablekeys`` added as
  ``populateCommandLegacyRangeSpec`` adds it, the hidden ones (may_replicate,
  sentinel, only_sentinel, protected) left out;
- ``range``: the legacy (first, last, step) glued from the key specs;
- ``acl``: the declared categories plus the implicit ones
  (``setImplicitACLCategories``) in ``ACLCommandCategories``'s order;
- ``tips`` lower-cased; ``key_specs`` as ``addReplyCommandKeySpecs`` writes them;
- ``docs``: the COMMAND DOCS map but for its ``subcommands`` (argument names
  lower-cased, tokens upper-cased, as ``utils/generate-command-code.py`` does).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

TAG = "7.0.15"
# commands fanout implements that came after 7.0 (README: "7.2 additions")
LATER = {"7.2.4": ("client-no-touch.json", "client-setinfo.json")}

COMMAND_FLAGS = ["WRITE", "READONLY", "DENYOOM", "MODULE", "ADMIN", "PUBSUB", "NOSCRIPT", "BLOCKING",
                 "LOADING", "STALE", "SKIP_MONITOR", "SKIP_SLOWLOG", "ASKING", "FAST", "NO_AUTH",
                 "NO_MANDATORY_KEYS", "NO_ASYNC_LOADING", "NO_MULTI", "MOVABLE_KEYS", "ALLOW_BUSY"]
FLAG_NAMES = {"MOVABLE_KEYS": "movablekeys"}
KEY_FLAGS = ["RO", "RW", "OW", "RM", "ACCESS", "UPDATE", "INSERT", "DELETE", "NOT_KEY", "INCOMPLETE",
             "VARIABLE_FLAGS"]
CATEGORIES = ["keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap",
              "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking", "dangerous",
              "connection", "transaction", "scripting"]
GROUPS = {"sorted_set": "sorted-set"}

# fanout's own commands (broker/commands/fanout.py), described as Redis describes its own
def _fanout(summary: str, arity: int, flags: list[str], args: list[tuple[str, str]]) -> dict[str, Any]:
    """A FANOUT.* command: its first argument (a channel) names the keys it writes
    (``history:{<channel>}`` ...), so it is the key for COMMAND GETKEYS and cluster slots."""
    return {
        "summary": summary, "complexity": "O(1)", "group": "pubsub", "since": "0.1.0", "arity": arity,
        "command_flags": flags, "acl_categories": ["PUBSUB"],
        "key_specs": [{"notes": "the channel: the keys written are named after it", "flags": ["RW", "UPDATE"],
                       "begin_search": {"index": {"pos": 1}},
                       "find_keys": {"range": {"lastkey": 0, "step": 1, "limit": 0}}}],
        "arguments": [{"name": name, "type": kind, **({"key_spec_index": 0} if kind == "key" else {})}
                      for name, kind in args],
    }


# fanout's own commands (broker/commands/fanout.py), described as Redis describes its own
FANOUT: dict[str, Any] = {
    "FANOUT.PUBLISH": _fanout("Appends a message to a channel's history stream and publishes it with its offset",
                              5, ["WRITE", "DENYOOM"], [("channel", "key"), ("maxlen", "integer"),
                                                         ("ttl", "integer"), ("data", "string")]),
    "FANOUT.JOIN": _fanout("Adds a connection to a channel's presence and publishes the join", 5,
                           ["WRITE", "DENYOOM"], [("channel", "key"), ("conn", "string"), ("user", "string"),
                                                  ("meta", "string")]),
    "FANOUT.LEAVE": _fanout("Removes a connection from a channel's presence and publishes the leave", 4,
                            ["WRITE"], [("channel", "key"), ("conn", "string"), ("user", "string")]),
    "FANOUT.ONCE": _fanout("Runs a publish unless one with the same idempotency key ran within the window", -6,
                           ["WRITE", "DENYOOM"], [("key", "key"), ("window", "integer"), ("command", "string"),
                                                  ("arg", "string")]),
}


def _git(git_dir: str, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", git_dir, *args], check=True, capture_output=True,
                          text=True).stdout


def _key_spec(spec: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if spec.get("notes"):
        out["notes"] = spec["notes"]
    out["flags"] = [flag.lower() if len(flag) > 2 else flag for flag in KEY_FLAGS if flag in spec.get("flags", ())]
    begin = spec["begin_search"]
    if "index" in begin:
        out["begin_search"] = {"type": "index", "spec": {"index": begin["index"]["pos"]}}
    elif "keyword" in begin:
        out["begin_search"] = {"type": "keyword", "spec": {"keyword": begin["keyword"]["keyword"],
                                                           "startfrom": begin["keyword"]["startfrom"]}}
    else:
        out["begin_search"] = {"type": "unknown", "spec": {}}
    find = spec["find_keys"]
    if "range" in find:
        out["find_keys"] = {"type": "range", "spec": {"lastkey": find["range"]["lastkey"],
                                                      "keystep": find["range"]["step"],
                                                      "limit": find["range"]["limit"]}}
    elif "keynum" in find:
        out["find_keys"] = {"type": "keynum", "spec": {"keynumidx": find["keynum"]["keynumidx"],
                                                       "firstkey": find["keynum"]["firstkey"],
                                                       "keystep": find["keynum"]["step"]}}
    else:
        out["find_keys"] = {"type": "unknown", "spec": {}}
    return out


def _legacy_range(specs: list[dict[str, Any]], movable: list[bool]) -> list[int]:
    """populateCommandLegacyRangeSpec: (first, last, step); sets movable[0]."""
    def plain(spec: dict[str, Any]) -> bool:
        return "index" in spec["begin_search"] and "range" in spec["find_keys"]

    if not specs:
        return [0, 0, 0]
    if len(specs) == 1 and plain(specs[0]):
        spec = specs[0]
        if "INCOMPLETE" in spec.get("flags", ()):
            movable[0] = True
        first, last = spec["begin_search"]["index"]["pos"], spec["find_keys"]["range"]["lastkey"]
        return [first, last + first if last >= 0 else last, spec["find_keys"]["range"]["step"]]
    firstkey, lastkey, prev_lastkey = 1 << 31, 0, 0
    for spec in specs:
        if not plain(spec):
            movable[0] = True
            continue
        pos, rng = spec["begin_search"]["index"]["pos"], spec["find_keys"]["range"]
        if rng["step"] != 1 or (prev_lastkey and prev_lastkey != pos - 1):
            movable[0] = True
            continue
        if "INCOMPLETE" in spec.get("flags", ()):
            movable[0] = True
        firstkey = min(firstkey, pos)
        last_abs = rng["lastkey"] + pos if rng["lastkey"] >= 0 else rng["lastkey"]
        lastkey = max(lastkey % (1 << 32), last_abs % (1 << 32))  # Redis compares them unsigned
        lastkey = lastkey - (1 << 32) if lastkey >= 1 << 31 else lastkey
        prev_lastkey = lastkey
    if firstkey == 1 << 31:
        movable[0] = True
        return [0, 0, 0]
    relative = lastkey if lastkey < 0 else lastkey - firstkey
    return [firstkey, relative + firstkey if relative >= 0 else relative, 1]


def _arguments(args: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for arg in args:
        entry: dict[str, Any] = {"name": arg["name"].lower(), "type": arg["type"]}
        if "key_spec_index" in arg:
            entry["key_spec_index"] = arg["key_spec_index"]
        if arg.get("token"):
            entry["token"] = arg["token"].upper()
        for name in ("summary", "since", "deprecated_since"):
            if arg.get(name):
                entry[name] = arg[name]
        flags = [flag for flag in ("optional", "multiple", "multiple_token") if arg.get(flag)]
        if flags:
            entry["flags"] = flags
        if arg["type"] in ("oneof", "block"):
            entry["arguments"] = _arguments(arg.get("arguments", []))
        out.append(entry)
    return out


def describe(body: dict[str, Any], group: str) -> dict[str, Any]:
    flags = set(body.get("command_flags", ()))
    specs = body.get("key_specs", [])
    movable = [False]
    legacy = _legacy_range(specs, movable)
    if movable[0]:
        flags.add("MOVABLE_KEYS")
    categories = {category.lower() for category in body.get("acl_categories", ())}
    implicit = {"WRITE": ("write",), "ADMIN": ("admin", "dangerous"), "PUBSUB": ("pubsub",), "FAST": ("fast",),
                "BLOCKING": ("blocking",)}
    for flag, names in implicit.items():
        if flag in flags:
            categories.update(names)
    if "READONLY" in flags and "scripting" not in categories:
        categories.add("read")
    if "fast" not in categories:
        categories.add("slow")
    docs: dict[str, Any] = {}
    for name in ("summary", "since"):
        if body.get(name):
            docs[name] = body[name]
    docs["group"] = GROUPS.get(group, group)
    if body.get("complexity"):
        docs["complexity"] = body["complexity"]
    if body.get("doc_flags"):
        docs["doc_flags"] = [flag.lower() for flag in ("DEPRECATED", "SYSCMD") if flag in body["doc_flags"]]
    for name in ("deprecated_since", "replaced_by"):
        if body.get(name):
            docs[name] = body[name]
    if body.get("history"):
        docs["history"] = [list(item) for item in body["history"]]
    if body.get("arguments"):
        docs["arguments"] = _arguments(body["arguments"])
    return {
        "arity": body["arity"],
        "flags": [FLAG_NAMES.get(flag, flag.lower()) for flag in COMMAND_FLAGS if flag in flags],
        "range": legacy,
        "acl": [category for category in CATEGORIES if category in categories],
        "tips": [tip.lower() for tip in body.get("command_tips", ())],
        "key_specs": [_key_spec(spec) for spec in specs],
        "docs": docs,
    }


def _load(git_dir: str) -> dict[str, dict[str, Any]]:
    """Every command body by full name (``container|sub`` lower-cased)."""
    files = [(TAG, name) for name in _git(git_dir, "ls-tree", "--name-only", f"{TAG}:src/commands").split()
             if name.endswith(".json")]
    files += [(tag, name) for tag, names in LATER.items() for name in names]
    bodies: dict[str, dict[str, Any]] = {}
    for tag, name in files:
        if "/" not in name:
            name = f"src/commands/{name}"
        for command, body in json.loads(_git(git_dir, "show", f"{tag}:{name}")).items():
            full = command.lower()
            if "container" in body:
                full = f"{body['container'].lower()}|{full}"
            bodies[full] = body
    for command, body in FANOUT.items():
        bodies[command.lower()] = body
    return bodies


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(f"usage: python {sys.argv[0]} GIT_DIR  (a bare clone of github.com/redis/redis)")
    git_dir = sys.argv[1]
    bodies = _load(git_dir)
    table: dict[str, Any] = {}
    for full in sorted(bodies):
        body = bodies[full]
        container = full.partition("|")[0] if "|" in full else None
        group = bodies[container]["group"] if container else body["group"]
        table[full] = describe(body, group)
    header = {"_generated_by": "scripts/gen_command_docs.py", "_redis_tag": TAG}
    json.dump({**header, "commands": table}, sys.stdout, indent=None, separators=(",", ":"), sort_keys=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
