"""Malformed and oversized input: the same error as redis-server, only that connection closes."""

from __future__ import annotations

import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.resp_client import RespClient

CASES = [
    b"*abc\r\n", b"*1\r\n$abc\r\n", b"*1\r\n$-5\r\n", b"*3000000000\r\n", b"*1\r\n$999999999999\r\n",
    b'SET "a b\r\n', b"*0\r\n", b"*-1\r\n", b":5\r\n", b"$5\r\nhellx\r\n",
    b"PING\r\n*1\r\n$4\r\nPING\r\n", b"ECHO 'it''s'\r\n", b"ECHO \"\\x41\\n\"\r\n",
    # a nested array as an argument: refused, never stored
    b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n*1\r\n$1\r\nx\r\n", b"*2\r\n$3\r\nGET\r\n*1\r\n$1\r\nx\r\n",
    b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n*0\r\n",
    # inline commands, a bare CRLF and a non-array type byte right after a request, in the same read
    b"*1\r\n$4\r\nPING\r\n\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n", b"*1\r\n$4\r\nPING\r\nPING\r\n*1\r\n$4\r\nPING\r\n",
    b"*1\r\n$4\r\nPING\r\n:5\r\n", b"*1\r\n$4\r\nPING\r\n$5\r\nhellx\r\n", b"*1\r\n$4\r\nPING\r\n*1\r\n$x\r\n",
    b"*1\r\n$4\r\nPING\r\n+OK\r\n*1\r\n$4\r\nPING\r\n",
    # oversized headers after good requests (those run first), and values that only look like them
    b"*1\r\n$4\r\nPING\r\n*3000000000\r\n", b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$999999999999\r\n",
    b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$28\r\nv\n*3000000000\r\n$9999999999\r\n\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
    # arguments that are not bulk strings (hiredis reads them; Redis refuses them)
    b"*2\r\n:1\r\n:2\r\n", b"*2\r\n$3\r\nGET\r\n+OK\r\n", b"*2\r\n$3\r\nGET\r\n-OK\r\n", b"*1\r\n_\r\n",
    b"*1\r\n#t\r\n", b"*1\r\n,1.5\r\n", b"*2\r\n$4\r\nECHO\r\n%1\r\n$1\r\na\r\n$1\r\nb\r\n",
    b"*2\r\n$4\r\nECHO\r\n=5\r\ntxt:a\r\n", b"*2\r\n$4\r\nECHO\r\n(12\r\n", b"*1\r\n$-1\r\n",
    b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\nb\r\n*1\r\n:1\r\n", b"*1\r\n\xc8\r\n", b"*1\r\n\n\r\n",
    # Redis takes the byte after a header's CR, and the two after a bulk, unread
    b"*1\rX$4\r\nPING\r\n", b"*2\r\n$4\r\nECHO\r\n$3\r\na\r\nb\r\n", b"*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n",
    # after *0 the next request may be inline; a count Redis 7 takes (it waits for the arguments)
    b"*0\r\nPING\r\n", b"*1048577\r\n",
]


