"""RDB snapshots against a real redis-server 7.0 (issue 14): files go both ways,
DUMP payloads go both ways, and faults (full disk, read-only disk, a kill during
a save, a corrupt file) never lose the last good snapshot."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest

from tests.support.differential import run_script
from tests.support.persistence import (
    assert_same_dataset,
    check_rdb,
    fill_corpus,
    read_dataset,
    start_fanout_on,
    start_redis_on,
)
from tests.support.resp_client import RespClient, RespError
from tests.support.servers import ServerProcess, free_port, poll, start_fanout


@pytest.fixture
def directory() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="fanout-rdb-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _now_ms() -> int:
    return int(time.time() * 1000)


# What the server logs when it reaps a BGSAVE child (INFO's fields set with it).
SAVED = "Background saving terminated with success"
FAILED = re.compile(r"Background saving (error|terminated by signal)")


def _info(client: RespClient) -> dict[str, str]:
    text = client.call("INFO", "persistence").decode()
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def _stop(server: ServerProcess) -> None:
    server.stop()


# ------------------------------------------------------------------ round trips


def test_redis_server_snapshot_loads_into_fanout(directory: str) -> None:
    """redis-server 7.0 SAVEs the corpus; fanout loads the file: every key equal."""
    redis = start_redis_on(directory)
    try:
        with RespClient(redis.port) as client:
            fill_corpus(client, _now_ms())
            assert client.call("OBJECT", "ENCODING", "set:int") == b"intset"
            assert client.call("OBJECT", "ENCODING", "hash:big") == b"hashtable"
            assert client.call("OBJECT", "ENCODING", "zset:big") == b"skiplist"
            assert client.call("SAVE") == b"OK"
        expected = read_dataset(redis.port)
    finally:
        _stop(redis)
    fanout = start_fanout_on(directory, "--save", "")
    try:
        assert_same_dataset(expected, read_dataset(fanout.port))
        with RespClient(fanout.port) as client:
            info = _info(client)
            assert int(info["rdb_last_load_keys_loaded"]) == len(expected)
    finally:
        _stop(fanout)


def test_fanout_snapshot_loads_into_redis_server(directory: str) -> None:
    """fanout SAVEs the corpus; redis-check-rdb accepts it and redis-server loads it."""
    fanout = start_fanout_on(directory, "--save", "")
    try:
        with RespClient(fanout.port) as client:
            fill_corpus(client, _now_ms())
            assert client.call("SAVE") == b"OK"
        expected = read_dataset(fanout.port)
    finally:
        _stop(fanout)
    report = check_rdb(os.path.join(directory, "dump.rdb"))
    assert f"{len(expected)} keys read" in report
    redis = start_redis_on(directory)
    try:
        assert_same_dataset(expected, read_dataset(redis.port))
        with RespClient(redis.port) as client:  # and it chose the encodings Redis would
            assert client.call("OBJECT", "ENCODING", "set:int") == b"intset"
            assert client.call("OBJECT", "ENCODING", "hash:small") == b"listpack"
            assert client.call("OBJECT", "ENCODING", "zset:small") == b"listpack"
            assert client.call("OBJECT", "ENCODING", "list:big") == b"quicklist"
    finally:
        _stop(redis)


def test_uncompressed_and_unchecksummed_files_load_both_ways(directory: str) -> None:
    fanout = start_fanout_on(directory, "--save", "")
    try:
        with RespClient(fanout.port) as client:
            fill_corpus(client, _now_ms())
            client.call("CONFIG", "SET", "rdbcompression", "no")
            client.call("CONFIG", "SET", "rdbchecksum", "no")
            assert client.call("SAVE") == b"OK"
        expected = read_dataset(fanout.port)
    finally:
        _stop(fanout)
    with open(os.path.join(directory, "dump.rdb"), "rb") as handle:
        data = handle.read()
    assert data[-8:] == bytes(8)  # rdbchecksum no: a zero checksum, which readers skip
    assert b"abc" * 200 in data  # rdbcompression no: the long string is stored as is
    redis = start_redis_on(directory)
    try:
        assert_same_dataset(expected, read_dataset(redis.port))
    finally:
        _stop(redis)


def test_expired_keys_in_a_snapshot_are_not_loaded(directory: str) -> None:
    redis = start_redis_on(directory)
    try:
        with RespClient(redis.port) as client:
            client.call("SET", "gone", "x", "PX", 50)
            client.call("SET", "kept", "y")
            assert client.call("SAVE") == b"OK"
    finally:
        _stop(redis)
    saved_ms = os.path.getmtime(os.path.join(directory, "dump.rdb")) * 1000  # after the SET
    time.sleep(max(0.0, saved_ms + 150 - _now_ms()) / 1000)  # the stimulus: the key's deadline passes
    fanout = start_fanout_on(directory, "--save", "")
    try:
        with RespClient(fanout.port) as client:
            assert client.call("KEYS", "*") == [b"kept"]
            assert _info(client)["rdb_last_load_keys_expired"] == "1"
    finally:
        _stop(fanout)


# ------------------------------------------------------------------ DUMP / RESTORE


def test_dump_restore_between_redis_server_and_fanout(redis_server: ServerProcess, directory: str) -> None:
    """Every corpus key DUMPed by redis-server RESTOREs into fanout to an equal value,
    and the other way round; payloads of deterministic encodings are byte-identical."""
    fanout = start_fanout_on(directory, "--save", "")
    try:
        with RespClient(redis_server.port) as redis, RespClient(fanout.port) as ours:
            fill_corpus(redis, _now_ms())
            fill_corpus(ours, _now_ms())
            keys = redis.call("KEYS", "*")
            for key in keys:
                theirs = redis.call("DUMP", key)
                mine = ours.call("DUMP", key)
                assert ours.call("RESTORE", b"from-redis:" + key, 0, theirs) == b"OK", key
                assert redis.call("RESTORE", b"from-fanout:" + key, 0, mine) == b"OK", key
                if key in (b"str", b"int8", b"int16", b"int32", b"int64", b"empty", b"bin", b"hash:small",
                           b"set:int", b"list:small", b"compressible"):
                    assert mine == theirs, key
        expected = read_dataset(redis_server.port)
        actual = read_dataset(fanout.port)
        for (db, key), (kind, value, _deadline) in expected.items():
            if key.startswith(b"from-fanout:"):
                original = key[len(b"from-fanout:"):]
                assert actual[(db, b"from-redis:" + original)][:2] == (kind, value), key
                assert expected[(db, original)][:2] == (kind, value), key
    finally:
        _stop(fanout)


def test_restore_options_and_errors_match_redis_server(redis_server: ServerProcess, directory: str) -> None:
    fanout = start_fanout_on(directory, "--save", "")
    try:
        with RespClient(redis_server.port) as redis:
            redis.call("FLUSHALL")
            redis.call("SET", "k", "v")
            payload = redis.call("DUMP", "k")
            redis.call("RPUSH", "l", "a", "b")
            list_payload = redis.call("DUMP", "l")
        future = _now_ms() + 100_000
        script = [
            ("SET", "k", "old"),
            ("RESTORE", "k", 0, payload),
            ("RESTORE", "k", 0, payload, "REPLACE"),
            ("GET", "k"),
            ("RESTORE", "n", -1, payload),
            ("RESTORE", "n", "x", payload),
            ("RESTORE", "n", 0, payload[:-1] + bytes([payload[-1] ^ 1])),
            ("RESTORE", "n", 0, b"\x00garbage" + payload[-10:]),
            ("RESTORE", "n", 0, b"\x63" + payload[1:]),
            ("RESTORE", "n", 0, payload, "BOGUS"),
            ("RESTORE", "n", 0, payload, "IDLETIME", -1),
            ("RESTORE", "n", 0, payload, "FREQ", 256),
            ("RESTORE", "n", 0, payload, "IDLETIME", 10, "FREQ", 5),
            ("RESTORE", "n", 0, payload, "FREQ", 5),
            ("RESTORE", "t", 100_000, payload),
            ("RESTORE", "a", future, payload, "ABSTTL"),
            ("RESTORE", "past", 1, payload, "ABSTTL"),
            ("EXISTS", "past"),
            ("SET", "past2", "x"),
            ("RESTORE", "past2", 1, payload, "ABSTTL", "REPLACE"),
            ("EXISTS", "past2"),
            ("RESTORE", "l2", 0, list_payload),
            ("LRANGE", "l2", 0, -1),
            ("DUMP", "missing"),
        ]
        want = run_script(redis_server.port, script)
        got = run_script(fanout.port, script)
        for command, a, b in zip(script, want, got):
            assert b == a, (command[:2], a, b)
        with RespClient(fanout.port) as client:
            assert 99_000 < client.call("PTTL", "t") <= 100_000
            assert client.call("PEXPIRETIME", "a") == future
    finally:
        _stop(fanout)


def test_changes_since_last_save_count_like_redis_server(directory: str) -> None:
    """rdb_changes_since_last_save after single-change writes equals redis-server's."""
    fanout = start_fanout_on(directory, "--save", "")
    # its own redis-server: SAVE writes into its --dir (the session one's is the cwd)
    redis = start_redis_on(tempfile.mkdtemp(prefix="fanout-rdb-redis-", dir=directory))
    try:
        counts = []
        for port in (redis.port, fanout.port):
            with RespClient(port) as client:
                client.call("FLUSHALL")
                client.call("SAVE")
                for command in (("SET", "a", 1), ("INCR", "a"), ("GET", "a"), ("LPUSH", "l", "x"),
                                ("SADD", "s", "m"), ("DEL", "a"), ("EXISTS", "l"), ("SET", "b", "2"),
                                ("HSET", "h", "f", "v")):
                    client.call(*command)
                counts.append(_info(client)["rdb_changes_since_last_save"])
                client.call("SAVE")
                counts.append(_info(client)["rdb_changes_since_last_save"])
        assert counts[:2] == counts[2:] == ["7", "0"]
    finally:
        _stop(fanout)
        _stop(redis)


