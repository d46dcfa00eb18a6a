"""broker/monitor.py through the sans-I/O core: the line, what is shown and in what order."""

from __future__ import annotations

import pytest

from broker.core import Broker, Replies
from broker.monitor import arg_repr
from broker.resp import Simple
from tests.support.core import Clock, FakeClient, error, run


def _setup() -> tuple[Broker, FakeClient, FakeClient]:
    broker = Broker(clock=Clock())
    monitor, client = FakeClient(broker), FakeClient(broker)
    client.addr = "127.0.0.1:5000"
    assert run(broker, monitor, "MONITOR") == Simple("OK")
    return broker, monitor, client


def _lines(monitor: FakeClient) -> list[bytes]:
    lines = [m.frame2 for m in monitor.messages]
    monitor.messages.clear()
    return lines  # type: ignore[return-value]


@pytest.mark.parametrize("arg, quoted", [
    (b"plain", b'"plain"'), (b"", b'""'), (b'say "hi"', b'"say \\"hi\\""'), (b"a\\b", b'"a\\\\b"'),
    (b"\n\r\t\x07\x08", b'"\\n\\r\\t\\a\\b"'), (b"\x00\x7f\xff", b'"\\x00\\x7f\\xff"'), ("é".encode(), b'"\\xc3\\xa9"'),
])
def test_arguments_are_quoted_as_sdscatrepr(arg: bytes, quoted: bytes) -> None:
    assert arg_repr(arg) == quoted


def test_the_line_has_time_db_and_peer() -> None:
    broker, monitor, client = _setup()
    broker.clock.now = 1_700_000_000.123456  # type: ignore[attr-defined]
    run(broker, client, "SET", "k", "v")
    run(broker, client, "SELECT", "2")
    assert _lines(monitor) == [b'+1700000000.123456 [0 127.0.0.1:5000] "SET" "k" "v"\r\n',
                               b'+1700000000.123456 [2 127.0.0.1:5000] "SELECT" "2"\r\n']


def test_scripts_show_the_script_first_then_its_commands() -> None:
    broker, monitor, client = _setup()
    run(broker, client, "EVAL", "return redis.call('incr', KEYS[1])", "1", "n")
    lines = _lines(monitor)
    assert [line.split(b"] ", 1)[1] for line in lines] == [
        b'"EVAL" "return redis.call(\'incr\', KEYS[1])" "1" "n"\r\n', b'"incr" "n"\r\n']
    assert b"[0 lua]" in lines[1]


def test_hidden_commands_and_redacted_passwords() -> None:
    broker, monitor, client = _setup()
    run(broker, client, "CONFIG", "GET", "hz")     # admin
    run(broker, client, "GET")                     # refused before running
    run(broker, client, "AUTH", "pw")
    run(broker, client, "HELLO", "3", "AUTH", "default", "pw")
    assert [line.split(b"] ", 1)[1] for line in _lines(monitor)] == [
        b'"AUTH" "(redacted)"\r\n', b'"HELLO" "3" "AUTH" "(redacted)" "(redacted)"\r\n']


def test_a_monitor_sees_its_own_command_after_the_reply() -> None:
    broker, monitor, _ = _setup()
    reply = run(broker, monitor, "PING")
    assert type(reply) is Replies and reply[0] == Simple("PONG")
    assert reply[1].text.endswith('"PING"') and monitor.messages == []
    assert error(run(broker, monitor, "GET", "k")) == "ERR Replica can't interact with the keyspace"
    assert monitor.flags() == "O"


def test_every_command_takes_the_slow_path_only_while_monitored() -> None:
    broker, monitor, client = _setup()
    assert broker.gated
    run(broker, monitor, "RESET")
    assert not broker.gated and broker.monitors.clients == {}
    run(broker, client, "SET", "k", "v")
    assert monitor.messages == []
    run(broker, monitor, "MONITOR")
    broker.disconnect(monitor)
    assert not broker.gated


def test_a_unix_socket_client_and_loading() -> None:
    broker, monitor, client = _setup()
    client.laddr, client.unix = "/tmp/fanout.sock:0", True
    run(broker, client, "PING")
    assert b"[0 unix:/tmp/fanout.sock] \"PING\"" in _lines(monitor)[0]
    broker.set_gate("LOADING Redis is loading the dataset in memory", None)
    broker.monitors.feed(client, [b"SET", b"replayed", b"1"])  # as an AOF load would
    assert monitor.messages == []
