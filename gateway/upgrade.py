"""The websocket opening handshake of a plain, well-formed upgrade, without the library.

``websockets``' sans-I/O ``ServerProtocol`` parses the request with a generator
per line, builds ``Headers`` and a ``Response`` and formats a date: most of a
connect's CPU after the socket calls. Browsers and client libraries send one
shape of request, which ``parse_upgrade`` reads in one pass; ``accept_response``
is the 101 for it (RFC 6455 4.2.2). Anything it is not sure of (a duplicate
header, a subprotocol offer, a request body, a header the library would refuse)
gets None, and the library handles that request as before, with its own errors.
"""

from __future__ import annotations

import binascii
import email.utils
import hashlib
import re
import time
from typing import NamedTuple

__all__ = ["Upgrade", "accept_response", "parse_upgrade"]

# RFC 6455 1.3: the server appends this GUID to Sec-WebSocket-Key, SHA-1, base64.
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# The library's bounds (websockets.http11 MAX_NUM_HEADERS, MAX_LINE_LENGTH).
MAX_HEADERS = 128
MAX_LINE = 8192
# name ":" OWS value OWS CRLF, with the library's character sets (RFC 9110 5.1, 5.5):
# the header block is read by one findall of matches that start a line (each is one
# whole line: a value holds no CR or LF), so it is well formed when there are as many
# matches as lines; the OWS is stripped from each value.
_NAME = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
_VALUE = rb"[\t\x20-\x7e\x80-\xff]*"
_HEADER = re.compile(rb"^(" + _NAME + rb"):(" + _VALUE + rb")\r\n", re.MULTILINE)
_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9a-z]+")
_ASCII_TARGET = re.compile(rb"[\x21-\x7e]+")
# Sec-WebSocket-Key: base64 of 16 bytes (what ``base64.b64decode(key, validate=True)``
# takes and decodes to 16 bytes: 22 digits and the padding).
_KEY = re.compile(rb"[A-Za-z0-9+/]{22}==")
# Headers that must not repeat here (the library refuses a second key or version;
# Origin is checked against --allowed-origins as one value).
_SINGLE = frozenset({b"sec-websocket-key", b"sec-websocket-version", b"upgrade", b"origin"})
# Headers whose presence sends the request to the library: a body, or a
# subprotocol offer (its header syntax is the library's to check).
_LIBRARY = frozenset({b"transfer-encoding", b"content-length", b"sec-websocket-protocol"})


class Upgrade(NamedTuple):
    """What the gateway needs of an upgrade request."""

    path: str
    origin: str | None
    # Sec-WebSocket-Key as sent (checked: base64 of 16 bytes).
    key: bytes


# Heads parsed, with their request target and Sec-WebSocket-Key cut out -> what
# ``_parse`` made of them: (origin,) or None. Clients of one kind (a client library,
# a browser build without cookies) send the same head but for those two, so a
# storm of them parses one head, not each (~45k instructions, a fifth of a connect,
# become ~8k: two fullmatches and a dict lookup). Bounded: cleared when full, and
# only heads of at most MAX_SHAPE bytes are kept (at most ~0.5 MB).
MAX_SHAPES = 256
MAX_SHAPE = 2048
_shapes: dict[bytes, tuple[str | None] | None] = {}
_KEY_HEADER = b"\r\nsec-websocket-key:"