# ------------------------------------------------------------------ commands and schedule


def test_bgsave_forks_and_the_server_keeps_serving(directory: str) -> None:
    fanout = start_fanout_on(directory, "--save", "")
    try:
        with RespClient(fanout.port) as client:
            for i in range(0, 20000, 1000):
                client.call("MSET", *[x for j in range(i, i + 1000) for x in (f"key:{j}", f"value:{j}")])
            before = client.call("LASTSAVE")
            assert client.call("BGSAVE") == b"Background saving started"
            second = client.call("BGSAVE")
            assert second in (RespError("ERR Background save already in progress"), b"Background saving started")
            assert client.call("PING") == b"PONG"
            assert client.call("SET", "during", "save") == b"OK"
            fanout.wait_for_output(SAVED, count=2 if second == b"Background saving started" else 1)
            assert _info(client)["rdb_bgsave_in_progress"] == "0"
            info = _info(client)
            assert info["rdb_last_bgsave_status"] == "ok"
            assert int(info["rdb_last_bgsave_time_sec"]) >= 0
            assert client.call("LASTSAVE") >= before
            assert client.call("BGSAVE", "NOW") == RespError("ERR syntax error")
            assert not [name for name in os.listdir(directory) if name.startswith("temp-")]
        report = check_rdb(os.path.join(directory, "dump.rdb"))
        assert "20000 keys read" in report or "20001 keys read" in report
    finally:
        _stop(fanout)
    output = fanout.log()
    assert "Background saving started by pid" in output
    assert "Background saving terminated with success" in output


