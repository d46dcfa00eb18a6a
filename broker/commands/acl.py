"""ACL commands: ACL WHOAMI LIST USERS SETUSER GETUSER DELUSER CAT LOG GENPASS DRYRUN
HELP SAVE LOAD (the model is broker/acl.py; AUTH and HELLO are in connection.py)."""

from __future__ import annotations

import os
import secrets
from typing import Iterable

from broker.acl import CATEGORIES, OK as ACL_OK, DENIED_CHANNEL, DENIED_CMD, DENIED_KEY, Acl, Selector, User, \
    has_spaces, pubsub_violations
from broker.commands.args import parse_int
from broker.client import Client
from broker.resp import OK, CommandError
from broker.table import container, subcommand

__all__ = ["OrderedSet", "kill_clients_of"]

_NO_ACLFILE = ("ERR This Redis instance is not configured to use an ACL file. You may want to specify users via "
               "the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration "
               "file set) in order to store users in the Redis configuration.")
GENPASS_MAX_BITS = 4096


class OrderedSet(frozenset):  # type: ignore[type-arg]
    """A RESP3 set reply (``~``) that keeps its order: Redis writes a set's members in
    a fixed order (a user's flags, a command's categories)."""

    _order: tuple[object, ...]

    def __new__(cls, items: Iterable[object]) -> "OrderedSet":
        order = tuple(items)
        made = super().__new__(cls, order)
        made._order = order
        return made

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._order)


_acl = container("acl", "sentinel", group="server", since="6.0.0")


