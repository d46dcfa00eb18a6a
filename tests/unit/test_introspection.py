"""The slow log, the latency monitor, command statistics and COMMAND's data (no sockets).

Mirrors broker/slowlog.py, broker/latency.py, broker/cmdstats.py and
broker/commandinfo.py; the replies against a real redis-server are in
tests/integration/test_diff_introspection.py.
"""

from __future__ import annotations

from typing import Any

from broker.cmdstats import error_code
from broker.core import Broker, Client
from broker.latency import LatencyMonitor, add_samples, histogram_cdf, percentile_us
from broker.resp import CommandError
from broker.slowlog import SlowLog, redacted
from broker.table import COMMANDS


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _run(broker: Broker, client: Client, *argv: bytes) -> Any:
    out: list[bytes] = []
    broker.run_pipeline(client, [list(argv)], out)
    return b"".join(out)


def _broker(**config: str) -> tuple[Broker, Client]:
    broker = Broker(clock=FakeClock(), config=config or None)
    client = Client(broker, addr="127.0.0.1:5000")
    broker.connect(client)
    return broker, client


# ---------------------------------------------------------------- slow log

def test_slowlog_keeps_newest_first_up_to_max_len() -> None:
    log = SlowLog()
    log.slower_than, log.max_len = 0, 3
    for i in range(5):
        log.push([b"PING", b"%d" % i], i, 100 + i, "1.2.3.4:5", b"name")
    assert [entry[0] for entry in log.get(-1)] == [4, 3, 2]
    assert log.get(1) == [[4, 104, 4, [b"PING", b"4"], b"1.2.3.4:5", b"name"]]
    assert log.get(0) == []


def test_slowlog_threshold_and_off() -> None:
    log = SlowLog()
    log.slower_than = 10
    log.push([b"GET", b"k"], 9, 0, "", b"")
    log.push([b"GET", b"k"], 10, 0, "", b"")
    assert len(log.entries) == 1
    log.slower_than = -1
    log.push([b"GET", b"k"], 10**9, 0, "", b"")
    assert len(log.entries) == 1


def test_slowlog_trims_arguments_as_redis() -> None:
    log = SlowLog()
    log.slower_than = 0
    log.push([b"SADD", b"set", *[b"%d" % i for i in range(3, 34)]], 1, 0, "", b"")
    argv = log.get(1)[0][3]
    assert len(argv) == 32 and argv[-1] == b"... (2 more arguments)" and argv[-2] == b"31"
    log.push([b"SET", b"k", b"A" * 129], 1, 0, "", b"")
    assert log.get(1)[0][3][2] == b"A" * 128 + b"... (1 more bytes)"


def test_redacted_secrets() -> None:
    assert redacted([b"AUTH", b"user", b"pw"]) == [b"AUTH", b"(redacted)", b"(redacted)"]
    assert redacted([b"HELLO", b"3", b"AUTH", b"u", b"p", b"SETNAME", b"n"]) == [
        b"HELLO", b"3", b"AUTH", b"(redacted)", b"(redacted)", b"SETNAME", b"n"]
    assert redacted([b"acl", b"SETUSER", b"u", b">pw"]) == [b"acl", b"SETUSER", b"(redacted)", b"(redacted)"]
    assert redacted([b"CONFIG", b"SET", b"requirepass", b"x", b"hz", b"10"]) == [
        b"CONFIG", b"SET", b"requirepass", b"(redacted)", b"hz", b"10"]
    assert redacted([b"MIGRATE", b"h", b"1", b"k", b"0", b"10", b"AUTH2", b"u", b"p"])[-2:] == [
        b"(redacted)", b"(redacted)"]
    assert redacted([b"GET", b"k"]) == [b"GET", b"k"]


# ---------------------------------------------------------- latency monitor

def test_latency_monitor_one_sample_per_second_the_highest() -> None:
    monitor = LatencyMonitor()
    monitor.threshold = 5
    monitor.add_if_needed("command", 4, 100)  # under the threshold
    monitor.add_if_needed("command", 7, 100)
    monitor.add_if_needed("command", 9, 100)
    monitor.add_if_needed("command", 6, 100)
    monitor.add_if_needed("command", 8, 101)
    assert monitor.history(b"command") == [[100, 9], [101, 8]]
    assert monitor.latest() == [[b"command", 101, 8, 9]]
    assert monitor.reset([b"COMMAND", b"nosuch"]) == 1 and monitor.latest() == []


