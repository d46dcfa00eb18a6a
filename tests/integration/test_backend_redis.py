"""RedisBackend alone (the shared contract is test_backend_contract.py): a failing
handler, and the URL forms (rediss://, unix://, redis+cluster://)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from broker.backend import BackendUnavailable
from broker.backends import create_backend
from broker.backends.redis import RedisBackend
from tests.support.backends import Collector, unique
from tests.support.servers import ServerProcess, free_port, start_redis_server


async def test_a_failing_handler_does_not_cost_the_subscription(redis_server: ServerProcess) -> None:
    backend = RedisBackend(f"redis://127.0.0.1:{redis_server.port}/0")
    got = Collector()

    def handler(channel: bytes, data: bytes, pattern: bytes | None) -> None:
        if data == b"boom":
            raise RuntimeError("a gateway bug")
        got(channel, data, pattern)

    backend.set_handler(handler)
    reconnects: list[None] = []
    backend.set_reconnect_handler(lambda: reconnects.append(None))
    await backend.start()
    try:
        channel = unique("sturdy")
        await backend.subscribe(channel)
        await backend.publish(channel, b"boom")
        await backend.publish(channel, b"after")
        assert await got.wait_for(1) == [(channel, b"after", None)]
        assert backend.connected and reconnects == []
    finally:
        await backend.close()


async def test_rediss_url_speaks_tls_and_checks_the_certificate(tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    tls_port = free_port()
    server = start_redis_server("--tls-port", str(tls_port), "--tls-cert-file", str(cert),
                                "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert),
                                "--tls-auth-clients", "no")
    backend = RedisBackend(f"rediss://127.0.0.1:{tls_port}/0?ssl_ca_certs={cert}")
    untrusted = RedisBackend(f"rediss://127.0.0.1:{tls_port}/0")  # the system CAs do not know our cert
    try:
        await backend.start()
        got = Collector()
        backend.set_handler(got)
        await backend.subscribe(b"tls")
        assert await backend.publish(b"tls", b"secret") == 1
        assert await got.wait_for(1) == [(b"tls", b"secret", None)]
        assert (await backend.history_publish(b"tls", b"kept", 10, 1000))[0] == 1
        with pytest.raises(BackendUnavailable, match="certificate verify failed"):
            await untrusted.start()
    finally:
        await backend.close()
        await untrusted.close()
        server.stop()


async def test_unix_socket_url_with_db_selects_that_database() -> None:
    """``unix:///path.sock?db=N``: how ``--workers`` reach a broker on the same machine."""
    with tempfile.TemporaryDirectory() as directory:
        path = f"{directory}/redis.sock"
        server = start_redis_server("--unixsocket", path, "--unixsocketperm", "700")
        db1, db0 = RedisBackend(f"unix://{path}?db=1"), RedisBackend(f"unix://{path}?db=0")
        try:
            await db1.start()
            await db0.start()
            got = Collector()
            db1.set_handler(got)
            await db1.subscribe(b"u")
            await db1.psubscribe(b"u*")
            assert await db0.publish(b"u", b"hi") == 2  # pub/sub ignores databases
            assert sorted(await got.wait_for(2), key=repr) == sorted(
                [(b"u", b"hi", None), (b"u", b"hi", b"u*")], key=repr)
            await db1.execute("SET", "only-in-1", "v")
            assert await db1.execute("GET", "only-in-1") == b"v"
            assert await db0.execute("GET", "only-in-1") is None
            assert (await db1.history_publish(b"u", b"x", 10, 1000))[0] == 1
        finally:
            await db1.close()
            await db0.close()
            server.stop()


def test_create_backend_accepts_every_resp_url_form() -> None:
    single = create_backend("redis://127.0.0.1:7001/3")
    assert isinstance(single, RedisBackend) and single.address == "127.0.0.1:7001" and not single.cluster
    assert isinstance(create_backend("rediss://127.0.0.1:7002/0"), RedisBackend)
    unix = create_backend("unix:///tmp/fanout.sock?db=0")
    assert isinstance(unix, RedisBackend) and unix.address == "/tmp/fanout.sock"
    cluster = create_backend("redis+cluster://127.0.0.1:7003")
    assert isinstance(cluster, RedisBackend) and cluster.cluster and cluster.address == "127.0.0.1:7003"
    with pytest.raises(ValueError, match="unsupported broker URL"):
        create_backend("http://127.0.0.1:1")
