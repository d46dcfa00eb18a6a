"""Pipelined requests sent in one write: the same bytes back as from redis-server.

The server runs a read's requests in one loop with replies encoded in place
(``Broker.run_pipeline``); these cases are the ones where that loop must stop,
skip replies, or interleave pub/sub messages with replies.
"""

from __future__ import annotations

import socket

import pytest

from tests.support.resp_client import RespClient, encode_command


def _pipeline(port: int, protocol: int, *commands: tuple[str, ...]) -> bytes:
    """On an emptied keyspace, send all ``commands`` in one write; return every byte
    until the server closes or answers the final ECHO marker."""
    with RespClient(port, protocol=protocol) as client:
        client.call("FLUSHALL")  # both servers start from the same (empty) keyspace
        sock = client.sock
        marker = b"__end__"
        sock.sendall(b"".join(encode_command(*argv) for argv in commands) + encode_command("ECHO", marker))
        received = b""
        while not received.endswith(marker + b"\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                return received + b"<closed>"
            received += chunk
        return received


CASES = {
    "quit stops the pipeline": [("PING",), ("SET", "pk", "1"), ("QUIT",), ("INCR", "pk"), ("PING",)],
    "client reply off, skip, on": [
        ("CLIENT", "REPLY", "OFF"), ("INCR", "pc"), ("CLIENT", "REPLY", "ON"), ("INCR", "pc"),
        ("CLIENT", "REPLY", "SKIP"), ("INCR", "pc"), ("INCR", "pc"), ("GET", "pc"), ("DEL", "pc")],
    "multi queues between fast commands": [
        ("SET", "pm", "1"), ("MULTI",), ("INCR", "pm"), ("GET", "pm"), ("EXEC",), ("GET", "pm"),
        ("DEL", "pm")],
    "errors do not stop it": [("INCR",), ("NOSUCH", "x"), ("GET", "a", "b"), ("PING",)],
}


@pytest.mark.parametrize("name", list(CASES))
def test_pipeline_like_redis(redis_server, fanout_broker, name):
    expected = _pipeline(redis_server.port, 2, *CASES[name])
    assert _pipeline(fanout_broker.port, 2, *CASES[name]) == expected


def test_resp3_messages_to_self_come_between_replies_in_order(redis_server, fanout_broker):
    commands = [("SUBSCRIBE", "pch"), ("PUBLISH", "pch", "m1"), ("PING",), ("PUBLISH", "pch", "m2"),
                ("UNSUBSCRIBE", "pch"), ("PUBLISH", "pch", "m3")]
    expected = _pipeline(redis_server.port, 3, *commands)
    assert b">3\r\n$7\r\nmessage\r\n" in expected  # the case is the one meant
    assert _pipeline(fanout_broker.port, 3, *commands) == expected


def test_subscribed_resp2_client_is_refused_other_commands_mid_pipeline(redis_server, fanout_broker):
    commands = [("SUBSCRIBE", "pch2"), ("GET", "x"), ("PING",), ("UNSUBSCRIBE",), ("GET", "x")]
    expected = _pipeline(redis_server.port, 2, *commands)
    assert b"only (P|S)SUBSCRIBE" in expected
    assert _pipeline(fanout_broker.port, 2, *commands) == expected


def test_quit_closes_after_its_reply(fanout_broker):
    with socket.create_connection(("127.0.0.1", fanout_broker.port), timeout=5) as sock:
        sock.sendall(encode_command("PING") + encode_command("QUIT") + encode_command("PING"))
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        assert received == b"+PONG\r\n+OK\r\n"
