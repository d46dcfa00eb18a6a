"""The settings of ``fanout serve`` and ``fanout broker``, each declared once.

One ``Option`` per flag: its kind (port, size, duration, ...), range, default,
help and environment name. The command line, the ``FANOUT_*`` environment
variables and the TOML file given with ``--config`` all go through the same
``Option.parse``, so a bad value is refused the same way wherever it comes from,
with a message that names where it came from and the allowed range. Adding a flag
is one line in ``OPTIONS``.

Sizes are written as Redis writes them (``memtoll`` in redis ``src/util.c``): a
number with an optional unit ``b``, ``k`` (1000), ``kb`` (1024), ``m`` (1000**2),
``mb`` (1024**2), ``g``, ``gb``, in any case.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.state import GatewaySettings

__all__ = ["Kind", "Option", "OPTIONS", "OptionError", "options_for", "parse_size", "check_file_keys"]


class OptionError(ValueError):
    """A bad value or key; the message is whole (it names the setting)."""


class Kind(enum.Enum):
    INT = "int"
    PORT = "port"
    SIZE = "size"
    DURATION = "duration"
    FLOAT = "float"
    STR = "str"
    CHOICE = "choice"
    FLAG = "flag"     # store_true
    LIST = "list"     # repeatable (append); space-separated in the environment, a list in TOML


_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000 ** 2, "mb": 1024 ** 2, "g": 1000 ** 3, "gb": 1024 ** 3}
_SIZE = re.compile(r"(\d+)([a-z]*)")


def parse_size(text: str) -> int:
    """``64kb`` -> 65536, as Redis's memtoll reads a size (k = 1000, kb = 1024).

    Raises:
        ValueError: not a whole number with one of the units b, k, kb, m, mb, g, gb.
    """
    match = _SIZE.fullmatch(text.strip().lower())
    if match is None or match.group(2) not in _UNITS:
        raise ValueError(text)
    return int(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True)
class Option:
    """One setting: ``--name`` on the command line, ``FANOUT_NAME``, ``name`` in TOML."""

    name: str
    kind: Kind
    default: Any
    help: str
    commands: tuple[str, ...] = ("serve",)
    # Inclusive bounds; for durations and floats ``above`` is an exclusive lower bound.
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    choices: tuple[str, ...] = ()
    metavar: str | None = None
    # Hidden options are set by fanout itself (a worker's command line), never by env or file.
    hidden: bool = False

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")

    @property
    def flag(self) -> str:
        return "--" + self.name

    @property
    def env(self) -> str:
        return "FANOUT_" + self.dest.upper()

    def allowed(self) -> str:
        """The allowed values in words, for help and errors."""
        kind = self.kind
        if kind is Kind.PORT:
            low = int(self.minimum if self.minimum is not None else 0)
            return f"a port from {low} to 65535" + (" (-1: do not listen)" if low == -1 else "")
        if kind is Kind.CHOICE:
            return "one of " + ", ".join(self.choices)
        if kind is Kind.SIZE:
            return f"a size of at least {self.minimum or 0:g} (bytes, or with a unit as in 64kb or 1mb: " \
                   "b, k, kb, m, mb, g, gb; k = 1000, kb = 1024)"
        noun = {Kind.INT: "an integer",
                Kind.DURATION: "a number of seconds", Kind.FLOAT: "a number"}.get(kind, "a string")
        if self.above is not None:
            return f"{noun} greater than {self.above:g}"
        if self.minimum is not None and self.maximum is not None:
            return f"{noun} from {self.minimum:g} to {self.maximum:g}"
        if self.minimum is not None:
            return f"{noun} of at least {self.minimum:g}"
        return noun

    def parse(self, raw: Any, source: str | None = None) -> Any:
        """The value of ``raw`` (text from argv/env, or a TOML value).

        Args:
            raw: the given value.
            source: where it came from, named in the error (default: the flag).

        Raises:
            OptionError: e.g. "--http-port must be a port from 0 to 65535, got 99999".
        """
        where = source or self.flag
        kind = self.kind
        if kind is Kind.LIST:
            if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
                return list(raw)
            if isinstance(raw, str):
                return raw.split()
            raise OptionError(f"{where} must be a list of strings, got {raw!r}")
        if kind is Kind.FLAG:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise OptionError(f"{where} must be true or false, got {raw!r}")
        if isinstance(raw, bool) or isinstance(raw, (list, dict)):  # TOML: a wrong type
            raise OptionError(f"{where} must be {self.allowed()}, got {raw!r}")
        if kind is Kind.STR:
            return str(raw)
        if kind is Kind.CHOICE:
            if str(raw) not in self.choices:
                raise OptionError(f"{where} must be {self.allowed()}, got {raw!r}")
            return str(raw)
        value: float
        try:
            if kind is Kind.SIZE:
                value = raw if isinstance(raw, int) else parse_size(str(raw))
            elif kind in (Kind.INT, Kind.PORT):
                value = raw if isinstance(raw, int) else int(str(raw).strip())
            else:
                value = float(raw)
                if not math.isfinite(value):
                    raise ValueError(raw)
        except ValueError:
            raise OptionError(f"{where} must be {self.allowed()}, got {raw!r}") from None
        low = self.minimum if self.minimum is not None else (0 if kind is Kind.PORT else None)
        high = 65535 if kind is Kind.PORT else self.maximum
        if (low is not None and value < low) or (high is not None and value > high) \
                or (self.above is not None and value <= self.above):
            raise OptionError(f"{where} must be {self.allowed()}, got {raw!r}")
        return value

    def help_text(self) -> str:
        """Help with the default and the environment name."""
        text = self.help
        if self.kind not in (Kind.FLAG, Kind.LIST) and self.default not in ("", None):
            text += f" (default {self.default})"
        if not self.hidden and self.name != "config":
            text += f" [env {self.env}]"
        return text


def _setting(name: str, kind: Kind, help: str, **extra: Any) -> Option:
    """An option whose default is GatewaySettings' (the one place it is written)."""
    default = {f.name: f.default for f in dataclasses.fields(GatewaySettings)}[name.replace("-", "_")]
    return Option(name, kind, default, help, **extra)


