"""RESP parsing and encoding without sockets."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.resp import (NULL_ARRAY, OK, BigNumber, CommandError, DoubleText, Encoded, ProtocolError, Push,
                         QueryBufferFull, RequestParser,
                         Verbatim, encode, format_double, split_inline)


def test_multibulk_split_anywhere_parses_the_same():
    data = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n*1\r\n$4\r\nPING\r\n"
    for cut in range(1, len(data)):
        parser = RequestParser()
        requests = parser.feed(data[:cut]) + parser.feed(data[cut:])
        assert requests == [[b"GET", b"key"], [b"PING"]], cut


def test_request_boundary_is_known_whatever_the_reads_hold():
    # Reads that complete a request and start the next one: the read after them
    # starts inside a bulk (a letter), which must not be taken as an inline command.
    data = b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n"
    first = data.index(b"*2")
    for cut in range(first + 1, len(data)):
        parser = RequestParser()
        assert parser.feed(data[:cut]) == [[b"PING"]], cut
        assert parser.feed(data[cut:]) == [[b"ECHO", b"hello"]], cut
    # A read that ends on a boundary lets the next one be inline.
    parser = RequestParser()
    assert parser.feed(data) == [[b"PING"], [b"ECHO", b"hello"]]
    assert parser.feed(b"ECHO inline\r\n") == [[b"ECHO", b"inline"]]


def test_oversized_bulk_header_after_complete_requests_is_refused():
    parser = RequestParser(max_bulk_len=1024 * 1024)
    with pytest.raises(ProtocolError, match="invalid bulk length"):
        parser.feed(b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$2000000\r\nabc")
    parser = RequestParser(max_bulk_len=1024 * 1024)
    assert parser.feed(b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n") == [[b"PING"]]
    with pytest.raises(ProtocolError, match="invalid bulk length"):
        parser.feed(b"$2000000\r\n")


def test_values_that_look_like_long_headers_are_data_wherever_the_reads_cut():
    value = b"x\n*3000000000\r\n$999999999999\r\n*2000000\r\ny"
    data = (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n%s\r\n" % (len(value), value)
            + b"*2\r\n$3\r\nGET\r\n$13\r\n*9999999999\r\n\r\n")
    expected = [[b"SET", b"k", value], [b"GET", b"*9999999999\r\n"]]
    assert RequestParser(max_bulk_len=1024 * 1024).feed(data) == expected
    for cut in range(1, len(data)):
        parser = RequestParser(max_bulk_len=1024 * 1024)
        assert parser.feed(data[:cut]) + parser.feed(data[cut:]) == expected, cut


@pytest.mark.parametrize("header, error", [(b"*3000000000\r\n", "invalid multibulk length"),
                                           (b"$2000000\r\n", "invalid bulk length")])
def test_a_long_header_is_refused_wherever_the_reads_cut_it(header, error):
    data = b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n" + header if header[:1] == b"$" else b"*1\r\n$4\r\nPING\r\n" + header
    start = data.index(header)
    for cut in range(start + 1, len(data)):
        parser = RequestParser(max_bulk_len=1024 * 1024)
        with pytest.raises(ProtocolError, match=error):
            assert parser.feed(data[:cut]) == [[b"PING"]], cut
            for byte in range(cut, len(data)):  # the rest trickles in a byte at a time
                parser.feed(data[byte:byte + 1])


def test_requests_before_a_refused_header_are_kept_to_run():
    with pytest.raises(ProtocolError, match="invalid multibulk length") as refused:
        RequestParser().feed(b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$1\r\na\r\n*3000000000\r\n")
    assert refused.value.before == [[b"PING"], [b"ECHO", b"a"]]


def test_inline_commands_with_quotes_and_escapes():
    assert RequestParser().feed(b'SET "a b" \'c\\\'d\' "\\x41\\n"\r\nPING\n') == [
        [b"SET", b"a b", b"c'd", b"A\n"], [b"PING"]]
    assert split_inline(b"  a   b ") == [b"a", b"b"]
    with pytest.raises(ProtocolError, match="unbalanced quotes"):
        split_inline(b'SET "a')


def test_inline_line_split_across_reads_and_mixed_with_multibulk():
    parser = RequestParser()
    assert parser.feed(b"PI") == []
    assert parser.feed(b"NG\r\n*1\r\n$4\r\nPING\r\n") == [[b"PING"], [b"PING"]]


def test_limits_refuse_from_the_header():
    with pytest.raises(ProtocolError, match="invalid bulk length"):
        RequestParser(max_bulk_len=1024 * 1024).feed(b"*1\r\n$2000000\r\n")
    with pytest.raises(ProtocolError, match="invalid multibulk length"):
        RequestParser().feed(b"*99999999999\r\n")
    with pytest.raises(ProtocolError, match="too big inline request"):
        RequestParser().feed(b"a" * 70000)


def test_empty_and_null_multibulk_are_ignored():
    assert RequestParser().feed(b"*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n") == [[b"PING"]]


@pytest.mark.parametrize("reply, resp2, resp3", [
    (b"v", b"$1\r\nv\r\n", b"$1\r\nv\r\n"),
    (7, b":7\r\n", b":7\r\n"),
    (None, b"$-1\r\n", b"_\r\n"),
    (NULL_ARRAY, b"*-1\r\n", b"_\r\n"),
    (OK, b"+OK\r\n", b"+OK\r\n"),
    (1.5, b"$3\r\n1.5\r\n", b",1.5\r\n"),
    (True, b":1\r\n", b"#t\r\n"),
    ({b"a": 1}, b"*2\r\n$1\r\na\r\n:1\r\n", b"%1\r\n$1\r\na\r\n:1\r\n"),
    ([b"x", [1]], b"*2\r\n$1\r\nx\r\n*1\r\n:1\r\n", b"*2\r\n$1\r\nx\r\n*1\r\n:1\r\n"),
    (Push([b"message"]), b"*1\r\n$7\r\nmessage\r\n", b">1\r\n$7\r\nmessage\r\n"),
    (Verbatim("hi"), b"$2\r\nhi\r\n", b"=6\r\ntxt:hi\r\n"),
    (CommandError("ERR bad\r\nthing"), b"-ERR bad  thing\r\n", b"-ERR bad  thing\r\n"),
])
def test_encoding_per_protocol(reply, resp2, resp3):
    assert encode(reply, 2) == resp2
    assert encode(reply, 3) == resp3


def test_format_double_like_redis():
    assert format_double(1.0) == b"1"
    assert format_double(float("inf")) == b"inf" and format_double(float("-inf")) == b"-inf"
    assert format_double(0.1) == b"0.10000000000000001"


_TRICKY = st.sampled_from([b"*3000000000\r\n", b"$999999999999\r\n", b"\r\n*2\r\n", b"$5\r\n", b"*", b"$", b"\n*12345678",
                           b"PING\r\n", b""])
_ARGS = st.lists(st.one_of(st.binary(max_size=12), _TRICKY,
                           st.lists(_TRICKY, min_size=1, max_size=3).map(b"".join)), min_size=1, max_size=4)


@settings(max_examples=300, deadline=None)
@given(requests=st.lists(_ARGS, min_size=1, max_size=6), cuts=st.lists(st.integers(0, 400), max_size=8))
def test_any_requests_cut_anywhere_parse_back_to_themselves(requests, cuts):
    data = b"".join(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
                    for args in requests)
    points = sorted({0, len(data), *(cut for cut in cuts if cut < len(data))})
    parser = RequestParser(max_bulk_len=1024 * 1024)
    parsed = []
    for start, end in zip(points, points[1:]):
        parsed += parser.feed(data[start:end])
    assert parsed == requests


# Lines that start like a RESP reply (":5", "+OK") are inline commands to Redis too, and
# handled so in one read, but not when a read boundary cuts them (see README).
_INLINE = st.sampled_from([b"PING", b"ECHO hi", b"SET k v", b"", b"GET  k", b"x", b"\tPING"])


@settings(max_examples=300, deadline=None)
@given(items=st.lists(st.one_of(_ARGS.map(lambda args: ("request", args)), _INLINE.map(lambda line: ("inline", line))),
                      min_size=1, max_size=8),
       cuts=st.lists(st.integers(0, 300), max_size=6))
def test_inline_lines_between_requests_are_commands_wherever_the_reads_cut(items, cuts):
    """As Redis decides at every request start: '*' opens a multibulk request,
    anything else is an inline command line (an empty one is skipped)."""
    data = b"".join(b"*%d\r\n" % len(value) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in value)
                    if kind == "request" else value + b"\r\n" for kind, value in items)
    expected = [value if kind == "request" else split_inline(value) for kind, value in items]
    points = sorted({0, len(data), *(cut for cut in cuts if cut < len(data))})
    parser = RequestParser(max_bulk_len=1024 * 1024)
    parsed = []
    for start, end in zip(points, points[1:]):
        parsed += parser.feed(data[start:end])
    assert parsed == [args for args in expected if args]


# ------------------------------------------------- the hiredis road and the exact one

def _run(data: bytes, cuts: list[int], exact_only: bool, split_min: int = 4096) -> tuple[list[list[bytes]], str | None]:
    parser = RequestParser(max_bulk_len=1024 * 1024)
    parser.split_min = split_min
    feed = parser._parse if exact_only else parser.feed
    points = sorted({0, len(data), *(cut for cut in cuts if cut < len(data))})
    parsed: list[list[bytes]] = []
    for start, end in zip(points, points[1:]):
        try:
            parsed += feed(data[start:end])
        except ProtocolError as error:
            return parsed + error.before, str(error)
    return parsed, None


_PIECES = st.sampled_from([
    b"*1\r\n", b"*2\r\n", b"*3\r\n", b"*0\r\n", b"*-1\r\n", b"$1\r\na\r\n", b"$3\r\nGET\r\n", b"$4\r\nPING\r\n",
    b"$-1\r\n", b"$0\r\n\r\n", b"+OK\r\n", b"-ERR x\r\n", b":12\r\n", b"(99\r\n", b"=6\r\ntxt:ab\r\n", b"_\r\n",
    b"#t\r\n", b",1.5\r\n", b"%1\r\n", b"~1\r\n", b">1\r\n", b"|1\r\n", b"PING\r\n", b"\r\n", b"\n", b"\r", b"*",
    b"$", b"$03\r\n", b"*01\r\n", b"$2\r\nab", b"xx", b"\x00", b"*99999\r\n", b"$9999999\r\n", b"ECHO 'a b'\r\n",
    b"*2\r\n$4\r\nECHO\r\n*1\r\n$1\r\na\r\n", b"$-0\r\n", b"*-0\r\n", b"*+1\r\n", b"$+1\r\n", b"*12\r\n", b"$5\r\n\n+OK\r\r\n", b"*2000000000\r\n", b"!3\r\nerr\r\n",
])


@settings(max_examples=1500, deadline=None)
@given(pieces=st.lists(_PIECES, min_size=1, max_size=14), cuts=st.lists(st.integers(0, 200), max_size=4))
def test_the_hiredis_road_answers_as_the_exact_parser(pieces, cuts):
    """Whatever the bytes and however reads cut them: the same requests, and the same
    error after the same requests, as Redis's algorithm run in Python."""
    data = b"".join(pieces)
    exact = _run(data, cuts, exact_only=True)
    assert _run(data, cuts, exact_only=False) == exact
    # reads that cut requests: hiredis between the requests they leave open
    assert _run(data, cuts, exact_only=False, split_min=1) == exact


