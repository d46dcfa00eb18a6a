"""A real 3-master Redis Cluster on free loopback ports, for tests.

Three ``redis-server --cluster-enabled yes`` processes (bus ports chosen free
too, with ``--cluster-port``, rather than port+10000 which may be taken), each
with its own nodes.conf in a temporary directory, joined by
``redis-cli --cluster create ... --cluster-yes``; returns once every node
reports ``cluster_state:ok``.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

from tests.support.servers import ServerProcess, free_port, start_redis_server

__all__ = ["RedisCluster", "start_redis_cluster", "wait_cluster_ok"]


@dataclass
class RedisCluster:
    nodes: list[ServerProcess]
    directory: str
    # redis-server flags of each node, to restart it as the same cluster member.
    flags: list[tuple[str, ...]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def restart(self, index: int, sig: int | None = None) -> None:
        """Stop node ``index`` (e.g. SIGKILL) and start it again: same port, same nodes.conf."""
        port = self.nodes[index].port
        self.nodes[index].stop(sig)
        self.nodes[index] = start_redis_server(*self.flags[index], port=port)
        wait_cluster_ok(self.nodes)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def start_redis_cluster(masters: int = 3, timeout: float = 30.0) -> RedisCluster:
    if shutil.which("redis-cli") is None:
        raise RuntimeError("redis-cli is not installed: the test command installs it (scripts/test)")
    directory = tempfile.mkdtemp(prefix="fanout-cluster-")
    nodes: list[ServerProcess] = []
    try:
        flags: list[tuple[str, ...]] = []
        for index in range(masters):
            flags.append(("--cluster-enabled", "yes", "--cluster-port", str(free_port()),
                          "--cluster-config-file", f"{directory}/nodes-{index}.conf", "--dir", directory,
                          "--cluster-node-timeout", "5000"))
            nodes.append(start_redis_server(*flags[-1]))
        addresses = [f"127.0.0.1:{node.port}" for node in nodes]
        subprocess.run(["redis-cli", "--cluster", "create", *addresses, "--cluster-yes"],
                       capture_output=True, text=True, timeout=60, check=True)
        wait_cluster_ok(nodes, timeout)
    except BaseException:
        for node in nodes:
            node.stop()
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return RedisCluster(nodes, directory, flags)


def wait_cluster_ok(nodes: list[ServerProcess], timeout: float = 30.0) -> None:
    """Until every node's state is ok. Slots are assigned at once, but each node
    learns the others through the gossip bus; each logs "Cluster state changed: ok"
    (or ": fail") when its state changes, and starts as fail: so its last such line
    is its state now."""
    deadline = time.monotonic() + timeout
    for node in nodes:
        while not (changes := _state_changes(node)) or not changes[-1].endswith(" ok"):
            node.wait_for_output(_STATE, count=len(changes) + 1, timeout=max(0.0, deadline - time.monotonic()))


_STATE = "Cluster state changed:"


def _state_changes(node: ServerProcess) -> list[str]:
    return [line.rstrip() for line in node.log().splitlines() if _STATE in line]
