"""LOLWUT against a real redis-server: VERSION 6's skyline (random, as Redis's
rand() draws it) compared by shape: the canvas size for the arguments given, only
renderCanvas's four grays, the top rows sky, the bottom row built on, and the
dedication lines; other versions compared as they are."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.resp_client import RespClient

GRAYS = (b"0;30;40m", b"0;90;100m", b"0;37;47m", b"0;97;107m")
CELL = re.compile(rb"\x1b\[(" + b"|".join(GRAYS) + rb") \x1b\[0m")
SKY = GRAYS[3]


def _shape(text: bytes) -> tuple[Any, ...]:
    lines = text.split(b"\n")
    rows, trailer = lines[:-3], lines[-3:]
    assert all(CELL.sub(b"", row) == b"" for row in rows), "only colour cells on the canvas"
    cells = [CELL.findall(row) for row in rows]
    widths = {len(row) for row in cells}
    # the background towers are at least rows/2 high: the bottom row is never all sky
    bottom_built = bool(cells) and any(cell != SKY for cell in cells[-1])
    return len(rows), widths, bottom_built, trailer


@pytest.mark.parametrize("args", [(), ("10", "5"), ("1", "1"), ("200", "40"), ("-3", "0")])
def test_lolwut6_shape_as_redis(redis_server: Any, fanout_broker: Any, args: tuple[str, ...]) -> None:
    shapes = []
    for port in (redis_server.port, fanout_broker.port):
        with RespClient(port) as client:
            version = client.call("INFO", "server").split(b"redis_version:")[1].split(b"\r\n")[0]
            reply = client.call("LOLWUT", "VERSION", "6", *args)
            shapes.append(_shape(reply.replace(version, b"V")))
    assert shapes[1] == shapes[0]


@pytest.mark.parametrize("args", [("VERSION", "7"), ("VERSION", "6", "x"), ("VERSION", "x")])
def test_lolwut_other_replies_as_redis(redis_server: Any, fanout_broker: Any, args: tuple[str, ...]) -> None:
    replies = []
    for port in (redis_server.port, fanout_broker.port):
        with RespClient(port) as client:
            version = client.call("INFO", "server").split(b"redis_version:")[1].split(b"\r\n")[0]
            reply = client.call("LOLWUT", *args)
            replies.append(reply.replace(version, b"V") if isinstance(reply, bytes) else reply)
    assert replies[1] == replies[0]
