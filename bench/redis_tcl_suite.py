"""Redis's own Tcl test suite against redis-server and against our broker, unit by unit.

Fetches nothing: give it the root of an extracted Redis source tree (at least its
``runtest``, ``tests/`` and ``utils/``; tag 7.0.15 is what the numbers in
bench/README.md were measured with). For every unit it starts a fresh server (a
``redis-server`` with no persistence, then ``python -m gateway.cli broker --save ""``
from this checkout), runs ``./runtest --host 127.0.0.1 --port P --external --clients 1
--single UNIT`` with the tags that an external single node cannot honour denied,
parses the ``[ok]`` / ``[err]`` / ``[exception]`` / ``[skip]`` / ``[ignore]`` lines, and
prints one row per unit: passed / failed / errors on each server. Units run one at a
time; each run is bounded by the harness's own no-progress ``--timeout`` and by a
wall-clock limit after which the runtest process group is killed (a hang).

An ``[exception]`` ends a unit (the Tcl harness exits), so the tests after it do not
run at all: compare the "passed" columns, not just the "failed" ones.

Usage: python bench/redis_tcl_suite.py /tmp/redis-tests [--units unit/type/hash ...]
       [--servers redis fanout] [--stall 45] [--wall 300] [--retries 6] [--budget 600]
       [--details out.json] [--logs DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from common import ROOT, free_port, stop, wait_port

UNITS = [
    "unit/type/string", "unit/type/incr", "unit/type/list", "unit/type/list-2", "unit/type/list-3",
    "unit/type/set", "unit/type/hash", "unit/type/zset", "unit/type/stream", "unit/type/stream-cgroups",
    "unit/keyspace", "unit/expire", "unit/pubsub", "unit/pubsubshard", "unit/scan", "unit/info-command",
    "unit/bitops", "unit/bitfield", "unit/hyperloglog", "unit/geo", "unit/sort", "unit/dump",
    "unit/scripting", "unit/functions", "unit/multi", "unit/pause", "unit/latency-monitor", "unit/slowlog",
    "unit/acl", "unit/introspection", "unit/introspection-2", "unit/querybuf", "unit/protocol", "unit/auth",
    "unit/limits", "unit/info", "unit/tracking", "unit/client-eviction",
]
# What an external single node cannot do: replication, DEBUG (off by default in 7.0's
# redis-server too), maxmemory eviction, SAVE/restarts (both servers run without persistence).
DENIED_TAGS = "-needs:repl -needs:debug -needs:config-maxmemory -needs:save"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
STATUS = re.compile(r"^\[(ok|err|exception|skip|ignore)\]: (.*)$")
ELAPSED = re.compile(r" \(\d+ ms\)$")  # after an [ok] test's name
IN_PROGRESS = re.compile(r"=> \(IN PROGRESS\) (.*)$")


@dataclass
class UnitResult:
    """What one runtest invocation of one unit reported."""

    passed: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    exception: str = ""
    skipped: int = 0
    hang: str = ""
    seconds: float = 0.0
    order: list[str] = field(default_factory=list)  # every reported test name, in order
    executed: list[str] = field(default_factory=list)  # the tests that ran ([ok] or [err]), in order
    aborted: list[dict[str, str]] = field(default_factory=list)  # tests skipped on a rerun: they aborted the unit

    @property
    def errors(self) -> int:
        """Tests that aborted the unit (exception or hang), the unresolved last one included."""
        return len(self.aborted) + int(bool(self.exception)) + int(bool(self.hang))

    def summary(self) -> str:
        """``passed/failed/errors``; ``E``, ``H``, ``D``: an exception, a hang, a dead server or connection among the errors."""
        kinds = {entry["kind"] for entry in self.aborted}
        marks = (("E" if self.exception or "exception" in kinds else "")
                 + ("H" if self.hang or "hang" in kinds else "")
                 + ("D" if kinds & {"server exited", "connection dropped"} else ""))
        return f"{self.passed}/{len(self.failed)}/{self.errors}{' ' + marks if marks else ''}"


def start_server(kind: str) -> tuple[subprocess.Popen[bytes], int]:
    """A fresh redis-server or fanout broker on a free loopback port, no persistence."""
    port = free_port()
    if kind == "redis":
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    else:
        argv = [sys.executable, "-m", "gateway.cli", "broker", "--port", str(port), "--log-level", "warning",
                "--save", ""]
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, timeout=90.0)  # a loaded machine (load average 30) needs more than 15 s
    wait_pong(port)  # (-LOADING while the broker starts up: as long on a loaded machine)
    return process, port


def wait_pong(port: int, timeout: float = 90.0) -> None:
    """Wait until the server answers PING with +PONG (not -LOADING): the harness's first command must succeed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            if sock.recv(64).startswith(b"+PONG"):
                return
        time.sleep(0.05)
    raise RuntimeError(f"127.0.0.1:{port} does not answer PING after {timeout}s")


