"""The append-only file over real sockets: restarts, redis-server and redis-check-aof
as referees, crashes under load, and failing disks (issue 14)."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support.dataset import assert_same_dataset, dump_dataset
from tests.support.resp_client import RespClient, RespError
from tests.support.servers import MS, ServerProcess, free_port, poll, start_fanout, start_redis_server


def _fanout(directory: Path, *extra: str) -> ServerProcess:
    return start_fanout("broker", "--port", str(free_port()), "--dir", str(directory), "--appendonly", "yes",
                        *extra).capture()


REWRITTEN = "Background AOF rewrite finished successfully"  # logged as aof_rewrites counts it


def _info(port: int) -> dict[str, str]:
    with RespClient(port) as client:
        text = client.call("INFO", "persistence").decode()
    return dict(line.split(":", 1) for line in text.split("\r\n") if ":" in line)


def _corpus(port: int, fanout_commands: bool = True) -> None:
    """Writes of every type, with TTLs in every spelling, blocking pops, a transaction,
    expiries, other dbs, and the gateway's atomic commands."""
    with RespClient(port) as c, RespClient(port) as waiter:
        calls = [
            ("SET", "s:plain", "v"), ("SET", "s:ex", "v", "EX", "1000"), ("SETEX", "s:setex", "2000", "v"),
            ("PSETEX", "s:psetex", "3000000", "v"), ("SET", "s:get", "old"), ("SET", "s:get", "new", "GET", "PX", "900000"),
            ("SET", "s:empty", ""), ("SET", "s:bin", b"\x00\r\n\xff"), ("INCR", "s:n"), ("INCRBY", "s:n", "41"),
            ("INCRBYFLOAT", "s:f", "1.5"), ("INCRBYFLOAT", "s:f", "0.25"), ("APPEND", "s:plain", "w"),
            ("SET", "s:ttl", "v"), ("EXPIRE", "s:ttl", "500"), ("PEXPIRE", "s:plain", "800000"),
            ("SET", "s:gone", "v"), ("PEXPIREAT", "s:gone", "1"), ("SET", "s:getex", "v"), ("GETEX", "s:getex", "EX", "700"),
            ("SET", "s:getdel", "v"), ("GETDEL", "s:getdel"), ("SET", "s:persist", "v", "EX", "100"), ("PERSIST", "s:persist"),
            ("SET", "s:short", "v", "PX", "1"),
            ("RPUSH", "l:a", "1", "2", "3", "4", "5"), ("LPOP", "l:a"), ("LMOVE", "l:a", "l:b", "LEFT", "RIGHT"),
            ("LPUSH", "l:c", *[str(i) for i in range(200)]), ("LTRIM", "l:c", "0", "150"), ("LMPOP", "1", "l:c", "RIGHT", "COUNT", "3"),
            ("SADD", "z:ints", "1", "2", "3", "99"), ("SADD", "z:strs", *[f"m{i}" for i in range(100)]), ("SPOP", "z:strs"),
            ("SPOP", "z:strs", "5"), ("SREM", "z:ints", "2"),
            ("ZADD", "q:z", "1", "a", "2.5", "b", "-3", "c", "inf", "d"), ("ZINCRBY", "q:z", "0.1", "a"), ("ZPOPMIN", "q:z"),
            ("ZADD", "q:big", *[part for i in range(150) for part in (str(i / 7), f"m{i}")]),
            ("HSET", "h:a", "f1", "v1", "f2", "v2"), ("HINCRBY", "h:a", "n", "5"), ("HINCRBYFLOAT", "h:a", "x", "0.5"),
            ("HSET", "h:big", *[part for i in range(300) for part in (f"f{i}", f"v{i}")]), ("HDEL", "h:a", "f2"),
            ("XADD", "x:s", "*", "a", "1"), ("XADD", "x:s", "MAXLEN", "~", "2", "*", "b", "2"), ("XADD", "x:s", "99999999999999-1", "c", "3"),
            ("XADD", "x:t", "1-1", "a", "1"), ("XADD", "x:t", "1-2", "b", "1"), ("XDEL", "x:t", "1-1"),
            ("XADD", "x:trim", "*", "a", "1"), ("XADD", "x:trim", "*", "a", "2"), ("XTRIM", "x:trim", "MAXLEN", "1"),
            ("SELECT", "3"), ("SET", "db3:k", "v", "EX", "9000"), ("HSET", "db3:h", "a", "b"), ("SELECT", "0"),
            ("SELECT", "5"), ("SET", "db5:k", "v"), ("FLUSHDB",), ("SET", "db5:after", "v"), ("SELECT", "0"),
            ("RENAME", "l:b", "l:renamed"), ("COPY", "h:a", "h:copy"), ("MOVE", "s:empty", "7"),
        ]
        for call in calls:
            assert not isinstance(c.call(*call), RespError), call
        # scripts, recorded as their effects (SPOP as SREM, EXPIRE as PEXPIREAT) in MULTI/EXEC
        assert c.call("EVAL", "redis.call('SET', KEYS[1], ARGV[1]); redis.call('EXPIRE', KEYS[1], 900); "
                      "redis.call('SADD', 'e:set', 'a', 'b', 'c'); return redis.call('SPOP', 'e:set')",
                      "1", "e:key", "v") in (b"a", b"b", b"c")
        assert c.call("FUNCTION", "LOAD", "#!lua name=aoflib\nredis.register_function('bump', "
                      "function(keys, args) return redis.call('INCRBYFLOAT', keys[1], '1.5') end)") == b"aoflib"
        assert c.call("FCALL", "bump", "1", "e:float") == b"1.5"
        assert c.call("SELECT", "9") == b"OK" and c.call("SET", "db9:k", "v") == b"OK"
        assert c.call("SWAPDB", "9", "10") == b"OK" and c.call("SELECT", "0") == b"OK"
        payload = c.call("DUMP", "h:a")
        assert c.call("RESTORE", "h:restored", "600000", payload) == b"OK"
        # a transaction, with a TTL inside it
        assert c.call("MULTI") == b"OK"
        c.call("SET", "t:a", "1")
        c.call("EXPIRE", "t:a", "600")
        c.call("INCR", "t:n")
        assert len(c.call("EXEC")) == 3
        # a blocked pop served by a later push (recorded as LPOP after the push)
        waiter.send("BLPOP", "l:blocked", "0")
        poll(lambda: b"blocked_clients:1" in c.call("INFO", "clients"), "the blocked client")
        assert c.call("RPUSH", "l:blocked", "x", "y") == 2
        assert waiter.read() == [b"l:blocked", b"x"]
        assert c.call("BRPOP", "l:a", "1") == [b"l:a", b"5"]
        assert c.call("BLMOVE", "l:a", "l:moved", "RIGHT", "LEFT", "1") == b"4"
        # lazily expired (and by the active cycle): recorded as DEL
        poll(lambda: c.call("EXISTS", "s:short") == 0, "s:short's 1 ms TTL to run out")
        if fanout_commands:
            for i in range(3):
                assert c.call("FANOUT.PUBLISH", "chat:room", "2", "600000", f"m{i}")[0] == i + 1
            assert c.call("FANOUT.JOIN", "chat:room", "c1", "u1", '{"a":1}') == [1, 1]
            assert c.call("FANOUT.JOIN", "chat:room", "c2", "u1", '{"a":2}') == [1, 0]
            assert c.call("FANOUT.JOIN", "chat:room", "c3", "u2", '{"a":3}') == [1, 1]
            assert c.call("FANOUT.LEAVE", "chat:room", "c3", "u2") == [1, 1]


