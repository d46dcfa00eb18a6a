"""Shared fixtures: real redis-server and fanout broker processes on free ports."""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.support.backplane import CLUSTER, EMBEDDED, REDIS, Backplane
from tests.support.cluster import RedisCluster, start_redis_cluster
from tests.support.servers import ServerProcess, free_port, start_fanout, start_redis_server

# The gateway suite runs on each; a module lists more (e.g. the cluster) in BACKPLANES.
BACKPLANES = (EMBEDDED, REDIS)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backplane" in metafunc.fixturenames:
        kinds = getattr(metafunc.module, "BACKPLANES", BACKPLANES)
        metafunc.parametrize("backplane", kinds, indirect=True, scope="module")


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


@pytest.fixture(scope="module")
def backplane(request: pytest.FixtureRequest) -> Iterator[Backplane]:
    """What the module's nodes share: the embedded broker, a fresh redis-server,
    or the session's Redis Cluster emptied for this module."""
    kind = request.param
    if kind == EMBEDDED:
        yield Backplane(EMBEDDED)
    elif kind == REDIS:
        server = start_redis_server()
        yield Backplane(REDIS, redis=server)
        server.stop()
    else:
        assert kind == CLUSTER, kind
        backplane = Backplane(CLUSTER, cluster=request.getfixturevalue("redis_cluster"))
        backplane.flush()
        yield backplane


@pytest.fixture(scope="module")
def fanout_serve(backplane: Backplane) -> Iterator[ServerProcess]:
    """``fanout serve`` on the backplane; ``extra_ports["resp"]`` is its RESP port
    (the embedded broker's, or the redis-server's)."""
    server = backplane.serve("--publish-rate", "100000", "--publish-burst", "100000")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """A 3-master Redis Cluster (redis-server --cluster-enabled yes x3 + redis-cli --cluster create)."""
    cluster = start_redis_cluster()
    yield cluster
    cluster.stop()
