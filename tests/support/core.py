"""Harness for unit tests of the sans-I/O core: a fake clock and a collecting client."""

from __future__ import annotations

from typing import Any

from broker.core import Broker, Client
from broker.pubsub import Message
from broker.resp import CommandError

__all__ = ["Clock", "FakeClient", "error", "events", "run"]


class FakeClient(Client):
    """Collects what the shell would write: pub/sub messages and late replies."""

    def __init__(self, broker: Broker) -> None:
        super().__init__(broker)
        self.messages: list[Message] = []
        self.resumed: list[Any] = []
        broker.connect(self)

    def deliver(self, message: Message) -> None:
        self.messages.append(message)

    def resume(self, reply: Any) -> None:
        self.resumed.append(reply)


class Clock:
    """Time that only moves when a test says so (``clock.now += 1.5``)."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def run(broker: Broker, client: Client, *argv: str | bytes) -> Any:
    return broker.execute(client, [a.encode() if isinstance(a, str) else a for a in argv])


def error(reply: Any) -> str:
    assert isinstance(reply, CommandError), reply
    return reply.message


def events(broker: Broker, client: FakeClient, *script: tuple[str, ...], flags: str = "KEAn") -> list[tuple[bytes, bytes]]:
    """(event, key) pairs from the keyevent channels while ``script`` runs."""
    listener = FakeClient(broker)
    run(broker, client, "CONFIG", "SET", "notify-keyspace-events", flags)
    run(broker, listener, "PSUBSCRIBE", "__keyevent@0__:*")
    for argv in script:
        run(broker, client, *argv)
    return [(m.channel.split(b":", 1)[1], m.data) for m in listener.messages]
