"""Live views of keys: the asyncio shell around ``gateway.views`` (ops watch / unwatch).

The gateway learns of changes from keyspace notifications: one upstream
subscription to ``__keyspace@0__:<key>`` per watched key, held while any view of
that key has a watcher (a hub listener: shared with browsers that subscribe to
that channel themselves). On the first watch it makes sure the backend's
``notify-keyspace-events`` includes ``K`` and the classes of the data types
views read, adding letters and never removing any already set.

One timer drives the registry's coalescing scheduler; computations run the
view's read command on the backend and push one shared frame to every watcher.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from broker.backend import Backend
from broker.resp import CommandError
from gateway import errors
from gateway.notify_flags import ensure_notify_flags
from gateway.protocol import BadRequest, Request, encode_reply
from gateway.views import View, ViewError, ViewRegistry, parse_view

if TYPE_CHECKING:
    from gateway.connection import Connection
    from gateway.fanout import Hub
    from gateway.settings import GatewaySettings

__all__ = ["NOTIFY_CLASSES", "LiveViews"]

log = logging.getLogger("fanout.gateway")

# K: keyspace channels; g: DEL/RENAME/...; $ l h z: the types views read; x e: expired, evicted.
NOTIFY_CLASSES = "Kg$lhzxe"
class LiveViews:
    """Watches of all connections of one gateway (``GatewayState.views``), kept fresh
    through the hub's listeners of keyspace channels."""

    def __init__(self, hub: Hub, settings: GatewaySettings) -> None:
        self.hub = hub
        self.backend: Backend = hub.backend
        self.settings = settings
        self.registry = ViewRegistry(settings.watch_interval)
        # First computation of a new view, awaited by watchers that arrive meanwhile.
        self._initial: dict[View, asyncio.Future[None]] = {}
        # Upstream subscriptions in progress: later watchers of the key wait for them,
        # so that no change between their read and the subscription goes unnoticed.
        self._subscribing: dict[bytes, asyncio.Future[None]] = {}
        self._notify_checked = False
        self._notify_lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        # view -> watchers that skipped its last push (over their output budget): the
        # latest frame goes again each interval until it gets through, so a client that
        # catches up does not keep a stale value until the key changes again.
        self._stale: dict[View, dict[Connection, None]] = {}

    # ------------------------------------------------------------- hub hooks

    def on_keyspace(self, channel: bytes, event: bytes) -> None:
        """A keyspace notification (hub listener): the key's views are dirty."""
        if self.registry.changed(channel):
            self._arm()

    async def restore(self) -> None:
        """After a backplane reconnect (the broker may have restarted and lost its
        settings and data): notifications on again, and every view read again."""
        self._notify_checked = False
        if self.registry.by_channel:
            await self._ensure_notifications()
            for channel in list(self.registry.by_channel):
                self.on_keyspace(channel, b"reconnect")

    async def check_notifications(self) -> None:
        """Periodically: if someone removed the notification flags live views need,
        put them back (logged) and read every view again (changes were missed)."""
        if self.registry.by_channel and await ensure_notify_flags(self.backend, NOTIFY_CLASSES, "live views",
                                                                  restore=True):
            for channel in list(self.registry.by_channel):
                self.on_keyspace(channel, b"reconnect")

    def count(self, connection: Connection) -> int:
        return self.registry.count(connection)

    async def drop(self, connection: Connection) -> None:
        """Forget a closed connection's watches."""
        for channel in self.registry.drop(connection):
            await self._release(channel)

    # ------------------------------------------------------------------- ops

    async def handle(self, connection: Connection, request: Request) -> bytes:
        """``watch`` / ``unwatch``; returns the reply. Raises BadRequest."""
        if request.op == "unwatch":
            return await self._unwatch(connection, request)
        return await self._watch(connection, request)

    async def _watch(self, connection: Connection, request: Request) -> bytes:
        key = request.target
        options = request.options or {}
        if not connection.identity.can_subscribe(key):
            raise BadRequest(errors.FORBIDDEN, f"not allowed to watch key {key!r}")
        try:
            spec = parse_view(options.get("view"))
        except ViewError as exc:
            raise BadRequest(errors.BAD_REQUEST, str(exc)) from None
        key_bytes = key.encode()
        existing = self.registry.views.get((key_bytes, spec))
        if existing is None or connection not in existing.watchers:
            used = len(connection.channels) + len(connection.patterns) + self.registry.count(connection)
            if used >= self.settings.max_subscriptions:
                raise BadRequest(errors.LIMIT_EXCEEDED, f"subscription limit of {self.settings.max_subscriptions} "
                                 f"per connection reached (watches count); cannot watch key {key!r}")
        view, new_channel = self.registry.watch(connection, key_bytes, spec)
        try:
            await self._subscribed(view.channel, new_channel)
            if view.value is None:
                await self._first_value(view)
        except BaseException:
            await self._forget(connection, view)
            raise
        value = self.registry.ready(view, connection)
        if value is None:  # the connection closed meanwhile: nobody reads this reply
            raise BadRequest(errors.NOT_SUBSCRIBED, f"watch of key {key!r} ended before it started")
        return encode_reply(request.id, key=key, watch=view.id)[:-1] + b',"value":' + value + b"}"

    async def _unwatch(self, connection: Connection, request: Request) -> bytes:
        watch_id = request.target
        found, channel = self.registry.unwatch(connection, watch_id)
        if not found:
            raise BadRequest(errors.NOT_SUBSCRIBED, f"no watch {watch_id!r} on this connection")
        if channel is not None:
            await self._release(channel)
        return encode_reply(request.id, watch=watch_id)

    async def _forget(self, connection: Connection, view: View) -> None:
        channel = self.registry.unwatch(connection, view.id)[1]
        if channel is not None:
            await self._release(channel)

    # ------------------------------------------------------- upstream, reads

    async def _subscribed(self, channel: bytes, new: bool) -> None:
        if not new:
            pending = self._subscribing.get(channel)
            if pending is not None:
                await asyncio.shield(pending)
            return
        future = self._subscribing[channel] = asyncio.get_running_loop().create_future()
        try:
            await self._ensure_notifications()
            await self.hub.listen(channel, self.on_keyspace)
            future.set_result(None)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters still get it when they await
            raise
        finally:
            del self._subscribing[channel]

    async def _release(self, channel: bytes) -> None:
        await self.hub.unlisten(channel)

    async def _ensure_notifications(self) -> None:
        if self._notify_checked:
            return
        async with self._notify_lock:
            if self._notify_checked:
                return
            await ensure_notify_flags(self.backend, NOTIFY_CLASSES, "live views")
            self._notify_checked = True

    async def _first_value(self, view: View) -> None:
        pending = self._initial.get(view)
        if pending is not None:
            await asyncio.shield(pending)
            return
        future = self._initial[view] = asyncio.get_running_loop().create_future()
        self.registry.start(view, asyncio.get_running_loop().time())
        try:
            value = await self._read(view)
        except BaseException as exc:
            self.registry.computed(view, None)
            future.set_exception(exc)
            future.exception()
            raise
        else:
            self.registry.computed(view, value)
            future.set_result(None)
        finally:
            del self._initial[view]
            self._arm()  # changes during the first read

    async def _read(self, view: View) -> bytes:
        try:
            return view.spec.encode(await self.backend.execute(*view.spec.command(view.key)))
        except CommandError as exc:
            if str(exc).startswith("WRONGTYPE"):
                raise BadRequest(errors.BAD_REQUEST, f"key {view.key.decode('utf-8', 'replace')!r} holds another "
                                 f"type than a {view.spec.type} view reads") from None
            raise

    # ------------------------------------------------------------- scheduler

    def _arm(self) -> None:
        due = self.registry.next_due()
        if due is None or (self._timer is not None and self._timer_at <= due):
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = due
        self._timer = asyncio.get_running_loop().call_at(due, self._fire)

    def _fire(self) -> None:
        self._timer = None
        views = self.registry.due(asyncio.get_running_loop().time())
        if views:
            asyncio.ensure_future(self._refresh(views))
        self._arm()

    async def _refresh(self, views: list[View]) -> None:
        await asyncio.gather(*(self._refresh_one(view) for view in views))
        self._arm()

    async def _refresh_one(self, view: View) -> None:
        try:
            value: bytes | None = await self._read(view)
        except BadRequest:
            value = b"null"  # the key now holds another type: no value of this view
        except Exception as exc:
            log.warning("live view of %r not refreshed: %s", view.key, exc)
            value = None
        frame = self.registry.computed(view, value)
        if frame is not None:
            self._deliver(view, frame, list(view.watchers))  # type: ignore[arg-type]

    def _deliver(self, view: View, frame: bytes, connections: list[Connection]) -> None:
        channel = view.channel
        stale = self._stale.get(view)
        for connection in connections:
            connection.send_event(frame, channel)
            if channel in connection.dropped:  # skipped: announced as a gap when it catches up
                if stale is None:
                    stale = self._stale[view] = {}
                    asyncio.get_running_loop().call_later(self.registry.interval, self._resend, view)
                stale[connection] = None
            elif stale:
                stale.pop(connection, None)

    def _resend(self, view: View) -> None:
        stale = self._stale.pop(view, None)
        if stale and view.frame is not None and self.registry.by_id.get(view.id) is view:
            self._deliver(view, view.frame, [connection for connection in stale if connection in view.watchers])

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # --------------------------------------------------------------- metrics

    def collect(self) -> Iterator[Any]:
        """Prometheus metrics (registered by the app next to the hub's)."""
        registry = self.registry
        yield CounterMetricFamily("fanout_view_computations", "Live view computations (once per view per "
                                  "push interval, not per watcher)", value=registry.computations)
        yield CounterMetricFamily("fanout_view_pushes", "Live view values pushed (one frame for all watchers)",
                                  value=registry.pushes)
        yield GaugeMetricFamily("fanout_views", "Live views with watchers", value=len(registry.views))
        yield GaugeMetricFamily("fanout_watches", "Watches of connections", value=registry.watch_count)
