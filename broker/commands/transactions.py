"""Transactions: MULTI EXEC DISCARD WATCH UNWATCH.

Commands after MULTI are queued by ``Broker.execute``; EXEC runs them back to back,
which is atomic because the core is single-threaded. WATCH marks the client dirty
on any change to a watched key (``Broker.touch_watched``), and EXEC then aborts
with a null reply.
"""

from __future__ import annotations

from broker.client import Client
from broker.resp import NULL_ARRAY, OK, CommandError
from broker.results import Blocked, Replies
from broker.table import command

__all__: list[str] = []

# execCommand's reasons, by ACL result (broker.acl's DENIED_CMD, DENIED_KEY, DENIED_CHANNEL)
_CHANGED = {1: "no permission to execute the command or subcommand", 2: "no permission to touch the specified keys",
            4: "no permission to access one of the channels used as arguments"}


# MULTI
@command("multi", 1, "noscript loading stale fast allow_busy", group="transactions")
def multi(client: Client, argv: list[bytes]) -> object:
    if client.multi is not None:
        raise CommandError("ERR MULTI calls can not be nested")
    client.multi = []
    client.multi_error = False
    return OK


# EXEC
@command("exec", 1, "noscript loading stale skip_slowlog", group="transactions")
def exec_(client: Client, argv: list[bytes]) -> object:
    if client.multi is None:
        raise CommandError("ERR EXEC without MULTI")
    broker = client.broker
    queued, client.multi = client.multi, None
    if client.multi_error:
        client.multi_error = False
        broker.unwatch(client)
        raise CommandError("EXECABORT Transaction discarded because of previous errors.")
    if client.watch_dirty:
        broker.unwatch(client)
        return NULL_ARRAY
    broker.unwatch(client)
    replies: list[object] = []
    for cmd, args in queued:
        user = client.user
        if user is not None and not user.unrestricted:
            # ACLs are checked again: they may have changed since the command was queued
            result, position = user.check(cmd, args)
            if result:
                broker.acl_denied(client, cmd, args, result, position, "multi")
                replies.append(CommandError(
                    "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC "
                    "call. This command is no longer allowed for the following reason: " + _CHANGED[result]))
                continue
        reply = broker.call(client, cmd, args)
        if type(reply) is Blocked:
            reply = reply.timeout_reply
        if type(reply) is Replies:
            replies.extend(reply)
        else:
            replies.append(reply)
    return replies


# DISCARD
@command("discard", 1, "noscript loading stale fast allow_busy", group="transactions")
def discard(client: Client, argv: list[bytes]) -> object:
    if client.multi is None:
        raise CommandError("ERR DISCARD without MULTI")
    client.multi = None
    client.multi_error = False
    client.broker.unwatch(client)
    return OK


# WATCH key [key ...]
@command("watch", -2, "noscript loading stale fast allow_busy", keys=(1, -1, 1), group="transactions",
         since="2.2.0")
def watch(client: Client, argv: list[bytes]) -> object:
    if client.multi is not None:
        raise CommandError("ERR WATCH inside MULTI is not allowed")
    for key in argv[1:]:
        # A key that is logically expired counts as missing from now on.
        client.db.lookup(key)
        client.broker.watch(client, key)
    return OK


# UNWATCH
@command("unwatch", 1, "noscript loading stale fast allow_busy", group="transactions", since="2.2.0")
def unwatch(client: Client, argv: list[bytes]) -> object:
    client.broker.unwatch(client)
    return OK