def _redis_loads(directory: Path) -> dict:  # type: ignore[type-arg]
    """Start redis-server on a copy of ``directory``'s AOF; return its dataset."""
    copy = directory.parent / (directory.name + "-redis")
    shutil.copytree(directory, copy)
    redis = start_redis_server("--appendonly", "yes", "--dir", str(copy), "--appenddirname", "appendonlydir")
    try:
        # redis-server 7 listens before it loads (answering -LOADING meanwhile), and
        # says it is ready (start_redis_server waits for that) once it has loaded
        assert _info(redis.port).get("loading") == "0"
        return dump_dataset(redis.port)
    finally:
        redis.stop()


def _check_aof(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["redis-check-aof", str(directory / "appendonlydir" / "appendonly.aof.manifest")],
                          capture_output=True, text=True, timeout=60)


def _assert_redis_accepts(directory: Path, dataset: dict) -> None:  # type: ignore[type-arg]
    """redis-check-aof accepts ``directory``'s AOF and redis-server loads ``dataset`` from it."""
    check = _check_aof(directory)
    assert check.returncode == 0, check.stdout + check.stderr
    assert_same_dataset(dataset, _redis_loads(directory))


@pytest.mark.parametrize("preamble", ["no", "yes"])
def test_our_aof_restarts_us_and_redis_server_and_passes_redis_check_aof(tmp_path, preamble):
    server = _fanout(tmp_path, "--appendfsync", "always")
    try:
        with RespClient(server.port) as c:
            assert c.call("CONFIG", "SET", "aof-use-rdb-preamble", preamble) == b"OK"
        _corpus(server.port)
        before = dump_dataset(server.port)
        assert (0, b"s:gone") not in before and (0, b"s:short") not in before
        assert before[(0, b"history:{chat:room}")][0] == b"stream"
    finally:
        server.stop(signal.SIGKILL)  # appendfsync always: everything acknowledged is on disk
    restarted = _fanout(tmp_path)
    try:
        assert_same_dataset(before, dump_dataset(restarted.port))
    finally:
        restarted.stop()
    check = _check_aof(tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "is valid" in check.stdout
    assert_same_dataset(before, _redis_loads(tmp_path))


@pytest.mark.parametrize("preamble", ["no", "yes"])
def test_bgrewriteaof_writes_a_new_base_and_incr_that_both_servers_load(tmp_path, preamble):
    suffix = "rdb" if preamble == "yes" else "aof"
    server = _fanout(tmp_path, "--appendfsync", "always")
    try:
        with RespClient(server.port) as c:
            assert c.call("CONFIG", "SET", "aof-use-rdb-preamble", preamble) == b"OK"
            _corpus(server.port)
            assert c.call("BGREWRITEAOF") == b"Background append only file rewriting started"
            # writes while the child runs land in the new incr file
            assert c.call("SET", "during", "rewrite", "EX", "5000") == b"OK"
            server.wait_for_output(REWRITTEN)
            assert _info(server.port)["aof_rewrites"] == "1"
            assert c.call("HSET", "after", "f", "v") == 1
            info = _info(server.port)
            assert info["aof_last_bgrewrite_status"] == "ok" and info["aof_rewrite_in_progress"] == "0"
        before = dump_dataset(server.port)
    finally:
        server.stop(signal.SIGKILL)
    directory = tmp_path / "appendonlydir"
    manifest = (directory / "appendonly.aof.manifest").read_text()
    assert manifest == (f"file appendonly.aof.2.base.{suffix} seq 2 type b\n"
                        "file appendonly.aof.2.incr.aof seq 2 type i\n")
    assert sorted(os.listdir(directory)) == [f"appendonly.aof.2.base.{suffix}", "appendonly.aof.2.incr.aof",
                                             "appendonly.aof.manifest"]
    assert (directory / f"appendonly.aof.2.base.{suffix}").read_bytes().startswith(b"REDIS") == (preamble == "yes")
    restarted = _fanout(tmp_path)
    try:
        assert_same_dataset(before, dump_dataset(restarted.port))
    finally:
        restarted.stop()
    assert _check_aof(tmp_path).returncode == 0
    assert_same_dataset(before, _redis_loads(tmp_path))


def test_redis_servers_aof_directory_loads_into_fanout(tmp_path):
    redis = start_redis_server("--appendonly", "yes", "--dir", str(tmp_path), "--aof-use-rdb-preamble", "no",
                               "--appendfsync", "always")
    try:
        _corpus(redis.port, fanout_commands=False)
        with RespClient(redis.port) as c:
            assert c.call("SET", "k", "v") == b"OK"
        expected = dump_dataset(redis.port)
    finally:
        redis.stop(signal.SIGKILL)
    server = _fanout(tmp_path)
    try:
        assert_same_dataset(expected, dump_dataset(server.port))
    finally:
        server.stop()


def test_appendonly_turned_on_at_runtime_rewrites_first(tmp_path):
    server = start_fanout("broker", "--port", str(free_port()), "--dir", str(tmp_path)).capture()
    try:
        with RespClient(server.port) as c:
            assert c.call("CONFIG", "SET", "aof-use-rdb-preamble", "no") == b"OK"
            assert c.call("SET", "before", "on") == b"OK"
            assert c.call("CONFIG", "SET", "appendonly", "yes") == b"OK"
            assert c.call("SET", "after", "on") == b"OK"
            server.wait_for_output(REWRITTEN)  # the first rewrite
            assert _info(server.port)["aof_rewrites"] == "1"
            assert _info(server.port)["aof_enabled"] == "1"
            assert c.call("CONFIG", "SET", "appendfsync", "always") == b"OK"
            assert c.call("SET", "later", "on") == b"OK"
        before = dump_dataset(server.port)
    finally:
        server.stop(signal.SIGKILL)
    restarted = _fanout(tmp_path)
    try:
        assert_same_dataset(before, dump_dataset(restarted.port))
        assert {key for _, key in before} == {b"before", b"after", b"later"}
    finally:
        restarted.stop()


def _load_and_crash(
    tmp_path: Path, policy: str, seconds: float
) -> tuple[dict[bytes, bytes], dict[bytes, list[tuple[float, int]]], float]:
    """Many clients write counters until SIGKILL.

    Returns each key's last acknowledged value, every acknowledgement of it as
    (monotonic time, value) in order, and the time of the kill.
    """
    server = _fanout(tmp_path, "--appendfsync", policy)
    acked: dict[bytes, bytes] = {}
    history: dict[bytes, list[tuple[float, int]]] = {}
    lock = threading.Lock()
    stop = threading.Event()
    warm = threading.Event()  # set once every writer's 50 keys were written

    def writer(index: int) -> None:
        try:
            with RespClient(server.port) as client:
                n = 0
                while not stop.is_set():
                    key, value = b"w%d:%d" % (index, n % 50), b"%d" % n
                    if client.call("SET", key, value) == b"OK":
                        with lock:
                            acked[key] = value
                            history.setdefault(key, []).append((time.monotonic(), n))
                            if len(acked) >= 16 * 50:
                                warm.set()
                    n += 1
        except (ConnectionError, OSError):
            pass

    threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(16)]
    for thread in threads:
        thread.start()
    assert warm.wait(10), "every writer to write its keys"
    time.sleep(seconds)  # the stimulus: the load runs for a while, then the crash (not a wait)
    with lock:
        server.process.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        killed = dict(acked), {key: list(acks) for key, acks in history.items()}
    stop.set()
    for thread in threads:
        thread.join(10)
    server.process.wait()
    return killed[0], killed[1], killed_at


