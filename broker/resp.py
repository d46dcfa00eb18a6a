"""RESP2/RESP3: an incremental request parser and a reply encoder (sans-I/O).

Requests arrive as RESP multibulk arrays (``*2\\r\\n$3\\r\\nGET\\r\\n$1\\r\\nk\\r\\n``)
or as inline commands (``GET k\\r\\n``, what telnet and ``redis-cli`` in inline
mode send), and are read exactly as Redis reads them: see RequestParser.

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
Verbatim               bulk string             verbatim ``=`` (``txt:``, or its ``fmt``)
BigNumber              bulk string             big number ``(``
Encoded                its bytes as they are   its bytes as they are
=====================  ======================  =========================
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable

import hiredis

__all__ = [
    "CommandError",
    "DoubleText",
    "Encoded",
    "NULL_ARRAY",
    "OK",
    "QUEUED",
    "PONG",
    "Push",
    "ProtocolError",
    "QueryBufferFull",
    "RequestParser",
    "Simple",
    "Verbatim",
    "BigNumber",
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
    """Text that RESP3 sends as a verbatim string (``INFO``, ``CLIENT INFO``).

    ``fmt`` is the three-letter format RESP3 announces (a Lua script may return
    ``{verbatim_string={format='mkd', string=...}}``).
    """

    fmt = "txt"


class BigNumber(bytes):
    """A RESP3 big number (``(1234...``), a bulk string in RESP2; only Lua scripts
    return one (``{big_number='...'}``)."""


class DoubleText(bytes):
    """A double already written as text (GEOPOS's coordinates): ``,text`` in RESP3,
    a bulk string in RESP2."""


class Encoded(bytes):
    """A reply already in wire form, written as it is. Made for the client's protocol
    by whoever returns it: a script's reply nested deeper than recursive encoding
    goes (``broker.scripting.convert``)."""


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


# A list of plain bytes (LRANGE, SMEMBERS, SORT ...) of at least this many is encoded
# as one join of "\r\n$<len>\r\n" headers (from a table, by length) and the
# elements: about half the cost of formatting each element, and slower below this.
_JOINED_MIN = 16
_BULK_HEADS = [b"\r\n$%d\r\n" % size for size in range(4096)]
_JUST_BYTES = {bytes}


def _join_bulks(items: list[Any] | tuple[Any, ...], out: list[bytes]) -> bool:
    """Append the bulk strings of ``items`` to ``out`` if all are exactly bytes (not
    DoubleText, Encoded ...) shorter than the table; False (nothing appended) if not."""
    if set(map(type, items)) != _JUST_BYTES:
        return False
    pieces = [b""] * (2 * len(items))
    try:
        pieces[::2] = map(_BULK_HEADS.__getitem__, map(len, items))
    except IndexError:
        return False  # an element of 4 KB or more: the loop below
    pieces[1::2] = items
    pieces[0] = pieces[0][2:]  # the first head has no line end before it
    out.append(b"".join(pieces))
    out.append(b"\r\n")
    return True


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
        if len(reply) >= _JOINED_MIN and _join_bulks(reply, out):
            return
        for item in reply:
            # bulk strings inline: a call per element was most of a long reply's
            # cost (SORT, LRANGE, SMEMBERS of 1,000 elements)
            if type(item) is bytes:
                out.append(b"$%d\r\n%s\r\n" % (len(item), item))
            else:
                _encode_into(item, proto, out)
    elif kind is str or kind is Verbatim:
        data = reply.encode()
        if kind is Verbatim and proto == 3:
            out.append(b"=%d\r\n%s:%s\r\n" % (len(data) + 4, reply.fmt.encode(), data))
        else:
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    elif kind is CommandError or isinstance(reply, CommandError):
        out.append(b"-%s\r\n" % reply.message.replace("\r", " ").replace("\n", " ").encode())
    elif kind is DoubleText:
        out.append(b",%s\r\n" % reply if proto == 3 else b"$%d\r\n%s\r\n" % (len(reply), reply))
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
    elif kind is set or kind is frozenset or isinstance(reply, frozenset):
        out.append((b"~%d\r\n" if proto == 3 else b"*%d\r\n") % len(reply))
        for item in reply:
            _encode_into(item, proto, out)
    elif reply is NULL_ARRAY:
        out.append(b"*-1\r\n" if proto == 2 else b"_\r\n")
    elif kind is BigNumber:
        out.append(b"(%s\r\n" % reply if proto == 3 else b"$%d\r\n%s\r\n" % (len(reply), reply))
    elif isinstance(reply, int):
        out.append(b":%d\r\n" % int(reply))
    elif isinstance(reply, Encoded):
        out.append(reply)
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

# Redis: "too big inline request" past PROTO_INLINE_MAX_SIZE (also the longest
# header line it waits for).
INLINE_MAX = 64 * 1024
# Redis 7 refuses a multibulk count above INT_MAX ("invalid multibulk length").
MAX_MULTIBULK_LEN = 2**31 - 1
# Limits for a client that must still AUTH (Redis's authRequired).
GUEST_MULTIBULK_LEN = 10
GUEST_BULK_LEN = 16384
# Redis's client-query-buffer-limit default.
QUERY_BUFFER_LIMIT = 1024 * 1024 * 1024
# What decides whether hiredis may read a read, so that it reads it as Redis does:
# two searches over one translation of the read, where line ends ('\n') and bulk
# headers ('$') become '#', digits '0', and every type byte but '*' and '$' that may
# start a line ('+', '-', ':', '_', ',', '#', '(', '=', '~', '|', '%', '>') '+'.
# "#+" is then a line that is neither a bulk nor an array (hiredis reads RESP3 and
# would take "+OK", ":1" or "=5 txt:a" as an argument, where Redis says "expected
# '$', got '+'") or a signed bulk length ($-1); "*00000" a count of 5 digits or more
# (hiredis allocates an array's announced length at once; the exact parser never
# preallocates). A payload that happens to hold such bytes only sends its read to
# the exact parser.
_SHAPE = bytes.maketrans(b"\n$0123456789+-:_,#(=~|%>", b"##" + b"0" * 10 + b"+" * 12)
_LISTS = {list}
_FEED_CHUNK = 1 << 16
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


def _read_chunked(reader: Any, data: bytes) -> list[Any]:
    """Every reply hiredis reads in ``data``, fed 64 KiB at a time: hiredis moves what
    it has not read yet to the front of its buffer after each reply, which over one
    large feed (an AOF of many MB) is quadratic."""
    replies: list[Any] = []
    append = replies.append
    size = len(data)
    for offset in range(0, size, _FEED_CHUNK):
        reader.feed(data, offset, min(_FEED_CHUNK, size - offset))
        reply = reader.gets()
        while reply is not False:
            append(reply)
            reply = reader.gets()
    return replies


def parse_whole(data: bytes) -> list[list[bytes]] | None:
    """``data`` as whole multibulk requests, read by hiredis in one pass, when it is
    that and hiredis reads it as Redis does (RequestParser's fast road); else None
    (inline commands, annotations, a cut request, anything unusual: read it exactly).

    For bulk reads such as an AOF's commands.
    """
    return RequestParser(max_bulk_len=max(len(data), 1))._read_whole(data)


class RequestParser:
    """Incremental parser of client requests: ``feed(bytes) -> [argv, ...]``.

    Parses as Redis's processInputBuffer does (networking.c): at each request start
    a ``*`` opens a multibulk request and anything else is an inline command line
    (an empty one is skipped); every argument of a multibulk request must be a
    ``$`` bulk string; ``*0`` and ``*-1`` are skipped; the limits and their error
    words are Redis's, checked from the header, before the payload is buffered:
    a count above 2^31-1, a bulk above ``max_bulk_len`` (proto-max-bulk-len), a
    header or inline line over 64 KiB, and, while the client must still AUTH
    (``guest``), a count above 10 or a bulk above 16 KiB. An incomplete request is
    kept for the next ``feed``; a request held past ``query_limit`` bytes
    (client-query-buffer-limit) is refused with QueryBufferFull.

    Two roads to the same result:

    - a read of whole requests (nearly every read of a client that writes whole
      requests) goes to hiredis, in C, and its result is taken only when the read
      holds nothing hiredis reads otherwise than Redis (see _SHAPE and
      _read_whole): hiredis also reads RESP3 and takes ``+OK`` or ``:1`` as
      arguments, which Redis refuses ("expected '$', got '+'");
    - everything else (inline commands, whatever hiredis may not read, and the
      requests a long read leaves open at its ends, around whole requests between
      that go to hiredis) goes through the exact parser, in Python.
    """

    __slots__ = ("_reader", "_buf", "_args", "_count", "_bulk", "_held", "max_bulk_len", "query_limit", "guest",
                 "split_min", "raw")

    def __init__(self, max_bulk_len: int = 512 * 1024 * 1024, query_limit: int = QUERY_BUFFER_LIMIT) -> None:
        self._reader = hiredis.Reader()
        # Bytes of the request being read that are not consumed yet.
        self._buf = bytearray()
        # The multibulk request being read: its arguments so far (None between
        # requests), how many are still to come, the length of the one being read
        # (-1 while its header is still to come), and its bytes so far.
        self._args: list[bytes] | None = None
        self._count = 0
        self._bulk = -1
        self._held = 0
        self.max_bulk_len = max_bulk_len
        self.query_limit = query_limit
        # True while the client must still AUTH: lower limits, and one request per
        # feed, since the limits for the next depend on whether this one was AUTH.
        self.guest = False
        # Reads shorter than this that cut a request go to the exact parser whole.
        self.split_min = 4096
        # The bytes the last ``feed`` read, when its requests are exactly them and
        # they are canonical RESP (what ``encode_command`` would write for each
        # argv: no leading zeros in counts or lengths), else None: the AOF can
        # append them as read instead of encoding each request again.
        self.raw: bytes | None = None

    @property
    def holds_data(self) -> bool:
        """Whether bytes of a request not returned yet are kept."""
        return bool(self._buf) or self._args is not None

    def feed(self, data: bytes) -> list[list[bytes]]:
        """The requests ``data`` completes; raise ProtocolError on bytes Redis refuses."""
        self.raw = None
        if self._args is None and not self._buf and not self.guest:
            whole = self._read_whole(data, True)
            if whole is not None:
                return whole
        if self.guest or len(data) < self.split_min:
            return self._parse(data)
        # A long read that cuts requests (a bulk load, a large pipeline): the exact
        # parser takes the request left open by the last read, and the request this
        # one leaves open; hiredis what lies between, if it is whole requests.
        requests: list[list[bytes]] = []
        try:
            if self._args is not None or self._buf:
                requests = self._parse(data, until_boundary=True)
                if self._args is not None or not self._buf:
                    return requests  # still open, or nothing after it
                data, self._buf = bytes(self._buf), bytearray()
            cut = data.rfind(b"\r\n*") + 2
            if cut > 2:
                whole = self._read_whole(data[:cut])
                if whole is not None:
                    requests += whole
                    data = data[cut:]
            return requests + self._parse(data)
        except ProtocolError as error:
            error.before = requests + error.before
            raise

    def _read_whole(self, data: bytes, keep_raw: bool = False) -> list[list[bytes]] | None:
        """The requests in ``data``, read by hiredis, if ``data`` is whole requests that
        hiredis reads as Redis does; else None (and nothing is kept). With
        ``keep_raw``, ``raw`` is set to ``data`` when it is canonical RESP too."""
        if not (data[:1] == b"*" and data[-1:] == b"\n" and len(data) <= self.max_bulk_len):
            return None
        shape = data.translate(_SHAPE)
        if shape.find(b"#+") >= 0 or shape.find(b"*00000") >= 0:
            return None
        reader = self._reader
        try:
            if len(data) > _FEED_CHUNK:
                requests = _read_chunked(reader, data)
            else:
                reader.feed(data)
                requests = []
                request = reader.gets()
                while request is not False:
                    requests.append(request)
                    request = reader.gets()
        except Exception:  # noqa: BLE001 - hiredis's errors, or a map with a list for a key (TypeError)
            pass
        else:
            # Each '*' that starts a line began one of these requests (none is nested,
            # none still open), all arrays (the first is: the read starts with its '*';
            # no bulk between them), none *0.
            count = len(requests)
            if (not reader.has_data() and count == data.count(b"\n*") + 1
                    and (count == 1 or set(map(type, requests)) == _LISTS) and all(requests)):
                # Canonical RESP, as encode_command writes it: hiredis refuses leading
                # zeros in counts and lengths ("Bad bulk string length"; so does the
                # exact parser, as Redis's string2ll) and signs are refused above.
                if keep_raw:
                    self.raw = data
                return requests
        self._reader = hiredis.Reader()  # what it holds, the exact parser reads again
        return None

    def _parse(self, data: bytes, until_boundary: bool = False) -> list[list[bytes]]:
        """Redis's processInlineBuffer / processMultibulkBuffer over the kept bytes and
        ``data``; with ``until_boundary``, only until the open request is complete."""
        buf = self._buf
        buf += data
        size = len(buf)
        requests: list[list[bytes]] = []
        args, count, bulk, held = self._args, self._count, self._bulk, self._held
        guest = self.guest
        pos = 0
        try:
            while pos < size:
                if args is None:
                    if requests and (guest or until_boundary):
                        break
                    # 42 is "*": a multibulk request; anything else is an inline one (Redis's
                    # processInputBuffer). Indexing bytes gives an int: no slice to build.
                    if buf[pos] != 42:
                        newline = buf.find(b"\n", pos)
                        if newline >= 0 and buf.find(0, pos, newline) >= 0:
                            newline = -1  # Redis looks for it with strchr, which stops at a NUL
                        if newline < 0:
                            if size - pos > INLINE_MAX:
                                raise ProtocolError("Protocol error: too big inline request")
                            break
                        end = newline - 1 if newline > pos and buf[newline - 1] == 13 else newline
                        argv = split_inline(bytes(buf[pos:end]))
                        pos = newline + 1
                        if argv:
                            requests.append(argv)
                        continue
                    newline = _line_end(buf, pos, size)
                    if newline < 0:
                        if size - pos > INLINE_MAX:
                            raise ProtocolError("Protocol error: too big mbulk count string")
                        break
                    announced = _string2ll(buf[pos + 1:newline])
                    if announced is None or announced > MAX_MULTIBULK_LEN:
                        raise ProtocolError("Protocol error: invalid multibulk length")
                    count = announced
                    if guest and count > GUEST_MULTIBULK_LEN:
                        raise ProtocolError("Protocol error: unauthenticated multibulk length")
                    pos = newline + 2
                    if count <= 0:
                        continue
                    args, held = [], 0
                while count:
                    if bulk < 0:
                        newline = _line_end(buf, pos, size)
                        if newline < 0:
                            if size - pos > INLINE_MAX:
                                raise ProtocolError("Protocol error: too big bulk count string")
                            break
                        if buf[pos] != 36:
                            raise ProtocolError(f"Protocol error: expected '$', got '{_printable_char(buf[pos])}'")
                        length = _string2ll(buf[pos + 1:newline])
                        if length is None or length < 0 or length > self.max_bulk_len:
                            raise ProtocolError("Protocol error: invalid bulk length")
                        if guest and length > GUEST_BULK_LEN:
                            raise ProtocolError("Protocol error: unauthenticated bulk length")
                        bulk = length
                        pos = newline + 2
                    if size - pos < bulk + 2:
                        break
                    args.append(bytes(buf[pos:pos + bulk]))
                    held += bulk
                    pos += bulk + 2  # the two bytes after a bulk are skipped unread, as Redis does
                    bulk = -1
                    count -= 1
                if count:
                    break
                requests.append(args)
                args = None
        except ProtocolError as error:
            error.before = requests
            raise
        finally:
            del buf[:pos]
            self._args, self._count, self._bulk, self._held = args, count, bulk, held
        if args is not None and held + len(buf) > self.query_limit:
            full = QueryBufferFull("closing client that reached max query buffer length")
            full.before = requests
            raise full
        return requests


class QueryBufferFull(ProtocolError):
    """A request held past client-query-buffer-limit: Redis closes the connection without a reply."""


def _line_end(buf: bytearray, pos: int, size: int) -> int:
    """Where the header line at ``pos`` ends (its '\\r'), or -1 while it is not all here.

    As Redis: the first '\\r' (strchr: a NUL before it means none), and one more
    byte after it, taken for the '\\n' without looking."""
    newline = buf.find(b"\r", pos)
    if newline < 0 or newline > size - 2 or buf.find(0, pos, newline) >= 0:
        return -1
    return newline


def _string2ll(digits: bytes | bytearray) -> int | None:
    """Redis's string2ll: an optional '-', then 0 or digits without a leading zero, in 64 bits."""
    if not 0 < len(digits) <= 20:
        return None
    negative = digits[0] == 45
    body = digits[1:] if negative else digits
    if not body.isdigit() or (body[0] == 48 and (len(body) > 1 or negative)):
        return None
    value = -int(body) if negative else int(body)
    return value if -2**63 <= value < 2**63 else None


def _printable_char(byte: int) -> str:
    # Redis formats the byte with %c, then turns CR and LF into spaces.
    return " " if byte in (10, 13) else chr(byte)


Encoder = Callable[[Reply, int], bytes]