BOTH = ("serve", "broker")

# The table: one line per setting (commands default to serve).
OPTIONS: tuple[Option, ...] = (
    Option("config", Kind.STR, "", "TOML file with settings, keys named as the flags", BOTH, metavar="FILE"),
    Option("host", Kind.STR, "127.0.0.1", "address to bind", BOTH),
    Option("requirepass", Kind.STR, "", "password required on the RESP port", BOTH, metavar="P"),
    Option("aclfile", Kind.STR, "", "ACL users file, loaded at start (ACL LOAD / ACL SAVE read and write it)", BOTH,
           metavar="PATH"),
    Option("log-level", Kind.CHOICE, "info", "log verbosity", BOTH, choices=("debug", "info", "warning", "error")),
    Option("log-format", Kind.CHOICE, "text", "log lines as text or as one JSON object per line", BOTH,
           choices=("text", "json")),
    Option("port", Kind.PORT, 6380, "RESP port", ("broker",)),
    Option("unix-socket", Kind.STR, "", "the broker also listens on this unix socket", BOTH, metavar="PATH"),
    # RDB snapshots of the embedded broker, Redis's defaults; the values are checked by
    # the broker's CONFIG rules (broker/config_params.py), in Redis's words.
    Option("dir", Kind.STR, ".", "directory of the snapshot file (the current directory, as Redis)", BOTH,
           metavar="DIR"),
    Option("dbfilename", Kind.STR, "dump.rdb", "snapshot file name", BOTH, metavar="NAME"),
    Option("save", Kind.STR, "3600 1 300 100 60 10000", "snapshot after <seconds> <changes> pairs, and on "
           "shutdown; \"\" turns snapshots off (as Redis)", BOTH, metavar="SCHEDULE"),
    # The append-only file (opt-in, as Redis): README "Persistence".
    Option("appendonly", Kind.CHOICE, "no", "keep an append-only file of every write, loaded at start", BOTH,
           choices=("yes", "no")),
    Option("appendfsync", Kind.CHOICE, "everysec", "when the AOF is fsynced: before each reply, once a second, "
           "or by the OS", BOTH, choices=("always", "everysec", "no")),
    Option("appenddirname", Kind.STR, "appendonlydir", "the AOF's directory inside --dir", BOTH, metavar="NAME"),
    # A memory limit with Redis's eviction policies (README "Memory limit"); the
    # gateway's own keys are never evicted (gateway/own_keys.py).
    Option("maxmemory", Kind.SIZE, 0, "memory limit of the broker's dataset, e.g. 100mb (0: none)", BOTH,
           metavar="BYTES"),
    Option("maxmemory-policy", Kind.CHOICE, "noeviction", "what goes when maxmemory is reached", BOTH,
           choices=("noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru",
                    "volatile-lfu", "volatile-random", "volatile-ttl")),
    Option("http-port", Kind.PORT, 8080, "HTTP and websocket port (0: any free port)"),
    Option("resp-port", Kind.PORT, 6380, "RESP port of the embedded broker (-1: do not listen)", minimum=-1),
    Option("broker", Kind.STR, "memory://", "memory:// (embedded) or redis://host:port/db, a shared backplane",
           metavar="URL"),
    Option("workers", Kind.INT, 1, "gateway worker processes sharing the HTTP port, around one embedded broker "
           "(1: one process)", minimum=1, maximum=256, metavar="N"),
    Option("token-secret", Kind.STR, "", "HS256 secret for connection tokens (empty: open demo mode)",
           metavar="S"),
    Option("api-key", Kind.STR, "", "API key for the HTTP API (empty: no key needed)", metavar="K"),
    Option("allowed-origins", Kind.STR, "", "comma-separated Origin allow-list for websocket upgrades "
           "(empty: any)", metavar="LIST"),
    _setting("max-message-size", Kind.SIZE, "largest websocket message or HTTP body", minimum=1,
             metavar="BYTES"),
    _setting("max-buffer", Kind.SIZE, "output budget per connection before messages are skipped", minimum=1,
             metavar="BYTES"),
    _setting("slow-close-after", Kind.DURATION, "close a connection over its output budget this long",
             above=0, metavar="SECONDS"),
    _setting("max-subscriptions", Kind.INT, "channels, patterns and watches per connection", minimum=1,
             metavar="N"),
    _setting("max-connections", Kind.INT, "websocket connections per node", minimum=1, metavar="N"),
    _setting("publish-rate", Kind.FLOAT, "publishes per second per connection", above=0,
             metavar="PER_SECOND"),
    _setting("publish-burst", Kind.FLOAT, "publish burst allowed above the rate", minimum=1, metavar="N"),
    _setting("op-rate", Kind.FLOAT, "requests (any op) per second per connection", above=0,
             metavar="PER_SECOND"),
    _setting("op-burst", Kind.FLOAT, "request burst allowed; a client that keeps sending at over twice the "
             "rate is closed with 1008", minimum=1, metavar="N"),
    _setting("http-header-timeout", Kind.DURATION, "HTTP: a request head must arrive within this (else 408)",
             above=0, metavar="SECONDS"),
    _setting("http-body-timeout", Kind.DURATION, "HTTP: a request body must arrive within this (else 408)",
             above=0, metavar="SECONDS"),
    _setting("max-pending-requests", Kind.INT, "HTTP connections that may be waiting to send a request head; "
             "past it the longest waiting is answered 408", minimum=1, metavar="N"),
    _setting("idempotency-window", Kind.DURATION, "a publish with an idempotency_key is not repeated within "
             "this", above=0, metavar="SECONDS"),
    Option("broker-timeout", Kind.DURATION, 5.0, "a broker reply later than this fails the link; a publish "
           "then answers 504 outcome_unknown", above=0, metavar="SECONDS"),
    _setting("ping-interval", Kind.DURATION, "websocket ping interval; a late pong closes the connection",
             above=0, metavar="SECONDS"),
    Option("channel", Kind.LIST, None, "presence and history per channel pattern, first match wins, "
           "repeatable: 'chat:*=presence,history:1000,ttl:600' (default: that one rule)", metavar="RULE"),
    _setting("node-ttl", Kind.DURATION, "heartbeat TTL: a dead node's connections leave presence after this",
             above=0, metavar="SECONDS"),
    _setting("shutdown-timeout", Kind.DURATION, "how long shutdown waits for connections to close",
             minimum=0, metavar="SECONDS"),
    _setting("watch-interval", Kind.DURATION, "live views: at most one push per view per interval",
             minimum=0, metavar="SECONDS"),
    Option("reuse-port", Kind.FLAG, False, "", hidden=True),   # set for workers
    Option("parent-pid", Kind.INT, 0, "", hidden=True),        # a worker's supervisor
    Option("worker-index", Kind.INT, 0, "", hidden=True),      # which worker this is (0: not a worker)
    Option("worker-count", Kind.INT, 0, "", hidden=True),      # of how many
    Option("worker-dir", Kind.STR, "", "", hidden=True),       # where the workers' private sockets are
)


