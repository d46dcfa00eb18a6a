"""RESP2/RESP3: an incremental request parser and a reply encoder (sans-I/O).

Requests arrive as RESP multibulk arrays (``*2\\r\\n$3\\r\\nGET\\r\\n$1\\r\\nk\\r\\n``),
parsed by hiredis, or as inline commands (``GET k\\r\\n``, what telnet and
``redis-cli`` in inline mode send), parsed here the way Redis's ``sdssplitargs``
does.

Replies are plain Python values, so in-process callers (the gateway) use them as
they are and only the RESP server pays for encoding:

=====================  ======================  =========================
Python value           RESP2                   RESP3
=====================  ======================  =========================
bytes / str            bulk string ``$``       bulk string ``$``
int                    integer ``:``           integer ``:``
bool                   integer ``:1``/``:0``   boolean ``#t``/``#f``
float                  bulk string             double ``,``
None                   null bulk ``$-1``       null ``_``
NULL_ARRAY             null array ``*-1``      null ``_``
list / tuple           array ``*``             array ``*``
dict                   flat array              map ``%``
set / frozenset        array                   set ``~``
Simple                 simple string ``+``     simple string ``+``
CommandError           error ``-``             error ``-``
Push                   array                   push ``>``
Verbatim               bulk string             verbatim ``=`` (``txt:``)
=====================  ======================  =========================
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable

import hiredis

__all__ = [
    "CommandError",
    "NULL_ARRAY",
    "OK",
    "QUEUED",
    "PONG",
    "Push",
    "ProtocolError",
    "RequestParser",
    "Simple",
    "Verbatim",
    "encode",
    "format_double",
]

Reply = Any


class ProtocolError(Exception):
    """The client sent bytes that are not RESP; the connection must be closed.

    ``before``: complete requests of the same read that came before the bad bytes
    (Redis runs them before it answers the error).
    """

    before: list[list[bytes]] = []


class CommandError(Exception):
    """A command failed; the message is the whole error line, code included.

    Raised by handlers and encoded as ``-<message>``: ``CommandError("ERR syntax error")``.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Simple:
    """A simple string reply (``+OK``); the wire form is computed once."""

    __slots__ = ("text", "wire")

    def __init__(self, text: str) -> None:
        self.text = text
        self.wire = b"+" + text.encode() + b"\r\n"

    def __repr__(self) -> str:
        return f"Simple({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Simple) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


class Push(list):  # type: ignore[type-arg]
    """An out-of-band message (pub/sub): ``>`` in RESP3, a plain array in RESP2."""


class Verbatim(str):
    """Text that RESP3 sends as a verbatim string (``INFO``, ``CLIENT INFO``)."""


class _NullArray:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NULL_ARRAY"


# A null that RESP2 writes as *-1 (BLPOP timeout, EXEC aborted by WATCH).
NULL_ARRAY: Any = _NullArray()
OK = Simple("OK")
QUEUED = Simple("QUEUED")
PONG = Simple("PONG")


# --------------------------------------------------------------------- encoding

def format_double(value: float) -> bytes:
    """Format a double the way redis-server 7.0 replies with one (``addReplyDouble``).

    Redis 7.0 prints ``%.17g`` (``0.1`` -> ``0.10000000000000001``, ``-0.0`` -> ``-0``,
    ``1e20`` -> ``1e+20``); 7.2 switched to the shortest round-trip form. We match
    the 7.0 server the differential tests run against.
    """
    if math.isinf(value):
        return b"inf" if value > 0 else b"-inf"
    if math.isnan(value):
        return b"nan"
    return b"%.17g" % value


