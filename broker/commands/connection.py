"""Connection commands: PING ECHO QUIT RESET HELLO AUTH SELECT CLIENT."""

from __future__ import annotations

from broker.acl import DENIED_AUTH
from broker.commands.args import NOT_INTEGER, SYNTAX, parse_int
from broker.pause import ALL, WRITE
from broker.client import Client, client_info_line
from broker.resp import OK, PONG, CommandError, Simple, Verbatim
from broker.table import command, container, subcommand

__all__ = ["client_info_line"]

_RESET = Simple("RESET")


# PING [message]
@command("ping", -1, "fast sentinel subscribed", group="connection")
def ping(client: Client, argv: list[bytes]) -> object:
    if len(argv) > 2:
        raise CommandError("ERR wrong number of arguments for 'ping' command")
    if client.proto == 2 and (client.channels or client.patterns or client.shard_channels):
        return [b"pong", argv[1] if len(argv) == 2 else b""]
    return argv[1] if len(argv) == 2 else PONG


# ECHO message
@command("echo", 2, "fast", group="connection")
def echo(client: Client, argv: list[bytes]) -> bytes:
    return argv[1]


# QUIT
@command("quit", -1, "noscript noauth allow_busy subscribed fast", group="connection")
def quit_(client: Client, argv: list[bytes]) -> object:
    client.close_after_reply = True
    return OK


# RESET
@command("reset", 1, "noscript loading stale fast noauth allow_busy subscribed", group="connection",
         since="6.2.0")
def reset(client: Client, argv: list[bytes]) -> object:
    broker = client.broker
    client.multi = None
    client.multi_error = False
    broker.unwatch(client)
    broker.unsubscribe_all(client)
    broker.monitors.remove(client)
    broker.tracking.disable(client)
    client.db = broker.dbs[0]
    client.proto = 2
    client.name = b""
    client.reply_mode = 0
    # clientSetDefaultAuth: back to the default user (an internal client keeps its none)
    if client.user is not None:
        client.user = broker.acl.default
        client.authenticated = broker.acl.default_open()
    return _RESET


# SELECT index
@command("select", 2, "loading stale fast", group="connection")
def select(client: Client, argv: list[bytes]) -> object:
    index = parse_int(argv[1], NOT_INTEGER)
    if not 0 <= index < len(client.broker.dbs):
        raise CommandError("ERR DB index is out of range")
    client.db = client.broker.dbs[index]
    return OK


# AUTH [username] password
@command("auth", -2, "noscript loading stale fast noauth sentinel allow_busy", group="connection")
def auth(client: Client, argv: list[bytes]) -> object:
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    if len(argv) == 2 and client.broker.acl.default.nopass:
        raise CommandError(
            "ERR AUTH <password> called without any password configured for the default user. "
            "Are you sure your configuration is correct?")
    _authenticate(client, argv, argv[1] if len(argv) == 3 else b"default", argv[-1])
    return OK


def _authenticate(client: Client, argv: list[bytes], username: bytes, password: bytes) -> None:
    """ACLAuthenticateUser: become ``username``, or count and log the failure."""
    broker = client.broker
    user = broker.acl.users.get(username)
    if user is None or not user.check_password(password):
        client.auth_failures += 1  # the server shell delays this client's next request
        broker.acl_denied(client, None, argv, DENIED_AUTH, 0, "multi" if client.multi is not None else "toplevel",
                          username=username)
        raise CommandError("WRONGPASS invalid username-password pair or user is disabled.")
    client.authenticated = True
    client.user = user


# HELLO [protover [AUTH username password] [SETNAME clientname]]
@command("hello", -1, "noscript loading stale fast noauth sentinel allow_busy", group="connection",
         since="6.0.0")
