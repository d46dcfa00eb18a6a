"""bench/loadgen.py against a real `fanout serve`: the ``time S`` sample (every message of
every S-th connection, by index across the load generators), ``count``, and the count of
connections the server closed, which the latency step names instead of a nan."""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

from tests.support.resp_client import wait_until
from tests.support.servers import free_port, start_fanout

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
from common import LoadGen  # noqa: E402
from rooms_vs_bun import losses, print_paired  # noqa: E402


def publish(port: int, channel: str, seq: int) -> None:
    body = json.dumps({"channel": channel, "data": {"t": 0.0, "seq": seq}}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/publish", body,
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def test_time_stride_counts_and_closed_connections() -> None:
    server = start_fanout("serve", "--http-port", str(free_port()), "--resp-port", "-1", "--save", "").capture()
    # Two load generators of 3 connections each in 2 rooms (index 0..5, room-<index % 2>).
    gens = [LoadGen(f"ws://127.0.0.1:{server.port}/ws", 3, pin=False, rooms=2, offset=i * 3) for i in range(2)]
    try:
        for gen in gens:
            gen.wait_ready()

        def counts() -> list[dict[str, int]]:
            return [json.loads(gen.command("count")) for gen in gens]

        for gen in gens:
            assert gen.command("time 2") == "ok\n"
        for seq in range(4):
            publish(server.port, "room-0", seq)  # members 0, 2, 4: every one timed (stride 2)
            publish(server.port, "room-1", seq)  # members 1, 3, 5: none timed
        wait_until(lambda: sum(c["deliveries"] for c in counts()) == 24, "24 deliveries")
        reports = [json.loads(gen.command("report")) for gen in gens]
        assert [len(r["latencies"]) for r in reports] == [8, 4]  # gen 0 holds 0 and 2, gen 1 holds 4
        assert all(r["closed"] == 0 and r["close_codes"] == {} for r in reports)
        assert losses(server.port) == {"dropped": 0}  # (what a failed latency step names)

        for gen in gens:
            assert gen.command("reset") == "ok\n"  # back to the first 20 connections: all 6 here
        publish(server.port, "room-1", 9)
        wait_until(lambda: sum(c["deliveries"] for c in counts()) == 3, "3 deliveries")
        assert [len(json.loads(gen.command("report"))["latencies"]) for gen in gens] == [1, 2]

        for gen in gens[1:]:
            gen.quit()  # 3 connections closed by the client: the server counts them by reason
        wait_until(lambda: sum(losses(server.port).get(reason, 0) for reason in losses(server.port)
                               if reason != "dropped") == 3, "3 closes counted")
        gens = gens[:1]
        server.stop()  # the server's shutdown closes every connection
        wait_until(lambda: sum(c["closed"] for c in counts()) == 3, "3 connections closed")
        codes = [json.loads(gen.command("report"))["close_codes"] for gen in gens]
        assert sum(n for c in codes for n in c.values()) <= 3
    finally:
        for gen in gens:
            gen.quit()
        server.stop()


def test_paired_ratios_pair_each_round_and_skip_missing_measurements(capsys) -> None:
    results = {("rooms", 10000): {"fanout": [{"http": 100.0, "http_cpu": 8.0}, {"http": 90.0}, {"http": 30.0}],
                                  "bun": [{"http": 50.0, "http_cpu": 4.0}, {"http": 100.0}, {"http": 60.0}]}}
    print_paired(results, ["bun"])
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["rooms 10000: deliveries/s, HTTP publish, fanout / bun by round: 2.00, 0.90, 0.50 (median 0.90x)",
                     "rooms 10000: server CPU us/delivery, HTTP, fanout / bun by round: 2.00 (median 2.00x)"]
