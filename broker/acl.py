"""ACL users and their permissions (sans-I/O), after Redis 7.0's ``src/acl.c``.

A ``User`` has flags (on/off, nopass), password hashes (SHA-256 hex, as Redis keeps
them) and selectors: the root one, then any added with ``(...)``. A ``Selector``
allows commands (a set of full names, ``config|get`` for subcommands, standing for
Redis's bitmap), first arguments of otherwise denied commands (``+select|0``), key
patterns with read/write permissions (``~``, ``%R~``, ``%W~``) and channel patterns
(``&``). ``Acl`` holds the users, the default user and the ACL LOG.

A command is allowed when any selector allows it (``check``); for the all-permissive
default user the core never calls ``check`` at all (``User.unrestricted``), so ACLs
cost nothing until they are used.

Layout: rule parsing (``Selector.apply``, ``User.apply``), the permission check
(``Selector.check_command``, ``User.check``; which arguments are keys is
broker/aclkeys.py's), descriptions (``describe``: what ACL LIST and GETUSER show,
Redis's best-fit of categories), the log (``Acl.log_denied``), ACL files (``Acl.load``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Protocol, TypeVar

from broker.aclkeys import ACCESS, DELETE, INSERT, UPDATE, key_finder
from broker.aclspecs import SPECS
from broker.glob import compile_glob, glob_match

if TYPE_CHECKING:
    from broker.table import Command

__all__ = ["Acl", "AclError", "CATEGORIES", "categories", "CommandIndex", "DENIED_AUTH", "DENIED_CHANNEL", "DENIED_CMD",
           "DENIED_KEY", "LogEntry", "OK", "Selector", "User", "hash_password", "has_spaces", "pubsub_violations"]

# The categories in Redis's order (ACL CAT lists them so, COMMAND INFO too).
CATEGORIES = ("keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap",
              "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking", "dangerous",
              "connection", "transaction", "scripting")

# Check results, Redis's ACL_* values: the larger wins when every selector denies.
OK, DENIED_CMD, DENIED_KEY, DENIED_AUTH, DENIED_CHANNEL = 0, 1, 2, 3, 4

# Key pattern permissions: %R~ reads, %W~ writes, ~ both.
READ, WRITE = 1, 2
_ALL = READ | WRITE

# getChannelsFromCommand's table: command -> (first channel, count or -1, is pattern).
# Only publishing and subscribing are checked; unsubscribing never is.
_CHANNELS = {"subscribe": (1, -1, False), "ssubscribe": (1, -1, False), "psubscribe": (1, -1, True),
             "publish": (1, 1, False), "spublish": (1, 1, False)}

# ACLSetUserStringError, by the errno ACLSetUser sets.
_ERRORS = {
    "ENOENT": "Unknown command or category name in ACL",
    "EINVAL": "Syntax error",
    "EEXIST": "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have "
              "any effect. Try 'resetkeys' to start with an empty list of patterns",
    "EISDIR": "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not "
              "have any effect. Try 'resetchannels' to start with an empty list of channels",
    "ENODEV": "The password you are trying to remove from the user does not exist",
    "EBADMSG": "The password hash must be exactly 64 characters and contain only lowercase hexadecimal "
               "characters",
    "ECHILD": "Allowing first-arg of a subcommand is not supported",
}

_SPACES = frozenset(b" \t\n\v\f\r\x00")


class AclError(Exception):
    """A rule ACLSetUser refuses; ``reason`` is Redis's errno name (see _ERRORS)."""

    def __init__(self, reason: str) -> None:
        super().__init__(_ERRORS[reason])
        self.reason = reason
        self.message = _ERRORS[reason]


def hash_password(password: bytes) -> str:
    """The form Redis stores a password in (ACLHashPassword): SHA-256, lowercase hex."""
    return hashlib.sha256(password).hexdigest()