def test_save_schedule_snapshots_after_changes(directory: str) -> None:
    fanout = start_fanout_on(directory, "--save", "")
    try:
        with RespClient(fanout.port) as client:
            assert client.call("CONFIG", "GET", "save") == [b"save", b""]
            assert client.call("CONFIG", "SET", "save", "1 2") == b"OK"
            assert client.call("CONFIG", "SET", "save", "1 x") == RespError(
                "ERR CONFIG SET failed (possibly related to argument 'save') - Invalid save parameters")
            client.call("SET", "one", "1")
            path = os.path.join(directory, "dump.rdb")
            client.call("SET", "two", "2")
            fanout.wait_for_output(SAVED)  # the schedule's BGSAVE, a second after the changes
            assert os.path.exists(path) and _info(client)["rdb_changes_since_last_save"] == "0"
        check_rdb(path)
    finally:
        _stop(fanout)


def test_default_schedule_saves_on_sigterm_and_restart_restores(directory: str) -> None:
    """With Redis's default schedule, SIGTERM snapshots; the next start has the data."""
    server = start_fanout("broker", "--port", str(free_port()), "--dir", directory,
                          "--save", "3600 1 300 100 60 10000")
    try:
        with RespClient(server.port) as client:
            assert client.call("CONFIG", "GET", "save") == [b"save", b"3600 1 300 100 60 10000"]
            assert client.call("CONFIG", "GET", "dir") == [b"dir", os.path.realpath(directory).encode()]
            client.call("SET", "survives", "yes")
            client.call("ZADD", "board", 5, "ann")
    finally:
        assert server.stop(signal.SIGTERM) == 0
    check_rdb(os.path.join(directory, "dump.rdb"))
    again = start_fanout_on(directory, "--save", "")
    try:
        with RespClient(again.port) as client:
            assert client.call("GET", "survives") == b"yes"
            assert client.call("ZSCORE", "board", "ann") == b"5"
    finally:
        _stop(again)


