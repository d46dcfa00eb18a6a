"""Smoke check of the differential harness on a few commands every group relies on."""

from tests.support.differential import assert_same_replies


def test_basic_strings_and_errors(redis_server, fanout_broker):
    assert_same_replies(redis_server.port, fanout_broker.port, [
        ("SET", "k", "v"), ("GET", "k"), ("GET", "missing"), ("SET", "k", "v2", "NX"),
        ("SET", "k", "v3", "XX", "GET"), ("GET",), ("NOSUCHCMD", "a", "b"),
        ("SET", "k", "v", "EX", "0"), ("SET", "k", "v", "EX", "abc"), ("SET", "k", "v", "NX", "XX"),
        ("DEL", "k", "missing"), ("EXISTS", "k"), ("PING",), ("PING", "hi"), ("ECHO", "x"),
        ("SELECT", "99"), ("SELECT", "x"), ("CLIENT", "NOPE"),
    ])