def _exchange(port: int, data: bytes) -> bytes:
    """Send ``data``, then ECHO a marker; return everything read until the server
    closes or echoes the marker."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        try:
            sock.sendall(b"*2\r\n$4\r\nECHO\r\n$7\r\n__end__\r\n")
        except OSError:
            pass
        received = b""
        try:
            while not received.endswith(b"__end__\r\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    return received + b"<closed>"
                received += chunk
        except (ConnectionResetError, socket.timeout) as exc:
            return received + f"<{type(exc).__name__}>".encode()
        return received


@pytest.mark.parametrize("data", CASES, ids=lambda d: repr(d[:20]))
def test_malformed_input_is_answered_like_redis(redis_server, fanout_broker, data):
    expected = _exchange(redis_server.port, data)
    got = _exchange(fanout_broker.port, data)
    assert got.replace(b"<ConnectionResetError>", b"<closed>") == \
        expected.replace(b"<ConnectionResetError>", b"<closed>")


GUEST_CASES = [
    b"*11\r\n", b"*10\r\n$4\r\nPING\r\n", b"*2\r\n$4\r\nAUTH\r\n$16385\r\n", b"*2\r\n$4\r\nAUTH\r\n$2\r\nno\r\n*11\r\n",
    # AUTH runs before the next request is read: its limits are then lifted
    b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*11\r\n$4\r\nECHO\r\n" + b"$1\r\nx\r\n" * 9 + b"$16385\r\n" + b"y" * 16385 + b"\r\n",
    b"AUTH pw\r\n*12\r\n",
]


@pytest.mark.parametrize("data", GUEST_CASES, ids=lambda d: repr(d[:24]))
def test_limits_before_auth_are_redis_s(redis_server, fanout_broker, data):
    replies = []
    for port in (redis_server.port, fanout_broker.port):
        with RespClient(port) as admin:
            admin.call("CONFIG", "SET", "requirepass", "pw")
            try:
                replies.append(_exchange(port, data).replace(b"<ConnectionResetError>", b"<closed>"))
            finally:
                admin.call("CONFIG", "SET", "requirepass", "")
    assert replies[1] == replies[0]


def test_after_auth_later_reads_have_the_usual_limits(fanout_broker):
    big = b"y" * 20000
    with RespClient(fanout_broker.port) as admin:
        admin.call("CONFIG", "SET", "requirepass", "pw")
        try:
            with socket.create_connection(("127.0.0.1", fanout_broker.port), timeout=5) as sock:
                sock.sendall(b"AUTH pw\r\n")
                assert sock.recv(100) == b"+OK\r\n"
                sock.sendall(b"*3\r\n$3\r\nSET\r\n$5\r\nafter\r\n$20000\r\n" + big + b"\r\n"
                             + b"*12\r\n$3\r\nDEL\r\n" + b"$1\r\nx\r\n" * 11)
                assert _read_until(sock, 2) == b"+OK\r\n:0\r\n"
        finally:
            admin.call("AUTH", "pw")
            admin.call("CONFIG", "SET", "requirepass", "")
        assert admin.call("STRLEN", "after") == 20000


def _read_until(sock: socket.socket, lines: int) -> bytes:
    received = b""
    while received.count(b"\r\n") < lines:
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def test_other_clients_keep_being_served(fanout_broker):
    with RespClient(fanout_broker.port) as bystander:
        bystander.call("SET", "still", "here")
        for data in CASES:
            _exchange(fanout_broker.port, data)
        assert bystander.call("GET", "still") == b"here"


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.one_of(
    st.binary(max_size=64),
    st.sampled_from([b"*", b"$", b"\r\n", b"*2\r\n", b"$3\r\nGET\r\n", b"$-1\r\n", b"*99999999999\r\n",
                     b"$1048576000\r\n", b'"', b"'", b"\\x", b"PING", b" "]),
), max_size=12))
def test_fuzzed_input_never_hurts_the_server(fanout_broker, chunks):
    data = b"".join(chunks)
    with socket.create_connection(("127.0.0.1", fanout_broker.port), timeout=5) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        try:
            while sock.recv(65536):
                pass
        except (ConnectionResetError, socket.timeout):
            pass
    with RespClient(fanout_broker.port) as probe:
        assert probe.call("PING") == b"PONG"


def test_a_huge_multibulk_count_takes_no_memory_until_its_data_comes(fanout_broker):
    # Redis 7 takes counts up to 2^31-1 and never preallocates more than 1,024 slots;
    # hiredis would allocate the whole list at once (16 GB here), so such a read goes
    # to the exact parser, which allocates per argument received.
    with RespClient(fanout_broker.port) as probe:
        rss_before = _rss(probe)
        with socket.create_connection(("127.0.0.1", fanout_broker.port), timeout=5) as sock:
            sock.sendall(b"*2000000000\r\n$4\r\nECHO\r\n")
            assert probe.call("PING") == b"PONG"  # served while that request waits
            assert _rss(probe) - rss_before < 64 * 1024 * 1024
        with socket.create_connection(("127.0.0.1", fanout_broker.port), timeout=5) as sock:
            sock.sendall(b"*2147483648\r\n")
            assert sock.recv(1000) == b"-ERR Protocol error: invalid multibulk length\r\n"


def _rss(client: RespClient) -> int:
    info = client.call("INFO", "memory").decode()
    return int(info.split("used_memory_rss:")[1].split()[0])


def test_slow_huge_bulk_is_refused_from_its_header(fanout_broker):
    with socket.create_connection(("127.0.0.1", fanout_broker.port), timeout=5) as sock:
        sock.sendall(b"*2\r\n$3\r\nGET\r\n$600000000\r\nabc")
        assert sock.recv(1000) == b"-ERR Protocol error: invalid bulk length\r\n"


def test_too_big_inline_request_is_refused(fanout_broker):
    # (redis-server answers this one either way depending on how its reads split the input)
    with socket.create_connection(("127.0.0.1", fanout_broker.port), timeout=5) as sock:
        sock.sendall(b"x" * 70000)
        assert sock.recv(1000) == b"-ERR Protocol error: too big inline request\r\n"