def pump(process: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
    """Copy the process's output lines into ``lines`` (a thread: reads block), then ``None``."""
    assert process.stdout is not None
    for line in process.stdout:
        lines.put(line)
    lines.put(None)


def run_unit(tree: Path, unit: str, port: int, stall: int, wall: int, tags: str, progress: bool,
             log: Path | None = None, skip: list[str] | None = None) -> UnitResult:
    """Run one unit of the Tcl suite against 127.0.0.1:port and parse its report.

    Args:
        tree: root of the extracted Redis source tree (holds ``runtest``).
        unit: e.g. ``unit/type/hash``.
        port: the external server's port.
        stall: the harness's ``--timeout`` (seconds without any test finishing).
        wall: wall-clock limit for the whole unit; past it the run counts as a hang.
        tags: the ``--tags`` argument.
        progress: echo each failure to stderr.
        log: if given, the raw runtest output is written there.
        skip: test names passed as ``--skiptest``.

    Returns:
        The counts, failing test names with their first detail line, and any exception or hang.
    """
    argv = ["./runtest", "--host", "127.0.0.1", "--port", str(port), "--clients", "1", "--timeout", str(stall),
            "--tags", tags, "--single", unit,
            # The harness listens for its test clients on a port in [baseport-32, baseport) whose
            # +10000 neighbour is free too. Its check binds every address, so a port that only
            # 127.0.0.1 holds passes it: keep the pair below Linux's ephemeral range (32768 up),
            # where the machine's many client sockets live, and random so parallel runs differ.
            "--baseport", str(random.randrange(10032, 22700)), "--portcount", "100"]
    for name in skip or []:
        argv += ["--skiptest", name]
    result = UnitResult()
    started = time.monotonic()
    process = subprocess.Popen(argv, cwd=tree, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               errors="replace", start_new_session=True)
    deadline = started + wall
    log_file = open(log, "w") if log else None
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=pump, args=(process, lines), daemon=True).start()
    tail: list[str] = []
    try:
        tail = collect(result, lines, process, deadline, log_file, progress)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        if log_file:
            log_file.close()
    process.wait()
    result.seconds = time.monotonic() - started
    if not result.order and not result.exception and not result.hang:
        result.hang = "runtest reported nothing: " + " | ".join(tail)[-300:]
    return result


def collect(result: UnitResult, lines: queue.Queue[str | None], process: subprocess.Popen[str], deadline: float,
            log_file: TextIO | None, progress: bool) -> list[str]:
    """Parse runtest's output lines into ``result`` until it ends or ``deadline`` passes.

    Returns:
        The last few lines (what a harness that failed to start said).
    """
    pending: dict[str, str] | None = None  # the last [err], waiting for its detail line
    catching_exception = False
    tail: list[str] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            result.hang = result.hang or "wall-clock limit reached"
            os.killpg(process.pid, signal.SIGKILL)
            break
        try:
            raw = lines.get(timeout=min(remaining, 1.0))
        except queue.Empty:
            continue
        if raw is None:
            break
        if log_file:
            log_file.write(raw)
        line = ANSI.sub("", raw.rstrip("\n"))
        tail = (tail + [line])[-4:]
        match = STATUS.match(line)
        if match:
            status, data = match.groups()
            pending, catching_exception = None, False
            if status != "exception":
                name = data.rsplit(" in tests/", 1)[0] if status == "err" else ELAPSED.sub("", data)
                result.order.append(name.rsplit(": Tag ", 1)[0] if status == "ignore" else name)
            if status in ("ok", "err"):
                result.executed.append(result.order[-1])
            if status == "ok":
                result.passed += 1
            elif status in ("skip", "ignore"):
                result.skipped += 1
            elif status == "err":
                name = data.rsplit(" in tests/", 1)[0]
                pending = {"test": name, "detail": ""}
                result.failed.append(pending)
            else:
                result.exception = data
                catching_exception = True
            if progress and status in ("err", "exception"):
                print(f"    [{status}] {data}", file=sys.stderr, flush=True)
            continue
        if pending is not None and not pending["detail"] and line.strip():
            pending["detail"] = line.strip()[:300]
        elif catching_exception and line.strip() and len(result.exception) < 600:
            result.exception += " | " + line.strip()
        if "[TIMEOUT]" in line and not result.hang:
            result.hang = "harness timeout"
        hung = IN_PROGRESS.search(line)
        if hung:
            result.hang = f"hung in: {hung.group(1)}"
    return tail


