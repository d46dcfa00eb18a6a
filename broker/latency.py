"""The latency monitor and the per-command latency histograms (sans-I/O).

After Redis's ``latency.c``: an event ("command", "fast-command", "expire-cycle")
whose latency reached ``latency-monitor-threshold`` milliseconds is kept in a time
series of its last 160 seconds (one sample per second, the highest), with its
all-time maximum; LATENCY LATEST/HISTORY/RESET/GRAPH/DOCTOR read them.

The histograms behind LATENCY HISTOGRAM and INFO latencystats count a command's
durations by power of two of nanoseconds, which is what LATENCY HISTOGRAM shows
(Redis's HdrHistogram iterated in doubling buckets from 1024 ns) and what the
percentiles are read from when INFO asks (never on the command path).
"""

from __future__ import annotations

import math
from typing import Iterable

__all__ = ["LatencyMonitor", "TS_LEN", "histogram_cdf", "percentile_us", "add_samples"]

TS_LEN = 160  # LATENCY_TS_LEN
GRAPH_COLS = 80
# Redis's histograms span 1 ns .. 1 s (LATENCY_HISTOGRAM_MAX_VALUE): longer is 1 s
_MAX_BUCKET = 30  # 2**30 ns > 1 s


def add_samples(histogram: list[int], duration_ns: int, count: int) -> None:
    """Count ``count`` durations of ``duration_ns`` in a histogram (31 buckets)."""
    bucket = duration_ns.bit_length()
    histogram[bucket if bucket < _MAX_BUCKET else _MAX_BUCKET] += count