def test_shutdown_command(directory: str) -> None:
    server = start_fanout_on(directory, "--save", "")
    with RespClient(server.port) as client:
        client.call("SET", "a", "1")
        assert client.call("SHUTDOWN", "ABORT") == RespError("ERR No shutdown in progress.")
        assert client.call("SHUTDOWN", "SAVE", "NOSAVE") == RespError("ERR syntax error")
        client.send("SHUTDOWN", "SAVE")
        with pytest.raises((ConnectionError, OSError, EOFError, Exception)):
            client.read()
    assert server.process.wait(timeout=10) == 0
    again = start_fanout_on(directory, "--save", "")
    try:
        with RespClient(again.port) as client:
            assert client.call("GET", "a") == b"1"
            client.call("SET", "a", "2")
            client.send("SHUTDOWN", "NOSAVE")
            with pytest.raises(Exception):
                client.read()
        assert again.process.wait(timeout=10) == 0
    finally:
        _stop(again)
    third = start_fanout_on(directory, "--save", "")
    try:
        with RespClient(third.port) as client:
            assert client.call("GET", "a") == b"1"  # NOSAVE kept the old snapshot
    finally:
        _stop(third)


# ------------------------------------------------------------------ faults


@pytest.fixture
def small_disk() -> Iterator[str]:
    """A 1 MB tmpfs (the tests run as root, as scripts/test does)."""
    path = tempfile.mkdtemp(prefix="fanout-disk-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", path], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", path], check=False)
        os.rmdir(path)


def _good_snapshot(client: RespClient) -> None:
    client.call("SET", "good", "old")
    assert client.call("SAVE") == b"OK"


def _assert_misconf(client: RespClient) -> None:
    info = _info(client)
    assert info["rdb_last_bgsave_status"] == "err"
    refusal = client.call("SET", "x", "1")
    assert isinstance(refusal, RespError) and refusal.message.startswith(
        "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk.")
    assert client.call("PING") == refusal
    assert client.call("GET", "good") == b"old"  # reads still work
    client.call("CONFIG", "SET", "stop-writes-on-bgsave-error", "no")
    assert client.call("SET", "x", "1") == b"OK"
    client.call("CONFIG", "SET", "stop-writes-on-bgsave-error", "yes")


def test_full_disk_fails_bgsave_with_misconf_and_keeps_the_old_file(small_disk: str) -> None:
    server = start_fanout_on(small_disk, "--save", "")
    try:
        with RespClient(server.port) as client:
            _good_snapshot(client)
            with open(os.path.join(small_disk, "dump.rdb"), "rb") as handle:
                old = handle.read()
            client.call("CONFIG", "SET", "save", "3600 1")
            client.call("CONFIG", "SET", "rdbcompression", "no")
            client.call("SET", "big", os.urandom(1500_000).hex()[:1500_000])
            assert client.call("BGSAVE") == b"Background saving started"
            server.wait_for_output(FAILED)
            assert _info(client)["rdb_bgsave_in_progress"] == "0"
            _assert_misconf(client)
            assert client.call("SAVE") == RespError("ERR")
        with open(os.path.join(small_disk, "dump.rdb"), "rb") as handle:
            assert handle.read() == old
        assert os.listdir(small_disk) == ["dump.rdb"]  # no temp file left behind
    finally:
        _stop(server)
    output = server.log()
    assert "No space left on device" in output and "Background saving error" in output


