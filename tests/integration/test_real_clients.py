"""Real clients end to end against `fanout broker`: redis-cli and redis-py (sync, asyncio, RESP2/3)."""

from __future__ import annotations

import asyncio
import subprocess

import pytest
import redis
import redis.asyncio as aioredis


def _read_line_until(process: subprocess.Popen[str], wanted: str, limit: int = 200) -> list[str]:
    assert process.stdout is not None
    lines = []
    for _ in range(limit):
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if wanted in line:
            return lines
    raise AssertionError(f"never saw {wanted!r}; got {lines}")


def test_redis_cli_commands_and_inline_stdin(fanout_broker):
    port = str(fanout_broker.port)
    assert subprocess.run(["redis-cli", "-p", port, "SET", "greeting", "hello world"],
                          capture_output=True, text=True, timeout=10).stdout.strip() == "OK"
    out = subprocess.run(["redis-cli", "-p", port, "GET", "greeting"], capture_output=True, text=True, timeout=10)
    assert out.stdout.strip() == "hello world"
    piped = subprocess.run(["redis-cli", "-p", port], input="INCR visits\nINCR visits\nGET greeting\n",
                           capture_output=True, text=True, timeout=10)
    assert piped.stdout.split("\n")[:3] == ["1", "2", "hello world"]
    error = subprocess.run(["redis-cli", "-p", port, "NOSUCH"], capture_output=True, text=True, timeout=10)
    assert "ERR unknown command 'NOSUCH'" in error.stdout
    listing = subprocess.run(["redis-cli", "-p", port, "CLIENT", "LIST"], capture_output=True, text=True, timeout=10)
    assert " cmd=client|list " in listing.stdout


def test_redis_cli_pipe_mass_insertion_gets_every_reply(fanout_broker):
    # --pipe ends with "\r\n" and an ECHO of 20 random bytes, right after the last
    # request: an empty inline line mid-read that must not look like garbage.
    port = str(fanout_broker.port)
    subprocess.run(["redis-cli", "-p", port, "DEL", *[f"mass:{n}" for n in range(5)]], capture_output=True, timeout=10)
    data = "".join(f"*3\r\n$3\r\nSET\r\n${len(f'mass:{n}')}\r\nmass:{n}\r\n$1\r\nv\r\n" for n in range(20_000))
    done = subprocess.run(["redis-cli", "-p", port, "--pipe"], input=data, capture_output=True, text=True, timeout=60)
    assert "errors: 0, replies: 20000" in done.stdout, done.stdout + done.stderr
    last = subprocess.run(["redis-cli", "-p", port, "GET", "mass:19999"], capture_output=True, text=True, timeout=10)
    assert last.stdout.strip() == "v"


@pytest.mark.parametrize("mode", ["SUBSCRIBE", "PSUBSCRIBE"])
def test_redis_cli_subscribe_receives_published_messages(fanout_broker, mode):
    port = str(fanout_broker.port)
    target = "alerts" if mode == "SUBSCRIBE" else "alert*"
    process = subprocess.Popen(["redis-cli", "-p", port, mode, target], stdout=subprocess.PIPE, text=True)
    try:
        _read_line_until(process, "1")  # the subscription count: subscribed
        client = redis.Redis(port=fanout_broker.port)
        assert client.publish("alerts", "disk full") == 1
        lines = _read_line_until(process, "disk full")
        assert "alerts" in lines
    finally:
        process.kill()
        process.wait()


def test_redis_cli_csv_keyspace_events(fanout_broker):
    port = str(fanout_broker.port)
    client = redis.Redis(port=fanout_broker.port)
    client.config_set("notify-keyspace-events", "KEA")
    process = subprocess.Popen(["redis-cli", "-p", port, "--csv", "psubscribe", "__key*__:*"],
                               stdout=subprocess.PIPE, text=True)
    try:
        _read_line_until(process, "psubscribe")
        client.hset("user:1", "name", "ada")
        lines = _read_line_until(process, '"__keyevent@0__:hset","user:1"')
        assert any('"__keyspace@0__:user:1","hset"' in line for line in lines)
    finally:
        process.kill()
        process.wait()
        client.config_set("notify-keyspace-events", "")


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_sync_commands_pipeline_and_transaction(fanout_broker, protocol):
    client = redis.Redis(port=fanout_broker.port, protocol=protocol, decode_responses=True)
    client.flushall()
    assert client.set("a", "1") is True
    assert client.incr("a") == 2
    assert client.hset("h", mapping={"x": "1", "y": "2"}) == 2
    assert client.hgetall("h") == {"x": "1", "y": "2"}
    assert client.zadd("board", {"alice": 10, "bob": 20}) == 2
    assert [list(pair) for pair in client.zrevrange("board", 0, -1, withscores=True)] == [["bob", 20.0],
                                                                                            ["alice", 10.0]]
    with client.pipeline() as pipe:
        pipe.watch("a")
        value = int(pipe.get("a"))
        pipe.multi()
        pipe.set("a", value + 10)
        pipe.get("a")
        assert pipe.execute() == [True, "12"]
    with client.pipeline(transaction=False) as pipe:
        for i in range(100):
            pipe.rpush("list", i)
        assert pipe.execute()[-1] == 100
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        client.get("h")
    client.close()


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_pubsub_listen_get_message_and_handlers(fanout_broker, protocol):
    client = redis.Redis(port=fanout_broker.port, protocol=protocol)
    pubsub = client.pubsub()
    pubsub.subscribe("updates")
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"
    handled = []
    pubsub.psubscribe(**{"upd*": lambda message: handled.append(message["data"])})
    assert pubsub.get_message(timeout=5)["type"] == "psubscribe"
    publisher = redis.Redis(port=fanout_broker.port)
    assert publisher.publish("updates", "v1") == 2
    messages = []
    for message in pubsub.listen():
        if message["type"] == "message":
            messages.append(message["data"])
            break
    pubsub.get_message(timeout=5)  # runs the pattern handler
    assert messages == [b"v1"]
    assert handled == [b"v1"]
    pubsub.close()
    client.close()


@pytest.mark.parametrize("protocol", [2, 3])
async def test_redis_py_asyncio_pubsub_and_commands(fanout_broker, protocol):
    client = aioredis.Redis(port=fanout_broker.port, protocol=protocol)
    pubsub = client.pubsub()
    await pubsub.psubscribe("room:*")
    confirmation = await pubsub.get_message(timeout=5)
    assert confirmation["type"] == "psubscribe"
    await client.publish("room:1", "hi")

    async def next_message():
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
            if message is not None:
                return message

    message = await asyncio.wait_for(next_message(), 10)
    assert (message["pattern"], message["channel"], message["data"]) == (b"room:*", b"room:1", b"hi")
    await client.delete("events")
    assert await client.xadd("events", {"k": "v"}, id="1-1") == b"1-1"
    assert await client.xrange("events") == [(b"1-1", {b"k": b"v"})]
    await pubsub.aclose()
    await client.aclose()
