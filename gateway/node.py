"""The node's lifecycle: what a gateway process does for itself, beside serving ops.

- ``lifetime``: the backend started and this node announced (``joined`` on
  ``NODES_CHANNEL``), its heartbeat kept (``run_presence_upkeep``); then
  ``left``, the presence tracker stopped, the backend closed.
- ``join`` / ``leave``: a connection's presence on a channel (the session's
  subscribe and unsubscribe call them).
- ``drop_connection``: a closed connection unsubscribed and out of presence.
- ``on_backplane_reconnect``: after the broker link came back, presence put
  back and history gaps filled.
- ``shutdown_connections``: every websocket closed with 1001 at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from broker.backend import Backend, BackendUnavailable
from gateway import ops
from gateway.connection import Connection
from gateway.notify_flags import ensure_notify_flags
from gateway.operations import now_ms
from gateway.state import GatewayState

__all__ = ["NODES_CHANNEL", "conn_id", "drop_connection", "join", "leave", "lifetime", "on_backplane_reconnect",
           "run_presence_upkeep", "shutdown_connections"]

log = logging.getLogger("fanout.gateway")


async def lifetime(state: GatewayState) -> AsyncIterator[None]:
    """The node from its backend's start to its close: yields while it serves."""
    backend = state.backend
    await backend.start()
    upkeep = asyncio.ensure_future(run_presence_upkeep(state))
    yield
    upkeep.cancel()
    try:
        await backend.publish(NODES_CHANNEL, f"left {state.node_id}".encode())
        await state.tracker.stop()
    except BackendUnavailable:
        pass
    await backend.close()


def conn_id(state: GatewayState, connection: Connection) -> str:
    return f"{state.node_id}-{connection.id}"


async def join(state: GatewayState, connection: Connection, channel: str) -> None:
    identity = connection.identity
    now = now_ms()
    if connection.presence is None:
        connection.presence = set()
        await state.tracker.connect(conn_id(state, connection), identity.user, identity.info, now)
    await state.tracker.join(channel, conn_id(state, connection), identity.user, identity.info, now)
    connection.presence.add(channel)


async def leave(state: GatewayState, connection: Connection, channel: str) -> None:
    assert connection.presence is not None
    connection.presence.discard(channel)
    await state.tracker.leave(channel, conn_id(state, connection), connection.identity.user)


async def drop_connection(state: GatewayState, connection: Connection) -> None:
    """A connection closed (or its ping timed out): unsubscribe, leave presence."""
    reason = connection.close_reason or connection.ws.reason or "closed"
    node = state.node
    if node is not None:
        ops.note_disconnect(node, conn_id(state, connection), connection.identity.user, reason)
    if reason == "slow_consumer":
        log.info("closed slow consumer %s (%s): over its output budget of %d bytes for %gs",
                 conn_id(state, connection), connection.identity.user, state.settings.max_buffer,
                 state.settings.slow_close_after)
    else:
        log.debug("connection %s (%s) closed: %s", conn_id(state, connection), connection.identity.user, reason)
    await state.hub.drop(connection)
    await state.views.drop(connection)
    if connection.presence is not None:
        try:
            await state.tracker.disconnect(conn_id(state, connection))
        except BackendUnavailable:
            log.warning("presence of connection %s not removed yet: the broker is unavailable",
                        conn_id(state, connection))
            state.pending_leaves.add(conn_id(state, connection))


async def on_backplane_reconnect(state: GatewayState) -> None:
    """The broker link came back (maybe a restarted broker that lost everything):
    heartbeat, put this node's connections back in presence, remove the ones that
    closed meanwhile, and fill the history gaps of the channels followed here."""
    log.warning("broker connection restored: re-registering presence and filling history gaps")
    tracker = state.tracker
    await _enable_expired_events(state.backend)
    await tracker.heartbeat(now_ms())
    for connection in list(state.connections):
        if connection.presence:
            identity = connection.identity
            await tracker.connect(conn_id(state, connection), identity.user, identity.info, now_ms())
            for channel in list(connection.presence):
                await tracker.join(channel, conn_id(state, connection), identity.user, identity.info, now_ms())
    for conn in list(state.pending_leaves):
        await tracker.disconnect(conn)
        state.pending_leaves.discard(conn)
    await state.views.restore()
    await state.hub.check_positions()


async def run_presence_upkeep(state: GatewayState) -> None:
    """Heartbeat this node; remove the connections of nodes whose heartbeat expired.

    Dead nodes are noticed through the broker's ``expired`` keyspace notification
    (no polling); orphans left while no node was up are swept once at start.
    """
    tracker = state.tracker
    ttl = state.settings.node_ttl

    def on_expired(channel: bytes, key: bytes) -> None:
        if key.startswith(b"node:") and key.count(b":") == 1 and key != f"node:{state.node_id}".encode():
            asyncio.ensure_future(_cleanup_node(state, key[len(b"node:"):].decode()))

    def on_node(channel: bytes, message: bytes) -> None:
        event, _, node = message.decode("utf-8", "replace").partition(" ")
        if node != state.node_id and event in ("joined", "left"):
            log.info("node %s %s", node, event)

    await _enable_expired_events(state.backend)
    await state.hub.listen(b"__keyevent@0__:expired", on_expired)
    await state.hub.listen(NODES_CHANNEL, on_node)
    await state.backend.publish(NODES_CHANNEL, f"joined {state.node_id}".encode())
    await tracker.heartbeat(now_ms())
    await tracker.cleanup_orphans()
    while True:
        await asyncio.sleep(ttl / 3)
        try:
            await _upkeep(state)
        except BackendUnavailable:
            log.warning("node heartbeat failed: the broker is unavailable")
        except Exception as exc:  # e.g. a key of ours overwritten: the next round tries again
            log.warning("node upkeep failed: %s", " ".join(str(exc).split())[:200])


async def _upkeep(state: GatewayState) -> None:
    """One heartbeat, and the checks that notice an administrator's actions: a
    FLUSHALL took this node's keys (its heartbeat key was gone: put everything back,
    as after a reconnect); notification flags were removed (put them back)."""
    if not await state.tracker.heartbeat(now_ms()):
        log.warning("this node's heartbeat key was gone (FLUSHALL or lost broker data): re-registering")
        await on_backplane_reconnect(state)
        return
    await ensure_notify_flags(state.backend, "Ex", "presence cleanup of dead nodes", restore=True)
    await state.views.check_notifications()


# Nodes say when they join and leave here, so the others can log it (a node that dies
# says nothing: its heartbeat expires, see on_expired).
NODES_CHANNEL = b"fanout:nodes"


async def _cleanup_node(state: GatewayState, node_id: str) -> None:
    left = await state.tracker.cleanup_node(node_id)
    log.info("node %s stopped sending heartbeats: removed it from presence (%d leaves)", node_id, left)


async def _enable_expired_events(backend: Backend) -> None:
    """Keyevent notifications of expired keys (E and x): how dead nodes are noticed."""
    await ensure_notify_flags(backend, "Ex", "presence cleanup of dead nodes")


async def shutdown_connections(state: GatewayState) -> None:
    """Close every websocket with 1001 (going away), within the shutdown deadline."""
    state.shutting_down = True
    connections = list(state.connections)
    for connection in connections:
        connection.close_reason = "server_shutdown"
    if connections:
        await asyncio.wait([asyncio.ensure_future(c.close(1001, "server shutting down", "server_shutdown"))
                            for c in connections], timeout=state.settings.shutdown_timeout)
