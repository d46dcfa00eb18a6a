"""gateway/own_keys.py: which keys the embedded broker never evicts (issue 18)."""

from __future__ import annotations

import pytest

from broker.channel_keys import history_keys, once_key, presence_keys
from gateway.http_api import BROADCAST_KEY_PREFIX
from gateway.own_keys import is_gateway_key
from presence import model


@pytest.mark.parametrize("key", [
    model.node_key("n1"), model.node_conns_key("n1"), model.conn_key("c1"), model.conn_channels_key("c1"),
    model.user_conns_key("alice"), model.channel_key("chat:lobby"), model.users_key("chat:lobby"),
    *[name.decode() for name in history_keys(b"chat:lobby")], once_key(b"chat:lobby", b"k1").decode(),
])
def test_the_gateways_keys_are_exempt(key: str) -> None:
    assert is_gateway_key(key.encode())


def test_broadcast_idempotency_keys_are_exempt() -> None:
    assert is_gateway_key(BROADCAST_KEY_PREFIX + b"abc")


@pytest.mark.parametrize("key", [b"user:42", b"user:42:profile", b"cache:node:1", b"session:conn:1", b"presence",
                                 b"history", b"k"])
def test_the_services_keys_are_not(key: bytes) -> None:
    assert not is_gateway_key(key)