def culprit(result: UnitResult, reference: list[str]) -> str | None:
    """The test that aborted a run: the hung one, or the one after the last reported (in redis-server's order).

    Args:
        result: a run that ended in an exception or a hang.
        reference: the test names redis-server's run of the same unit reported, in order.

    Returns:
        The test's name, or None when it cannot be told (no reference, or aborted outside any test).
    """
    if result.hang.startswith("hung in: "):
        return result.hang.removeprefix("hung in: ")
    if not result.exception or not reference:
        return None
    if not result.order:
        return reference[0]
    last = result.order[-1]
    # The same name can occur more than once (one test per encoding): take the occurrence
    # with as many earlier copies as this run reported.
    seen = result.order.count(last)
    positions = [i for i, name in enumerate(reference) if name == last]
    if len(positions) < seen or positions[seen - 1] + 1 >= len(reference):
        return None
    return reference[positions[seen - 1] + 1]


def run_past_aborts(args: argparse.Namespace, unit: str, kind: str, reference: list[str]) -> UnitResult:
    """Run a unit on a fresh server; while a test aborts it, note that test and rerun without it.

    An exception or a hang ends a Tcl unit, hiding every later test, so the aborting test
    is passed as ``--skiptest`` to a rerun (each on a fresh server), up to ``--retries``
    times or until ``--budget`` seconds are spent. The counts are those of the last run;
    each skipped test counts as an error.
    """
    aborted: list[dict[str, str]] = []
    started = time.monotonic()
    for attempt in range(args.retries + 1):
        process, port = start_server(kind)
        try:
            log = args.logs / f"{unit.replace('/', '_')}.{kind}.{attempt}.log" if args.logs else None
            result = run_unit(args.tree, unit, port, args.stall, args.wall, args.tags, not args.quiet, log,
                              [entry["test"] for entry in aborted])
            died = process.poll() is not None
        finally:
            stop(process)
        if result.hang.startswith("runtest reported nothing") and attempt < args.retries:
            # Usually the harness lost a race for its own listening port: run it again.
            print(f"    {result.hang[:200]}: rerunning", file=sys.stderr, flush=True)
            continue
        name, kind_of = culprit(result, reference), "hang" if result.hang else "exception"
        lost = any(text in result.exception for text in ("I/O error", "connection refused", "broken pipe"))
        if (died or lost) and result.failed and result.executed and result.failed[-1]["test"] == result.executed[-1]:
            # The server exited (or dropped the harness's connection) during the last test that
            # failed; every later test then fails to connect, so blame that one.
            name, kind_of = result.failed[-1]["test"], "server exited" if died else "connection dropped"
        if (name is None or any(entry["test"] == name for entry in aborted) or attempt == args.retries
                or time.monotonic() - started > args.budget):
            break
        if kind_of in ("server exited", "connection dropped"):
            result.failed.pop()  # counted once, as the error that aborted the run
        aborted.append({"test": name, "kind": kind_of, "detail": result.exception[:300] or result.hang})
        print(f"    {kind_of} in {name!r}: rerunning without it", file=sys.stderr, flush=True)
    result.aborted = aborted
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree", type=Path, help="root of an extracted Redis source tree (has runtest, tests/)")
    parser.add_argument("--units", nargs="+", default=UNITS)
    parser.add_argument("--servers", nargs="+", choices=["redis", "fanout"], default=["redis", "fanout"])
    parser.add_argument("--tags", default=DENIED_TAGS, help=f"runtest --tags (default {DENIED_TAGS!r})")
    parser.add_argument("--stall", type=int, default=45, help="runtest --timeout: seconds without progress")
    parser.add_argument("--wall", type=int, default=300, help="wall-clock seconds per unit and server")
    parser.add_argument("--retries", type=int, default=6, help="reruns past aborting tests per unit and server")
    parser.add_argument("--budget", type=int, default=600, help="seconds per unit and server before reruns stop")
    parser.add_argument("--details", type=Path, help="write every failing test name and detail here (JSON)")
    parser.add_argument("--logs", type=Path, help="keep each run's raw runtest output in this directory")
    parser.add_argument("--quiet", action="store_true", help="no per-failure progress lines")
    args = parser.parse_args()
    if args.logs:
        args.logs.mkdir(parents=True, exist_ok=True)
    # On SIGTERM, unwind through the finally blocks that stop the servers and the harness.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))
    if not (args.tree / "runtest").exists():
        parser.error(f"{args.tree} has no runtest: extract a Redis source tree there first")

    results: dict[str, dict[str, UnitResult]] = {}
    for index, unit in enumerate(args.units, 1):
        results[unit] = {}
        for kind in args.servers:
            print(f"[{index}/{len(args.units)}] {unit} on {kind} ...", file=sys.stderr, flush=True)
            reference = results[unit]["redis"].order if "redis" in results[unit] else []
            result = run_past_aborts(args, unit, kind, reference)
            results[unit][kind] = result
            print(f"    {kind}: {result.summary()} skipped {result.skipped} in {result.seconds:.0f}s"
                  + (f"; exception: {result.exception[:200]}" if result.exception else "")
                  + (f"; {result.hang}" if result.hang else ""), file=sys.stderr, flush=True)
        if args.details:
            write_details(args.details, results)

    print_table(results, args.servers)


