"""The fixed-rate latency step's arithmetic, kept apart from sockets and clocks so it is tested
(tests/unit/test_bench_latency.py): which connections to time, the merge of the load
generators' reports, and the percentiles, with an error naming why a step has no samples
instead of a nan.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

# Samples wanted per fixed-rate step: enough that the 99th percentile is the 300th-worst
# of them, not the second-worst of ~120 (what timing the first 20 connections gave).
TARGET_SAMPLES = 30_000


class NoSamples(RuntimeError):
    """A latency step that timed nothing; the message says why."""


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank ``fraction`` quantile (0.99: the value 99% of samples do not exceed)."""
    if not values:
        raise NoSamples("no latency samples")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction {fraction} not in [0, 1]")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def timing_stride(deliveries_per_s: float, seconds: float, target: int = TARGET_SAMPLES) -> int:
    """Time every message of one connection in ``stride`` (by index), so that a step of
    ``seconds`` at ``deliveries_per_s`` gives about ``target`` samples (at least that many
    while the stride is 1). Spread by index, the sample holds the connections a server
    writes last as well as those it writes first."""
    if deliveries_per_s <= 0 or seconds <= 0:
        raise ValueError("the rate and the length of the step must be positive")
    return max(1, int(deliveries_per_s * seconds / target))


def merge_samples(reports: Sequence[Mapping[str, Any]], expected: int) -> list[float]:
    """The latency samples of the load generators' ``report``s for a step that published
    ``expected`` deliveries; raises NoSamples naming the cause when there are none, and
    when deliveries are missing (a lost delivery is a latency the samples would not show;
    a connection the server closed, in this step or before, loses all of its)."""
    latencies = [value for report in reports for value in report["latencies"]]
    delivered = sum(report["deliveries"] for report in reports)
    closed = sum(report.get("closed", 0) for report in reports)
    codes: dict[str, int] = {}
    for report in reports:
        for code, n in report.get("close_codes", {}).items():
            codes[code] = codes.get(code, 0) + n
    lost = f"; the server closed {closed} connections (close codes {codes or 'none'})" if closed else ""
    gaps = sum(report.get("gaps", 0) for report in reports)
    lost += f"; {gaps} gap notices (events the server skipped) to timed connections" if gaps else ""
    if expected <= 0:
        raise NoSamples("the step published nothing (a rate below one publish in the step?)")
    if delivered < expected:
        raise NoSamples(f"{expected - delivered:,} of {expected:,} deliveries did not arrive before the deadline "
                        f"(the server fell behind the rate, or dropped them){lost}")
    if not latencies:
        raise NoSamples(f"{delivered:,} deliveries arrived but none to a timed connection{lost}")
    return latencies