def test_sigkill_under_load_with_appendfsync_always_loses_no_acknowledged_write(tmp_path):
    acked, _, _ = _load_and_crash(tmp_path, "always", 1.0)
    restarted = _fanout(tmp_path)
    try:
        with RespClient(restarted.port) as client:
            keys = list(acked)
            values = client.call("MGET", *keys)
        # a write the reply of which never arrived may be newer: values are counters
        missing = [k for k, v in zip(keys, values) if v is None or int(v) < int(acked[k])]
        assert missing == []
    finally:
        restarted.stop()


def test_sigkill_under_load_with_appendfsync_everysec_keeps_all_but_the_last_seconds(tmp_path):
    # The load runs past the 2 s window, so every key has writes acknowledged before
    # it: those must be on disk (everysec fsyncs once a second; Redis's promise is
    # "at most ~2 s of writes lost").
    acked, history, killed_at = _load_and_crash(tmp_path, "everysec", 2.5)
    cutoff = killed_at - 2.0
    durable = {key: max((n for t, n in acks if t < cutoff), default=None) for key, acks in history.items()}
    durable = {key: n for key, n in durable.items() if n is not None}
    assert len(durable) == len(acked), "every key had a write acknowledged more than 2 s before the kill"
    restarted = _fanout(tmp_path)
    try:
        with RespClient(restarted.port) as client:
            keys = list(durable)
            values = client.call("MGET", *keys)
        lost = [k for k, v in zip(keys, values) if v is None or int(v) < durable[k]]
        assert lost == []
    finally:
        restarted.stop()


