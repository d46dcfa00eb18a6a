"""The pub/sub registry and keyspace notification flags, without sockets."""

from broker.core import Broker, Client
from broker.notify import NotifyClass, flags_from_string, flags_to_string
from broker.pubsub import Message, PubSub


class Collector:
    def __init__(self) -> None:
        self.got: list[Message] = []

    def deliver(self, message: Message) -> None:
        self.got.append(message)


def test_exact_then_patterns_and_receiver_counts():
    registry = PubSub()
    a, b = Collector(), Collector()
    registry.subscribe(a, b"news")
    registry.psubscribe(a, b"n*")
    registry.psubscribe(b, b"n*")
    assert registry.publish(b"news", b"x") == 3
    assert [(m.kind, m.pattern) for m in a.got] == [(b"message", None), (b"pmessage", b"n*")]
    assert a.got[1] is b.got[0]  # one message object for every pattern subscriber
    registry.punsubscribe(a, b"n*")
    registry.punsubscribe(b, b"n*")
    assert registry.numpat() == 0 and registry.publish(b"news", b"y") == 1


def test_message_wire_forms_are_built_once():
    message = Message(b"pmessage", b"ch", b"data", b"c*")
    assert message.resp(2) == b"*4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nch\r\n$4\r\ndata\r\n"
    assert message.resp(3).startswith(b">4\r\n")
    assert message.resp(2) is message.resp(2)


def test_notify_flag_strings():
    assert flags_to_string(flags_from_string("KEA")) == "AKE"
    assert flags_to_string(flags_from_string("Kgx")) == "gxK"
    assert flags_to_string(flags_from_string("KEAn")) == "AKE"  # Redis does not print n next to A
    assert flags_from_string("Q") is None
    assert flags_from_string("A") & NotifyClass.KEY_MISS == 0


class Sink(Client):
    def __init__(self, broker: Broker) -> None:
        super().__init__(broker)
        self.got: list[Message] = []

    def deliver(self, message: Message) -> None:
        self.got.append(message)


def test_expired_key_notifies_on_the_active_cycle_with_a_fake_clock():
    now = [1000.0]
    broker = Broker(clock=lambda: now[0])
    writer, listener = Sink(broker), Sink(broker)
    for client in (writer, listener):
        broker.connect(client)
    broker.execute(writer, [b"CONFIG", b"SET", b"notify-keyspace-events", b"Ex"])
    broker.execute(listener, [b"SUBSCRIBE", b"__keyevent@0__:expired"])
    broker.execute(writer, [b"SET", b"session", b"v", b"PX", b"500"])
    assert broker.active_expire() == 0
    now[0] += 0.6
    assert broker.active_expire() == 1  # nobody touched the key: the sweep found it
    assert [(m.channel, m.data) for m in listener.got] == [(b"__keyevent@0__:expired", b"session")]
    assert broker.execute(writer, [b"EXISTS", b"session"]) == 0
