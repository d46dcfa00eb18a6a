"""Client-side caching commands: CLIENT TRACKING CACHING GETREDIR TRACKINGINFO.

The table and the invalidations are ``broker.tracking``; these parse and check
options exactly as Redis 7.0's ``clientCommand`` does, error texts included.
"""

from __future__ import annotations

from broker.commands import connection  # noqa: F401  (registers the CLIENT container)
from broker.commands.args import SYNTAX, parse_int
from broker.client import Client
from broker.resp import OK, CommandError
from broker.results import Replies
from broker.scripting.convert import OrderedSet
from broker.table import COMMANDS, subcommand

__all__: list[str] = []

_SWITCH = "tracking for this client, and then re-enabling it with a different mode."
_client = COMMANDS[b"client"]


# CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX prefix [PREFIX prefix ...]] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]
@subcommand(_client, "tracking", -3, "noscript loading stale", since="6.0.0")
def client_tracking(client: Client, argv: list[bytes]) -> object:
    broker = client.broker
    redirect = 0
    bcast = optin = optout = noloop = False
    prefixes: list[bytes] = []
    i = 3
    while i < len(argv):
        option = argv[i].lower()
        more = i < len(argv) - 1
        if option == b"redirect" and more:
            i += 1
            if redirect:
                raise CommandError("ERR A client can only redirect to a single other client")
            redirect = parse_int(argv[i])
            # the client must exist now, though it may go later (Redis's sanity check)
            if redirect not in broker.clients:
                raise CommandError("ERR The client ID you want redirect to does not exist")
        elif option == b"bcast":
            bcast = True
        elif option == b"optin":
            optin = True
        elif option == b"optout":
            optout = True
        elif option == b"noloop":
            noloop = True
        elif option == b"prefix" and more:
            i += 1
            prefixes.append(argv[i])
        else:
            raise CommandError(SYNTAX)
        i += 1
    mode = argv[2].lower()
    if mode == b"off":
        broker.tracking.disable(client)
        return OK
    if mode != b"on":
        raise CommandError(SYNTAX)
    state = client.tracking
    if prefixes and not bcast:
        raise CommandError("ERR PREFIX option requires BCAST mode to be enabled")
    if state is not None and state.bcast != bcast:
        raise CommandError("ERR You can't switch BCAST mode on/off before disabling " + _SWITCH)
    if bcast and (optin or optout):
        raise CommandError("ERR OPTIN and OPTOUT are not compatible with BCAST")
    if optin and optout:
        raise CommandError("ERR You can't specify both OPTIN mode and OPTOUT mode")
    if state is not None and ((optin and state.optout) or (optout and state.optin)):
        raise CommandError("ERR You can't switch OPTIN/OPTOUT mode before disabling " + _SWITCH)
    overlap = _overlap(client, prefixes) if bcast else None
    if overlap is not None and not overlap[1]:
        raise overlap[0]
    broker.tracking.enable(client, redirect, bcast, optin, optout, noloop, prefixes)
    if overlap is not None:
        # Redis's checkPrefixCollisionsOrReply returns the index of the prefix that
        # overlaps a later one, which its caller reads as success past the first: it
        # answers the error, then enables tracking and answers +OK too.
        return Replies([overlap[0], OK])
    return OK


def _overlap(client: Client, prefixes: list[bytes]) -> tuple[CommandError, bool] | None:
    """The error for prefixes that overlap (one starts the other) and whether Redis
    goes on regardless; None when they do not overlap."""
    existing = sorted(client.tracking.prefixes) if client.tracking is not None else []
    for i, prefix in enumerate(prefixes):
        for other in existing:
            if other.startswith(prefix) or prefix.startswith(other):
                return CommandError(
                    f"ERR Prefix '{_text(prefix)}' overlaps with an existing prefix '{_text(other)}'. "
                    "Prefixes for a single client must not overlap."), False
        for later in prefixes[i + 1:]:
            if later.startswith(prefix) or prefix.startswith(later):
                return CommandError(
                    f"ERR Prefix '{_text(prefix)}' overlaps with another provided prefix '{_text(later)}'. "
                    "Prefixes for a single client must not overlap."), i > 0
    return None


def _text(value: bytes) -> str:
    # %s of a C string: the bytes up to a NUL
    return value.split(b"\0", 1)[0].decode("utf-8", "replace")


# CLIENT CACHING YES|NO
@subcommand(_client, "caching", 3, "noscript loading stale", since="6.0.0")
def client_caching(client: Client, argv: list[bytes]) -> object:
    state = client.tracking
    if state is None:
        raise CommandError("ERR CLIENT CACHING can be called only when the client is in tracking mode with "
                           "OPTIN or OPTOUT mode enabled")
    answer = argv[2].lower()
    if answer == b"yes":
        if not state.optin:
            raise CommandError("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.")
    elif answer == b"no":
        if not state.optout:
            raise CommandError("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.")
    else:
        raise CommandError(SYNTAX)
    state.caching = True  # for the next command, or the next MULTI ... EXEC
    return OK


# CLIENT GETREDIR
@subcommand(_client, "getredir", 2, "noscript loading stale", since="6.0.0")
def client_getredir(client: Client, argv: list[bytes]) -> int:
    return client.tracking.redirect if client.tracking is not None else -1


# CLIENT TRACKINGINFO
@subcommand(_client, "trackinginfo", 2, "noscript loading stale", since="6.2.0")
def client_trackinginfo(client: Client, argv: list[bytes]) -> object:
    state = client.tracking
    if state is None:
        return {b"flags": OrderedSet([b"off"]), b"redirect": -1, b"prefixes": []}
    flags = [b"on"]
    if state.bcast:
        flags.append(b"bcast")
    if state.optin:
        flags += [b"optin", b"caching-yes"] if state.caching else [b"optin"]
    if state.optout:
        flags += [b"optout", b"caching-no"] if state.caching else [b"optout"]
    if state.noloop:
        flags.append(b"noloop")
    if state.broken_redirect:
        flags.append(b"broken_redirect")
    return {b"flags": OrderedSet(flags), b"redirect": state.redirect, b"prefixes": sorted(state.prefixes)}
