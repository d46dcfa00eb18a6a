"""Client message parsing and server message encoding (no sockets)."""

import orjson
import pytest

from gateway.protocol import BadRequest, encode_error, encode_event, encode_reply, payload_json
from gateway.session import parse as parse_request


def test_parse_each_op():
    request = parse_request('{"op":"publish","channel":"a","data":{"x":[1,2]},"id":"r1"}')
    assert (request.op, request.target, request.data, request.id) == ("publish", "a", {"x": [1, 2]}, "r1")
    assert orjson.loads(request.data_json) == {"x": [1, 2]}
    assert parse_request('{"op":"psubscribe","pattern":"chat:*"}').target == "chat:*"
    assert parse_request('{"op":"ping","id":3}').id == 3
    assert parse_request('{"op":"subscribe","channel":"c","presence":true}').options == {"presence": True}


@pytest.mark.parametrize("text, code", [
    ("nope", "bad_request"), ("3", "bad_request"), ('{"op":"x"}', "unknown_op"),
    ('{"op":"unsubscribe"}', "bad_request"), ('{"op":"publish","channel":"a"}', "bad_request"),
    ('{"op":true}', "bad_request"), ('{"op":"ping","id":true}', "bad_request"),
])
def test_bad_requests(text, code):
    with pytest.raises(BadRequest) as caught:
        parse_request(text)
    assert caught.value.code == code


def test_error_keeps_the_request_id():
    with pytest.raises(BadRequest) as caught:
        parse_request('{"op":"subscribe","id":9}')
    assert caught.value.request_id == 9


def test_encoding():
    assert orjson.loads(encode_reply(7, channel="a")) == {"id": 7, "ok": True, "channel": "a"}
    assert orjson.loads(encode_error(None, "forbidden", "no")) == {"error": {"code": "forbidden", "message": "no"}}
    assert orjson.loads(encode_event(b"c", b"[1]", b"c*")) == {"channel": "c", "pattern": "c*", "data": [1]}
    assert payload_json(b'{"a":1}') == b'{"a":1}'
    assert orjson.loads(payload_json(b"hello")) == "hello"
