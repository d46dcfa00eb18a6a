"""RedisBackend pieces that need no server: reconnect delays, error codes, URL parsing."""

from __future__ import annotations

import itertools

from redis.exceptions import NoScriptError, ResponseError

from broker.backends.pubsub_link import command_error
from broker.backends.redis import RedisBackend, backoff_delays


def test_backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() -> None:
    upper = list(itertools.islice(backoff_delays(0.05, 2.0, rand=lambda low, high: high), 9))
    assert upper == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0]
    lower = list(itertools.islice(backoff_delays(0.05, 2.0, rand=lambda low, high: low), 3))
    assert lower == [0.025, 0.05, 0.1]
    real = list(itertools.islice(backoff_delays(0.05, 2.0), 50))
    assert all(0.025 <= d <= 2.0 for d in real) and max(real) > 1.0


def test_command_error_puts_back_the_code_redis_py_strips() -> None:
    assert str(command_error(ResponseError("unknown command 'X'", status_code="ERR"))) == "ERR unknown command 'X'"
    assert str(command_error(NoScriptError("No matching script.", status_code="NOSCRIPT"))).startswith("NOSCRIPT ")
    assert str(command_error(ResponseError("WRONGTYPE Operation"))) == "WRONGTYPE Operation"


def test_urls_name_the_address_errors_will_mention() -> None:
    assert RedisBackend("redis://10.1.2.3:7000/2").address == "10.1.2.3:7000"
    assert RedisBackend("redis://localhost").address == "localhost:6379"
    assert RedisBackend("unix:///run/fanout.sock?db=1").address == "/run/fanout.sock"
    assert RedisBackend("redis+cluster://127.0.0.1:7100").cluster