def parse_upgrade(head: bytes, lowered: bytes | None = None) -> Upgrade | None:
    """The upgrade in a request head (up to, not including, the blank line); None
    when it is not a plain, valid websocket upgrade (the library then decides).
    ``lowered``: ``head.lower()`` if the caller has it.

    A head whose shape (the head without its target and key) was parsed before
    gets that parse's answer, the target and key checked on their own: whether a
    head parses depends on them only through their own checks (both then hold no
    space, CR, LF or colon, so they cannot change its lines or headers) and the
    request line's length, checked again too."""
    if len(head) > MAX_SHAPE + 64:
        return _parse(head)
    line_end = head.find(b"\r\n")
    first, last = head.find(b" ", 0, line_end), head.rfind(b" ", 0, line_end)
    key_at = (head.lower() if lowered is None else lowered).find(_KEY_HEADER)
    if line_end < 0 or first == last or key_at < 0:
        return _parse(head)
    value_at = key_at + len(_KEY_HEADER)
    value_end = head.find(b"\r\n", value_at)
    value = head[value_at:] if value_end < 0 else head[value_at:value_end]
    key = value.strip(b"\t ")
    key_start = value_at + len(value) - len(value.lstrip(b"\t "))
    target = head[first + 1:last]
    if _ASCII_TARGET.fullmatch(target) is None or _KEY.fullmatch(key) is None or line_end > MAX_LINE:
        return _parse(head)
    shape = head[:first + 1] + head[last:key_start] + head[key_start + 24:]
    known = _shapes.get(shape, False)
    if known is False:
        upgrade = _parse(head)
        if len(_shapes) >= MAX_SHAPES:
            _shapes.clear()
        if len(shape) <= MAX_SHAPE:
            _shapes[shape] = None if upgrade is None else (upgrade.origin,)
        return upgrade
    if known is None:
        return None
    return Upgrade(target.decode("ascii"), known[0], key)


def _parse(head: bytes) -> Upgrade | None:
    """parse_upgrade without the shapes."""
    end = head.find(b"\r\n")
    if end < 0:
        return None
    request_line, block = head[:end], head[end + 2:] + b"\r\n"
    parts = request_line.split(b" ")
    if len(parts) != 3 or parts[0] != b"GET" or parts[2] != b"HTTP/1.1" or len(request_line) > MAX_LINE \
            or not _ASCII_TARGET.fullmatch(parts[1]):
        return None
    if len(block) > MAX_LINE and any(len(line) > MAX_LINE for line in block.split(b"\r\n")):
        return None
    pairs = _HEADER.findall(block)
    # A line holds at most one match (at its start) and every line ends in LF: as
    # many matches as LFs means every line is a header line.
    if len(pairs) > MAX_HEADERS or len(pairs) != block.count(b"\n"):
        return None
    headers: dict[bytes, bytes] = {}
    connection = b""
    for name, value in pairs:
        name, value = name.lower(), value.strip(b"\t ")
        if name in _LIBRARY or (name in _SINGLE and name in headers):
            return None
        if name == b"connection":
            connection += b"," + value
        else:
            headers[name] = value
    if connection.lower() != b",upgrade":  # (the usual "Connection: Upgrade" is valid as it is)
        tokens = [token.strip().lower() for token in connection.split(b",")]
        if b"upgrade" not in tokens or not all(_TOKEN.fullmatch(token) for token in tokens if token):
            return None
    if headers.get(b"upgrade", b"").lower() != b"websocket" or headers.get(b"sec-websocket-version") != b"13":
        return None
    key = headers.get(b"sec-websocket-key", b"")
    if _KEY.fullmatch(key) is None:
        return None
    origin = headers.get(b"origin")
    return Upgrade(parts[1].decode("ascii"), origin.decode("latin-1") if origin is not None else None, key)


_date: tuple[int, bytes] = (0, b"")
_RESPONSE = (b"HTTP/1.1 101 Switching Protocols\r\nDate: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Accept: %s\r\n\r\n")


def _http_date() -> bytes:
    # Formatted once per second, not per connect (a connect storm shares it).
    global _date
    now = int(time.time())
    if _date[0] != now:
        _date = (now, email.utils.formatdate(now, usegmt=True).encode())
    return _date[1]


def accept_response(key: bytes) -> bytes:
    """The 101 answering Sec-WebSocket-Key ``key``: the headers the library sends."""
    # (binascii, not base64.b64encode: that is a Python wrapper of it; one % format,
    # not five concatenations)
    accept = binascii.b2a_base64(hashlib.sha1(key + GUID).digest(), newline=False)
    return _RESPONSE % (_http_date(), accept)
