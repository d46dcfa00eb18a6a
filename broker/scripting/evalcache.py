"""EVAL scripts: the SHA1 -> compiled function cache and one script invocation
(``eval.c`` ``luaCreateFunction`` / ``evalGenericCommand``).

A script is compiled once, on its first EVAL or SCRIPT LOAD, and kept by the
SHA1 of its body until SCRIPT FLUSH; EVALSHA of a known SHA costs a dict lookup.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from broker.resp import CommandError, ProtocolError, split_inline
from broker.scripting.engine import Sandbox, ScriptRun, _CompileError

if TYPE_CHECKING:
    from broker.client import Client

__all__ = ["EvalScripts", "Script", "parse_shebang", "SCRIPT_FLAGS", "NOSCRIPT", "RO_WRITE_SCRIPT"]

NOSCRIPT = "NOSCRIPT No matching script. Please use EVAL."
RO_WRITE_SCRIPT = "ERR Can not execute a script with write flag using *_ro command."
# Flags a "#!lua flags=..." line (or a function's flags table) may name.
SCRIPT_FLAGS = ("no-writes", "allow-oom", "allow-stale", "no-cluster", "allow-cross-slot-keys")


@dataclass(slots=True, eq=False)
class Script:
    sha: str
    body: bytes
    function: Any
    # None: no shebang (compatibility mode: flags come from the commands run)
    flags: frozenset[str] | None
    # what EVAL/EVALSHA's run needs, worked out once: the flags as a set, whether a
    # plain EVAL of it is read-only (flags=no-writes), whether *_RO may run it
    run_flags: frozenset[str] = frozenset()
    read_only: bool = False
    ro_allowed: bool = True

    def __post_init__(self) -> None:
        flags = self.flags
        self.run_flags = flags or frozenset()
        self.read_only = flags is not None and "no-writes" in flags
        self.ro_allowed = flags is None or "no-writes" in flags


def parse_shebang(body: bytes) -> tuple[frozenset[str] | None, int]:
    """``evalExtractShebangFlags``: (flags or None without a shebang, its length).

    Raises:
        CommandError: a malformed shebang, worded as Redis words it.
    """
    if not body.startswith(b"#!"):
        return None, 0
    end = body.find(b"\n")
    if end < 0:
        raise CommandError("ERR Invalid script shebang")
    try:
        # sdssplitargs, as Redis splits it: quotes and escapes work (flags="no-writes")
        parts = [part.decode("utf-8", "replace") for part in split_inline(body[:end])]
    except ProtocolError:
        parts = []
    if not parts:
        raise CommandError("ERR Invalid engine in script shebang")
    if parts[0] != "#!lua":
        raise CommandError(f"ERR Unexpected engine in script shebang: {parts[0]}")
    flags: set[str] = set()
    for part in parts[1:]:
        if not part.startswith("flags="):
            raise CommandError(f"ERR Unknown lua shebang option: {part}")
        # sdssplitlen: "flags=" alone names no flag
        for flag in part[6:].split(",") if part[6:] else ():
            if flag not in SCRIPT_FLAGS:
                raise CommandError(f"ERR Unexpected flag in script shebang: {flag}")
            flags.add(flag)
    return frozenset(flags), end


class EvalScripts:
    """The script cache and EVAL/EVALSHA on one sandbox."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.scripts: dict[str, Script] = {}
        # the SHA as clients send it (bytes, any case) -> script: EVALSHA's lookup
        self.by_raw: dict[bytes, Script] = {}

    def load(self, body: bytes) -> Script:
        """SCRIPT LOAD / EVAL's first sight: compile and cache (once per SHA)."""
        sha = hashlib.sha1(body).hexdigest()
        script = self.scripts.get(sha)
        if script is not None:
            return script
        flags, shebang = parse_shebang(body)
        try:
            # past a shebang, keep its line feed so line numbers stay the user's
            function = self.sandbox.compile(body[shebang:], b"@user_script")
        except _CompileError as exc:
            raise CommandError(f"ERR Error compiling script (new function): {exc.lua_message}") from None
        script = Script(sha, body, function, flags)
        self.scripts[sha] = script
        return script

    def find(self, sha: bytes) -> Script | None:
        script = self.by_raw.get(sha)
        if script is not None or len(sha) != 40:
            return script
        script = self.scripts.get(sha.decode("latin-1").lower())
        if script is not None and len(self.by_raw) < 65536:
            self.by_raw[sha] = script
        return script

    def flush(self) -> None:
        self.scripts.clear()
        self.by_raw.clear()
        # a new interpreter, as Redis's (the Tcl suite's "reset Lua VM"): what scripts
        # loaded (libraries) or left behind goes with the old one
        self.sandbox = self.sandbox.renewed()

    def run(self, client: "Client", script: Script, keys: list[bytes], args: list[bytes], ro: bool) -> Any:
        """``scriptPrepareForRun`` + ``luaCallFunction`` for an EVAL script (EVALSHA
        does the same inline: broker/commands/scripting.py)."""
        if ro and not script.ro_allowed:
            raise CommandError(RO_WRITE_SCRIPT)
        sandbox = self.sandbox
        return sandbox.execute(ScriptRun(client, script.sha, ro or script.read_only, sandbox.monotonic(),
                                         script.run_flags),
                               sandbox.run_eval, script.function, keys, args, sandbox.fixed_eval)