def _encode_into(reply: Reply, proto: int, out: list[bytes]) -> None:
    kind = type(reply)
    if kind is bytes:
        out.append(b"$%d\r\n%s\r\n" % (len(reply), reply))
    elif kind is int:
        out.append(b":%d\r\n" % reply)
    elif kind is Simple:
        out.append(reply.wire)
    elif reply is None:
        out.append(b"$-1\r\n" if proto == 2 else b"_\r\n")
    elif kind is list or kind is tuple or kind is Push:
        if kind is Push and proto == 3:
            out.append(b">%d\r\n" % len(reply))
        else:
            out.append(b"*%d\r\n" % len(reply))
        for item in reply:
            _encode_into(item, proto, out)
    elif kind is str or kind is Verbatim:
        data = reply.encode()
        if kind is Verbatim and proto == 3:
            out.append(b"=%d\r\ntxt:%s\r\n" % (len(data) + 4, data))
        else:
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    elif kind is CommandError or isinstance(reply, CommandError):
        out.append(b"-%s\r\n" % reply.message.replace("\r", " ").replace("\n", " ").encode())
    elif kind is float:
        text = format_double(reply)
        if proto == 3:
            out.append(b",%s\r\n" % text)
        else:
            out.append(b"$%d\r\n%s\r\n" % (len(text), text))
    elif kind is bool:
        if proto == 3:
            out.append(b"#t\r\n" if reply else b"#f\r\n")
        else:
            out.append(b":1\r\n" if reply else b":0\r\n")
    elif kind is dict:
        out.append((b"%%%d\r\n" if proto == 3 else b"*%d\r\n") % (len(reply) * (1 if proto == 3 else 2)))
        for key, value in reply.items():
            _encode_into(key, proto, out)
            _encode_into(value, proto, out)
    elif kind is set or kind is frozenset:
        out.append((b"~%d\r\n" if proto == 3 else b"*%d\r\n") % len(reply))
        for item in reply:
            _encode_into(item, proto, out)
    elif reply is NULL_ARRAY:
        out.append(b"*-1\r\n" if proto == 2 else b"_\r\n")
    elif isinstance(reply, int):
        out.append(b":%d\r\n" % int(reply))
    else:
        raise TypeError(f"cannot encode reply of type {kind.__name__}")


def encode(reply: Reply, proto: int = 2) -> bytes:
    """Encode one reply for a client speaking RESP ``proto`` (2 or 3)."""
    kind = type(reply)
    if kind is bytes:
        return b"$%d\r\n%s\r\n" % (len(reply), reply)
    if kind is Simple:
        return reply.wire  # type: ignore[no-any-return]
    if kind is int:
        return b":%d\r\n" % reply
    out: list[bytes] = []
    _encode_into(reply, proto, out)
    return b"".join(out)


# ---------------------------------------------------------------------- parsing

# Redis: "too big inline request" past PROTO_INLINE_MAX_SIZE.
INLINE_MAX = 64 * 1024
# hiredis allocates a list of an array's announced length at once, so a count is
# refused above MAX_MULTIBULK_LEN before hiredis sees it (Redis itself allows up to
# 2^31-1 but never preallocates more than 1,024 slots); a bulk length is refused
# above proto-max-bulk-len from its header, before the payload is buffered.
# Headers that long have 7 digits or more (proto-max-bulk-len is at least 1 MiB in
# Redis; fewer digits here if configured lower), so reads are scanned for that:
# two hint patterns that each start with a literal, which the regex engine skips
# to cheaply (a character class costs a function call per byte: ~45 instructions
# a byte, most of an unpipelined request's parse), then the candidates at line
# starts.
_LONG_HEADERS: dict[int, tuple["re.Pattern[bytes]", "re.Pattern[bytes]", "re.Pattern[bytes]"]] = {}


def _long_headers(max_bulk_len: int) -> tuple["re.Pattern[bytes]", "re.Pattern[bytes]", "re.Pattern[bytes]"]:
    digits = min(7, len(str(max_bulk_len)))
    patterns = _LONG_HEADERS.get(digits)
    if patterns is None:
        patterns = _LONG_HEADERS[digits] = (re.compile(rb"\*\d{%d}" % digits), re.compile(rb"\$\d{%d}" % digits),
                                            re.compile(rb"(?<![^\n])([*$])(\d{%d,})\r\n" % digits))
    return patterns


MAX_MULTIBULK_LEN = 1024 * 1024
# Longer than any length header Redis accepts ('*' or '$', 20 digits, CR LF).
_SPLIT_HEADER_MAX = 24
_INLINE_ESCAPES = {
    ord("n"): b"\n",
    ord("r"): b"\r",
    ord("t"): b"\t",
    ord("b"): b"\b",
    ord("a"): b"\a",
}
_HEX = b"0123456789abcdefABCDEF"


