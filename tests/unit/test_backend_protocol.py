"""broker/backend.py: both implementations against the one interface (issue #16).

mypy checks them statically (``_implements_backend`` in each module); this checks
the same at run time: every method of ``Backend``, with its parameters and its
async-ness, in ``MemoryBackend`` and ``RedisBackend``, and each with its contract.
"""

from __future__ import annotations

import inspect

import pytest

from broker.backend import Backend, InProcess, Reconnecting
from broker.backends.memory import MemoryBackend
from broker.backends.redis import RedisBackend
from broker.core import Broker

METHODS = [name for name, value in vars(Backend).items() if inspect.isfunction(value) and not name.startswith("_")]


def _parameters(function: object) -> list[tuple[str, object]]:
    return [(parameter.name, parameter.kind) for parameter in inspect.signature(function).parameters.values()]


def test_the_interface_documents_each_method():
    assert {"publish", "subscribe", "execute", "history_publish", "presence_join", "close"} <= set(METHODS)
    for name in METHODS:
        doc = inspect.getdoc(getattr(Backend, name))
        assert doc and doc.strip(), f"Backend.{name} has no contract"


@pytest.mark.parametrize("implementation", [MemoryBackend, RedisBackend])
@pytest.mark.parametrize("name", METHODS)
def test_each_implementation_has_each_method_as_declared(implementation, name):
    declared, implemented = getattr(Backend, name), getattr(implementation, name)
    assert inspect.iscoroutinefunction(implemented) == inspect.iscoroutinefunction(declared)
    assert _parameters(implemented) == _parameters(declared)


def test_optional_capabilities_are_protocols_not_attribute_probes():
    memory, redis = MemoryBackend(Broker()), RedisBackend("redis://127.0.0.1:1/0")
    assert isinstance(memory, InProcess) and not isinstance(redis, InProcess)
    assert isinstance(redis, Reconnecting) and not isinstance(memory, Reconnecting)
    assert _parameters(RedisBackend.set_reconnect_handler) == _parameters(Reconnecting.set_reconnect_handler)
