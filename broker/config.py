"""CONFIG GET/SET parameters: names, defaults, validation (sans-I/O).

Values are kept as the strings CONFIG GET returns; typed views are derived by
whoever acts on a value, told of each change through ``Config.listeners``.
"""

from __future__ import annotations

import math
import os
from typing import Callable

from broker import config_params
from broker.notify import flags_from_string, flags_to_string
from broker.resp import CommandError

__all__ = ["Config", "ConfigApplyError", "parse_memory", "save_points"]


class ConfigApplyError(Exception):
    """Raised by a listener that cannot apply a value (a port already taken): CONFIG
    SET then puts every parameter of the call back, as Redis's apply step does."""


def parse_memory(text: str) -> int | None:
    """``"32mb"`` -> 33554432, like Redis ``memtoull``; None if invalid."""
    text = text.strip().lower()
    units = {"b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}
    for suffix in ("kb", "mb", "gb", "k", "m", "g", "b"):
        if text.endswith(suffix):
            number = text[: -len(suffix)]
            multiplier = units[suffix]
            break
    else:
        number, multiplier = text, 1
    if not number.isdigit():
        return None
    return int(number) * multiplier


def _check_int(name: str, low: int, high: int) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        negative = value.startswith("-") and value[1:].isdigit()
        number = -int(value[1:]) if negative else parse_memory(value)
        if number is None:
            return "argument couldn't be parsed into an integer"
        if not low <= number <= high:
            return f"argument must be between {low} and {high} inclusive"
        return None
    return check


def _check_events(value: str) -> str | None:
    return None if flags_from_string(value) is not None else "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."


def _check_output_limits(value: str) -> str | None:
    words = value.split()
    if len(words) % 4:
        return "Wrong number of arguments in buffer limit configuration."
    for i in range(0, len(words), 4):
        cls, hard, soft, seconds = words[i:i + 4]
        if cls not in ("normal", "slave", "replica", "pubsub"):
            return "Invalid client class specified in buffer limit configuration."
        if parse_memory(hard) is None or parse_memory(soft) is None or not seconds.isdigit():
            return "Error in hard, soft or soft_seconds setting in buffer limit configuration."
    return None


def _any(value: str) -> str | None:
    return None


def _yes_no(value: str) -> str | None:
    return None if value.lower() in ("yes", "no") else "argument must be 'yes' or 'no'"


def _one_of(*choices: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if value.lower() in choices else "argument(s) must be one of the following: " + ", ".join(choices)
    return check


def _check_save(value: str) -> str | None:
    words = value.split()
    if len(words) % 2 or not all(word.isdigit() for word in words):
        return "Invalid save parameters"
    return None


def save_points(value: str) -> list[tuple[int, int]]:
    """``"3600 1 300 100"`` -> [(3600, 1), (300, 100)]: (seconds, changes) pairs."""
    words = value.split()
    return [(int(words[i]), int(words[i + 1])) for i in range(0, len(words) - 1, 2)]


def _check_dir(value: str) -> str | None:
    return None if os.path.isdir(value) else "No such file or directory"


def _check_dbfilename(value: str) -> str | None:
    return "dbfilename can't be a path, just a filename" if "/" in value else None


# name -> (default, validator, aliases)
def _percentiles(value: str) -> list[float] | None:
    """setConfigLatencyTrackingInfoPercentilesOutputOption's parse (None: not numbers)."""
    words = value.split()
    try:
        found = [float(word) for word in words]
    except ValueError:
        return None
    return None if any(math.isnan(number) for number in found) else found


def _check_percentiles(value: str) -> str | None:
    found = _percentiles(value)
    if found is None:
        return "Invalid latency-tracking-info-percentiles parameters"
    if any(number > 100.0 or number < 0.0 for number in found):
        return "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
    return None


def render_percentile(number: float) -> str:
    """``%f`` then trimDoubleString: 50.0 -> "50", 99.9 -> "99.9"."""
    text = "%f" % number
    return text.rstrip("0").rstrip(".") if "." in text else text


_PARAMETERS: dict[str, tuple[str, Callable[[str], str | None]]] = {
    "notify-keyspace-events": ("", _check_events),
    "requirepass": ("", _any),
    "client-output-buffer-limit": (
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60", _check_output_limits),
    "proto-max-bulk-len": ("536870912", _check_int("proto-max-bulk-len", 1024 * 1024, 2**63 - 1)),
    "maxclients": ("10000", _check_int("maxclients", 1, 2**31 - 1)),
    "maxmemory": ("0", _check_int("maxmemory", 0, 2**63 - 1)),
    "maxmemory-policy": ("noeviction", _any),
    "timeout": ("0", _check_int("timeout", 0, 2**31 - 1)),
    "databases": ("16", _check_int("databases", 1, 2**31 - 1)),
    "hz": ("10", _check_int("hz", 0, 2**31 - 1)),
    "port": ("6380", _check_int("port", 0, 65535)),
    "bind": ("127.0.0.1", _any),
    "protected-mode": ("yes", _yes_no),
    # RDB snapshots (broker/persistence). A bare Broker (tests, in-process use)
    # saves nothing by itself: ``save`` is off here, and `fanout serve`/`fanout
    # broker` set Redis's default schedule through their --save flag.
    # ``dir`` "." is the directory the server was started in.
    "save": ("", _check_save),
    "dir": (".", _check_dir),
    "dbfilename": ("dump.rdb", _check_dbfilename),
    "rdbcompression": ("yes", _yes_no),
    "rdbchecksum": ("yes", _yes_no),
    "stop-writes-on-bgsave-error": ("yes", _yes_no),
    "rdb-del-sync-files": ("no", _yes_no),
    "sanitize-dump-payload": ("no", _any),
    "appendonly": ("no", _yes_no),
    # AOF (broker/persistence/aof.py); dir is where its directory lives
    "appendfsync": ("everysec", _one_of("always", "everysec", "no")),
    "appenddirname": ("appendonlydir", _any),
    "appendfilename": ("appendonly.aof", _any),
    "auto-aof-rewrite-percentage": ("100", _check_int("auto-aof-rewrite-percentage", 0, 2**31 - 1)),
    "auto-aof-rewrite-min-size": ("67108864", _check_int("auto-aof-rewrite-min-size", 0, 2**63 - 1)),
    "aof-use-rdb-preamble": ("yes", _yes_no),
    "aof-load-truncated": ("yes", _yes_no),
    "aof-timestamp-enabled": ("no", _yes_no),
    "aof-rewrite-incremental-fsync": ("yes", _yes_no),
    "no-appendfsync-on-rewrite": ("no", _yes_no),
    "lazyfree-lazy-expire": ("no", _yes_no),
    "tcp-keepalive": ("300", _check_int("tcp-keepalive", 0, 2**31 - 1)),
    "client-query-buffer-limit": ("1073741824", _check_int("client-query-buffer-limit", 1024 * 1024, 2**63 - 1)),
    # Redis 7 renamed lua-time-limit to busy-reply-threshold and keeps both names;
    # CONFIG SET of either sets both (see _TWINS). A runaway script is stopped past it.
    "busy-reply-threshold": ("5000", _check_int("busy-reply-threshold", 0, 2**63 - 1)),
    "lua-time-limit": ("5000", _check_int("lua-time-limit", 0, 2**63 - 1)),
    # fanout's own: the most memory the Lua interpreter may use (0: no limit); a
    # script that would need more gets an error instead of swelling the server.
    "lua-max-memory": ("268435456", _check_int("lua-max-memory", 0, 2**63 - 1)),
    "slowlog-log-slower-than": ("10000", _check_int("slowlog-log-slower-than", -1, 2**63 - 1)),
    "slowlog-max-len": ("128", _check_int("slowlog-max-len", 0, 2**63 - 1)),
    # INFO latencystats' percentiles (broker/cmdstats.py); Redis renders each as %f trimmed
    "latency-tracking-info-percentiles": ("50 99 99.9", _check_percentiles),
    "cluster-enabled": ("no", _yes_no),
    "hll-sparse-max-bytes": ("3000", _check_int("hll-sparse-max-bytes", 0, 2**63 - 1)),
}
_ALIASES = {"replica-output-buffer-limit": "client-output-buffer-limit"}
# Two names of one parameter that CONFIG GET lists separately, as Redis does.
_TWINS = {"lua-time-limit": "busy-reply-threshold", "busy-reply-threshold": "lua-time-limit"}
# Old names of Redis 7.0 parameters (hash-max-ziplist-entries -> hash-max-listpack-entries, ...)
_GENERIC_ALIASES = {parameter[6]: parameter[0] for parameter in config_params.PARAMETERS
                    if parameter[6] and parameter[6] not in _ALIASES}
# Values a redis-server without its own jemalloc refuses, as this broker does (it has
# no defragmenter either).
_REFUSED = {("activedefrag", "yes"): "Active defragmentation cannot be enabled: it requires a Redis server "
            "compiled with a modified Jemalloc like the one shipped by default with the Redis source distribution"}
# TLS parameters: changing one reconfigures TLS, which this broker does not have.
_TLS = {"tls-port", "tls-session-cache-size", "tls-session-cache-timeout", "tls-cluster", "tls-replication",
        "tls-prefer-server-ciphers", "tls-session-caching", "tls-cert-file", "tls-key-file", "tls-key-file-pass",
        "tls-client-cert-file", "tls-client-key-file", "tls-client-key-file-pass", "tls-dh-params-file",
        "tls-ca-cert-file", "tls-ca-cert-dir", "tls-protocols", "tls-ciphers", "tls-ciphersuites"}
# Parameters whose value Redis raises on CONFIG SET (CONFIG_REPL_BACKLOG_MIN_SIZE).
_AT_LEAST = {"repl-backlog-size": 16384}
# Redis refuses to change these at runtime.
_IMMUTABLE = {"databases", "cluster-enabled", "appenddirname", "appendfilename"}


class Config:
    """The broker's runtime parameters as CONFIG sees them."""

    def __init__(self, overrides: dict[str, str] | None = None) -> None:
        # Every parameter of Redis 7.0 (config_params), then this broker's own
        # defaults and checks on top for the ones it acts on.
        self.values: dict[str, str] = {
            parameter[0]: parameter[2] for parameter in config_params.PARAMETERS}
        self.values.update({name: default for name, (default, _) in _PARAMETERS.items()})
        self.listeners: list[Callable[[str, str], None]] = []
        for name, value in (overrides or {}).items():
            self.values[name] = value
        # Redis chdirs into ``dir`` and CONFIG GET shows it absolute; we keep the
        # process's directory and store the absolute path instead.
        self.values["dir"] = os.path.abspath(self.values["dir"])

    def get(self, name: str) -> str:
        value = self.values.get(name)
        if value is None and name in _GENERIC_ALIASES:
            return self.values[_GENERIC_ALIASES[name]]
        if value is None:
            raise KeyError(name)
        return value

    def names(self) -> list[str]:
        """Parameter names CONFIG GET matches: every name and, as Redis 7.0, the old
        names (``hash-max-ziplist-entries`` ...) too."""
        return list(self.values) + [alias for alias in _GENERIC_ALIASES if alias not in self.values]

    def set_many(self, pairs: list[tuple[str, str]]) -> None:
        """CONFIG SET semantics: validate everything first, then apply all.

        Raises:
            CommandError: with Redis's wording, naming the offending parameter.
        """
        seen: set[str] = set()
        resolved = []
        for raw_name, value in pairs:
            name = _ALIASES.get(raw_name.lower(), raw_name.lower())
            name = _GENERIC_ALIASES.get(name, name)
            generic = config_params.BY_NAME.get(name) if name not in _PARAMETERS else None
            if generic is not None and generic[1] != "special" and not generic[7] and not generic[8]:
                # Redis 7.0 takes a name and its old alias in one CONFIG SET (the last wins)
                if raw_name.lower() in seen:
                    raise CommandError(f"ERR CONFIG SET failed (possibly related to argument '{raw_name}') - "
                                       "duplicate parameter")
                seen.add(raw_name.lower())
                problem, rendered = config_params.check_and_render(generic, value)
                problem = problem or _REFUSED.get((name, rendered))
                if problem is None and name in _TLS and rendered != self.values.get(name):
                    # No TLS here: redis-server with no certificate refuses a changed TLS
                    # parameter once TLS would be on (its apply step runs only for changes)
                    after = {**self.values, name: rendered}
                    if (name == "tls-port" or after["tls-replication"] == "yes"
                            or after["tls-cluster"] == "yes"):
                        problem = "Unable to update TLS configuration. Check server logs."
                if problem is not None:
                    raise CommandError(
                        f"ERR CONFIG SET failed (possibly related to argument '{raw_name}') - {problem}")
                resolved.append((name, rendered, raw_name))
                continue
            if generic is not None and (generic[7] or generic[8]):
                raise CommandError(
                    f"ERR CONFIG SET failed (possibly related to argument '{raw_name}') - "
                    f"can't set {'immutable' if generic[7] else 'protected'} config")
            if name not in _PARAMETERS or name in _IMMUTABLE:
                if name in _IMMUTABLE:
                    raise CommandError(
                        f"ERR CONFIG SET failed (possibly related to argument '{raw_name}') - "
                        "can't set immutable config")
                raise CommandError(f"ERR Unknown option or number of arguments for CONFIG SET - '{raw_name}'")
            if name in seen:
                raise CommandError(f"ERR CONFIG SET failed (possibly related to argument '{raw_name}') - "
                                   "duplicate parameter")
            seen.add(name)
            known = config_params.BY_NAME.get(name)
            problem = None
            if known is not None and known[1] != "special":
                # Redis's own check first (its wording), and its rendering of yes/no and enums
                problem, rendered = config_params.check_and_render(known, value)
                if known[1] in ("bool", "enum"):
                    value = rendered
            if problem is None:
                problem = _PARAMETERS[name][1](value)
            if problem is not None:
                raise CommandError(f"ERR CONFIG SET failed (possibly related to argument '{raw_name}') - {problem}")
            resolved.append((name, value, raw_name))
        before = dict(self.values)
        applied: list[str] = []
        try:
            self._apply(resolved, applied)
        except ConfigApplyError as exc:
            # restore_backup: every value of this call back, told to the listeners again
            failed = applied[-1] if applied else ""
            self.values = before
            for name in dict.fromkeys(applied):
                for listener in self.listeners:
                    try:
                        listener(name, before[name])
                    except ConfigApplyError:
                        pass  # (what was there before applied once: nothing better to do)
            raw = next((raw_name for name, _, raw_name in resolved if name == failed), failed)
            raise CommandError(f"ERR CONFIG SET failed (possibly related to argument '{raw}') - {exc}") from None

    def _apply(self, resolved: list[tuple[str, str, str]], applied: list[str]) -> None:
        """Store each value and tell the listeners; ``applied`` names each as it goes."""
        for name, value, _ in resolved:
            applied.append(name)
            if name not in _PARAMETERS:
                if name in _AT_LEAST:
                    # what the apply function of Redis's table raises the value to
                    value = str(max(int(value), _AT_LEAST[name]))
                self.values[name] = value
                for listener in self.listeners:
                    listener(name, value)
                continue
            if name == "client-output-buffer-limit":
                value = _merge_output_limits(self.values[name], value)
            elif name == "notify-keyspace-events":
                flags = flags_from_string(value)
                assert flags is not None
                # Read back as Redis renders it ("KEA" -> "AKE"); listeners get the
                # flags as given, since the rendering drops "n" next to "A".
                self.values[name] = flags_to_string(flags)
                for listener in self.listeners:
                    listener(name, value)
                continue
            elif name == "hz":
                # Redis's updateHZ keeps the rate within [CONFIG_MIN_HZ, CONFIG_MAX_HZ]
                value = str(min(max(int(value), 1), 500))
            elif name == "dir":
                value = os.path.abspath(value)
            elif name == "latency-tracking-info-percentiles":
                value = " ".join(render_percentile(number) for number in _percentiles(value) or [])
            elif name == "save":
                value = " ".join(value.split())
            elif name in ("proto-max-bulk-len", "maxmemory", "client-query-buffer-limit", "hll-sparse-max-bytes",
                          "auto-aof-rewrite-min-size", "lua-max-memory", "busy-reply-threshold", "lua-time-limit"):
                value = str(parse_memory(value))
            elif _PARAMETERS[name][1] is _yes_no or name == "appendfsync":
                value = value.lower()
            for target in (name, _TWINS[name]) if name in _TWINS else (name,):
                applied.append(target)
                self.values[target] = value
                for listener in self.listeners:
                    listener(target, value)


def _merge_output_limits(current: str, update: str) -> str:
    limits: dict[str, list[str]] = {}
    words = current.split()
    for i in range(0, len(words), 4):
        limits[words[i]] = words[i + 1:i + 4]
    words = update.split()
    for i in range(0, len(words), 4):
        cls = "slave" if words[i] == "replica" else words[i]
        limits[cls] = [str(parse_memory(words[i + 1])), str(parse_memory(words[i + 2])), words[i + 3]]
    return " ".join(" ".join([cls, *limits[cls]]) for cls in ("normal", "slave", "pubsub") if cls in limits)


def output_limits(value: str, cls: str) -> tuple[int, int, int]:
    """(hard bytes, soft bytes, soft seconds) of client class ``cls``."""
    words = value.split()
    for i in range(0, len(words), 4):
        if words[i] == cls:
            return (parse_memory(words[i + 1]) or 0, parse_memory(words[i + 2]) or 0, int(words[i + 3]))
    return (0, 0, 0)
