"""Broker limits: output buffer of a non-reading subscriber, maxclients, and the CLI contract."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import pytest

from tests.support.resp_client import RespClient, encode_command
from tests.support.servers import free_port, start_fanout


@pytest.fixture
def own_broker():
    server = start_fanout("broker", "--port", str(free_port()))
    yield server
    server.stop()


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def test_subscriber_that_stops_reading_is_disconnected_others_get_everything(own_broker):
    port = own_broker.port
    with RespClient(port) as admin:
        admin.call("CONFIG", "SET", "client-output-buffer-limit", "pubsub 1mb 256kb 60")
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", port))
    stalled.sendall(encode_command("SUBSCRIBE", "firehose"))
    readers = [RespClient(port) for _ in range(20)]
    for reader in readers:
        assert reader.call("SUBSCRIBE", "firehose")[0] == b"subscribe"
    payload = b"x" * 4000
    rss_before = _rss_kb(own_broker.process.pid)
    with RespClient(port) as publisher:
        with RespClient(port) as probe:
            while probe.call("PUBSUB", "NUMSUB", "firehose")[1] != 21:
                pass
        receivers = []
        for batch in range(40):  # 40 x 50 x 4 KB = 8 MB, far past the 1 MB hard limit
            publisher.send_raw(b"".join(encode_command("PUBLISH", "firehose", payload) for _ in range(50)))
            receivers += [publisher.read() for _ in range(50)]
            for reader in readers:  # every reader gets the whole batch before the next
                for _ in range(50):
                    assert reader.read()[2] == payload
        assert receivers[0] == 21 and receivers[-1] == 20  # the stalled one was cut off on the way
        info = publisher.call("INFO", "stats").decode()
        assert "client_output_buffer_limit_disconnections:1" in info
    assert _rss_kb(own_broker.process.pid) - rss_before < 64 * 1024
    for reader in readers:
        reader.close()
    stalled.close()


def test_maxclients_refuses_extra_connections(own_broker):
    with RespClient(own_broker.port) as admin:
        admin.call("CONFIG", "SET", "maxclients", "3")
        extra = [RespClient(own_broker.port) for _ in range(2)]
        with socket.create_connection(("127.0.0.1", own_broker.port), timeout=5) as refused:
            assert refused.recv(100) == b"-ERR max number of clients reached\r\n"
        assert admin.call("PING") == b"PONG"
        for client in extra:
            client.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_broker_prints_address_and_stops_cleanly(sig):
    port = free_port()
    server = start_fanout("broker", "--port", str(port))
    assert server.output[-1].strip() == f"fanout broker: RESP on 127.0.0.1:{port}"
    assert server.stop(sig) == 0


def test_taken_port_is_a_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "gateway.cli", "broker", "--port", str(port)],
                                capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.strip() == f"fanout: cannot listen for RESP on 127.0.0.1:{port}: the port is already in use"


def test_requirepass(tmp_path):
    server = start_fanout("broker", "--port", str(free_port()), "--requirepass", "s3cret")
    try:
        with RespClient(server.port) as client:
            assert client.call("GET", "x").message == "NOAUTH Authentication required."
            assert client.call("AUTH", "wrong").message.startswith("WRONGPASS")
            assert client.call("AUTH", "s3cret") == b"OK"
            assert client.call("GET", "x") is None
        with RespClient(server.port) as client:
            assert client.call("HELLO", "3", "AUTH", "default", "s3cret")[b"proto"] == 3
    finally:
        server.stop()
