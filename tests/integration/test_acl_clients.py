"""ACL users through real clients (issue 20): redis-py's ``acl_*`` methods and
``Redis(username=..., password=...)``, and ``redis-cli --user --pass``, each against
our broker and redis-server (the same calls must give the same answers)."""

from __future__ import annotations

import subprocess
from typing import Any, Iterator

import pytest
import redis

from tests.support.servers import free_port, start_fanout, start_redis_server


@pytest.fixture(scope="module", params=["redis-server", "fanout"])
def port(request: pytest.FixtureRequest) -> Iterator[int]:
    server = start_redis_server() if request.param == "redis-server" else \
        start_fanout("broker", "--port", str(free_port()))
    try:
        yield server.port
    finally:
        server.stop()


@pytest.fixture
def admin(port: int) -> Iterator[redis.Redis]:
    client = redis.Redis(port=port, decode_responses=True)
    yield client
    for name in client.acl_users():
        if name != "default":
            client.acl_deluser(name)
    client.acl_log_reset()
    client.close()


def _redis_py_session(port: int, admin: redis.Redis, protocol: int) -> list[Any]:
    seen: list[Any] = []
    assert admin.acl_setuser("alice", enabled=True, passwords=["+wonder"], commands=["+@read", "+set", "+acl|whoami"],
                             keys=["cache:*"], channels=["news"])
    described = admin.acl_getuser("alice")
    seen.append((described["flags"], sorted(described["keys"]), described["channels"]))
    seen.append(sorted(admin.acl_users()))
    seen.append(admin.acl_cat("hyperloglog") and sorted(admin.acl_cat("hyperloglog")))
    seen.append(admin.acl_dryrun("alice", "set", "cache:1", "v"))
    seen.append(admin.acl_dryrun("alice", "set", "other", "v"))
    seen.append(len(admin.acl_genpass()))
    seen.append(len(admin.acl_genpass(64)))
    alice = redis.Redis(port=port, username="alice", password="wonder", protocol=protocol, decode_responses=True)
    seen.append(alice.acl_whoami())
    seen.append(alice.set("cache:1", "v"))
    seen.append(alice.get("cache:1"))
    with pytest.raises(redis.exceptions.NoPermissionError) as refused:
        alice.get("secret")
    seen.append(str(refused.value))
    with pytest.raises(redis.exceptions.NoPermissionError) as refused:
        alice.delete("cache:1")
    seen.append(str(refused.value))
    alice.close()
    with pytest.raises(redis.exceptions.AuthenticationError) as wrong:
        redis.Redis(port=port, username="alice", password="nope", protocol=protocol).ping()
    seen.append(str(wrong.value))
    log = admin.acl_log()
    # redis-py also sends CLIENT SETINFO, which Redis 7.0 does not know and we do (7.2):
    # alice may not run it here, which Redis 7.0 never gets to log
    seen.append([(entry["reason"], entry["object"], entry["username"]) for entry in log
                 if entry["object"] != "client|setinfo"])
    seen.append(admin.acl_deluser("alice"))
    seen.append(admin.acl_list())
    return seen


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_acl_methods_and_a_user_login(port: int, admin: redis.Redis, protocol: int) -> None:
    seen = _redis_py_session(port, admin, protocol)
    assert seen[0] == (["on"], ["~cache:*"], ["&news"])
    assert seen[1] == ["alice", "default"]
    assert seen[2] == ["pfadd", "pfcount", "pfdebug", "pfmerge", "pfselftest"]
    assert seen[3] == "OK"
    assert seen[4] == "This user has no permissions to access the 'other' key"
    assert seen[5:7] == [64, 16]
    assert seen[7:10] == ["alice", True, "v"]
    assert seen[10] == "this user has no permissions to access one of the keys used as arguments"
    assert seen[11] == "this user has no permissions to run the 'del' command"
    assert "invalid username-password pair" in seen[12]
    # redis-py logs in with AUTH in RESP2, HELLO 3 AUTH in RESP3
    login = "AUTH" if protocol == 2 else "HELLO"
    assert seen[13] == [("auth", login, "alice"), ("command", "del", "alice"), ("key", "secret", "alice")]
    assert seen[14] == 1
    assert seen[15] == ["user default on nopass ~* &* +@all"]


def test_redis_cli_user_and_pass(port: int, admin: redis.Redis) -> None:
    admin.acl_setuser("bob", enabled=True, passwords=["+builder"], commands=["+@all"], keys=["*"])
    base = ["redis-cli", "-p", str(port), "--no-auth-warning"]
    whoami = subprocess.run(base + ["--user", "bob", "--pass", "builder", "ACL", "WHOAMI"],
                            capture_output=True, text=True, timeout=10)
    assert whoami.stdout.strip() == "bob"
    refused = subprocess.run(base + ["--user", "bob", "--pass", "wrong", "PING"], capture_output=True, text=True,
                             timeout=10)
    assert "WRONGPASS" in refused.stdout + refused.stderr
    admin.config_set("requirepass", "s3cret")
    try:
        anonymous = subprocess.run(base + ["GET", "k"], capture_output=True, text=True, timeout=10)
        assert "NOAUTH Authentication required." in anonymous.stdout
        with_pass = subprocess.run(base + ["-a", "s3cret", "PING"], capture_output=True, text=True, timeout=10)
        assert with_pass.stdout.strip() == "PONG"
    finally:
        subprocess.run(base + ["-a", "s3cret", "CONFIG", "SET", "requirepass", ""], capture_output=True, timeout=10)
