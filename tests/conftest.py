"""Shared fixtures: real redis-server and fanout broker processes on free ports."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest
import redis

from tests.support.backplane import CLUSTER, EMBEDDED, REDIS, WORKERS, Backplane
from tests.support.cluster import RedisCluster, start_redis_cluster
from tests.support.servers import (
    ServerProcess,
    free_port,
    start_fanout,
    start_redis_server,
)

# The gateway suite runs on each; a module lists more (e.g. the cluster) in BACKPLANES.
BACKPLANES = (EMBEDDED, REDIS, WORKERS)


def pytest_configure(config: pytest.Config) -> None:
    # fanout snapshots like Redis by default (save schedule, dir "."): servers the
    # suite starts would write dump.rdb into the worktree and load each other's
    # data. They inherit "no snapshots, in a private directory"; the persistence
    # tests pass --save/--dir themselves (flags beat the environment).
    os.environ.setdefault("FANOUT_SAVE", "")
    os.environ.setdefault("FANOUT_DIR", tempfile.mkdtemp(prefix="fanout-tests-"))
    config.addinivalue_line("markers", "backplanes(*kinds): the backplanes this test runs on "
                            "(e.g. not WORKERS for a test of one node's own /metrics)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backplane" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("backplanes")
        kinds = marker.args if marker else getattr(metafunc.module, "BACKPLANES", BACKPLANES)
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


@pytest.fixture(scope="module", params=["redis-server", "fanout"])
def either_server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """A fresh redis-server, then a fresh ``fanout broker``, per module: the module's
    tests run on both and must come out the same (its FLUSHALL or SCRIPT FLUSH touch
    no other module's server)."""
    if request.param == "redis-server":
        server = start_redis_server()
    else:
        server = start_fanout("broker", "--port", str(free_port()))
    yield server
    server.stop()


@pytest.fixture()
def either_client(either_server: ServerProcess) -> Iterator[redis.Redis]:
    """A redis-py client of ``either_server``, emptied first."""
    client = redis.Redis(port=either_server.port)
    client.flushall()
    yield client
    client.close()


@pytest.fixture(scope="module")
def backplane(request: pytest.FixtureRequest) -> Iterator[Backplane]:
    """What the module's nodes share: the embedded broker, a fresh redis-server,
    or the session's Redis Cluster emptied for this module."""
    kind = request.param
    if kind in (EMBEDDED, WORKERS):
        yield Backplane(kind)
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


@pytest.fixture(scope="module")
def embedded_serve() -> Iterator[ServerProcess]:
    """``fanout serve`` with its embedded broker and a RESP port (``extra_ports["resp"]``)."""
    resp_port = free_port()
    server = start_fanout("serve", "--http-port", str(free_port()), "--resp-port", str(resp_port))
    server.extra_ports["resp"] = resp_port
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """A 3-master Redis Cluster (redis-server --cluster-enabled yes x3 + redis-cli --cluster create)."""
    cluster = start_redis_cluster()
    yield cluster
    cluster.stop()