def histogram_cdf(histogram: list[int]) -> tuple[int, dict[int, int]]:
    """(calls, {microseconds: cumulative count}) as LATENCY HISTOGRAM answers: doubling
    buckets from 1024 ns, empty ones left out (``fillCommandCDF``)."""
    total = sum(histogram)
    out: dict[int, int] = {}
    cumulative = previous = 0
    # bucket b (durations below 2**b ns) reported at 1024 * 2**k ns, the first that holds it
    below = sum(histogram[:11])
    cumulative = below
    if cumulative > previous:
        out[1] = cumulative
    previous = cumulative
    for bucket in range(11, _MAX_BUCKET + 1):
        cumulative += histogram[bucket]
        if cumulative > previous:
            out[(1 << bucket) // 1000] = cumulative
        previous = cumulative
    return total, out


def percentile_us(histogram: list[int], percentile: float) -> float:
    """The duration (microseconds) at ``percentile`` of a histogram: the top of the
    bucket where that rank falls, as hdr_value_at_percentile gives its bucket's
    highest equivalent value."""
    total = sum(histogram)
    if not total:
        return 0.0
    rank = max(1, math.ceil(total * min(percentile, 100.0) / 100.0))
    seen = 0
    for bucket, count in enumerate(histogram):
        seen += count
        if seen >= rank:
            return ((1 << bucket) - 1) / 1000.0 if bucket else 0.0
    return ((1 << _MAX_BUCKET) - 1) / 1000.0


class _Series:
    __slots__ = ("samples", "idx", "max")

    def __init__(self) -> None:
        # (unix time, latency ms); time 0: empty slot
        self.samples: list[tuple[int, int]] = [(0, 0)] * TS_LEN
        self.idx = 0
        self.max = 0


class LatencyMonitor:
    """Latency events by name, in the order they first happened."""

    def __init__(self) -> None:
        self.events: dict[str, _Series] = {}
        # latency-monitor-threshold in milliseconds (0: off)
        self.threshold = 0

    def add_if_needed(self, event: str, latency_ms: int, now_s: int) -> None:
        """latencyAddSampleIfNeeded."""
        if self.threshold and latency_ms >= self.threshold:
            self.add(event, latency_ms, now_s)

    def add(self, event: str, latency_ms: int, now_s: int) -> None:
        """latencyAddSample: one sample per second, the highest of that second."""
        series = self.events.get(event)
        if series is None:
            series = self.events[event] = _Series()
        if latency_ms > series.max:
            series.max = latency_ms
        prev = (series.idx + TS_LEN - 1) % TS_LEN
        when, latency = series.samples[prev]
        if when == now_s:
            if latency_ms > latency:
                series.samples[prev] = (when, latency_ms)
            return
        series.samples[series.idx] = (now_s, latency_ms)
        series.idx = (series.idx + 1) % TS_LEN

    def reset(self, events: Iterable[bytes] | None = None) -> int:
        """LATENCY RESET [event ...]: how many events were dropped."""
        if events is None:
            dropped = len(self.events)
            self.events.clear()
            return dropped
        dropped = 0
        for name in events:
            wanted = name.decode("utf-8", "replace").lower()
            for event in [event for event in self.events if event.lower() == wanted]:
                del self.events[event]
                dropped += 1
        return dropped

    def latest(self) -> list[list[object]]:
        out: list[list[object]] = []
        for event, series in self.events.items():
            when, latency = series.samples[(series.idx + TS_LEN - 1) % TS_LEN]
            out.append([event.encode(), when, latency, series.max])
        return out

    def history(self, event: bytes) -> list[list[int]]:
        series = self.events.get(event.decode("utf-8", "replace"))
        if series is None:
            return []
        out = []
        for j in range(TS_LEN):
            when, latency = series.samples[(series.idx + j) % TS_LEN]
            if when:
                out.append([when, latency])
        return out

    def graph(self, event: bytes, now_s: int) -> str | None:
        """LATENCY GRAPH (latencyCommandGenSparkeline); None when the event has no samples."""
        name = event.decode("utf-8", "replace")
        series = self.events.get(name)
        if series is None:
            return None
        values: list[float] = []
        labels: list[str] = []
        low = high = 0
        for j in range(TS_LEN):
            when, latency = series.samples[(series.idx + j) % TS_LEN]
            if not when:
                continue
            if not values:
                low = high = latency
            else:
                high, low = max(high, latency), min(low, latency)
            elapsed = now_s - when
            if elapsed < 60:
                labels.append(f"{elapsed}s")
            elif elapsed < 3600:
                labels.append(f"{elapsed // 60}m")
            elif elapsed < 86400:
                labels.append(f"{elapsed // 3600}h")
            else:
                labels.append(f"{elapsed // 86400}d")
            values.append(float(latency))
        text = f"{name} - high {high} ms, low {low} ms (all time high {series.max} ms)\n" + "-" * GRAPH_COLS + "\n"
        return text + _sparkline(values, labels, GRAPH_COLS, 4)

    def doctor(self, slower_than_us: int, hz: int, now_s: int) -> str:
        """LATENCY DOCTOR (createLatencyReport), for the events this broker records."""
        if not self.events and not self.threshold:
            return ("I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. "
                    "You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. "
                    "If we weren't in a deep space mission I'd suggest to take a look at "
                    "https://redis.io/topics/latency-monitor.\n")
        report = ""
        advice: set[str] = set()
        count = 0
        for number, (event, series) in enumerate(self.events.items(), 1):
            count = number
            if number == 1:
                report += ("Dave, I have observed latency spikes in this Redis instance. You don't mind talking "
                           "about it, do you Dave?\n\n")
            samples = [latency for when, latency in series.samples if when]
            times = [when for when, _ in series.samples if when]
            avg = sum(samples) // len(samples) if samples else 0
            mad = sum(abs(avg - latency) for latency in samples) // len(samples) if samples else 0
            period = max(now_s - min(times), 1) if times else 0
            report += (f"{number}. {event}: {len(samples)} latency spikes (average {avg}ms, mean deviation "
                       f"{mad}ms, period {period / len(samples) if samples else 0:.2f} sec). "
                       f"Worst all time event {series.max}ms.")
            if event.lower() == "command":
                if slower_than_us < 0:
                    advice.add("slowlog_enabled")
                elif slower_than_us // 1000 > self.threshold:
                    advice.add("slowlog_tuning")
                advice.update(("slowlog_inspect", "large_objects"))
            elif event.lower() == "fast-command":
                advice.add("scheduler")
            elif event.lower() == "expire-cycle":
                advice.update(("hz", "large_objects"))
            report += "\n"
        if count == 0 and not advice:
            return report + ("Dave, no latency spike was observed during the lifetime of this Redis instance, not "
                             "in the slightest bit. I honestly think you ought to sit down calmly, take a stress "
                             "pill, and think things over.\n")
        if not advice:
            return report + ("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please "
                             "use the Redis community to get some help, providing this report in your help request.\n")
        report += "\nI have a few advices for you:\n\n"
        threshold_us = self.threshold * 1000
        if "slowlog_enabled" in advice:
            report += ("- There are latency issues with potentially slow commands you are using. Try to enable the "
                       f"Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {threshold_us}'. "
                       "If the Slow log is disabled Redis is not able to log slow commands execution for you.\n")
        if "slowlog_tuning" in advice:
            report += ("- Your current Slow Log configuration only logs events that are slower than your configured "
                       f"latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {threshold_us}'.\n")
        if "slowlog_inspect" in advice:
            report += ("- Check your Slow Log to understand what are the commands you are running which are too slow "
                       "to execute. Please check https://redis.io/commands/slowlog for more information.\n")
        if "scheduler" in advice:
            report += ("- The system is slow to execute Redis code paths not containing system calls. This usually "
                       "means the system does not provide Redis CPU time to run for long periods. You should try to:\n"
                       "  1) Lower the system load.\n"
                       "  2) Use a computer / VM just for Redis if you are running other software in the same system.\n"
                       "  3) Check if you have a \"noisy neighbour\" problem.\n"
                       "  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your "
                       "system.\n"
                       "  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you "
                       "are using Jemalloc. However this may create fragmentation problems.\n")
        if "hz" in advice and hz < 100:
            report += ("- In order to make the Redis keys expiring process more incremental, try to set the 'hz' "
                       "configuration parameter to 100 using 'CONFIG SET hz 100'.\n")
        if "large_objects" in advice:
            report += ("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking "
                       "operation. If you have very large objects that are often deleted, expired, or evicted, try to "
                       "fragment those objects into multiple smaller objects.\n")
        return report


_CHARSET = "_-`"
_CHARSET_FILL = "_o#"


def _sparkline(values: list[float], labels: list[str], columns: int, rows: int) -> str:
    """sparklineRender with SPARKLINE_FILL (sparkline.c)."""
    if not values:
        return ""
    low, high = min(values), max(values)
    out = []
    for start in range(0, len(values), columns):
        if start:
            out.append("\n")
        out.append(_render_range(values[start:start + columns], labels[start:start + columns], low, high, rows))
    return "".join(out)


def _render_range(values: list[float], labels: list[str], low: float, high: float, rows: int) -> str:
    relmax = high - low or 1
    steps = len(_CHARSET) * rows
    out = []
    row = 0
    while True:
        more = False
        chars = [" "] * len(values)
        for j, value in enumerate(values):
            step = int(int((value - low) * steps) / relmax)
            step = min(max(step, 0), steps - 1)
            if row < rows:
                more = True
                index = step - (rows - row - 1) * len(_CHARSET)
                if 0 <= index < len(_CHARSET):
                    chars[j] = _CHARSET_FILL[index]
                elif index >= len(_CHARSET):
                    chars[j] = "|"
            else:
                if labels and row - rows < 1:  # label_margin_top
                    more = True
                    break
                label_char = row - rows - 1
                if len(labels[j]) > label_char:
                    more = True
                    chars[j] = labels[j][label_char]
        if not more:
            break
        row += 1
        out.append("".join(chars) + "\n")
    return "".join(out)