def hello(client: Client, argv: list[bytes]) -> object:
    proto = client.proto
    if len(argv) >= 2:
        try:
            proto = parse_int(argv[1])
        except CommandError:
            raise CommandError("ERR Protocol version is not an integer or out of range") from None
        if proto not in (2, 3):
            raise CommandError("NOPROTO unsupported protocol version")
    name = None
    i = 2
    while i < len(argv):
        option = argv[i].upper()
        remaining = len(argv) - i - 1
        if option == b"AUTH" and remaining >= 2:
            _authenticate(client, argv, argv[i + 1], argv[i + 2])
            i += 3
        elif option == b"SETNAME" and remaining >= 1:
            name = argv[i + 1]
            _check_name(name)
            i += 2
        else:
            raise CommandError(f"ERR Syntax error in HELLO option '{argv[i].decode('utf-8', 'replace')}'")
    if not client.authenticated:
        raise CommandError("NOAUTH HELLO must be called with the client already authenticated, otherwise "
                           "the HELLO AUTH <user> <pass> option can be used to authenticate the "
                           "client and select the RESP protocol version at the same time")
    if name is not None:
        client.name = name
    client.proto = proto
    return {
        b"server": b"redis",
        b"version": client.broker.version.encode(),
        b"proto": proto,
        b"id": client.id,
        b"mode": b"standalone",
        b"role": b"master",
        b"modules": [],
    }


def _check_name(name: bytes) -> None:
    if any(byte < 33 or byte > 126 for byte in name):
        raise CommandError("ERR Client names cannot contain spaces, newlines or special characters.")


_client = container("client", "sentinel", group="connection", since="2.4.0")


# CLIENT ID
@subcommand(_client, "id", 2, "noscript loading stale")
def client_id(client: Client, argv: list[bytes]) -> int:
    return client.id


# CLIENT SETNAME connection-name
@subcommand(_client, "setname", 3, "noscript loading stale")
def client_setname(client: Client, argv: list[bytes]) -> object:
    _check_name(argv[2])
    client.name = argv[2]
    return OK


# CLIENT GETNAME
@subcommand(_client, "getname", 2, "noscript loading stale")
def client_getname(client: Client, argv: list[bytes]) -> object:
    return client.name or None


# CLIENT SETINFO <LIB-NAME libname | LIB-VER libver>
@subcommand(_client, "setinfo", 4, "noscript loading stale", since="7.2.0")
def client_setinfo(client: Client, argv: list[bytes]) -> object:
    attribute = argv[2].upper()
    if any(byte < 33 or byte > 126 for byte in argv[3]):
        raise CommandError(f"ERR {attribute.decode().lower()} cannot contain spaces, newlines or special characters.")
    if attribute == b"LIB-NAME":
        client.lib_name = argv[3]
    elif attribute == b"LIB-VER":
        client.lib_ver = argv[3]
    else:
        raise CommandError(f"ERR Unrecognized option '{argv[2].decode('utf-8', 'replace')}'")
    return OK


# CLIENT REPLY ON|OFF|SKIP
@subcommand(_client, "reply", 3, "noscript loading stale")
def client_reply(client: Client, argv: list[bytes]) -> object:
    mode = argv[2].upper()
    if mode == b"ON":
        client.reply_mode = 0
        return OK
    if mode == b"OFF":
        client.reply_mode = 1
    elif mode == b"SKIP":
        # No reply to SKIP itself, nor to the command after it (3 -> 2 -> 0).
        if client.reply_mode != 1:
            client.reply_mode = 3
    else:
        raise CommandError(SYNTAX)
    return None