def _incr_file(tmp_path: Path) -> Path:
    return next((tmp_path / "appendonlydir").glob("*.incr.aof"))


def test_a_tail_cut_mid_command_loads_up_to_the_last_whole_command_and_is_truncated(tmp_path):
    server = _fanout(tmp_path, "--appendfsync", "always")
    with RespClient(server.port) as c:
        for i in range(5):
            assert c.call("SET", f"k{i}", f"v{i}") == b"OK"
    server.stop()
    incr = _incr_file(tmp_path)
    whole = incr.stat().st_size
    with open(incr, "ab") as handle:
        handle.write(b"*3\r\n$3\r\nSET\r\n$2\r\nk9")  # a crash in the middle of a write
    restarted = _fanout(tmp_path)
    try:
        assert "Truncating the AOF" in "".join(restarted.output) or incr.stat().st_size == whole
        with RespClient(restarted.port) as c:
            assert c.call("MGET", "k0", "k4", "k9") == [b"v0", b"v4", None]
    finally:
        restarted.stop()
    assert incr.stat().st_size == whole


def test_corruption_in_the_middle_refuses_to_start_names_file_and_offset_and_changes_nothing(tmp_path):
    server = _fanout(tmp_path, "--appendfsync", "always")
    with RespClient(server.port) as c:
        for i in range(20):
            assert c.call("SET", f"k{i}", f"v{i}") == b"OK"
    server.stop()
    incr = _incr_file(tmp_path)
    data = bytearray(incr.read_bytes())
    offset = data.index(b"*3", len(data) // 2)
    data[offset] = ord("?")
    incr.write_bytes(bytes(data))
    digest = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "appendonlydir").iterdir()}
    process = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "broker", "--port", str(free_port()),
         "--dir", str(tmp_path), "--appendonly", "yes"], capture_output=True, text=True, timeout=60)
    assert process.returncode == 1
    assert f"{incr.name} at offset {offset}" in process.stderr
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "appendonlydir").iterdir()}
    assert after == digest


