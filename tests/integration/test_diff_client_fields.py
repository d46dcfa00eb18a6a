"""CLIENT LIST / CLIENT INFO memory fields against a real redis-server.

The running command's own line shows its request in the query buffer (``qbuf``,
26 bytes for ``CLIENT LIST``) and its arguments (``argv-mem``); a client in MULTI
shows its queued commands (``multi``, ``multi-mem``); output buffers of idle
clients are empty (``obl``, ``oll``, ``omem``). The query buffer's allocation
(``qbuf + qbuf-free``) is one 16 kB read's (under 32 kB) after a request, and is
given back once the client has been idle past 2 s, as Redis's cron does.
"""

from __future__ import annotations

from typing import Any

from tests.support.resp_client import RespClient, wait_until

_EXACT = ("qbuf", "argv-mem", "multi", "multi-mem", "obl", "oll", "omem", "sub", "psub", "flags", "cmd", "db")


def _fields(line: bytes) -> dict[str, str]:
    return dict(item.split("=", 1) for item in line.decode().strip().split(" ") if "=" in item)


def _line_of(admin: RespClient, name: str) -> dict[str, str]:
    for line in admin.call("CLIENT", "LIST").splitlines():
        fields = _fields(line)
        if fields.get("name") == name:
            return fields
    raise AssertionError(f"no client named {name}")


def _scenario(port: int) -> list[Any]:
    with RespClient(port) as admin, RespClient(port) as queued:
        admin.call("CLIENT", "SETNAME", "admin")
        queued.call("CLIENT", "SETNAME", "queued")
        out: list[Any] = []
        own = _fields(admin.call("CLIENT", "INFO"))
        out.append({name: own[name] for name in _EXACT})
        listed = _line_of(admin, "admin")
        out.append({name: listed[name] for name in _EXACT})
        queued.call("MULTI")
        queued.call("SET", "k", "v")
        queued.call("GET", "k")
        other = _line_of(admin, "queued")
        out.append({name: other[name] for name in _EXACT})
        out.append(16384 <= int(other["qbuf"]) + int(other["qbuf-free"]) < 32768)
        queued.call("DISCARD")
        # (the Tcl test "query buffer resized correctly": Redis's cron frees it within a second)
        wait_until(lambda: int((idle := _line_of(admin, "queued"))["idle"]) >= 3
                   and int(idle["qbuf"]) + int(idle["qbuf-free"]) == 0, "the idle client's query buffer goes",
                   timeout=20)
        return out


def test_client_memory_fields_as_redis(redis_server: Any, fanout_broker: Any) -> None:
    expected = _scenario(redis_server.port)
    assert expected[0]["qbuf"] == "26"  # the Tcl test "CLIENT INFO"
    assert _scenario(fanout_broker.port) == expected
