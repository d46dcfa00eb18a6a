"""Differential testing: run the same commands on redis-server and on our broker.

``assert_same_replies(redis_port, fanout_port, script)`` flushes both servers,
runs ``script`` (a list of argv tuples) on one fresh connection to each, and
fails at the first reply that differs, naming the command.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from tests.support.resp_client import RespClient

__all__ = ["assert_same_replies", "run_script"]

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