@pytest.fixture
def small_disk(tmp_path):  # type: ignore[no-untyped-def]
    """A 2 MB tmpfs (we run as root), unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_refuses_writes_with_misconf_then_recovers_without_losing_anything(small_disk):
    filler = small_disk / "filler"
    filler.write_bytes(b"x" * (1900 * 1024))
    server = _fanout(small_disk)
    acked = {}
    try:
        with RespClient(server.port) as c:
            error = None
            for i in range(2000):
                reply = c.call("SET", f"key{i}", "v" * 100)
                if isinstance(reply, RespError):
                    error = reply
                    break
                acked[f"key{i}"] = b"v" * 100
            assert error is not None and "MISCONF Errors writing to the AOF file: No space left on device" in str(error)
            assert _info(server.port)["aof_last_write_status"] == "err"
            assert c.call("GET", "key0") == b"v" * 100  # reads still served
            filler.unlink()
            server.wait_for_output("AOF write error looks solved")  # the cron's retry wrote
            assert c.call("SET", "recovered", "yes") == b"OK"
            assert _info(server.port)["aof_last_write_status"] == "ok"
    finally:
        server.stop()
    log = server.log()
    assert "writing to the AOF file" in log and "AOF write error looks solved" in log
    restarted = _fanout(small_disk)
    try:
        with RespClient(restarted.port) as c:
            assert c.call("MGET", *acked) == list(acked.values())
            assert c.call("GET", "recovered") == b"yes"
    finally:
        restarted.stop()


def test_a_read_only_directory_refuses_to_start_and_changes_nothing(small_disk):
    # (a mount with a file open for writing cannot be made read-only: the runtime write
    # failure is the full-disk test above)
    server = _fanout(small_disk, "--appendfsync", "always")
    with RespClient(server.port) as c:
        assert c.call("SET", "a", "1") == b"OK"
    server.stop()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        process = subprocess.run([sys.executable, "-m", "gateway.cli", "broker", "--port",
                                  str(free_port()), "--dir", str(small_disk), "--appendonly", "yes"],
                                 capture_output=True, text=True, timeout=60)
        assert process.returncode == 1
        assert "Read-only file system" in process.stderr
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    restarted = _fanout(small_disk)
    try:
        with RespClient(restarted.port) as c:
            assert c.call("GET", "a") == b"1"
    finally:
        restarted.stop()


def test_appendfsync_always_replies_to_a_pipeline_ending_in_quit_after_the_fsync(tmp_path):
    server = _fanout(tmp_path, "--appendfsync", "always")
    try:
        with RespClient(server.port) as c:
            c.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*1\r\n$4\r\nQUIT\r\n")
            assert c.read() == b"OK"
            assert c.read() == b"OK"
        assert _info(server.port)["aof_last_write_status"] == "ok"
        with RespClient(server.port) as c:
            assert c.call("GET", "a") == b"1"
    finally:
        server.stop(signal.SIGKILL)
    assert b"$1\r\na\r\n" in _incr_file(tmp_path).read_bytes()


def test_clients_get_loading_while_a_large_aof_replays_then_the_data(tmp_path):
    directory = tmp_path / "appendonlydir"
    directory.mkdir()
    count = 600_000
    (directory / "appendonly.aof.manifest").write_text("file appendonly.aof.1.incr.aof seq 1 type i\n")
    with open(directory / "appendonly.aof.1.incr.aof", "wb") as handle:
        handle.write(b"".join(b"*3\r\n$3\r\nSET\r\n$%d\r\nk%d\r\n$1\r\nv\r\n" % (len(b"k%d" % i), i)
                              for i in range(count)))
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "gateway.cli", "broker", "--port", str(port), "--dir",
                                str(tmp_path), "--appendonly", "yes"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    server = ServerProcess("fanout", process, port).capture()
    try:
        # It listens, then replays the AOF, then says it listens ("RESP on"): nothing
        # announces the port open during the replay, so connect until it is.
        deadline = time.monotonic() + 60
        while True:
            try:
                client = RespClient(port)
                break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None, server.log()
                time.sleep(5 * MS)  # not listening yet: connect again
        with client:
            reply = client.call("PING")
            assert isinstance(reply, RespError) and reply.message.startswith("LOADING"), reply
            server.wait_for_output("DB loaded from append only file", timeout=60)
            assert client.call("PING") == b"PONG"
            assert client.call("DBSIZE") == count
    finally:
        server.stop()


def _pipeline(port: int, data: bytes, replies: int) -> list:  # type: ignore[type-arg]
    """Send ``data`` in one write (one read on the server's side), read ``replies`` replies."""
    with RespClient(port) as c:
        c.send_raw(data)
        return [c.read() for _ in range(replies)]


def _canonical(*argv: bytes) -> bytes:
    return b"*%d\r\n" % len(argv) + b"".join(b"$%d\r\n%s\r\n" % (len(arg), arg) for arg in argv)


def test_a_read_of_requests_recorded_as_sent_is_appended_byte_for_byte(tmp_path):
    # The fast path (broker.propagate.Propagator.drain with raw): every request of the
    # read is recorded unchanged, so the incr file gets the bytes as the client sent them.
    server = _fanout(tmp_path, "--appendfsync", "always")
    try:
        sent = b"".join([_canonical(b"SET", b"k:%d" % i, b"v\r\n%d" % i) for i in range(20)]
                        + [_canonical(b"HSET", b"h", b"f", b""), _canonical(b"RPUSH", b"l", b"a", b"b"),
                           _canonical(b"INCR", b"n"), _canonical(b"SET", b"k:0", b"$0x")])
        assert _pipeline(server.port, sent, 24)[-4:] == [1, 2, 1, b"OK"]
        incr = _incr_file(tmp_path).read_bytes()
        assert incr == _canonical(b"SELECT", b"0") + sent
        before = dump_dataset(server.port)
    finally:
        server.stop(signal.SIGKILL)
    _assert_redis_accepts(tmp_path, before)


def test_inline_and_rewritten_requests_in_a_read_are_encoded_again(tmp_path):
    # Inline commands, a rewrite (SET ... EX becomes SET ... PXAT) or a SELECT in the
    # read: each record is encoded as RESP, SELECT where the db changes, never a raw copy.
    server = _fanout(tmp_path, "--appendfsync", "always")
    try:
        assert _pipeline(server.port, b"SET a 1\r\nSET  b \"x y\"\r\nINCR  n\r\n", 3) == [b"OK", b"OK", 1]
        mixed = (_canonical(b"SET", b"c", b"1") + _canonical(b"SELECT", b"2") + _canonical(b"SET", b"d", b"2")
                 + _canonical(b"SET", b"e", b"3", b"EX", b"1000") + _canonical(b"SELECT", b"0")
                 + _canonical(b"LPUSH", b"f", b"4"))
        assert _pipeline(server.port, mixed, 6) == [b"OK", b"OK", b"OK", b"OK", b"OK", 1]
        incr = _incr_file(tmp_path).read_bytes()
        start = (_canonical(b"SELECT", b"0") + _canonical(b"SET", b"a", b"1") + _canonical(b"SET", b"b", b"x y")
                 + _canonical(b"INCR", b"n") + _canonical(b"SET", b"c", b"1") + _canonical(b"SELECT", b"2")
                 + _canonical(b"SET", b"d", b"2") + b"*5\r\n$3\r\nSET\r\n$1\r\ne\r\n$1\r\n3\r\n$4\r\nPXAT\r\n")
        end = _canonical(b"SELECT", b"0") + _canonical(b"LPUSH", b"f", b"4")
        assert incr.startswith(start) and incr.endswith(end), incr
        before = dump_dataset(server.port)
    finally:
        server.stop(signal.SIGKILL)
    _assert_redis_accepts(tmp_path, before)


def test_bgrewriteaof_inside_a_pipeline_of_recorded_writes_counts_each_once(tmp_path):
    # INCRs before BGREWRITEAOF in the same read are in the child's base; they must
    # reach the old incr file before the switch, not the new one (replayed twice).
    server = _fanout(tmp_path, "--appendfsync", "everysec")
    try:
        data = (_canonical(b"INCR", b"n") * 3 + _canonical(b"BGREWRITEAOF") + _canonical(b"INCR", b"n") * 2)
        replies = _pipeline(server.port, data, 6)
        assert replies[:3] == [1, 2, 3] and replies[4:] == [4, 5]
        server.wait_for_output(REWRITTEN)
        assert _info(server.port)["aof_rewrites"] == "1"
    finally:
        server.stop()
    restarted = _fanout(tmp_path)
    try:
        with RespClient(restarted.port) as c:
            assert c.call("GET", "n") == b"5"
    finally:
        restarted.stop()
    assert _redis_loads(tmp_path)[(0, b"n")][1] == b"5"
