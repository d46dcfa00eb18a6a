"""Per-command statistics, errors, the slow log and the latency monitor (sans-I/O).

What INFO commandstats/errorstats/latencystats, SLOWLOG and LATENCY read, kept
as cheaply as the command path allows:

- **Counting** is on the ``Command`` itself (``calls``, ``failed_calls``,
  ``rejected_calls``: one attribute increment on an object the core holds anyway).
- **Timing** takes one clock reading per batch: the RESP server runs the requests
  of one read together (``Broker.run_pipeline``), and a clock reading costs about
  what a short command does, so the batch is timed once and its time shared out
  here (``batch``). A batch of one command (every unpipelined request) is timed
  exactly. In a longer batch, each command gets an equal share while the batch as
  a whole stayed under every threshold, so nothing that Redis would log is missed
  (no command of it can have reached ``slowlog-log-slower-than`` or
  ``latency-monitor-threshold``); when the batch did reach one, its time goes to
  the commands Redis does not flag ``fast`` (``fast`` ones are O(1) or O(log N)),
  so the KEYS or SORT pipelined among GETs is the one the slow log names.
- **Percentiles** (INFO latencystats) are read from the histograms only when INFO
  asks for them.

Errors count as Redis counts them (``afterErrorReply``, ``incrCommandStatsOnError``):
every error reply adds to ``total_error_replies`` and to its code's count (the
first word: ``ERR``, ``WRONGTYPE``); a command refused before it ran (arity, ACL,
OOM, NOAUTH) is a rejected call, one whose run answered an error a failed call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from broker.config import render_percentile
from broker.latency import LatencyMonitor, add_samples, percentile_us
from broker.slowlog import SlowLog

if TYPE_CHECKING:
    from broker.client import Client
    from broker.table import Command

__all__ = ["CommandStats", "error_code"]

# more distinct error codes than this are not tracked (ERROR_STATS_NUMBER in 7.2;
# an error code is chosen by whoever writes the error: a script can make up many)
_MAX_ERROR_CODES = 128
# no threshold enabled: a batch is never "slow"
_NEVER = 1 << 62


def error_code(message: str) -> str:
    """The errorstats key of an error reply: its first word, limited to 32 characters
    as Redis looks for it, else ERR."""
    space = message.find(" ", 0, 32)
    return message[:space] if space > 0 else "ERR"


class CommandStats:
    """The broker's command statistics (one per Broker; the counters themselves live
    on the process's command table)."""

    def __init__(self, commands: dict[bytes, "Command"]) -> None:
        self.commands = commands
        self.slowlog = SlowLog()
        self.latency = LatencyMonitor()
        # latency-tracking, latency-tracking-info-percentiles
        self.tracking = True
        self.percentiles = [50.0, 99.0, 99.9]
        # error code -> count (errorstats), and every error reply (total_error_replies)
        self.errors: dict[str, int] = {}
        self.error_replies = 0
        # a batch that took at least this long (ns) may hold a command to log: the lower
        # of the enabled slowlog and latency-monitor thresholds
        self.slow_ns = 10_000_000

    # ------------------------------------------------------------ config

    def configure(self, name: str, value: str) -> None:
        if name == "slowlog-log-slower-than":
            self.slowlog.slower_than = int(value)
        elif name == "slowlog-max-len":
            self.slowlog.max_len = int(value)
        elif name == "latency-monitor-threshold":
            self.latency.threshold = int(value)
        elif name == "latency-tracking":
            self.tracking = value == "yes"
        elif name == "latency-tracking-info-percentiles":
            self.percentiles = [float(word) for word in value.split()]
            return
        else:
            return
        slower = self.slowlog.slower_than * 1000 if self.slowlog.slower_than >= 0 else _NEVER
        monitor = self.latency.threshold * 1_000_000 if self.latency.threshold else _NEVER
        self.slow_ns = min(slower, monitor)

    # ------------------------------------------------------------ counting

    def error(self, cmd: "Command | None", message: str, rejected: bool) -> None:
        """An error reply; ``cmd`` None: no command (unknown, or counted elsewhere)."""
        self.error_replies += 1
        code = error_code(message)
        errors = self.errors
        if code in errors:
            errors[code] += 1
        elif len(errors) < _MAX_ERROR_CODES:
            errors[code] = 1
        if cmd is not None:
            if rejected:
                cmd.rejected_calls += 1
            else:
                cmd.failed_calls += 1

    # ------------------------------------------------------------ timing

    def one(self, client: "Client", cmd: "Command", argv: list[bytes], elapsed_ns: int, now_s: int) -> None:
        """A command timed alone."""
        cmd.ns += elapsed_ns
        if self.tracking:
            histogram = cmd.histogram
            if histogram is None:
                histogram = cmd.histogram = [0] * 31
            add_samples(histogram, elapsed_ns, 1)
        if elapsed_ns >= self.slow_ns:
            self._log(client, cmd, argv, elapsed_ns, now_s)

    def slow_batch(self, client: "Client", first: "Command", count: int, requests: list[list[bytes]],
                   elapsed_ns: int, now_s: int) -> None:
        """A batch of ``count`` runs of one command that reached a threshold (its time
        and histogram are counted already): the slow log and the latency monitor."""
        argvs = requests if len(requests) == 1 else [argv for argv in requests if _is(first, argv)][:count]
        if len(argvs) == 1:
            self._log(client, first, argvs[0], elapsed_ns, now_s)
            return
        self._log_shares([(first, argv) for argv in argvs], elapsed_ns, client, now_s, already_counted=True)

    def batch(self, client: "Client", first: "Command", count: int, requests: list[list[bytes]],
              others: list[tuple["Command", list[bytes]]] | None, elapsed_ns: int, now_s: int) -> None:
        """Share ``elapsed_ns`` out among the commands of a batch: ``count`` runs of
        ``first`` (the requests of ``requests`` that were ``first``), then ``others``
        (the rest, in the order they ran, nested ones included)."""
        if not others:
            if count == 1:
                self.one(client, first, requests[0], elapsed_ns, now_s)
                return
            first.ns += elapsed_ns
            share = elapsed_ns // count
            if self.tracking:
                histogram = first.histogram
                if histogram is None:
                    histogram = first.histogram = [0] * 31
                add_samples(histogram, share, count)
            if elapsed_ns >= self.slow_ns:
                # the one lookup of a batch that may have been slow: which requests were first's
                self._log_shares([(first, argv) for argv in requests if len(argv) and _is(first, argv)][:count],
                                 elapsed_ns, client, now_s, already_counted=True)
            return
        ran = [(first, argv) for argv in requests if _is(first, argv)][:count] if count else []
        ran += others
        self._log_shares(ran, elapsed_ns, client, now_s, already_counted=False)

    def _log_shares(self, ran: list[tuple["Command", list[bytes]]], elapsed_ns: int, client: "Client",
                    now_s: int, already_counted: bool) -> None:
        if not ran:
            return
        if elapsed_ns >= self.slow_ns:
            # the batch may hold a slow command: the time goes to the ones not flagged fast
            weights = [0 if cmd.fast else 1 for cmd, _ in ran]
            if not any(weights):
                weights = [1] * len(ran)
        else:
            weights = [1] * len(ran)
        total = sum(weights)
        for (cmd, argv), weight in zip(ran, weights):
            share = elapsed_ns * weight // total
            if not already_counted:
                cmd.ns += share
                if self.tracking:
                    histogram = cmd.histogram
                    if histogram is None:
                        histogram = cmd.histogram = [0] * 31
                    add_samples(histogram, share, 1)
            if share >= self.slow_ns:
                self._log(client, cmd, argv, share, now_s)

    def unblocked(self, client: "Client", cmd: "Command", argv: list[bytes], elapsed_ns: int, now_s: int) -> None:
        """A blocked command served (updateStatsOnUnblock): its time, without a call more."""
        self.one(client, cmd, argv, elapsed_ns, now_s)

    def _log(self, client: "Client", cmd: "Command", argv: list[bytes], elapsed_ns: int, now_s: int) -> None:
        """call()'s latency sample and slowlogPushCurrentCommand."""
        self.latency.add_if_needed("fast-command" if cmd.fast else "command", elapsed_ns // 1_000_000, now_s)
        if "skip_slowlog" not in cmd.flags:
            self.slowlog.push(argv, elapsed_ns // 1000, now_s, client.addr, client.name)

    # ------------------------------------------------------------ reading

    def all_commands(self) -> Iterable["Command"]:
        for cmd in self.commands.values():
            yield cmd
            yield from cmd.subcommands.values()

    def total_calls(self) -> int:
        return sum(cmd.calls for cmd in self.all_commands())

    def reset(self) -> None:
        """CONFIG RESETSTAT's part (resetCommandTableStats, resetErrorTableStats)."""
        for cmd in self.all_commands():
            cmd.calls = cmd.ns = cmd.rejected_calls = cmd.failed_calls = 0
            cmd.histogram = None
        self.errors.clear()
        self.error_replies = 0

    def commandstats(self) -> list[tuple[str, object]]:
        out: list[tuple[str, object]] = []
        for cmd in self.all_commands():
            if cmd.calls or cmd.failed_calls or cmd.rejected_calls:
                usec = cmd.ns // 1000
                per_call = usec / cmd.calls if cmd.calls else 0.0
                out.append((f"cmdstat_{_safe(cmd.fullname)}",
                            f"calls={cmd.calls},usec={usec},usec_per_call={per_call:.2f},"
                            f"rejected_calls={cmd.rejected_calls},failed_calls={cmd.failed_calls}"))
        return out

    def errorstats(self) -> list[tuple[str, object]]:
        # Redis keeps them in a radix tree: by code, in byte order
        return [(f"errorstat_{code}", f"count={count}") for code, count in sorted(self.errors.items())]

    def latencystats(self) -> list[tuple[str, object]]:
        out: list[tuple[str, object]] = []
        for cmd in self.all_commands():
            if cmd.histogram is not None:
                parts = [f"p{render_percentile(p)}={percentile_us(cmd.histogram, p):.3f}" for p in self.percentiles]
                out.append((f"latency_percentiles_usec_{_safe(cmd.fullname)}", ",".join(parts)))
        return out


def _is(cmd: "Command", argv: list[bytes]) -> bool:
    head = argv[0].lower() if argv else b""
    name = cmd.container.encode() if cmd.container else cmd.name.encode()
    return head == name


def _safe(name: str) -> str:
    """getSafeInfoString: characters that would break an INFO line become '_'."""
    return name.replace(":", "_").replace("\r", "_").replace("\n", "_")


def counters(cmd: "Command") -> dict[str, Any]:
    """A command's counters, for tests and debugging."""
    return {"calls": cmd.calls, "ns": cmd.ns, "rejected_calls": cmd.rejected_calls,
            "failed_calls": cmd.failed_calls}
