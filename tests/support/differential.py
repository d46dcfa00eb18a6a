"""Differential testing: run the same commands on redis-server and on our broker.

``assert_same_replies(redis_port, fanout_port, script)`` flushes both servers,
runs ``script`` (a list of argv tuples) on one fresh connection to each, and
fails at the first reply that differs, naming the command.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from tests.support.resp_client import RespClient

__all__ = ["assert_same_replies", "keyspace_events", "run_script"]

Command = Sequence[bytes | str | int | float]


def run_script(port: int, script: Sequence[Command], protocol: int = 2) -> list[Any]:
    with RespClient(port, protocol=protocol) as client:
        client.call("FLUSHALL")
        return [client.call(*command) for command in script]


def assert_same_replies(redis_port: int, fanout_port: int, script: Sequence[Command],
                        protocol: int = 2, normalize: Callable[[Command, Any], Any] | None = None) -> list[Any]:
    """Returns redis-server's replies (after checking ours are equal)."""
    expected = run_script(redis_port, script, protocol)
    actual = run_script(fanout_port, script, protocol)
    for index, command in enumerate(script):
        want, got = expected[index], actual[index]
        if normalize is not None:
            want, got = normalize(command, want), normalize(command, got)
        assert got == want, (
            f"reply #{index} to {' '.join(map(str, command))!r} differs:\n"
            f"  redis-server: {want!r}\n  fanout:       {got!r}")
    return expected


def keyspace_events(port: int, script: Sequence[Command], flags: str = "KEA") -> list[Any]:
    """Keyspace/keyevent messages seen while ``script`` runs, up to a marker publish.

    One connection runs the script after ``CONFIG SET notify-keyspace-events``;
    another, subscribed to ``__key*__:*`` and to ``done``, reads until the final
    ``PUBLISH done x`` arrives, so nothing is waited for by time.
    """
    with RespClient(port) as admin, RespClient(port) as subscriber:
        admin.call("FLUSHALL")
        admin.call("CONFIG", "SET", "notify-keyspace-events", flags)
        subscriber.call("PSUBSCRIBE", "__key*__:*")
        subscriber.call("SUBSCRIBE", "done")
        for command in script:
            admin.call(*command)
        admin.call("PUBLISH", "done", "x")
        seen: list[Any] = []
        for _ in range(100_000):
            message = subscriber.read()
            if message[0] == b"message" and message[1] == b"done":
                break
            seen.append(message)
        else:
            raise AssertionError("no end marker")
        admin.call("CONFIG", "SET", "notify-keyspace-events", "")
        return seen
