"""MULTI queues every command but EXEC, DISCARD, MULTI, WATCH, QUIT and RESET, which
run at once (processCommand); a subcommand sharing one of those names (SLOWLOG RESET,
LATENCY RESET) is queued like any other."""

from __future__ import annotations

from typing import Any

import pytest

from broker.core import Broker
from broker.resp import OK, QUEUED
from broker.table import COMMANDS, Command
from tests.support.core import FakeClient


def _container_with_reset(ran: list[str]) -> Command:
    parent = Command("zzcounter", None, -2, frozenset())

    def reset(client: Any, argv: list[bytes]) -> Any:
        ran.append("reset")
        return OK

    parent.subcommands[b"reset"] = Command("reset", reset, 2, frozenset(), container="zzcounter")
    return parent


def test_a_subcommand_named_reset_is_queued(broker: Broker, client: FakeClient,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []
    monkeypatch.setitem(COMMANDS, b"zzcounter", _container_with_reset(ran))
    assert broker.execute(client, [b"MULTI"]) == OK
    assert broker.execute(client, [b"ZZCOUNTER", b"RESET"]) is QUEUED
    assert ran == []  # not run at once
    assert broker.execute(client, [b"EXEC"]) == [OK]
    assert ran == ["reset"]


def test_reset_itself_runs_at_once_and_ends_the_transaction(broker: Broker, client: FakeClient) -> None:
    assert broker.execute(client, [b"MULTI"]) == OK
    assert broker.execute(client, [b"SET", b"k", b"v"]) is QUEUED
    assert broker.execute(client, [b"RESET"]).wire == b"+RESET\r\n"
    assert client.multi is None
    assert broker.execute(client, [b"GET", b"k"]) is None