def _text(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")


def _usage(argv: list[bytes]) -> CommandError:
    """addReplySubcommandSyntaxError."""
    return CommandError(f"ERR unknown subcommand or wrong number of arguments for '{_text(argv[1][:128])}'. "
                        f"Try {_text(argv[0]).upper()} HELP.")


def kill_clients_of(client: Client, user: User) -> None:
    """ACLFreeUserAndKillClients: the user is gone; its connections close (this one
    after its reply), first put back to the default user, unauthenticated."""
    broker = client.broker
    for other in list(broker.clients.values()):
        if other.user is user:
            other.user = broker.acl.default
            other.authenticated = False
            if other is client:
                client.close_after_reply = True
            else:
                other.kill("user deleted")


# ACL WHOAMI
@subcommand(_acl, "whoami", 2, "noscript loading stale")
def acl_whoami(client: Client, argv: list[bytes]) -> object:
    return client.user.name if client.user is not None else None


# ACL USERS
@subcommand(_acl, "users", 2, "admin noscript loading stale")
def acl_users(client: Client, argv: list[bytes]) -> list[bytes]:
    return [user.name for user in client.broker.acl.sorted_users()]


# ACL LIST
@subcommand(_acl, "list", 2, "admin noscript loading stale")
def acl_list(client: Client, argv: list[bytes]) -> list[bytes]:
    return [_user_line(user) for user in client.broker.acl.sorted_users()]


def _user_line(user: User) -> bytes:
    return b"user " + user.name + b" " + user.describe().encode("utf-8", "surrogateescape")


# ACL SETUSER username [rule [rule ...]]
@subcommand(_acl, "setuser", -3, "admin noscript loading stale")
def acl_setuser(client: Client, argv: list[bytes]) -> object:
    name = argv[2]
    if has_spaces(name):
        raise CommandError("ERR Usernames can't contain spaces or null characters")
    broker = client.broker
    try:
        before, user = broker.acl.set_user(name, argv[3:])
    except ValueError as exc:
        raise CommandError(f"ERR {exc}") from None
    if before is not None:
        # subscribers whose channels the new rules no longer allow are disconnected
        for other in pubsub_violations(user, before, list(broker.clients.values())):
            if other is client:
                client.close_after_reply = True
            else:
                other.kill("channel permissions revoked")
    broker.acl_changed()
    return OK


# ACL DELUSER username [username ...]
@subcommand(_acl, "deluser", -3, "admin noscript loading stale")
def acl_deluser(client: Client, argv: list[bytes]) -> int:
    acl = client.broker.acl
    if b"default" in argv[2:]:
        raise CommandError("ERR The 'default' user cannot be removed")
    deleted = 0
    for name in argv[2:]:
        user = acl.users.pop(name, None)
        if user is not None:
            kill_clients_of(client, user)
            deleted += 1
    client.broker.acl_changed()
    return deleted


# ACL GETUSER username
@subcommand(_acl, "getuser", 3, "admin noscript loading stale")
def acl_getuser(client: Client, argv: list[bytes]) -> object:
    user = client.broker.acl.users.get(argv[2])
    if user is None:
        return None
    reply: dict[bytes, object] = {
        b"flags": OrderedSet(flag.encode() for flag in user.flags()),
        b"passwords": [password.encode() for password in user.passwords],
    }
    reply.update(_selector_reply(user.root))
    reply[b"selectors"] = [_selector_reply(selector) for selector in user.selectors[1:]]
    return reply


def _selector_reply(selector: Selector) -> dict[bytes, bytes]:
    return {b"commands": selector.describe_commands().encode(),
            b"keys": selector.keys_description().encode("utf-8", "surrogateescape"),
            b"channels": selector.channels_description().encode("utf-8", "surrogateescape")}


# ACL CAT [category]
@subcommand(_acl, "cat", -2, "noscript loading stale")
def acl_cat(client: Client, argv: list[bytes]) -> list[bytes]:
    if len(argv) > 3:
        raise _usage(argv)
    if len(argv) == 2:
        return [name.encode() for name in CATEGORIES]
    category = _text(argv[2]).lower()
    index = client.broker.acl.index
    if category not in index.members:
        raise CommandError(f"ERR Unknown category '{_text(argv[2][:128])}'")
    members = index.members[category]
    return [cmd.fullname.encode() for cmd in index.order if cmd.fullname in members]


# ACL GENPASS [bits]
@subcommand(_acl, "genpass", -2, "noscript loading stale")
def acl_genpass(client: Client, argv: list[bytes]) -> bytes:
    if len(argv) > 3:
        raise _usage(argv)
    bits = parse_int(argv[2]) if len(argv) == 3 else 256
    if bits <= 0 or bits > GENPASS_MAX_BITS:
        raise CommandError(f"ERR ACL GENPASS argument must be the number of bits for the output password, "
                           f"a positive number up to {GENPASS_MAX_BITS}")
    chars = (bits + 3) // 4
    return secrets.token_hex((chars + 1) // 2)[:chars].encode()


# ACL LOG [count | RESET]
@subcommand(_acl, "log", -2, "admin noscript loading stale")
def acl_log(client: Client, argv: list[bytes]) -> object:
    if len(argv) > 3:
        raise _usage(argv)
    acl = client.broker.acl
    count = 10
    if len(argv) == 3:
        if argv[2].lower() == b"reset":
            acl.log.clear()
            return OK
        count = max(0, parse_int(argv[2]))
    now = client.broker.clock_ms()
    return [{
        b"count": entry.count,
        b"reason": Acl.reason_name(entry.reason).encode(),
        b"context": entry.context.encode(),
        b"object": entry.object,
        b"username": entry.username,
        b"age-seconds": (now - entry.ctime_ms) / 1000,
        b"client-info": entry.client_info.encode(),
    } for entry in acl.log[:count]]


# ACL DRYRUN username command [arg ...]
@subcommand(_acl, "dryrun", -4, "admin noscript loading stale", since="7.0.0")
def acl_dryrun(client: Client, argv: list[bytes]) -> object:
    broker = client.broker
    user = broker.acl.users.get(argv[2])
    if user is None:
        raise CommandError(f"ERR User '{_text(argv[2])}' not found")
    args = argv[3:]
    cmd = broker.commands.get(args[0].lower())
    if cmd is not None and cmd.handler is None:
        cmd = cmd.subcommands.get(args[1].lower()) if len(args) > 1 else None
    if cmd is None:
        raise CommandError(f"ERR Command '{_text(args[0])}' not found")
    if (cmd.arity > 0 and cmd.arity != len(args)) or len(args) < -cmd.arity:
        raise CommandError(f"ERR wrong number of arguments for '{cmd.fullname}' command")
    result, position = user.check(cmd, args)
    if result == DENIED_CMD:
        return f"This user has no permissions to run the '{cmd.fullname}' command".encode()
    if result == DENIED_KEY:
        return b"This user has no permissions to access the '" + args[position] + b"' key"
    if result == DENIED_CHANNEL:
        return b"This user has no permissions to access the '" + args[position] + b"' channel"
    assert result == ACL_OK
    return OK


# ACL SAVE
@subcommand(_acl, "save", 2, "admin noscript loading stale")
def acl_save(client: Client, argv: list[bytes]) -> object:
    path = _aclfile(client)
    lines = b"".join(_user_line(user) + b"\n" for user in client.broker.acl.sorted_users())
    temp = f"{path}.tmp-{os.getpid()}-{client.broker.clock_ms()}"
    try:
        with open(temp, "wb") as out:
            out.write(lines)
        os.replace(temp, path)
    except OSError:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise CommandError("ERR There was an error trying to save the ACLs. Please check the server logs for "
                           "more information") from None
    return OK


# ACL LOAD
@subcommand(_acl, "load", 2, "admin noscript loading stale")
def acl_load(client: Client, argv: list[bytes]) -> object:
    path = _aclfile(client)
    broker = client.broker
    errors = load_file(broker.acl, path, broker.config.get("aclfile"), client)
    if errors is not None:
        raise CommandError(f"ERR {errors}")
    broker.acl_changed()
    return OK


def _aclfile(client: Client) -> str:
    name = client.broker.config.get("aclfile")
    if not name:
        raise CommandError(_NO_ACLFILE)
    return os.path.join(client.broker.config.get("dir"), name)


def load_file(acl: Acl, path: str, shown: str, current: Client | None = None) -> str | None:
    """ACLLoadFromFile: replace every user by the file's, or change nothing and return
    the errors (Redis's one-line text). The users that existed before are gone with
    their connections (the default user is updated in place)."""
    try:
        with open(path, "rb") as source:
            text = source.read()
    except OSError as exc:
        return f"Error loading ACLs, opening file '{shown}': {exc.strerror}"
    errors, gone = acl.load(text, shown)
    if current is not None:
        for user in gone:
            kill_clients_of(current, user)
    return errors


# ACL HELP
@subcommand(_acl, "help", 2, "loading stale")
def acl_help(client: Client, argv: list[bytes]) -> list[str]:
    return [
        "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CAT [<category>]",
        "    List all commands that belong to <category>, or all command categories",
        "    when no category is specified.",
        "DELUSER <username> [<username> ...]",
        "    Delete a list of users.",
        "DRYRUN <username> <command> [<arg> ...]",
        "    Returns whether the user can execute the given command without executing the command.",
        "GETUSER <username>",
        "    Get the user's details.",
        "GENPASS [<bits>]",
        "    Generate a secure 256-bit user password. The optional `bits` argument can",
        "    be used to specify a different size.",
        "LIST",
        "    Show users details in config file format.",
        "LOAD",
        "    Reload users from the ACL file.",
        "LOG [<count> | RESET]",
        "    Show the ACL log entries.",
        "SAVE",
        "    Save the current config to the ACL file.",
        "SETUSER <username> <attribute> [<attribute> ...]",
        "    Create or modify a user with the specified attributes.",
        "USERS",
        "    List all the registered usernames.",
        "WHOAMI",
        "    Return the current connection username.",
        "HELP",
        "    Prints this help.",
    ]
