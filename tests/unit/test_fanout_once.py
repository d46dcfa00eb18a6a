"""FANOUT.ONCE: a publish with an idempotency key runs at most once per window (issue 13 item 8)."""

from __future__ import annotations

from broker.core import Broker
from tests.support.core import Clock, FakeClient, error, run


def test_a_history_publish_runs_once_and_its_duplicate_names_its_position(broker: Broker, client: FakeClient,
                                                                          clock: Clock) -> None:
    listener = FakeClient(broker)
    run(broker, listener, "SUBSCRIBE", "chat:a")
    first = run(broker, client, "FANOUT.ONCE", "once:{chat:a}:k1", "1000", "FANOUT.PUBLISH", "chat:a", "10",
                "60000", "hello")
    assert first[0] == 0 and first[1] == 1
    again = run(broker, client, "FANOUT.ONCE", "once:{chat:a}:k1", "1000", "FANOUT.PUBLISH", "chat:a", "10",
                "60000", "hello")
    assert again == [1, 1, first[2]]
    assert run(broker, client, "XLEN", "history:{chat:a}") == 1
    assert len([m for m in listener.messages if m.kind == b"message"]) == 1
    clock.now += 1.001  # the window has passed: the key may be used again
    assert run(broker, client, "FANOUT.ONCE", "once:{chat:a}:k1", "1000", "FANOUT.PUBLISH", "chat:a", "10",
               "60000", "hello")[:2] == [0, 2]


def test_a_plain_publish_runs_once(broker: Broker, client: FakeClient) -> None:
    listener = FakeClient(broker)
    run(broker, listener, "SUBSCRIBE", "news")
    assert run(broker, client, "FANOUT.ONCE", "once:{news}:k", "5000", "PUBLISH", "news", "x") == [0, 0, b""]
    assert run(broker, client, "FANOUT.ONCE", "once:{news}:k", "5000", "PUBLISH", "news", "x") == [1, 0, b""]
    assert [m.data for m in listener.messages if m.kind == b"message"] == [b"x"]
    assert 0 < run(broker, client, "PTTL", "once:{news}:k") <= 5000


def test_bad_arguments_are_refused(broker: Broker, client: FakeClient) -> None:
    assert error(run(broker, client, "FANOUT.ONCE", "k", "0", "PUBLISH", "c", "x")) == "ERR the window must be positive"
    assert error(run(broker, client, "FANOUT.ONCE", "k", "10", "SET", "c", "x")) == \
        "ERR FANOUT.ONCE runs FANOUT.PUBLISH, PUBLISH or SPUBLISH"
    assert error(run(broker, client, "FANOUT.ONCE", "k", "10", "PUBLISH", "c", "x", "y")) == \
        "ERR wrong number of arguments for 'publish' command"
