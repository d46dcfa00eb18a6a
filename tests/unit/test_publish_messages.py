"""http_api.publish_messages: the common single publish is checked inline; every
body must come out (or be refused) exactly as the general path (_message) does."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.http_api import HttpError, _message, publish_messages
from gateway.protocol import MAX_CHANNEL_LENGTH


def deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


BODIES = [
    {"channel": "c", "data": {"a": [1, 2.5, "x"]}},
    {"channel": "c", "data": None},
    {"channel": "c", "data": "text", "extra": 1},  # extra fields are ignored
    {"data": 1, "channel": "é"},
    {"channel": "c" * MAX_CHANNEL_LENGTH, "data": 1},
    {"channel": "c", "data": 1, "idempotency_key": None},
    {"channel": "c", "data": 1, "idempotency_key": "k"},
    # refused, each with its message
    {"channel": "c" * (MAX_CHANNEL_LENGTH + 1), "data": 1},
    {"channel": "", "data": 1},
    {"channel": 5, "data": 1},
    {"channel": None, "data": 1},
    {"channel": "c"},
    {"data": 1},
    {},
    {"channel": "c", "data": 1, "idempotency_key": ""},
    {"channel": "c", "data": 1, "idempotency_key": 7},
    {"channel": "c", "data": deep(300)},  # parsed, but deeper than orjson encodes
]


def outcome(call: Any) -> Any:
    try:
        return call()
    except HttpError as exc:
        return exc.status, exc.code, str(exc)


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_a_single_publish_is_checked_as_the_general_path_checks_it(body):
    assert outcome(lambda: publish_messages(body)) == outcome(lambda: [_message(body, "")])


def test_data_deeper_than_orjson_encodes_is_a_body_orjson_parses():
    """(so the inline check's fallback on JSONEncodeError is reachable from a request)"""
    text = b'{"channel":"c","data":' + b"[" * 300 + b"1" + b"]" * 300 + b"}"
    assert orjson.loads(text) == {"channel": "c", "data": deep(300)}
