"""gateway.upgrade: the lean opening handshake, checked against the websockets library.

Every request it takes, the library accepts with the same 101 (but the Date);
everything it leaves (None) goes to the library as before.
"""

from __future__ import annotations

import base64
import random
import re

import pytest
from websockets.protocol import State
from websockets.server import ServerProtocol

from gateway.upgrade import Upgrade, accept_response, parse_upgrade

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
PLAIN = (b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         b"Sec-WebSocket-Key: " + KEY + b"\r\nSec-WebSocket-Version: 13")


def library_response(head: bytes) -> bytes:
    """The library's answer to a request head, Date line removed."""
    protocol = ServerProtocol()
    protocol.receive_data(head + b"\r\n\r\n")
    [request] = protocol.events_received()
    response = protocol.accept(request)
    protocol.send_response(response)
    return _without_date(b"".join(protocol.data_to_send()))


def _without_date(response: bytes) -> bytes:
    return b"\r\n".join(line for line in response.split(b"\r\n") if not line.startswith(b"Date: "))


@pytest.mark.parametrize("head", [
    PLAIN,
    PLAIN + b"\r\nOrigin: https://app.example",
    b"GET /ws?token=a.b.c&name=Al HTTP/1.1\r\nhost: x\r\nupgrade: WebSocket\r\nconnection: keep-alive, Upgrade\r\n"
    b"sec-websocket-key: " + KEY + b"\r\nsec-websocket-version: 13\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nUser-Agent: Mozilla/5.0 (X11)",
    PLAIN + b"\r\nConnection: keep-alive",  # a second Connection header adds its tokens
    PLAIN.replace(b"Connection: Upgrade", b"Connection: UPGRADE"),
    PLAIN.replace(b"Connection: Upgrade", b"Connection:\tupgrade "),
    PLAIN + b"\r\nX-Spaces: \t a b \t\r\nX-Empty:\r\nX-8bit: caf\xc3\xa9",
    PLAIN + b"\r\nX-Long: " + b"y" * 8000 + b"\r\nX-Other: " + b"z" * 8000,  # long, each line under 8,192
    PLAIN + b"".join(b"\r\nX-%d: y" % n for n in range(123)),  # 128 headers: the most it takes
])
def test_an_upgrade_it_takes_gets_the_library_s_101(head: bytes) -> None:
    upgrade = parse_upgrade(head)
    assert upgrade is not None
    assert _without_date(accept_response(upgrade.key)) == library_response(head)
    assert accept_response(upgrade.key).startswith(b"HTTP/1.1 101 Switching Protocols\r\nDate: ")


def test_path_and_origin_are_what_the_library_reads() -> None:
    upgrade = parse_upgrade(PLAIN.replace(b"/ws", b"/ws?token=t") + b"\r\nOrigin: https://app.example")
    assert upgrade == Upgrade("/ws?token=t", "https://app.example", KEY)
    protocol = ServerProtocol()
    protocol.receive_data(PLAIN.replace(b"/ws", b"/ws?token=t") + b"\r\nOrigin: https://app.example\r\n\r\n")
    [request] = protocol.events_received()
    assert (request.path, request.headers.get("Origin")) == (upgrade.path, upgrade.origin)
    assert parse_upgrade(PLAIN) == Upgrade("/ws", None, KEY)


@pytest.mark.parametrize("head", [
    PLAIN.replace(b"HTTP/1.1", b"HTTP/1.0"),
    PLAIN.replace(b"GET", b"POST"),
    PLAIN.replace(b"Version: 13", b"Version: 8"),
    PLAIN.replace(b"Connection: Upgrade", b"Connection: keep-alive"),
    PLAIN.replace(b"Connection: Upgrade", b"Connection: Upgrade;x"),
    PLAIN.replace(b"Upgrade: websocket", b"Upgrade: websocket, h2c"),
    PLAIN.replace(KEY, b"dGhlIHNhbXBsZQ=="),  # 11 bytes, not 16
    PLAIN.replace(KEY, b"not base64!"),
    PLAIN + b"\r\nSec-WebSocket-Key: " + KEY,
    PLAIN + b"\r\nOrigin: https://a\r\nOrigin: https://b",
    PLAIN + b"\r\nSec-WebSocket-Protocol: chat",
    PLAIN + b"\r\nContent-Length: 5",
    PLAIN + b"\r\nTransfer-Encoding: chunked",
    PLAIN + b"\r\nX-Bad: a\x01b",
    PLAIN + b"\r\n folded continuation",
    PLAIN + b"\r\nno colon here",
    PLAIN.replace(b"/ws", b"/w\xc3\xa9"),
    PLAIN.replace(b"Sec-WebSocket-Version: 13", b"X: y"),
    PLAIN + b"".join(b"\r\nX-%d: y" % n for n in range(128)),
    PLAIN + b"\r\nX-Long: " + b"y" * 8192,  # a line over the library's 8,192 bytes
    PLAIN.replace(KEY, KEY[:-2] + b"A="),  # 17 bytes
    PLAIN.replace(KEY, KEY[:-2]),  # no padding
    PLAIN.replace(KEY, KEY + b"=="),
    PLAIN + b"\r\nX-Tab:\tok\r\nX-Bad: a\rb",  # a bare CR in a value
    b"GET /ws HTTP/1.1",  # no header at all
    # A bad line between good ones (the matches of the good lines do not cover it).
    PLAIN.replace(b"\r\n", b"\r\nno colon here\r\n", 2),
    PLAIN + b"\r\nX-A: 1\nX-B: 2",  # a bare LF
    PLAIN + b"\r\n\r\nX-After: blank",  # an empty line inside the head
    PLAIN.replace(b"\r\n", b"\r\n\x00", 1),  # a NUL before a good header line
])
def test_anything_unusual_is_left_to_the_library(head: bytes) -> None:
    assert parse_upgrade(head) is None