def write_details(path: Path, results: dict[str, dict[str, UnitResult]]) -> None:
    """Every unit's counts, failures, exception and hang, as JSON."""
    data = {unit: {kind: {"passed": r.passed, "failed": r.failed, "exception": r.exception, "hang": r.hang,
                          "skipped": r.skipped, "aborted": r.aborted, "seconds": round(r.seconds, 1)} for kind, r in by_kind.items()}
            for unit, by_kind in results.items()}
    path.write_text(json.dumps(data, indent=1))


def print_table(results: dict[str, dict[str, UnitResult]], kinds: list[str]) -> None:
    """A markdown table: passed/failed/errors per unit and server, and the totals.

    With both servers, a last column counts the tests redis-server ran that fanout's runs never
    reached (an abort in a unit's setup, before any test, hides the whole unit).
    """
    names = {"redis": "redis-server", "fanout": "fanout"}
    both = "redis" in kinds and "fanout" in kinds
    print("| unit | " + " | ".join(f"{names[k]} passed/failed/errors" for k in kinds) + " |"
          + (" fanout: not reached |" if both else ""))
    print("|---|" + "---:|" * (len(kinds) + both))
    totals = {k: [0, 0, 0] for k in kinds}
    unreached_total = 0
    for unit, by_kind in results.items():
        cells = []
        for kind in kinds:
            result = by_kind[kind]
            cells.append(result.summary())
            totals[kind][0] += result.passed
            totals[kind][1] += len(result.failed)
            totals[kind][2] += result.errors
        if both:
            ours, theirs = by_kind["fanout"], by_kind["redis"]
            unreached = max(0, theirs.passed + len(theirs.failed) - ours.passed - len(ours.failed) - ours.errors)
            unreached_total += unreached
            cells.append(str(unreached))
        print(f"| {unit} | " + " | ".join(cells) + " |")
    print("| **total** | " + " | ".join("**{}/{}/{}**".format(*totals[k]) for k in kinds) + " |"
          + (f" **{unreached_total}** |" if both else ""))


if __name__ == "__main__":
    main()
