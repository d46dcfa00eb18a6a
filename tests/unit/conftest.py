"""Fixtures for core unit tests: a broker on a fake clock and a client of it."""

from __future__ import annotations

import pytest

from broker.core import Broker
from tests.support.core import Clock, FakeClient


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def broker(clock: Clock) -> Broker:
    return Broker(clock=clock)


@pytest.fixture
def client(broker: Broker) -> FakeClient:
    return FakeClient(broker)
