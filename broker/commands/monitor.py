"""MONITOR: stream every command the server runs to this connection (``broker.monitor``)."""

from __future__ import annotations

from broker.client import Client
from broker.resp import OK, CommandError
from broker.results import NO_REPLY
from broker.table import command

__all__: list[str] = []


# MONITOR
@command("monitor", 1, "admin noscript loading stale", group="server")
def monitor(client: Client, argv: list[bytes]) -> object:
    broker = client.broker
    if broker.call_depth > 1:
        # inside EXEC: a client that expects one reply per command cannot monitor
        raise CommandError("ERR MONITOR isn't allowed for DENY BLOCKING client")
    if client in broker.monitors.clients:
        return NO_REPLY  # Redis ignores MONITOR from a monitor: no reply at all
    broker.monitors.add(client)
    return OK