def test_latency_monitor_keeps_160_seconds() -> None:
    monitor = LatencyMonitor()
    for second in range(200):
        monitor.add("fast-command", second + 1, 1000 + second)
    history = monitor.history(b"fast-command")
    assert len(history) == 160 and history[0] == [1040, 41] and history[-1] == [1199, 200]


def test_latency_graph_and_doctor() -> None:
    monitor = LatencyMonitor()
    monitor.threshold = 1
    assert monitor.graph(b"command", 0) is None
    for second, latency in enumerate((10, 40, 20)):
        monitor.add("command", latency, 100 + second)
    graph = monitor.graph(b"command", 103)
    assert graph is not None
    lines = graph.split("\n")
    assert lines[0] == "command - high 40 ms, low 10 ms (all time high 40 ms)" and lines[1] == "-" * 80
    assert lines[2:6] == [" # ", " | ", " |o", "_||"]  # four rows, the highest sample full
    assert lines[7:9] == ["321", "sss"]  # seconds ago, written downwards
    doctor = monitor.doctor(10_000, 10, 103)
    assert doctor.startswith("Dave, I have observed latency spikes")
    assert "1. command: 3 latency spikes (average 23ms, mean deviation 11ms, period 1.00 sec)." in doctor
    assert "Slow Log" in doctor
    assert LatencyMonitor().doctor(10_000, 10, 0).startswith("I'm sorry, Dave")


def test_histogram_buckets_and_percentiles() -> None:
    histogram = [0] * 31
    add_samples(histogram, 500, 1)        # under 1024 ns: the 1 us bucket
    add_samples(histogram, 3_000, 2)      # 2**12 ns
    add_samples(histogram, 10**10, 1)     # over a second: the last bucket
    calls, buckets = histogram_cdf(histogram)
    assert calls == 4 and buckets == {1: 1, 4: 3, 1073741: 4}
    assert percentile_us(histogram, 50) == 4.095
    assert percentile_us(histogram, 0) == 0.511
    assert percentile_us(histogram, 100) == 1073741.823
    assert percentile_us([0] * 31, 50) == 0.0


# ------------------------------------------------------------ command stats

def test_error_codes() -> None:
    assert error_code("WRONGTYPE Operation against a key") == "WRONGTYPE"
    assert error_code("ERR syntax error") == "ERR"
    assert error_code("NOSPACE") == "ERR"
    assert error_code("X" * 40 + " tail") == "ERR"  # no space in the first 32 characters


def test_commandstats_count_calls_failures_and_rejections() -> None:
    broker, client = _broker()
    _run(broker, client, b"SET", b"k", b"v")
    _run(broker, client, b"INCR", b"k")          # runs, fails
    _run(broker, client, b"GET")                 # refused before running
    _run(broker, client, b"NOSUCH")              # no command: an error only
    _run(broker, client, b"CONFIG", b"GET", b"hz")
    stats = dict(broker.cmdstats.commandstats())
    assert stats["cmdstat_set"].startswith("calls=1,") and stats["cmdstat_set"].endswith(
        "rejected_calls=0,failed_calls=0")
    assert stats["cmdstat_incr"].startswith("calls=1,") and stats["cmdstat_incr"].endswith("failed_calls=1")
    assert stats["cmdstat_get"].startswith("calls=0,") and "rejected_calls=1" in stats["cmdstat_get"]
    assert "cmdstat_config|get" in stats
    assert broker.cmdstats.errorstats() == [("errorstat_ERR", "count=3")]
    assert broker.cmdstats.error_replies == 3
    assert broker.cmdstats.total_calls() == 3
    _run(broker, client, b"CONFIG", b"RESETSTAT")
    assert [name for name, _ in broker.cmdstats.commandstats()] == ["cmdstat_config|resetstat"]
    assert broker.cmdstats.errorstats() == [] and broker.cmdstats.error_replies == 0