# CLIENT LIST [TYPE normal|master|replica|pubsub] [ID client-id ...]
@subcommand(_client, "list", -2, "admin noscript loading stale")
def client_list(client: Client, argv: list[bytes]) -> object:
    clients = list(client.broker.clients.values())
    if len(argv) > 2:
        option = argv[2].upper()
        if option == b"TYPE" and len(argv) == 4:
            kind = argv[3].lower()
            if kind == b"pubsub":
                clients = [c for c in clients if c.channels or c.patterns or c.shard_channels]
            elif kind == b"normal":
                clients = [c for c in clients if not (c.channels or c.patterns or c.shard_channels)]
            elif kind in (b"master", b"replica", b"slave"):
                clients = []
            else:
                raise CommandError(f"ERR Unknown client type '{argv[3].decode('utf-8', 'replace')}'")
        elif option == b"ID" and len(argv) >= 4:
            wanted = set()
            for raw in argv[3:]:
                value = parse_int(raw, "ERR Invalid client ID")
                if value <= 0:
                    raise CommandError("ERR Invalid client ID")
                wanted.add(value)
            clients = [c for c in clients if c.id in wanted]
        else:
            raise CommandError(SYNTAX)
    return Verbatim("".join(client_info_line(c, argv if c is client else None) + "\n" for c in clients))


# CLIENT INFO
@subcommand(_client, "info", 2, "noscript loading stale", since="6.2.0")
def client_info(client: Client, argv: list[bytes]) -> object:
    return Verbatim(client_info_line(client, argv) + "\n")


# CLIENT KILL addr | CLIENT KILL [ID id] [ADDR addr] [LADDR addr] [TYPE type] [USER u] [SKIPME yes|no]
@subcommand(_client, "kill", -3, "admin noscript loading stale")
def client_kill(client: Client, argv: list[bytes]) -> object:
    broker = client.broker
    if len(argv) == 3:
        addr = argv[2].decode("utf-8", "replace")
        for other in list(broker.clients.values()):
            if other.addr == addr:
                _kill(client, other)
                return OK
        raise CommandError("ERR No such client")
    if len(argv) % 2:
        raise CommandError(SYNTAX)
    filters: list[tuple[bytes, bytes]] = []
    skipme = True
    for i in range(2, len(argv), 2):
        option, value = argv[i].upper(), argv[i + 1]
        if option == b"SKIPME":
            if value.lower() not in (b"yes", b"no"):
                raise CommandError(SYNTAX)
            skipme = value.lower() == b"yes"
        elif option == b"ID":
            client_id_value = parse_int(value, "ERR client-id should be greater than 0")
            if client_id_value <= 0:
                raise CommandError("ERR client-id should be greater than 0")
            filters.append((option, value))
        elif option == b"TYPE":
            if value.lower() not in (b"normal", b"pubsub", b"master", b"replica", b"slave"):
                raise CommandError(f"ERR Unknown client type '{value.decode('utf-8', 'replace')}'")
            filters.append((option, value))
        elif option == b"USER":
            if value not in broker.acl.users:
                raise CommandError(f"ERR No such user '{value.decode('utf-8', 'replace')}'")
            filters.append((option, value))
        elif option in (b"ADDR", b"LADDR", b"MAXAGE"):
            filters.append((option, value))
        else:
            raise CommandError(SYNTAX)
    killed = 0
    for other in list(broker.clients.values()):
        if skipme and other is client:
            continue
        if all(_filter_matches(other, option, value) for option, value in filters):
            _kill(client, other)
            killed += 1
    return killed


def _filter_matches(other: Client, option: bytes, value: bytes) -> bool:
    if option == b"ID":
        return other.id == int(value)
    if option == b"ADDR":
        return other.addr == value.decode("utf-8", "replace")
    if option == b"LADDR":
        return other.laddr == value.decode("utf-8", "replace")
    if option == b"USER":
        return other.user is not None and other.user is other.broker.acl.users.get(value)
    if option == b"TYPE":
        pubsub = bool(other.channels or other.patterns or other.shard_channels)
        return {b"pubsub": pubsub, b"normal": not pubsub}.get(value.lower(), False)
    if option == b"MAXAGE":
        return (other.broker.now_ms - other.created_ms) // 1000 >= int(value)
    return False


def _kill(current: Client, other: Client) -> None:
    if other is current:
        current.close_after_reply = True
    else:
        other.kill("killed by CLIENT KILL")