def split_inline(line: bytes) -> list[bytes]:
    """Split an inline command like Redis's ``sdssplitargs`` (quotes and escapes).

    Raises:
        ProtocolError: unbalanced quotes.
    """
    args: list[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in b" \t\r\n\v\f":
            i += 1
        if i >= n:
            return args
        current = bytearray()
        in_double = in_single = False
        while True:
            if in_double:
                if i >= n:
                    raise ProtocolError("Protocol error: unbalanced quotes in request")
                c = line[i]
                if (c == 92 and i + 3 < n and line[i + 1] == ord("x")
                        and line[i + 2] in _HEX and line[i + 3] in _HEX):
                    current.append(int(line[i + 2:i + 4], 16))
                    i += 3
                elif c == 92 and i + 1 < n:
                    i += 1
                    current += _INLINE_ESCAPES.get(line[i], bytes((line[i],)))
                elif c == 34:
                    # closing quote must be followed by a space or nothing
                    if i + 1 < n and line[i + 1] not in b" \t\r\n\v\f":
                        raise ProtocolError("Protocol error: unbalanced quotes in request")
                    i += 1
                    break
                else:
                    current.append(c)
            elif in_single:
                if i >= n:
                    raise ProtocolError("Protocol error: unbalanced quotes in request")
                c = line[i]
                if c == 92 and i + 1 < n and line[i + 1] == 39:
                    i += 1
                    current.append(39)
                elif c == 39:
                    if i + 1 < n and line[i + 1] not in b" \t\r\n\v\f":
                        raise ProtocolError("Protocol error: unbalanced quotes in request")
                    i += 1
                    break
                else:
                    current.append(c)
            else:
                if i >= n:
                    break
                c = line[i]
                if c in b" \t\r\n\v\f":
                    break
                if c == 34:
                    in_double = True
                elif c == 39:
                    in_single = True
                else:
                    current.append(c)
            i += 1
        args.append(bytes(current))


class RequestParser:
    """Incremental parser of client requests: ``feed(bytes) -> [argv, ...]``.

    Multibulk requests go through hiredis; a read that starts, at a request
    boundary, with anything but ``*`` is taken as inline commands up to the next
    ``*``. An incomplete request is kept for the next ``feed``; that is a normal
    answer, not an error.

    Limits (as Redis): a bulk longer than ``max_bulk_len`` (proto-max-bulk-len) or
    a multibulk count over MAX_MULTIBULK_LEN is refused as soon as its header is
    seen, a nested array as an argument is refused like Redis ("expected '$'"), and
    an inline line over 64 KiB is refused; a request still incomplete after
    ``max_bulk_len`` + 64 KiB bytes is refused too, so memory stays bounded.
    """

    __slots__ = ("_reader", "_inline", "_idle", "_last", "_unframed", "_clean_start", "_max_bulk_len",
                 "_count_hint", "_bulk_hint", "_long_candidates", "_split_header")

    def __init__(self, max_bulk_len: int = 512 * 1024 * 1024) -> None:
        self._reader = hiredis.Reader()
        # Pending bytes of an inline line not yet terminated by a newline.
        self._inline = b""
        # True when the last read ended on a request boundary (so a next read that
        # starts with a letter is an inline command, not the middle of a bulk), False
        # when it did not, None when not worked out yet: see _at_boundary.
        self._idle: bool | None = True
        # (last read, last request completed by it) while _idle is None.
        self._last: tuple[bytes, list[bytes]] | None = None
        # Bytes received since the last complete request (bounds a partial one).
        self._unframed = 0
        # True when the last read left nothing pending in hiredis (this read's
        # requests all start in it).
        self._clean_start = True
        # The start of a header line ('*' or '$' and digits) that the last read ended
        # in, at a point where hiredis would read it as a header: checked once the
        # rest of the line arrives, so a long header cannot slip through split in two.
        self._split_header = b""
        self.max_bulk_len = max_bulk_len

    @property
    def max_bulk_len(self) -> int:
        return self._max_bulk_len

    @max_bulk_len.setter
    def max_bulk_len(self, value: int) -> None:  # CONFIG SET proto-max-bulk-len
        self._max_bulk_len = value
        self._count_hint, self._bulk_hint, self._long_candidates = _long_headers(value)

    def feed(self, data: bytes) -> list[list[bytes]]:
        """Parse what ``data`` completes; raise ProtocolError on garbage."""
        requests: list[list[bytes]] = []
        if self._inline or (data and data[0] != 42 and self._at_boundary()):
            data = self._feed_inline(data, requests)
            if not data:
                return requests
        reader = self._reader
        try:
            if self._split_header:
                self._check_split_header(data)
            if self._count_hint.search(data) is None and self._bulk_hint.search(data) is None:
                if data[-1] == 10:  # the common case: the read ends a line
                    reader.feed(data)
                    self._drain(requests)
                else:
                    self._feed_last(data, requests)
            else:
                self._feed_checked(data, requests)
        except (hiredis.ProtocolError, _NotARequest) as exc:
            rest = _inline_after(data, requests)
            if rest is None:
                error = ProtocolError(str(exc) if isinstance(exc, _NotARequest) else _redis_wording(str(exc)))
                error.before = requests[:]  # Redis runs what came before the bad bytes
                raise error from None
            # Not garbage: an inline command (or a bare CRLF, as `redis-cli --pipe`
            # sends before its closing ECHO) right after a request, which Redis takes
            # as such wherever a request may start. hiredis is spent: start afresh.
            _refuse_nested(requests)
            self._reader = hiredis.Reader()
            self._clean_start, self._idle, self._split_header = True, True, b""
            try:
                return requests + self.feed(rest)
            except ProtocolError as error:
                error.before = requests + error.before
                raise
        except hiredis.ReplyError as exc:
            raise ProtocolError(f"Protocol error: expected '$', got '-{exc}'") from None
        # hiredis consumes a bulk only once its payload is all there, so it has unread
        # bytes exactly when a bulk header (or a line) is pending.
        pending = reader.has_data()
        if requests and (pending or not self._clean_start
                         or data.count(b"\n*") + (data[0] == 42) != len(requests)):
            # More array headers than requests (or requests that began in an earlier
            # read): an argument may be a nested array. Look at each one.
            _refuse_nested(requests)
        self._clean_start = not pending
        if requests:
            self._unframed = len(data)
            if pending:
                self._idle = False
            else:
                # Whether this read ends on a request boundary matters only if the next
                # read does not start with '*' (rare): it is worked out then.
                self._idle = None
                self._last = (data, requests[-1])
        else:
            self._unframed += len(data)
            self._idle = False
        if self._unframed > self._max_bulk_len + INLINE_MAX:
            raise ProtocolError("Protocol error: invalid bulk length")
        return requests

    def _at_boundary(self) -> bool:
        """Whether the bytes fed so far end exactly on a request boundary."""
        if self._idle is None:
            assert self._last is not None
            self._idle = _ends_with_request(*self._last)
            self._last = None
        return self._idle

    def _drain(self, requests: list[list[bytes]]) -> None:
        """Take the requests hiredis has completed."""
        gets = self._reader.gets
        append = requests.append
        request = gets()
        while request is not False:
            if type(request) is list and request:
                append(request)
            elif request is not None and request != []:  # Redis ignores *0 and *-1
                raise _NotARequest("Protocol error: expected '*', got '%s'" % _first_char(request))
            request = gets()

    def _feed_checked(self, data: bytes, requests: list[list[bytes]]) -> None:
        """Feed ``data`` cut before each long header candidate, and refuse an oversized
        one where hiredis would read it as a header: where it holds no unread bytes.
        Where it does, the candidate is inside a bulk payload (or a line): just data.
        The requests completed before a refused header still run, as in Redis."""
        reader = self._reader
        start = 0
        for match in self._long_candidates.finditer(data):
            at = match.start()
            reader.feed(data[start:at])
            start = at
            self._drain(requests)
            if reader.has_data():
                continue
            length = int(match.group(2))
            if match.group(1) == b"*" and length > MAX_MULTIBULK_LEN:
                error = ProtocolError("Protocol error: invalid multibulk length")
            elif match.group(1) == b"$" and length > self._max_bulk_len:
                error = ProtocolError("Protocol error: invalid bulk length")
            else:
                continue
            error.before = requests[:]
            raise error
        self._feed_last(data[start:], requests)

    def _feed_last(self, data: bytes, requests: list[list[bytes]]) -> None:
        """Feed the end of a read. If it stops inside a line that may be a header,
        that line goes in separately, to know whether hiredis reads it as one."""
        reader = self._reader
        if data[-1:] != b"\n":
            cut = data.rfind(b"\n") + 1
            tail = data[cut:]
            digits = tail[1:].rstrip(b"\r")
            if tail[:1] in (b"*", b"$") and len(tail) <= _SPLIT_HEADER_MAX and (not digits or digits.isdigit()):
                reader.feed(data[:cut])
                self._drain(requests)
                if not reader.has_data():
                    self._split_header = tail
                    try:
                        self._check_split_header(b"")  # its digits so far may be too many already
                    except ProtocolError as error:
                        error.before = requests[:]
                        raise
                reader.feed(tail)
                return
        reader.feed(data)
        self._drain(requests)

    def _check_split_header(self, data: bytes) -> None:
        """Refuse a long header begun at the end of the last read, as far as it has come."""
        end = data.find(b"\n")
        line = self._split_header + (data if end < 0 else data[:end + 1])
        self._split_header = line if end < 0 and len(line) <= _SPLIT_HEADER_MAX else b""
        digits = line[1:].rstrip(b"\r\n")
        if not digits.isdigit():
            return  # not a length after all: hiredis reports the garbage
        if line[:1] == b"*" and int(digits) > MAX_MULTIBULK_LEN:
            raise ProtocolError("Protocol error: invalid multibulk length")
        if line[:1] == b"$" and int(digits) > self._max_bulk_len:
            raise ProtocolError("Protocol error: invalid bulk length")

    def _feed_inline(self, data: bytes, requests: list[list[bytes]]) -> bytes:
        """Consume inline lines from the front of ``data``; return the rest."""
        data = self._inline + data
        self._inline = b""
        while data and data[0] != 42:
            end = data.find(b"\n")
            if end < 0:
                if len(data) > INLINE_MAX:
                    raise ProtocolError("Protocol error: too big inline request")
                self._inline = data
                return b""
            if end > INLINE_MAX:
                raise ProtocolError("Protocol error: too big inline request")
            argv = split_inline(data[:end])
            if argv:
                requests.append(argv)
            data = data[end + 1:]
        self._idle = True
        return data


def _ends_with_request(data: bytes, last: list[bytes]) -> bool:
    """Whether ``data`` ends exactly where the request ``last`` ends.

    hiredis does not say whether it holds half a request, and a read that ends on
    a request boundary is the only place an inline command may start. Re-encoding
    the last request (once per read, not per request) and comparing the tail tells.
    """
    if not data.endswith(b"\r\n"):
        return False
    encoded = b"*%d\r\n" % len(last) + b"".join(
        b"$%d\r\n%s\r\n" % (len(arg), arg) for arg in last if type(arg) is bytes)
    if len(encoded) <= len(data):
        return data.endswith(encoded)
    return encoded.endswith(data)


def _inline_after(data: bytes, requests: list[list[bytes]]) -> bytes | None:
    """What follows the requests completed in ``data`` (the first may have begun in
    an earlier read), if it starts with something other than '*': where hiredis,
    reading on, met a bad type byte. None if that byte was inside a request (a
    real protocol error) or the requests are not where their encoding says."""
    if not requests or any(type(arg) is not bytes for request in requests for arg in request):
        return None
    total = b"".join(b"*%d\r\n" % len(request) + b"".join(b"$%d\r\n%s\r\n" % (len(arg), arg) for arg in request)
                     for request in requests)
    for end in range(min(len(total), len(data) - 1), 0, -1):
        if data[end] != 42 and total.endswith(data[:end]):
            return data[end:]
    return None


class _NotARequest(ProtocolError):
    """hiredis read a reply that is not an array (``:5``, ``+OK``) where a request starts."""


def _refuse_nested(requests: list[list[bytes]]) -> None:
    for index, request in enumerate(requests):
        for arg in request:
            if type(arg) is not bytes:
                error = ProtocolError("Protocol error: expected '$', got '*'")
                error.before = requests[:index]  # Redis runs the requests before it first
                raise error


def _first_char(value: object) -> str:
    if isinstance(value, bytes):
        return "$"
    if isinstance(value, int):
        return ":"
    return "?"


def _redis_wording(message: str) -> str:
    # hiredis: 'Protocol error, got "x" as reply type byte'
    match = re.search(r'got "(.*)" as reply type byte', message)
    if match:
        return f"Protocol error: expected '$', got '{match.group(1)}'"
    if "Bad multi-bulk length" in message:
        return "Protocol error: invalid multibulk length"
    if "Bad bulk string length" in message:
        return "Protocol error: invalid bulk length"
    if "Multi-bulk length out of range" in message:
        return "Protocol error: invalid multibulk length"
    if "Bulk string length out of range" in message:
        return "Protocol error: invalid bulk length"
    return "Protocol error: " + message


Encoder = Callable[[Reply, int], bytes]