def test_what_it_leaves_the_library_refuses_or_accepts_on_its_own() -> None:
    # Left to the library does not mean refused: a subprotocol offer is accepted there.
    head = PLAIN + b"\r\nSec-WebSocket-Protocol: chat"
    assert parse_upgrade(head) is None
    assert library_response(head).startswith(b"HTTP/1.1 101 ")
    assert not library_response(PLAIN + b"\r\nSec-WebSocket-Key: " + KEY).startswith(b"HTTP/1.1 101 ")


def test_an_opened_protocol_reads_frames_at_once() -> None:
    # What the gateway builds after its own 101: the library parses frames only.
    protocol = ServerProtocol(state=State.OPEN)
    masked = bytes([0x81, 0x82, 1, 2, 3, 4, ord("h") ^ 1, ord("i") ^ 2])
    protocol.receive_data(masked)
    [frame] = protocol.events_received()
    assert frame.data == b"hi"


# The header block's syntax as a fullmatch of its lines' repetition (what the parser
# checked before it counted matches against lines instead).
_BLOCK = re.compile(rb"(?:[-!#$%&'*+.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*\r\n)*")
_LINES = [b"X-A: 1", b"X-B:", b" folded", b"no colon", b"X-C: a\rb", b"X-D: a\nX-E: b", b"\x00X-F: y",
          b"", b"X-G:\tz ", b"bad name: v", b"X-H: \xff", b"\nX-I: j", b"X-J: k\n"]


def test_the_header_lines_are_checked_as_a_fullmatch_of_them_would() -> None:
    rng = random.Random(15)
    for _ in range(3000):
        extra = b"\r\n".join(rng.choice(_LINES) for _ in range(rng.randint(1, 4)))
        head = PLAIN + b"\r\n" + extra
        block = head[head.index(b"\r\n") + 2:] + b"\r\n"
        assert (parse_upgrade(head) is not None) == (_BLOCK.fullmatch(block) is not None), extra


def test_a_head_whose_shape_was_seen_gets_what_a_fresh_parse_gets(monkeypatch):
    # The shapes' cache against the parse without it: heads of a few shapes (so most
    # are seen before) with random targets, keys and whitespace around the key.
    from gateway import upgrade

    upgrade._shapes.clear()
    fresh = upgrade._parse
    parsed: list[bytes] = []

    def counting(head: bytes) -> Upgrade | None:
        parsed.append(head)
        return fresh(head)

    monkeypatch.setattr(upgrade, "_parse", counting)
    rng = random.Random(16)
    lines = _LINES + [b"Origin: https://app.example", b"Sec-WebSocket-Key: " + KEY, b"sec-websocket-key:AAAAAAAAAAAAAAAAAAAAAA==",
                      b"Connection: keep-alive", b"Sec-WebSocket-Protocol: chat"]
    extras = [b"".join(b"\r\n" + rng.choice(lines) for _ in range(rng.randint(0, 3))) for _ in range(12)]
    targets = [b"/ws", b"/ws?token=a.b.c&name=Al", b"/ws?x=%20#", b"/w\xc3\xa9", b"/ws?" + b"y" * 8200, b"/a b"]
    keys = [base64.b64encode(rng.randbytes(16)) for _ in range(8)] + [b"dGhlIHNhbXBsZQ==", b"not base64!", KEY + b"==",
                                                                      KEY[:-2] + b"A=", b""]
    spaces = [b"", b" ", b"\t", b"  \t"]
    for _ in range(3000):
        key = rng.choice(keys)
        head = (b"GET " + rng.choice(targets) + b" HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key:" + rng.choice(spaces) + key + rng.choice(spaces)
                + b"\r\nSec-WebSocket-Version: 13" + rng.choice(extras))
        expected = fresh(head)
        assert parse_upgrade(head) == expected, head
        assert parse_upgrade(head, head.lower()) == expected, head
    assert len(parsed) < 5000  # of the 6,000 parses asked for, over 1,000 were answered by their shape
    assert 0 < len(upgrade._shapes) <= upgrade.MAX_SHAPES
