"""broker.fdlimit: the descriptor budget reads the limit rarely, yet a change counts soon."""

from __future__ import annotations

import random

from broker.fdlimit import BASE, REFRESH, FdBudget


class Limit:
    """A settable descriptor limit that counts its reads."""

    def __init__(self, value: int) -> None:
        self.value = value
        self.reads = 0

    def __call__(self) -> int:
        self.reads += 1
        return self.value


def budget(limit: Limit, http: list[int], resp: list[int]) -> FdBudget:
    fds = FdBudget(limit)
    fds.register("http", lambda: http[0])
    fds.register("resp", lambda: resp[0])
    return fds


def test_far_below_the_limit_it_is_read_once_per_refresh() -> None:
    limit = Limit(1 << 20)
    fds = budget(limit, [10], [10])
    assert all(fds.admit("http") for _ in range(REFRESH * 4))
    assert limit.reads == 4


def test_a_lowered_limit_counts_within_refresh_admits() -> None:
    limit, http, resp = Limit(1 << 20), [0], [0]
    fds = budget(limit, http, resp)
    assert fds.admit("http")
    limit.value = 1024
    usable = 1024 - 32 - BASE
    http[0] = usable  # the HTTP port holds them all; RESP is under its share
    answers = [fds.admit("http") for _ in range(REFRESH + 1)]
    assert answers[-1] is False and answers.count(False) >= 1
    assert fds.admit("resp")


def test_a_raised_limit_is_read_before_refusing() -> None:
    limit, http, resp = Limit(1024), [1024], [0]
    fds = budget(limit, http, resp)
    assert not fds.admit("http")
    limit.value = 1 << 20
    assert fds.admit("http")  # at once, not REFRESH admits later


def test_the_decisions_are_the_ones_of_a_fresh_read() -> None:
    # Differential: connections admitted and closed at random up to the limit and
    # back, the cached budget against the rule evaluated afresh on every admit.
    rng = random.Random(15)
    limit = Limit(1024)
    counts = {"http": [0], "resp": [0]}
    fds = budget(limit, counts["http"], counts["resp"])
    usable = 1024 - 32 - BASE
    refused = 0
    for step in range(20000):
        port = rng.choice(("http", "http", "resp"))
        if rng.random() < (0.3 if step % 4000 < 2000 else 0.7):  # filling, then draining
            own = counts[port]
            if own[0]:
                own[0] -= 1
            continue
        total = counts["http"][0] + counts["resp"][0]
        expected = total < usable or counts[port][0] < usable // 2
        assert fds.admit(port) is expected, (step, port, counts)
        if expected:
            counts[port][0] += 1
        else:
            refused += 1
    assert refused  # the run reached the limit
