"""fanout serve: addresses, clean SIGTERM with 1001 close frames, taken ports (issue #3)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

from tests.support.servers import free_port, start_fanout
from tests.support.ws import connect


async def test_sigterm_closes_websockets_with_going_away():
    server = start_fanout("serve", "--http-port", str(free_port()), "--resp-port", str(free_port()))
    clients = [await connect(server.port) for _ in range(3)]
    for client in clients:
        await client.request("subscribe", channel="x")
    server.process.send_signal(signal.SIGTERM)
    for client in clients:
        await client.reader
        assert client.ws.close_code == 1001
        assert client.ws.close_reason == "server shutting down"
    assert server.process.wait(timeout=15) == 0
    output = server.process.stdout.read()
    assert "fanout serve: stopped" in output


def test_taken_http_port_gives_a_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "gateway.cli", "serve", "--http-port", str(port),
                                 "--resp-port", str(free_port())], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert f"cannot listen for HTTP on 127.0.0.1:{port}: the port is already in use" in result.stderr


def test_serve_prints_both_addresses():
    resp_port = free_port()
    server = start_fanout("serve", "--http-port", str(free_port()), "--resp-port", str(resp_port))
    try:
        line = server.process.stdout.readline()
        assert line.strip() == f"fanout serve: RESP on 127.0.0.1:{resp_port}"
        assert server.output[-1].strip() == f"fanout serve: HTTP on http://127.0.0.1:{server.port}"
    finally:
        server.stop()