def options_for(command: str) -> list[Option]:
    return [option for option in OPTIONS if command in option.commands]


def check_file_keys(values: Mapping[str, Any], command: str, path: str,
                    extra: Iterable[Option] = ()) -> dict[str, Any]:
    """The TOML file's settings by dest; unknown keys and tables are errors.

    Args:
        extra: options of the command that are not (yet) in ``OPTIONS``.

    Raises:
        OptionError: "config.toml: unknown key 'http-prot' (did you mean 'http-port'?)".
    """
    known = {option.name: option for option in [*options_for(command), *extra] if not option.hidden
             and option.name != "config"}
    others = {option.name for option in OPTIONS if not option.hidden} - set(known)
    result: dict[str, Any] = {}
    for key, value in values.items():
        name = key.replace("_", "-")
        if isinstance(value, dict):
            raise OptionError(f"{path}: unknown table [{key}] (settings are top-level keys, "
                              f"e.g. http-port = 8080)")
        if name not in known:
            if name in others:
                raise OptionError(f"{path}: {key!r} is not a setting of fanout {command}")
            near = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise OptionError(f"{path}: unknown key {key!r}{hint}")
        result[known[name].dest] = known[name].parse(value, f"{path}: {key}")
    return result


def names(options: Iterable[Option]) -> list[str]:
    return [option.name for option in options]
