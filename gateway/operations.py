"""Operations shared by the websocket protocol and the HTTP API."""

from __future__ import annotations

import time
from typing import Any

from gateway import errors, history
from gateway.protocol import BadRequest
from gateway.state import GatewayState

__all__ = ["MAX_OFFSET", "history_query", "idempotency_key", "now_ms", "publish"]

# Largest offset a client may name: history offsets are the first part of stream
# ids "<offset>-0" (64-bit), and since + 1 must still be one (2^63 as 'since' made
# the broker refuse the read: a 500 with a traceback).
MAX_OFFSET = 2**63 - 2


def now_ms() -> int:
    return int(time.time() * 1000)


MAX_IDEMPOTENCY_KEY = 128


def idempotency_key(value: Any) -> bytes | None:
    """Validate a publish's ``idempotency_key`` (absent: None)."""
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_IDEMPOTENCY_KEY:
        raise BadRequest(errors.BAD_REQUEST, f"'idempotency_key' must be a string of 1 to {MAX_IDEMPOTENCY_KEY} "
                         "characters")
    return value.encode()


async def publish(state: GatewayState, channel: str, data_json: bytes, key: bytes | None = None) -> dict[str, Any]:
    """Publish (through history when the channel keeps it); the reply's position fields.
    ``data_json`` is JSON text (``protocol.encode_data``'s): the hub delivers it unchecked.

    With an idempotency ``key``: not published again if a publish with that key on
    this channel ran within ``idempotency_window`` (the reply then has
    ``"duplicate": true`` and the position of the one that ran).

    Raises:
        BackendUnavailable: not published (the request was never sent).
        OutcomeUnknown: sent without a reply: maybe published (retry with a key).
    """
    options = state.channels.options(channel)
    if key is not None:
        window_ms = max(1, int(state.settings.idempotency_window * 1000))
        history = (options.history_size, options.history_ttl_ms) if options.history else None
        duplicate, offset, epoch = await state.backend.publish_once(channel.encode(), data_json, key, window_ms,
                                                                    history)
        if not duplicate:
            state.counters.messages_in += 1
        position: dict[str, Any] = {"offset": offset, "epoch": epoch} if options.history else {}
        return {**position, "duplicate": True} if duplicate else position
    if options.history:
        offset, epoch = await state.backend.history_publish(channel.encode(), data_json, options.history_size,
                                                            options.history_ttl_ms)
        state.counters.messages_in += 1
        return {"offset": offset, "epoch": epoch}
    hub = state.hub
    hub.json_data = data_json  # (JSON text: the hub need not parse it again; see Hub.json_data)
    try:
        await state.backend.publish(channel.encode(), data_json)
    finally:
        hub.json_data = None
    state.counters.messages_in += 1
    return {}


def history_query(since: Any, limit: Any, reverse: Any) -> tuple[int | None, int, bool]:
    """Validate history paging; BadRequest names the field that is wrong."""
    if since is not None and (type(since) is not int or since < 0):
        raise BadRequest(errors.BAD_REQUEST, "'since' must be an offset (an integer >= 0)")
    if since is not None and since > MAX_OFFSET:
        raise BadRequest(errors.BAD_REQUEST, f"'since' {since} is over the largest offset, {MAX_OFFSET}")
    if type(limit) is not int or not 1 <= limit <= history.MAX_LIMIT:
        raise BadRequest(errors.BAD_REQUEST, f"'limit' must be an integer from 1 to {history.MAX_LIMIT}")
    if type(reverse) is not bool:
        raise BadRequest(errors.BAD_REQUEST, "'reverse' must be true or false")
    return since, limit, reverse