def test_read_only_disk_fails_bgsave_with_misconf(small_disk: str) -> None:
    server = start_fanout_on(small_disk, "--save", "")
    try:
        with RespClient(server.port) as client:
            _good_snapshot(client)
            subprocess.run(["mount", "-o", "remount,ro", small_disk], check=True)
            client.call("CONFIG", "SET", "save", "3600 1")
            assert client.call("BGSAVE") == b"Background saving started"
            server.wait_for_output(FAILED)
            assert _info(client)["rdb_bgsave_in_progress"] == "0"
            _assert_misconf(client)
            # A successful save (the disk is back) lifts the refusal.
            subprocess.run(["mount", "-o", "remount,rw", small_disk], check=True)
            since = len(server.output)
            assert client.call("BGSAVE") == b"Background saving started"
            server.wait_for_output(SAVED, since=since)
            assert _info(client)["rdb_last_bgsave_status"] == "ok"
            assert client.call("SET", "y", "2") == b"OK"
    finally:
        _stop(server)
    output = server.log()
    assert "Read-only file system" in output


def test_sigkill_during_a_large_save_leaves_the_old_file(directory: str) -> None:
    server = start_fanout_on(directory, "--save", "")
    path = os.path.join(directory, "dump.rdb")
    try:
        with RespClient(server.port) as client:
            _good_snapshot(client)
            with open(path, "rb") as handle:
                old = handle.read()
            for i in range(0, 300_000, 5000):
                client.call("MSET", *[x for j in range(i, i + 5000) for x in (f"k{j}", f"v{j}" * 4)])
            assert client.call("BGSAVE") == b"Background saving started"
            # the child creates it and says nothing: look until it is there
            poll(lambda: any(name.startswith("temp-") for name in os.listdir(directory)), "the child's temp file")
    finally:
        # the whole process group: server and its BGSAVE child die mid-save
        server.process.kill()
        server.process.wait()
        for line in server.wait_for_output(re.compile(r"Background saving started by pid \d+"), timeout=10):
            match = re.search(r"Background saving started by pid (\d+)", line)
            if match:
                try:
                    os.kill(int(match.group(1)), signal.SIGKILL)
                except ProcessLookupError:
                    pass
    with open(path, "rb") as handle:
        current = handle.read()
    if current != old:  # the child finished its rename before the kill: still a whole file
        check_rdb(path)
    again = start_fanout_on(directory, "--save", "")
    try:
        with RespClient(again.port) as client:
            assert client.call("GET", "good") == b"old"
    finally:
        _stop(again)


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupt_snapshot_refuses_to_start_naming_the_offset(directory: str, damage: str) -> None:
    fanout = start_fanout_on(directory, "--save", "")
    try:
        with RespClient(fanout.port) as client:
            fill_corpus(client, _now_ms())
            client.call("SAVE")
    finally:
        _stop(fanout)
    path = os.path.join(directory, "dump.rdb")
    with open(path, "rb") as handle:
        data = bytearray(handle.read())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
    else:
        del data[len(data) // 2:]
    with open(path, "wb") as handle:
        handle.write(data)
    result = subprocess.run(
        [__import__("sys").executable, "-m", "gateway.cli", "broker", "--port", str(free_port()),
         "--dir", directory, "--save", ""], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"cannot load {path}" in result.stderr and "offset" in result.stderr, result.stderr
    with open(path, "rb") as handle:
        assert handle.read() == bytes(data)  # untouched


# ------------------------------------------------------------------ consumer groups


def test_stream_consumer_groups_round_trip_with_redis_server(directory: str) -> None:
    """A redis-server snapshot of a stream with groups, PELs and consumers: loaded
    into fanout with everything XINFO STREAM FULL shows, saved back and loaded by
    redis-server equal again; a build without consumer groups refuses it, naming
    the key, and loads nothing."""
    redis = start_redis_on(directory)
    try:
        with RespClient(redis.port) as client:
            for i in range(1, 6):
                client.call("XADD", "jobs", f"{i}-1", "n", i)
            client.call("XGROUP", "CREATE", "jobs", "workers", "0")
            client.call("XREADGROUP", "GROUP", "workers", "alice", "COUNT", 2, "STREAMS", "jobs", ">")
            client.call("XACK", "jobs", "workers", "1-1")
            client.call("XREADGROUP", "GROUP", "workers", "bob", "COUNT", 2, "STREAMS", "jobs", ">")
            client.call("XGROUP", "CREATE", "jobs", "late", "$")
            client.call("XGROUP", "CREATECONSUMER", "jobs", "late", "idle")
            client.call("SET", "other", "x")
            assert client.call("SAVE") == b"OK"
            full = client.call("XINFO", "STREAM", "jobs", "FULL")
    finally:
        _stop(redis)
    fanout = start_fanout_on(directory, "--save", "")
    try:
        with RespClient(fanout.port) as client:
            assert client.call("XINFO", "STREAM", "jobs", "FULL") == full
            assert client.call("SAVE") == b"OK"
    finally:
        _stop(fanout)
    check_rdb(os.path.join(directory, "dump.rdb"))
    redis = start_redis_on(directory)
    try:
        with RespClient(redis.port) as client:
            assert client.call("XINFO", "STREAM", "jobs", "FULL") == full
    finally:
        _stop(redis)


# ------------------------------------------------------------------ function libraries

LIBRARY = "#!lua name=counters\nredis.register_function('bump', function(keys) return redis.call('INCR', keys[1]) end)"


def _scripting_supported() -> bool:
    try:
        import broker.scripting  # noqa: F401
    except ImportError:
        return False
    return True


def test_function_libraries_round_trip_or_are_refused(directory: str) -> None:
    """A redis-server snapshot with a FUNCTION library: fanout loads it (FCALL works)
    and saves it back for redis-server; a build without scripting refuses the file
    with a clear message and loads nothing."""
    redis = start_redis_on(directory)
    try:
        with RespClient(redis.port) as client:
            assert client.call("FUNCTION", "LOAD", LIBRARY) == b"counters"
            client.call("SET", "n", "41")
            assert client.call("SAVE") == b"OK"
            listing = client.call("FUNCTION", "LIST", "WITHCODE")
    finally:
        _stop(redis)
    if not _scripting_supported():
        result = subprocess.run(
            [__import__("sys").executable, "-m", "gateway.cli", "broker", "--port", str(free_port()),
             "--dir", directory, "--save", ""], capture_output=True, text=True, timeout=60)
        assert result.returncode == 1
        assert "function library" in result.stderr and "no scripting" in result.stderr, result.stderr
        return
    fanout = start_fanout_on(directory, "--save", "")
    try:
        with RespClient(fanout.port) as client:
            assert client.call("FUNCTION", "LIST", "WITHCODE") == listing
            assert client.call("FCALL", "bump", 1, "n") == 42
            assert client.call("SAVE") == b"OK"
    finally:
        _stop(fanout)
    check_rdb(os.path.join(directory, "dump.rdb"))
    redis = start_redis_on(directory)
    try:
        with RespClient(redis.port) as client:
            assert client.call("FUNCTION", "LIST", "WITHCODE") == listing
            assert client.call("GET", "n") == b"42"
    finally:
        _stop(redis)


def test_flushall_with_a_schedule_saves_the_empty_dataset(directory: str) -> None:
    """As Redis's flushAllDataAndResetRDB: a restart must not bring flushed keys back."""
    fanout = start_fanout_on(directory, "--save", "3600 1")
    try:
        with RespClient(fanout.port) as client:
            client.call("SET", "k", "v")
            assert client.call("SAVE") == b"OK"
            assert client.call("FLUSHALL") == b"OK"
    finally:
        fanout.process.kill()  # no shutdown save: the file is what FLUSHALL wrote
        fanout.process.wait()
    assert "0 keys read" in check_rdb(os.path.join(directory, "dump.rdb"))