def test_a_pipelined_batch_is_shared_among_its_commands() -> None:
    broker, client = _broker()
    out: list[bytes] = []
    broker.run_pipeline(client, [[b"SET", b"a", b"1"], [b"SET", b"b", b"2"], [b"GET", b"a"],
                                 [b"CONFIG", b"GET", b"hz"]], out)
    assert COMMANDS[b"set"].calls == 2 and COMMANDS[b"get"].calls == 1
    config_get = COMMANDS[b"config"].subcommands[b"get"]
    assert config_get.calls == 1
    for cmd in (COMMANDS[b"set"], COMMANDS[b"get"], config_get):
        assert cmd.ns > 0 and cmd.histogram is not None and sum(cmd.histogram) == cmd.calls


def test_slowlog_from_the_command_path() -> None:
    broker, client = _broker(**{"slowlog-log-slower-than": "0"})
    _run(broker, client, b"CLIENT", b"SETNAME", b"me")
    out: list[bytes] = []
    broker.run_pipeline(client, [[b"SET", b"a", b"1"], [b"GET", b"a"], [b"MULTI"], [b"PING"], [b"EXEC"]], out)
    entries = broker.cmdstats.slowlog.get(-1)
    argvs = [entry[3] for entry in entries]
    # EXEC itself is not logged (skip_slowlog), the command it ran is; MULTI is
    assert [b"PING"] in argvs and [b"EXEC"] not in argvs and [b"MULTI"] in argvs
    assert argvs[-1] == [b"CLIENT", b"SETNAME", b"me"]
    assert entries[0][4] == b"127.0.0.1:5000" and entries[0][5] == b"me"
    assert entries[0][1] == 1_700_000_000


def test_latency_tracking_off_keeps_no_histograms() -> None:
    broker, client = _broker(**{"latency-tracking": "no"})
    _run(broker, client, b"SET", b"a", b"1")
    assert COMMANDS[b"set"].calls == 1 and COMMANDS[b"set"].histogram is None
    assert broker.cmdstats.latencystats() == []


def test_latencystats_percentiles_as_configured() -> None:
    broker, client = _broker()
    _run(broker, client, b"CONFIG", b"SET", b"latency-tracking-info-percentiles", b"0.0 99.90 100")
    assert broker.config.get("latency-tracking-info-percentiles") == "0 99.9 100"
    _run(broker, client, b"GET", b"a")
    (name, value), = [item for item in broker.cmdstats.latencystats() if item[0].endswith("_get")]
    assert name == "latency_percentiles_usec_get"
    assert [part.split("=")[0] for part in value.split(",")] == ["p0", "p99.9", "p100"]


# ------------------------------------------------------------------- MODULE

def test_module_load_refused_even_when_allowed() -> None:
    broker, client = _broker(**{"enable-module-command": "yes"})
    reply = broker.execute(client, [b"MODULE", b"LOAD", b"/x.so"])
    assert isinstance(reply, CommandError) and "does not load Redis modules" in reply.message
    reply = broker.execute(client, [b"MODULE", b"UNLOAD", b"x"])
    assert isinstance(reply, CommandError) and "no such module" in reply.message
    assert broker.execute(client, [b"MODULE", b"LIST"]) == []


# ----------------------------------------------------------- COMMAND's data

def test_every_command_of_ours_is_described() -> None:
    from broker.commandinfo import table

    described = table()
    for cmd in COMMANDS.values():
        assert cmd.fullname in described, cmd.fullname
        for sub in cmd.subcommands.values():
            assert sub.fullname in described, sub.fullname


def test_a_served_blocked_command_is_logged_after_the_command_that_served_it() -> None:
    """Redis logs BLPOP once unblocked (updateStatsOnUnblock): after the MULTI's LPUSH."""
    class Waiter(Client):
        replies: list[Any] = []

        def resume(self, reply: Any) -> None:
            self.replies.append(reply)

    broker, client = _broker(**{"slowlog-log-slower-than": "0"})
    waiter = Waiter(broker, addr="127.0.0.1:6000")
    broker.connect(waiter)
    broker.run_pipeline(waiter, [[b"BLPOP", b"l", b"0"]], [])
    for argv in ([b"MULTI"], [b"LPUSH", b"l", b"foo"], [b"SLOWLOG", b"RESET"], [b"EXEC"]):
        _run(broker, client, *argv)
    assert Waiter.replies == [[b"l", b"foo"]]
    assert broker.cmdstats.slowlog.get(1)[0][3] == [b"BLPOP", b"l", b"0"]
    assert broker.cmdstats.slowlog.get(1)[0][4] == b"127.0.0.1:6000"
