"""A consumer-group worker process for the crash tests (run: ``python -m tests.support.stream_worker``).

``python -m tests.support.stream_worker PORT NAME MODE`` with redis-py, as a
service would be written: first reclaim work idle for ``STALE_MS`` (XAUTOCLAIM),
then read new entries (XREADGROUP ``>``), process each (record it, then XACK),
until the key ``stop`` exists.

Processing an entry appends ``"<id> <worker> new|claim"`` to the list
``processed``, acknowledges it, then pushes the id to ``progress`` (the test
BLPOPs it, so it waits for events, not for time; after the XACK, so the last
event comes when nothing is pending any more).

MODE ``victim`` reads one batch of 20, processes 5, records the 6th without
acknowledging it, pushes ``holding`` and waits forever: the test SIGKILLs it
there, leaving 15 entries pending for the others to claim.
"""

from __future__ import annotations

import sys

import redis

STREAM, GROUP = "jobs", "workers"
STALE_MS = 300


def main(port: int, name: str, mode: str) -> None:
    r = redis.Redis(port=port, decode_responses=True)

    def process(entry_id: str, kind: str, ack: bool = True) -> None:
        r.rpush("processed", f"{entry_id} {name} {kind}")
        if ack:
            r.xack(STREAM, GROUP, entry_id)
        r.lpush("progress", entry_id)

    if mode == "victim":
        reply = r.xreadgroup(GROUP, name, {STREAM: ">"}, count=20, block=0)
        entries = reply[0][1]
        for entry_id, _ in entries[:5]:
            process(entry_id, "new")
        process(entries[5][0], "new", ack=False)  # processed, then "crashes" before its XACK
        r.lpush("holding", name)
        r.blpop(["never"], 0)
        return
    while not r.exists("stop"):
        claimed = r.execute_command("XAUTOCLAIM", STREAM, GROUP, name, STALE_MS, "0-0", "COUNT", 10)
        for entry_id, _ in claimed[1]:
            process(entry_id, "claim")
        reply = r.xreadgroup(GROUP, name, {STREAM: ">"}, count=10, block=100)
        for _, entries in reply or []:
            for entry_id, _ in entries:
                process(entry_id, "new")


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3])
