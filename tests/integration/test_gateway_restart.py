"""``fanout serve`` restarted on the same snapshot directory (issue 14): history
keeps its offsets and epoch, so a client connected before recovers what it
missed (``recovered: true``), and presence starts without the old connections,
after a clean SIGTERM as after a SIGKILL that left them in the last snapshot."""

from __future__ import annotations

import shutil
import signal
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.auth import issue_token
from tests.support.resp_client import RespClient
from tests.support.servers import ServerProcess, free_port, start_fanout
from tests.support.ws import WsClient, connect

SECRET = "restart-secret-of-at-least-32-bytes!"
CHANNEL = "chat:lobby"


@pytest.fixture
def directory() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="fanout-restart-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _serve(directory: str, http_port: int, resp_port: int, *persistence: str) -> ServerProcess:
    server = start_fanout("serve", "--http-port", str(http_port), "--resp-port", str(resp_port),
                          "--token-secret", SECRET, "--channel", "chat:*=presence,history:1000",
                          "--dir", directory, *(persistence or ("--save", "3600 1")), "--node-ttl", "30").capture()
    server.extra_ports["resp"] = resp_port
    return server


async def _client(server: ServerProcess, user: str) -> WsClient:
    return await connect(server.port, issue_token(SECRET, user, info={"name": user}, publish=["chat:*"]))


async def _publish(server: ServerProcess, count: int, start: int) -> list[dict[str, Any]]:
    publisher = await _client(server, "publisher")
    replies = [await publisher.request("publish", channel=CHANNEL, data={"n": start + n}) for n in range(count)]
    await publisher.close()
    return replies


async def _before_restart(server: ServerProcess) -> tuple[WsClient, dict[str, Any]]:
    """A reader present in the channel that has seen three messages."""
    reader = await _client(server, "reader")
    reply = await reader.request("subscribe", channel=CHANNEL, presence=True)
    assert reply["ok"] is True
    await _publish(server, 3, 0)
    last: dict[str, Any] = {}
    while last.get("data") != {"n": 2}:
        last = await reader.event()
    return reader, last


async def _after_restart(server: ServerProcess, last: dict[str, Any]) -> None:
    published = await _publish(server, 2, 3)
    assert [reply["epoch"] for reply in published] == [last["epoch"]] * 2  # the same history epoch
    assert [reply["offset"] for reply in published] == [last["offset"] + 1, last["offset"] + 2]
    reader = await _client(server, "reader")
    reply = await reader.request("subscribe", channel=CHANNEL,
                                 recover={"offset": last["offset"], "epoch": last["epoch"]})
    assert reply["recovered"] is True and reply["epoch"] == last["epoch"]
    missed = [await reader.event(), await reader.event()]
    assert [(event["offset"], event["data"]) for event in missed] == [
        (last["offset"] + 1, {"n": 3}), (last["offset"] + 2, {"n": 4})]
    observer = await _client(server, "observer")
    present = await observer.request("presence", channel=CHANNEL)
    # only the new reader's connection: the old one died with the old process
    assert list(present["users"]) == ["reader"] and len(present["users"]["reader"]["conns"]) == 1
    for client in (reader, observer):
        await client.close()


async def test_sigterm_restart_keeps_history_and_starts_presence_clean(directory: str) -> None:
    http_port, resp_port = free_port(), free_port()
    server = _serve(directory, http_port, resp_port)
    reader, last = await _before_restart(server)
    assert server.stop(signal.SIGTERM) == 0  # saves: a schedule is set
    await reader.close()
    again = _serve(directory, http_port, resp_port)
    try:
        await _after_restart(again, last)
    finally:
        again.stop()


async def test_sigkill_restart_from_the_last_snapshot_has_no_ghosts(directory: str) -> None:
    """The snapshot holds the dead process's connections and heartbeat: after the
    restart they are gone at once (not after --node-ttl), history still recovers."""
    http_port, resp_port = free_port(), free_port()
    server = _serve(directory, http_port, resp_port)
    reader, last = await _before_restart(server)
    with RespClient(resp_port) as client:
        assert client.call("HLEN", "presence:{%s}" % CHANNEL) == 1
        before = client.call("LASTSAVE")
        since = len(server.output)
        assert client.call("BGSAVE") == b"Background saving started"
        await server.logged("Background saving terminated with success", since=since)  # the child's end
        info = client.call("INFO", "persistence")
        assert b"rdb_bgsave_in_progress:0" in info and b"rdb_last_bgsave_status:ok" in info
        assert client.call("LASTSAVE") >= before
    server.process.kill()
    server.process.wait()
    await reader.close()
    again = _serve(directory, http_port, resp_port)
    try:
        await _after_restart(again, last)  # checks presence: only the new reader
    finally:
        again.stop()


async def test_sigkill_with_an_aof_always_keeps_every_acknowledged_publish(directory: str) -> None:
    """No snapshot at all: the AOF (appendfsync always) has every publish the gateway
    acknowledged, so history recovers across a SIGKILL, and presence has no ghosts."""
    http_port, resp_port = free_port(), free_port()
    aof = ("--save", "", "--appendonly", "yes", "--appendfsync", "always")
    server = _serve(directory, http_port, resp_port, *aof)
    reader, last = await _before_restart(server)  # each publish acknowledged after its fsync
    server.process.kill()
    server.process.wait()
    await reader.close()
    again = _serve(directory, http_port, resp_port, *aof)
    try:
        await _after_restart(again, last)
        with RespClient(resp_port) as client:
            # the new node's keys only (its heartbeat and its connections' set)
            assert len({key.split(b":")[1] for key in client.call("KEYS", "node:*")}) == 1
    finally:
        again.stop()