def test_whole_requests_take_the_hiredis_road():
    reads = [b"*3\r\n$3\r\nSET\r\n$16\r\nkey:000000012345\r\n$3\r\nxxx\r\n",
             b"*1\r\n$4\r\nPING\r\n" * 16,
             b"*2\r\n$4\r\nECHO\r\n$12\r\n" + bytes(range(10)) + b"\r\n" + b"\r\n",
             b"*4\r\n$4\r\nZADD\r\n$1\r\nz\r\n$12\r\n000000012345\r\n$20\r\nelement:000000012345\r\n",
             b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$20000\r\n" + b"v" * 20000 + b"\r\n"]
    for data in reads:
        assert _HiredisOnly().feed(data)


class _HiredisOnly(RequestParser):
    __slots__ = ()

    def _parse(self, data: bytes) -> list[list[bytes]]:
        raise AssertionError(f"the exact parser was needed for {data!r}")


@pytest.mark.parametrize("data, got", [(b"*2\r\n$3\r\nGET\r\n+OK\r\n", "+"), (b"*2\r\n:1\r\n:2\r\n", ":"),
                                       (b"*1\r\n_\r\n", "_"), (b"*2\r\n$4\r\nECHO\r\n=5\r\ntxt:a\r\n", "="),
                                       (b"*2\r\n$4\r\nECHO\r\n(12\r\n", "("),
                                       (b"*2\r\n$4\r\nECHO\r\n*1\r\n$1\r\na\r\n", "*")])
def test_arguments_that_are_not_bulk_strings_are_refused_like_redis(data, got):
    with pytest.raises(ProtocolError, match=re.escape(f"Protocol error: expected '$', got '{got}'")):
        RequestParser().feed(data)


def test_what_redis_waits_for():
    # A NUL before the line's end: Redis's strchr does not see the end, so it waits.
    for data in (b"PI\x00NG\r\nPING\r\n", b"*1\x00\r\n$4\r\nPING\r\n"):
        assert RequestParser().feed(data) == []
    assert RequestParser().feed(b"*1\r\n$4\r\nPI\x00G\r\n") == [[b"PI\x00G"]]
    # A count Redis 7 takes: no memory until its arguments come.
    parser = RequestParser()
    assert parser.feed(b"*2000000000\r\n$4\r\nPING\r\n") == [] and parser.holds_data
    with pytest.raises(ProtocolError, match="invalid multibulk length"):
        RequestParser().feed(b"*2147483648\r\n")


def test_a_request_held_past_the_query_buffer_limit_is_refused():
    parser = RequestParser(max_bulk_len=1024 * 1024, query_limit=500_000)
    assert parser.feed(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000000\r\n" + b"x" * 1000) == []
    with pytest.raises(QueryBufferFull):
        for _ in range(100):
            parser.feed(b"x" * 10000)
            assert parser.holds_data


def _reference_bulks(items: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(items) + b"".join(b"$%d\r\n%s\r\n" % (len(item), item) for item in items)


_ELEMENT = st.one_of(st.binary(max_size=40), st.binary(min_size=4090, max_size=4100))


@settings(max_examples=300, deadline=None)
@given(st.lists(_ELEMENT, max_size=40), st.sampled_from([2, 3]))
def test_a_long_list_of_bulks_encodes_as_element_by_element(items, proto):
    # Lists of 16 or more plain bytes take one join of table headers; elements of
    # 4 KB or more (past the table) and short lists take the per-element loop.
    assert encode(items, proto) == _reference_bulks(items)
    assert encode(tuple(items), proto) == _reference_bulks(items)
    assert encode([items, items], proto) == b"*2\r\n" + _reference_bulks(items) * 2


@given(st.lists(st.binary(max_size=8), min_size=16, max_size=30), st.integers(0, 15))
def test_a_long_list_with_one_typed_element_keeps_its_type(items, index):
    # DoubleText, BigNumber and Encoded are bytes subclasses with their own encodings
    for typed, resp3 in ((DoubleText(b"1.5"), b",1.5\r\n"), (BigNumber(b"12"), b"(12\r\n"),
                         (Encoded(b":7\r\n"), b":7\r\n"), (None, b"_\r\n"), (5, b":5\r\n")):
        mixed = list(items)
        mixed[index] = typed
        expected = b"*%d\r\n" % len(mixed) + b"".join(
            resp3 if i == index else b"$%d\r\n%s\r\n" % (len(item), item) for i, item in enumerate(mixed))
        assert encode(mixed, 3) == expected