def _text(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")


def has_spaces(value: bytes) -> bool:
    """ACLStringHasSpaces: usernames and patterns may hold no whitespace or NUL."""
    return any(byte in _SPACES for byte in value)


def _valid_hash(value: bytes) -> bool:
    return len(value) == 64 and all(48 <= byte <= 57 or 97 <= byte <= 102 for byte in value)


class CommandIndex:
    """The command table as ACLs see it: every command and subcommand by full name,
    in table order (a container before its subcommands), and each category's members.

    A command's categories are those Redis's JSON declares plus the implicit ones of
    its flags (server.c setImplicitACLCategories): write, read (not for scripting
    commands), admin and dangerous, pubsub, fast, blocking, and slow when not fast.
    """

    def __init__(self, commands: Iterable["Command"]) -> None:
        self.order: list["Command"] = []
        for cmd in commands:
            self.order.append(cmd)
            self.order += cmd.subcommands.values()
        self.by_name = {cmd.fullname: cmd for cmd in self.order}
        self.categories_of = {cmd.fullname: categories(cmd) for cmd in self.order}
        members: dict[str, set[str]] = {name: set() for name in CATEGORIES}
        for name, found_in in self.categories_of.items():
            for category in found_in:
                members[category].add(name)
        self.members = {name: frozenset(found) for name, found in members.items()}
        self.all = frozenset(self.by_name)
        # what checking each command needs, worked out once (the check runs per command)
        self.plans = {cmd: _Plan(cmd) for cmd in self.order}

    def lookup(self, name: bytes) -> "Command | None":
        """ACLLookupCommand: ``get``, ``config|get`` (any letter case)."""
        return self.by_name.get(name.decode("utf-8", "replace").lower())

    def with_subcommands(self, name: str) -> set[str]:
        """A command and, for a container, its subcommands (what ACLChangeSelectorPerm
        changes together)."""
        cmd = self.by_name[name]
        return {name, *(sub.fullname for sub in cmd.subcommands.values())}


class _Plan:
    """How a command is checked: its full name, whether it bypasses the command bits
    (no_auth: AUTH, HELLO), how to find its keys and its channels."""

    __slots__ = ("name", "noauth", "keys", "channels")

    def __init__(self, cmd: "Command") -> None:
        self.name = cmd.fullname
        self.noauth = "noauth" in cmd.flags
        self.keys: Callable[[list[bytes]], list[tuple[int, int]]] | None = key_finder(cmd)
        self.channels = _CHANNELS.get(cmd.fullname)


def categories(cmd: "Command") -> tuple[str, ...]:
    """The ACL categories of ``cmd`` (COMMAND INFO's, ACL CAT's), in Redis's order."""
    spec = SPECS.get(cmd.fullname)
    found = set(spec[0]) if spec is not None else set()
    # a container's own flags are its subcommands' defaults here; Redis's containers
    # have none, so they are @slow and nothing else
    flags = cmd.flags if cmd.handler is not None else frozenset()
    if cmd.write:
        found.add("write")
    if "readonly" in flags and "scripting" not in found:
        found.add("read")
    if "admin" in flags:
        found |= {"admin", "dangerous"}
    if "pubsub" in flags:
        found.add("pubsub")
    if "fast" in flags:
        found.add("fast")
    if "blocking" in flags:
        found.add("blocking")
    if "fast" not in found:
        found.add("slow")
    return tuple(name for name in CATEGORIES if name in found)


# ------------------------------------------------------------- selectors

# The pattern permissions a key's access flags need (ACCESS reads; INSERT, DELETE, UPDATE write).
_NEEDED = [(READ if flags & ACCESS else 0) | (WRITE if flags & (INSERT | DELETE | UPDATE) else 0)
           for flags in range(16)]


@dataclass(slots=True, eq=False)
class KeyPattern:
    pattern: bytes
    permissions: int  # READ, WRITE or both
    match: Callable[[bytes], bool] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.match = compile_glob(self.pattern)

    def describe(self) -> str:
        prefix = "~" if self.permissions == _ALL else "%R~" if self.permissions == READ else "%W~"
        return prefix + self.pattern.decode("utf-8", "surrogateescape")


class Selector:
    """One set of permissions (aclSelector): commands, keys, channels."""

    __slots__ = ("index", "root", "allkeys", "allchannels", "allcommands", "future", "allowed", "firstargs",
                 "patterns", "channels", "channel_matchers")

    def __init__(self, index: CommandIndex, root: bool, allchannels: bool) -> None:
        self.index = index
        self.root = root
        self.allkeys = False
        # acl-pubsub-default: new selectors start with &* or without channels
        self.allchannels = allchannels
        # SELECTOR_FLAG_ALLCOMMANDS: +@all and nothing taken away since (skips the bitmap)
        self.allcommands = False
        # Redis's reserved bit: set by +@all, cleared by -@all only; decides whether
        # the description starts from +@all or -@all
        self.future = False
        self.allowed: set[str] = set()
        # command -> first arguments allowed although the command is not (+select|0)
        self.firstargs: dict[str, list[bytes]] = {}
        self.patterns: list[KeyPattern] = []
        self.channels: list[bytes] = []
        # the channels' globs, compiled once (PUBLISH and SUBSCRIBE match against them)
        self.channel_matchers: list[Callable[[bytes], bool]] = []

    def copy(self) -> "Selector":
        other = Selector(self.index, self.root, self.allchannels)
        other.allkeys, other.allcommands, other.future = self.allkeys, self.allcommands, self.future
        other.allowed = set(self.allowed)
        other.firstargs = {name: list(args) for name, args in self.firstargs.items()}
        other.patterns = [KeyPattern(p.pattern, p.permissions) for p in self.patterns]
        other.channels = list(self.channels)
        other.channel_matchers = list(self.channel_matchers)
        return other

    # ----------------------------------------------------------- rules

    def apply(self, op: bytes) -> None:
        """ACLSetSelector: one rule; raises AclError."""
        lower = op.lower()
        if lower in (b"allkeys", b"~*"):
            self.allkeys = True
            self.patterns.clear()
        elif lower == b"resetkeys":
            self.allkeys = False
            self.patterns.clear()
        elif lower in (b"allchannels", b"&*"):
            self.allchannels = True
            self.channels.clear()
            self.channel_matchers.clear()
        elif lower == b"resetchannels":
            self.allchannels = False
            self.channels.clear()
            self.channel_matchers.clear()
        elif lower in (b"allcommands", b"+@all"):
            self.allowed = set(self.index.all)
            self.allcommands = self.future = True
            self.firstargs.clear()
        elif lower in (b"nocommands", b"-@all"):
            self.allowed = set()
            self.allcommands = self.future = False
            self.firstargs.clear()
        elif op[:1] in (b"~", b"%"):
            self._add_key_pattern(op)
        elif op[:1] == b"&":
            if self.allchannels:
                raise AclError("EISDIR")
            if has_spaces(op[1:]):
                raise AclError("EINVAL")
            if op[1:] not in self.channels:
                self.channels.append(op[1:])
                self.channel_matchers.append(compile_glob(op[1:]))
        elif op[:1] == b"+" and op[1:2] != b"@":
            self._allow(op[1:])
        elif op[:1] == b"-" and op[1:2] != b"@":
            cmd = self.index.lookup(op[1:])
            if cmd is None:
                raise AclError("ENOENT")
            self.change(cmd, False)
        elif op[:1] in (b"+", b"-") and op[1:2] == b"@":
            category = op[2:].decode("utf-8", "replace").lower()
            if category not in self.index.members:
                raise AclError("ENOENT")
            self.change_category(category, op[:1] == b"+")
        else:
            raise AclError("EINVAL")

    def _add_key_pattern(self, op: bytes) -> None:
        if self.allkeys:
            raise AclError("EEXIST")
        permissions = 0
        offset = 1
        if op[:1] == b"%":
            while offset < len(op):
                char = op[offset:offset + 1].upper()
                if char == b"R" and not permissions & READ:
                    permissions |= READ
                elif char == b"W" and not permissions & WRITE:
                    permissions |= WRITE
                elif char == b"~":
                    offset += 1
                    break
                else:
                    raise AclError("EINVAL")
                offset += 1
        else:
            permissions = _ALL
        pattern = op[offset:]
        if has_spaces(pattern):
            raise AclError("EINVAL")
        for existing in self.patterns:
            if existing.pattern == pattern:
                existing.permissions |= permissions
                break
        else:
            self.patterns.append(KeyPattern(pattern, permissions))
        self.allkeys = False

    def _allow(self, name: bytes) -> None:
        if b"|" not in name:
            cmd = self.index.lookup(name)
            if cmd is None:
                raise AclError("ENOENT")
            self.change(cmd, True)
            return
        base, _, first = name.rpartition(b"|")
        cmd = self.index.lookup(base)
        if cmd is None:
            raise AclError("ENOENT")
        if cmd.container is not None:
            raise AclError("ECHILD")
        if not first:
            raise AclError("EINVAL")
        if cmd.subcommands:
            sub = self.index.lookup(name)
            if sub is None:
                raise AclError("ENOENT")
            self.change(sub, True)
            return
        # a first argument of a command without subcommands (SELECT|0): Redis
        # deprecates it but still honours it
        allowed = self.firstargs.setdefault(cmd.fullname, [])
        if all(arg.lower() != first.lower() for arg in allowed):
            allowed.append(first)

    def change(self, cmd: "Command", allow: bool) -> None:
        """ACLChangeSelectorPerm: ``cmd`` and its subcommands."""
        names = [cmd.fullname] + [sub.fullname for sub in cmd.subcommands.values()]
        if allow:
            self.allowed.update(names)
        else:
            self.allowed.difference_update(names)
            self.allcommands = False
        self.firstargs.pop(cmd.fullname, None)

    def change_category(self, category: str, allow: bool) -> None:
        index = self.index
        for name in index.members[category]:
            self.change(index.by_name[name], allow)

    # ----------------------------------------------------------- checks

    def check_command(self, cmd: "Command", argv: list[bytes],
                      keys: list[list[tuple[int, int]]]) -> tuple[int, int]:
        """ACLSelectorCheckCmd: (result, position of the refused key or channel).
        ``keys`` caches the command's keys across selectors (empty until found)."""
        plan = self.index.plans[cmd]
        if not self.allcommands and not plan.noauth and plan.name not in self.allowed:
            allowed = self.firstargs.get(plan.name)
            if len(argv) < 2 or not allowed:
                return DENIED_CMD, 0
            first = argv[2 if cmd.container else 1].lower()
            if all(arg.lower() != first for arg in allowed):
                return DENIED_CMD, 0
        if not self.allkeys and plan.keys is not None:
            if not keys:
                keys.append(plan.keys(argv))
            for position, flags in keys[0]:
                if not self.check_key(argv[position], flags):
                    return DENIED_KEY, position
        channels = plan.channels
        if not self.allchannels and channels is not None:
            start, count, pattern = channels
            stop = len(argv) if count == -1 else min(len(argv), start + count)
            for position in range(start, stop):
                if not self.check_channel(argv[position], pattern):
                    return DENIED_CHANNEL, position
        return OK, 0

    def check_key(self, key: bytes, flags: int) -> bool:
        if self.allkeys:
            return True
        needed = _NEEDED[flags & 15]
        for pattern in self.patterns:
            if pattern.permissions & needed == needed and pattern.match(key):
                return True
        return False

    def check_channel(self, channel: bytes, is_pattern: bool) -> bool:
        """A channel is matched against the patterns; a PSUBSCRIBE pattern only
        literally (ACLCheckChannelAgainstList)."""
        if self.allchannels:
            return True
        if is_pattern:
            return channel in self.channels
        for match in self.channel_matchers:
            if match(channel):
                return True
        return False

    # ------------------------------------------------------- descriptions

    def describe_commands(self) -> str:
        """ACLDescribeSelectorCommandRules: +@all or -@all, the categories that fit best,
        then single commands until the rules give exactly this selector's commands."""
        index = self.index
        additive = not self.future
        rules = ["-@all" if additive else "+@all"]
        fake = Selector(index, False, False)
        fake.apply(b"-@all" if additive else b"+@all")
        temp = set(self.allowed)
        applied: set[str] = set()
        while True:
            best = None
            mindiff, maxsame = 1 << 31, 0
            for category in CATEGORIES:
                if category in applied:
                    continue
                members = index.members[category]
                on = len(members & temp)
                off = len(members) - on
                diff, same = (off, on) if additive else (on, off)
                if same > diff and (diff < mindiff or (diff == mindiff and same > maxsame)):
                    best, mindiff, maxsame = category, diff, same
            if best is None:
                break
            fake.change_category(best, additive)
            for name in index.members[best]:
                # the inverse on the copy, so the category is not counted again
                names = index.with_subcommands(name)
                if additive:
                    temp -= names
                else:
                    temp |= names
            rules.append(("+@" if additive else "-@") + best)
            applied.add(best)
        for cmd in index.order:
            allowed = cmd.fullname in self.allowed
            if allowed != (cmd.fullname in fake.allowed):
                rules.append(("+" if allowed else "-") + cmd.fullname)
                fake.change(cmd, allowed)
            if not allowed:
                for arg in self.firstargs.get(cmd.fullname, ()):
                    rules.append(f"+{cmd.fullname}|{arg.decode('utf-8', 'surrogateescape')}")
        return " ".join(rules)

    def describe(self) -> str:
        """ACLDescribeSelector: keys, channels, commands."""
        parts: list[str] = []
        if self.allkeys:
            parts.append("~*")
        else:
            parts += [pattern.describe() for pattern in self.patterns]
        if self.allchannels:
            parts.append("&*")
        else:
            parts.append("resetchannels")
            parts += ["&" + channel.decode("utf-8", "surrogateescape") for channel in self.channels]
        parts.append(self.describe_commands())
        return " ".join(parts)

    def keys_description(self) -> str:
        if self.allkeys:
            return "~*"
        return " ".join(pattern.describe() for pattern in self.patterns)

    def channels_description(self) -> str:
        if self.allchannels:
            return "&*"
        return " ".join("&" + channel.decode("utf-8", "surrogateescape") for channel in self.channels)


def _channel_allowed(patterns: Iterable[bytes], channel: bytes, is_pattern: bool) -> bool:
    if is_pattern:
        return channel in patterns
    return any(glob_match(pattern, channel) for pattern in patterns)


# ------------------------------------------------------------------ users

class User:
    """An ACL user: flags, password hashes and selectors (the root one first)."""

    __slots__ = ("name", "enabled", "nopass", "sanitize", "passwords", "selectors", "unrestricted")

    def __init__(self, name: bytes, index: CommandIndex, allchannels: bool) -> None:
        self.name = name
        self.enabled = False
        self.nopass = False
        # "skip-sanitize-payload", "sanitize-payload" or "" (neither was given)
        self.sanitize = ""
        self.passwords: list[str] = []
        self.selectors = [Selector(index, True, allchannels)]
        # every command, key and channel allowed: the core skips the check (refresh())
        self.unrestricted = False

    @property
    def root(self) -> Selector:
        return self.selectors[0]

    def copy(self, name: bytes | None = None) -> "User":
        other = User(self.name if name is None else name, self.root.index, False)
        other.copy_from(self)
        return other

    def copy_from(self, src: "User") -> None:
        """ACLCopyUser: everything but the name."""
        self.enabled, self.nopass, self.sanitize = src.enabled, src.nopass, src.sanitize
        self.passwords = list(src.passwords)
        self.selectors = [selector.copy() for selector in src.selectors]
        self.refresh()

    def refresh(self) -> None:
        root = self.root
        # every command bit set counts, as +@all -x +x allows what +@all does
        every = root.allcommands or len(root.allowed) == len(root.index.all)
        self.unrestricted = every and root.allkeys and root.allchannels

    def apply(self, op: bytes, pubsub_all: bool) -> None:
        """ACLSetUser: one rule; raises AclError. ``pubsub_all``: acl-pubsub-default
        is allchannels (new selectors and ``reset`` get &*)."""
        lower = op.lower()
        if not op:
            return
        if lower == b"on":
            self.enabled = True
        elif lower == b"off":
            self.enabled = False
        elif lower == b"skip-sanitize-payload":
            self.sanitize = "skip-sanitize-payload"
        elif lower == b"sanitize-payload":
            self.sanitize = "sanitize-payload"
        elif lower == b"nopass":
            self.nopass = True
            self.passwords.clear()
        elif lower == b"resetpass":
            self.nopass = False
            self.passwords.clear()
        elif op[:1] in (b">", b"#"):
            if op[:1] == b">":
                hashed = hash_password(op[1:])
            elif not _valid_hash(op[1:]):
                raise AclError("EBADMSG")
            else:
                hashed = op[1:].decode()
            if hashed not in self.passwords:
                self.passwords.append(hashed)
            self.nopass = False
        elif op[:1] in (b"<", b"!"):
            if op[:1] == b"<":
                hashed = hash_password(op[1:])
            elif not _valid_hash(op[1:]):
                raise AclError("EBADMSG")
            else:
                hashed = op[1:].decode()
            if hashed not in self.passwords:
                raise AclError("ENODEV")
            self.passwords.remove(hashed)
        elif op[:1] == b"(" and op[-1:] == b")":
            selector = Selector(self.root.index, False, pubsub_all)
            for rule in op[1:-1].split():
                selector.apply(rule)
            self.selectors.append(selector)
        elif lower == b"clearselectors":
            del self.selectors[1:]
        elif lower == b"reset":
            for rule in (b"resetpass", b"resetkeys", b"resetchannels") + ((b"allchannels",) if pubsub_all else ()) \
                    + (b"off", b"sanitize-payload", b"clearselectors", b"-@all"):
                self.apply(rule, pubsub_all)
        else:
            self.root.apply(op)
        self.refresh()

    def check_password(self, password: bytes) -> bool:
        """ACLCheckUserCredentials for an existing user."""
        if not self.enabled:
            return False
        if self.nopass:
            return True
        return hash_password(password) in self.passwords

    def check(self, cmd: "Command", argv: list[bytes]) -> tuple[int, int]:
        """ACLCheckAllUserCommandPerm: OK when any selector allows the command, else
        the most relevant refusal (a channel over a key over the command, the last
        position among equals) and where in ``argv`` it is."""
        keys: list[list[tuple[int, int]]] = []
        relevant, last = DENIED_CMD, 0
        for selector in self.selectors:
            result, position = selector.check_command(cmd, argv, keys)
            if result == OK:
                return OK, 0
            if result > relevant or (result == relevant and position > last):
                relevant, last = result, position
        return relevant, last

    def reads_any_key(self, cmd: "Command", argv: list[bytes]) -> bool:
        """ACLUserCheckCmdWithUnrestrictedKeyAccess for reads: some selector allows the
        command and reading every key (allkeys, ~* or %R~*): SORT's BY and GET patterns
        may name any key."""
        keys: list[list[tuple[int, int]]] = []
        for selector in self.selectors:
            if selector.check_command(cmd, argv, keys)[0] == OK and (
                    selector.allkeys or any(p.pattern == b"*" and p.permissions & READ for p in selector.patterns)):
                return True
        return False

    def check_key(self, key: bytes, flags: int) -> bool:
        return any(selector.check_key(key, flags) for selector in self.selectors)

    def check_channel(self, channel: bytes, is_pattern: bool) -> bool:
        return any(selector.check_channel(channel, is_pattern) for selector in self.selectors)

    def flags(self) -> list[str]:
        """The flags in ACLUserFlags order."""
        found = ["on" if self.enabled else "off"]
        if self.nopass:
            found.append("nopass")
        if self.sanitize:
            found.append(self.sanitize)
        return found

    def describe(self) -> str:
        """ACLDescribeUser: what ACL LIST shows after ``user <name>``."""
        parts = self.flags() + ["#" + password for password in self.passwords]
        text = " ".join(parts + [self.root.describe()])
        for selector in self.selectors[1:]:
            text += f" ({selector.describe()})"
        return text


def merge_selectors(args: list[bytes]) -> tuple[list[bytes] | None, int]:
    """ACLMergeSelectorArguments: join a selector spread over several arguments
    (``(+get`` ``~k)``); (None, index of the opening one) if it never closes."""
    merged: list[bytes] = []
    opening = -1
    selector = b""
    for i, op in enumerate(args):
        if opening == -1 and op[:1] == b"(" and op[-1:] != b")":
            selector, opening = op, i
            continue
        if opening != -1:
            selector += b" " + op
            if op[-1:] == b")":
                merged.append(selector)
                opening = -1
            continue
        merged.append(op)
    if opening != -1:
        return None, opening
    return merged, -1


# -------------------------------------------------------------------- log

@dataclass(slots=True, eq=False)
class LogEntry:
    """One ACL LOG entry (ACLLogEntry): similar denials within 60 s are one entry."""

    count: int
    reason: int
    context: str
    object: bytes
    username: bytes
    ctime_ms: int
    client_info: str


_REASONS = {DENIED_CMD: "command", DENIED_KEY: "key", DENIED_CHANNEL: "channel", DENIED_AUTH: "auth"}


class Acl:
    """The users, the default user and the ACL LOG of one broker."""

    def __init__(self, index: CommandIndex, log_max: int = 128) -> None:
        self.index = index
        self.pubsub_all = False  # acl-pubsub-default
        self.log_max = log_max
        self.log: list[LogEntry] = []
        self.default = self.create_default()
        self.users: dict[bytes, User] = {b"default": self.default}

    def create_default(self) -> User:
        """ACLCreateDefaultUser: on nopass ~* &* +@all."""
        user = User(b"default", self.index, self.pubsub_all)
        for rule in (b"+@all", b"~*", b"&*", b"on", b"nopass"):
            user.apply(rule, self.pubsub_all)
        return user

    def default_open(self) -> bool:
        """authRequired's test: no AUTH is needed while the default user is enabled
        and needs no password."""
        return self.default.nopass and self.default.enabled

    def sorted_users(self) -> list[User]:
        """The users in the radix tree's order (by name, bytewise)."""
        return [self.users[name] for name in sorted(self.users)]

    def new_user(self, name: bytes) -> User:
        return User(name, self.index, self.pubsub_all)

    def set_user(self, name: bytes, rules: list[bytes]) -> tuple[User | None, User]:
        """ACLStringSetUser: apply ``rules`` to a copy of ``name`` (a new user if none)
        and, when all are valid, to the user. Returns (the user before, the user now).

        Raises:
            ValueError: Redis's error text (nothing was changed).
        """
        merged, opening = merge_selectors(rules)
        if merged is None:
            raise ValueError(f"Unmatched parenthesis in acl selector starting at "
                             f"'{rules[opening].decode('utf-8', 'replace')}'.")
        existing = self.users.get(name)
        staged = existing.copy() if existing is not None else self.new_user(name)
        for rule in merged:
            try:
                staged.apply(rule, self.pubsub_all)
            except AclError as exc:
                raise ValueError(f"Error in ACL SETUSER modifier '{rule.decode('utf-8', 'replace')}': "
                                 f"{exc.message}") from None
        before = existing.copy() if existing is not None else None
        if existing is None:
            self.users[name] = staged
            return None, staged
        existing.copy_from(staged)
        return before, existing

    def load(self, text: bytes, shown: str) -> tuple[str | None, list[User]]:
        """ACLLoadFromFile's parsing: ``text`` is an ACL file (``user <name> rules...``
        lines). Returns (Redis's one-line errors, the replaced users): on an error
        nothing changes; else the users are the file's (the default user, updated in
        place, is the file's or a fresh default)."""
        errors = ""
        users: dict[bytes, User] = {}
        for number, raw in enumerate(text.split(b"\n"), 1):
            line = raw.strip(b" \t\r\n")
            args = [arg for arg in line.split(b" ") if arg]
            if not args:
                continue
            if args[0] != b"user" or len(args) < 2:
                errors += f"{shown}:{number} should start with user keyword followed by the username. "
                continue
            name = args[1]
            if has_spaces(name):
                errors += f"'{shown}:{number}: username '{_text(name)}' contains invalid characters. "
                continue
            if name in users:
                errors += f"WARNING: Duplicate user '{_text(name)}' found on line {number}. "
                continue
            user = users[name] = self.new_user(name)
            rules, _ = merge_selectors(args[2:])
            if rules is None:
                errors += f"{shown}:{number}: Unmatched parenthesis in selector definition."
                continue
            syntax_error = False
            for rule in rules:
                rule = rule.strip(b"\t\r\n")
                try:
                    user.apply(rule, self.pubsub_all)
                except AclError as exc:
                    if exc.reason == "ENOENT":
                        errors += f"{shown}:{number}: Error in applying operation '{_text(rule)}': {exc.message}. "
                    elif not syntax_error:
                        errors += f"{shown}:{number}: {exc.message}. "
                        syntax_error = True
        if errors:
            return (errors + "WARNING: ACL errors detected, no change to the previously active ACL rules was "
                    "performed"), []
        default = users.pop(b"default", None) or self.create_default()
        self.default.copy_from(default)
        gone = [user for user in self.users.values() if user is not self.default]
        self.users = {b"default": self.default, **users}
        return None, gone

    def log_denied(self, reason: int, context: str, obj: bytes, username: bytes, now_ms: int,
                   client_info: str) -> None:
        """addACLLogEntry: add a denial, or count it in a similar recent one (of the
        ten newest), newest first, at most acllog-max-len entries."""
        for i, entry in enumerate(self.log[:10]):
            if (entry.reason == reason and entry.context == context and abs(entry.ctime_ms - now_ms) <= 60000
                    and entry.object == obj and entry.username == username):
                del self.log[i]
                entry.count += 1
                entry.ctime_ms = now_ms
                entry.client_info = client_info
                self.log.insert(0, entry)
                return
        self.log.insert(0, LogEntry(1, reason, context, obj, username, now_ms, client_info))
        del self.log[self.log_max:]

    @staticmethod
    def reason_name(reason: int) -> str:
        return _REASONS.get(reason, "unknown")


class Subscriber(Protocol):
    """What pubsub_violations reads of a client (broker.client.Client has it)."""

    user: "User | None"
    channels: dict[bytes, None]
    patterns: dict[bytes, None]
    shard_channels: dict[bytes, None]


S = TypeVar("S", bound=Subscriber)


def pubsub_violations(user: User, before: User, clients: Iterable[S]) -> list[S]:
    """ACLKillPubsubClientsIfNeeded: the clients of ``user`` whose subscriptions its
    new channel permissions no longer allow (``before``: a copy of the user as it was;
    nobody when the new channels include all the old ones)."""
    if any(selector.allchannels for selector in user.selectors):
        return []
    upcoming = [channel for selector in user.selectors for channel in selector.channels]
    superset = True
    for selector in before.selectors:
        if selector.allchannels or any(channel not in upcoming for channel in selector.channels):
            superset = False
            break
    if superset:
        return []
    doomed = []
    for client in clients:
        if client.user is not user:
            continue
        channels = [*client.channels, *client.shard_channels]
        if any(not _channel_allowed(upcoming, pattern, True) for pattern in client.patterns) or \
                any(not _channel_allowed(upcoming, channel, False) for channel in channels):
            doomed.append(client)
    return doomed