# CLIENT NO-EVICT on|off, CLIENT NO-TOUCH on|off: accepted, nothing to do in memory.
@subcommand(_client, "no-evict", 3, "admin noscript loading stale", since="7.0.0")
@subcommand(_client, "no-touch", 3, "noscript loading stale", since="7.2.0")
def client_no_evict(client: Client, argv: list[bytes]) -> object:
    if argv[2].lower() not in (b"on", b"off"):
        raise CommandError(SYNTAX)
    return OK


def _client_usage(argv: list[bytes]) -> CommandError:
    """What Redis 7.0 answers a CLIENT subcommand given more arguments than it takes."""
    return CommandError(f"ERR unknown subcommand or wrong number of arguments for "
                        f"'{argv[1].decode('utf-8', 'replace')}'. Try CLIENT HELP.")


# CLIENT UNBLOCK client-id [TIMEOUT | ERROR]
@subcommand(_client, "unblock", -3, "admin noscript loading stale", since="5.0.0")
def client_unblock(client: Client, argv: list[bytes]) -> object:
    """Release a client blocked in BLPOP, XREAD, WAIT ...: with TIMEOUT (the default) it
    gets its command's timeout reply, with ERROR ``-UNBLOCKED``; 1 if it was blocked."""
    if len(argv) > 4:
        raise _client_usage(argv)
    as_error = False
    if len(argv) == 4:
        reason = argv[3].lower()
        if reason not in (b"timeout", b"error"):
            raise CommandError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
        as_error = reason == b"error"
    target = client.broker.clients.get(parse_int(argv[2]))
    if target is None or target.blocked is None:
        return 0
    reply = (CommandError("UNBLOCKED client unblocked via CLIENT UNBLOCK") if as_error
             else target.blocked.timeout_reply)
    client.broker.unblock(target, reply)
    return 1


# CLIENT PAUSE timeout [WRITE | ALL]
@subcommand(_client, "pause", -3, "admin noscript loading stale", since="3.0.0")
def client_pause(client: Client, argv: list[bytes]) -> object:
    """Hold clients' commands (all of them, or with WRITE those that would write)
    for ``timeout`` ms: see broker/pause.py."""
    if len(argv) > 4:
        raise _client_usage(argv)
    kind = ALL
    if len(argv) == 4:
        mode = argv[3].lower()
        if mode not in (b"write", b"all"):
            raise CommandError("ERR CLIENT PAUSE mode must be WRITE or ALL")
        kind = WRITE if mode == b"write" else ALL
    timeout = parse_int(argv[2], "ERR timeout is not an integer or out of range")
    if timeout < 0:
        raise CommandError("ERR timeout is negative")
    broker = client.broker
    broker.pause.pause(broker.now_ms + timeout if timeout > 0 else 0, kind)
    return OK


# CLIENT UNPAUSE
@subcommand(_client, "unpause", 2, "admin noscript loading stale", since="6.2.0")
def client_unpause(client: Client, argv: list[bytes]) -> object:
    client.broker.pause.unpause()
    return OK


# CLIENT HELP
@subcommand(_client, "help", 2, "loading stale")
def client_help(client: Client, argv: list[bytes]) -> list[str]:
    return [
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CACHING (YES|NO)", "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
        "GETREDIR", "    Return the client ID we are redirecting to when tracking is enabled.",
        "GETNAME", "    Return the name of the current connection.",
        "ID", "    Return the ID of the current connection.",
        "INFO", "    Return information about the current client connection.",
        "KILL <ip:port>", "    Kill connection made from <ip:port>.",
        "LIST [options ...]", "    Return information about client connections.",
        "REPLY (ON|OFF|SKIP)", "    Control the replies sent to the current connection.",
        "SETNAME <name>", "    Assign the name <name> to the current connection.",
        "SETINFO <option> <value>", "    Set client meta attr.",
        "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
        "         [OPTIN] [OPTOUT] [NOLOOP]", "    Control server assisted client side caching.",
        "TRACKINGINFO", "    Report tracking status for the current connection.",
        "HELP", "    Print this help.",
    ]
