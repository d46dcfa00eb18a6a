"""Shared fixtures: real redis-server and fanout broker processes on free ports."""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.support.servers import ServerProcess, free_port, start_fanout, start_redis_server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[ServerProcess]:
    server = start_redis_server()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fanout_broker() -> Iterator[ServerProcess]:
    server = start_fanout("broker", "--port", str(free_port()))
    yield server
    server.stop()
