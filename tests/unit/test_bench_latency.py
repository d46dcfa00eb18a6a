"""bench/latency.py: the fixed-rate latency step's percentiles, timing stride and the
errors that replace a nan when a step timed nothing (no sockets or clocks involved)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from latency import TARGET_SAMPLES, NoSamples, merge_samples, percentile, timing_stride  # noqa: E402


def report(latencies: list[float], deliveries: int, closed: int = 0,
           codes: dict[str, int] | None = None, gaps: int = 0) -> dict[str, object]:
    return {"latencies": latencies, "deliveries": deliveries, "cpu": 0.0, "closed": closed,
            "close_codes": codes or {}, "gaps": gaps}


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100, shuffled order must not matter
    values.reverse()
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile(values, 0.0) == 1.0
    assert percentile([7.0], 0.99) == 7.0
    # 120 samples (what 20 timed connections gave): the p99 is the second-worst.
    assert percentile([float(v) for v in range(120)], 0.99) == 118.0


def test_percentile_of_nothing_is_an_error_not_a_nan() -> None:
    with pytest.raises(NoSamples):
        percentile([], 0.99)
    with pytest.raises(ValueError):
        percentile([1.0], 99)


def test_timing_stride_gives_the_target_samples() -> None:
    # rooms: 20,000 deliveries/s for 3 s -> every other connection, 30,000 samples.
    assert timing_stride(20_000, 3) == 2
    # one channel of 10,000 at 100,000/s for 3 s -> every 10th connection (1,000 of them).
    assert timing_stride(100_000, 3) == 10
    # a slow step times every connection, however few samples that is.
    assert timing_stride(1_000, 1) == 1
    for rate, seconds in ((20_000, 3), (100_000, 3), (100_000, 4), (55_555, 2.5)):
        samples = rate * seconds / timing_stride(rate, seconds)
        assert TARGET_SAMPLES <= samples < 2 * TARGET_SAMPLES
    with pytest.raises(ValueError):
        timing_stride(0, 3)


def test_merge_samples_joins_the_load_generators() -> None:
    merged = merge_samples([report([1.0, 2.0], 10), report([3.0], 10)], expected=20)
    assert sorted(merged) == [1.0, 2.0, 3.0]


def test_merge_samples_names_missing_deliveries_and_closed_connections() -> None:
    with pytest.raises(NoSamples, match=r"5 of 20 deliveries did not arrive.*closed 3 connections.*'1013': 3"):
        merge_samples([report([1.0], 10, closed=3, codes={"1013": 3}), report([], 5)], expected=20)
    with pytest.raises(NoSamples, match="20 of 20 deliveries did not arrive"):
        merge_samples([report([], 0), report([], 0)], expected=20)
    with pytest.raises(NoSamples, match="2 of 20 deliveries.*; 2 gap notices"):
        merge_samples([report([1.0] * 18, 18, gaps=2)], expected=20)


def test_merge_samples_with_no_timed_delivery_or_nothing_published() -> None:
    with pytest.raises(NoSamples, match="none to a timed connection"):
        merge_samples([report([], 20)], expected=20)
    with pytest.raises(NoSamples, match="published nothing"):
        merge_samples([report([], 0)], expected=0)
