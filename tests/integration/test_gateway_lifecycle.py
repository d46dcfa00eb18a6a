"""fanout serve: addresses, clean SIGTERM with 1001 close frames, taken ports (issue #3);
on each backplane (issue #7)."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys

from tests.support.backplane import EMBEDDED, Backplane
from tests.support.servers import free_port
from tests.support.ws import connect


async def test_sigterm_closes_websockets_with_going_away(backplane: Backplane):
    server = backplane.serve()
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


def test_taken_http_port_gives_a_clear_error(backplane: Backplane):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "gateway.cli", "serve", "--http-port", str(port),
                                 "--resp-port", str(free_port()), "--broker", backplane.url],
                                capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert f"cannot listen for HTTP on 127.0.0.1:{port}: the port is already in use" in result.stderr


def test_serve_prints_both_addresses(backplane: Backplane):
    server = backplane.serve()
    try:
        line = server.process.stdout.readline().strip()
        if backplane.kind == EMBEDDED:
            assert line == f"fanout serve: RESP on 127.0.0.1:{server.extra_ports['resp']}"
        else:  # no embedded broker, so no RESP port: the node names its backplane and its id
            assert re.fullmatch(rf"fanout serve: broker {re.escape(backplane.url)} \(node [0-9a-f]{{8}}\)", line)
        assert server.output[-1].strip() == f"fanout serve: HTTP on http://127.0.0.1:{server.port}"
    finally:
        server.stop()
