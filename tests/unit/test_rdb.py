"""The RDB format without sockets: codecs, whole-file round trips, 7.2's types,
refusals that leave the broker untouched, and the LOADING/MISCONF gates."""

from __future__ import annotations

import io
import struct
from collections import deque

import pytest

from broker.core import Broker, Client
from broker.persistence import intset, listpack, lzf, ziplist, zipmap
from broker.persistence.crc64 import crc64
from broker.persistence.rdb import (
    RdbError,
    dump_rdb,
    dump_value,
    load_rdb,
    load_value,
    parse_rdb,
)
from broker.persistence.snapshot import LOADING, MISCONF
from broker.resp import CommandError
from broker.stream import Stream
from broker.zset import ZSet
from tests.support.rdb_files import length, rdb_file, string


class _Client(Client):
    def deliver(self, message: object) -> None:  # pragma: no cover - no pub/sub here
        pass


def _broker() -> tuple[Broker, _Client]:
    broker = Broker(clock=lambda: 1_700_000_000.0)
    client = _Client(broker)
    broker.connect(client)
    return broker, client


def test_crc64_is_jones_as_redis() -> None:
    assert crc64(b"123456789") == 0xE9C6D914C4B8D9CA  # the check value in Redis's crc64.c test
    assert crc64(b"56789", crc64(b"1234")) == crc64(b"123456789")


@pytest.mark.parametrize("value", [0, 127, 128, -1, 4095, -4096, 4096, 32767, -32768, 8388607, -8388608,
                                   2**31 - 1, -(2**31), 2**31, 2**63 - 1, -(2**63)])
def test_listpack_integers_of_every_width(value: int) -> None:
    assert listpack.decode(listpack.encode([value])) == [value]
    assert listpack.decode(listpack.encode([b"%d" % value])) == [value]


def test_listpack_strings_of_every_length_and_non_canonical_numbers() -> None:
    values = [b"", b"a", b"x" * 63, b"x" * 64, b"y" * 4095, b"z" * 4096, b"007", b"-0", b"+1", b"1 ",
              b"99999999999999999999", bytes(range(256))]
    assert listpack.decode(listpack.encode(values)) == values
    with pytest.raises(ValueError):
        listpack.decode(listpack.encode([b"abc"])[:-2] + b"\xff")


def test_intset_ziplist_zipmap_round_trips() -> None:
    for numbers in ([1, 2, 3], [-40000, 5], [2**40, -1]):
        assert intset.decode(intset.encode(numbers)) == sorted(numbers)
    with pytest.raises(ValueError):
        intset.decode(struct.pack("<II2h", 2, 2, 5, 1))  # not ascending
    items = [b"a", b"12", b"-5", b"x" * 300, b"70000", b"5000000000", b"", b"12"]
    assert listpack.to_bytes(ziplist.decode(ziplist.encode(items))) == items
    pairs = [(b"k", b"v"), (b"long", b"w" * 300)]
    assert zipmap.decode(zipmap.encode(pairs)) == pairs


def test_lzf_python_fallback_reads_what_liblzf_writes() -> None:
    data = b"hello hello hello " * 50 + bytes(range(200))
    packed = lzf.compress(data)
    assert packed is not None and len(packed) < len(data)
    assert lzf._decompress_py(packed, len(data)) == data
    assert lzf.decompress(packed, len(data)) == data
    with pytest.raises(ValueError):
        lzf._decompress_py(b"\xe0\xff", 10)


def _fill(broker: Broker) -> None:
    db = broker.dbs[0]
    db.data[b"s"] = b"text"
    db.data[b"n"] = b"-123"
    db.data[b"h"] = {b"f": b"v", b"n": b"1"}
    db.data[b"hbig"] = {b"f%d" % i: b"v" for i in range(600)}
    db.data[b"set"] = {b"1", b"2"}
    db.data[b"sset"] = {b"a", b"b"}
    db.data[b"l"] = deque([b"a", b"1", b"x" * 10000])
    db.data[b"z"] = ZSet([(b"a", 1.5), (b"b", -2.0), (b"c", float("inf"))])
    db.data[b"zbig"] = ZSet([(b"m%d" % i, i / 7) for i in range(200)])
    stream = Stream()
    for i in range(150):
        stream.append((1000 + i // 3, i % 3), [b"f", b"%d" % i] if i % 2 else [b"g", b"x", b"h", b""])
    stream.delete((1000, 1))
    db.data[b"st"] = stream
    db.set_expire(b"s", 1_700_000_100_000)
    broker.dbs[9].data[b"nine"] = b"9"


def test_whole_file_round_trip() -> None:
    broker, _ = _broker()
    _fill(broker)
    out = io.BytesIO()
    dump_rdb(broker, out, now_ms=broker.now_ms)
    data = out.getvalue()
    assert data.startswith(b"REDIS0010")
    other, _ = _broker()
    report = load_rdb(other, data)
    assert report.keys == 11 and report.checksum_checked and report.aux[b"aof-base"] == b"0"
    for index in (0, 9):
        mine, theirs = broker.dbs[index].data, other.dbs[index].data
        assert mine.keys() == theirs.keys()
        for key, value in mine.items():
            if isinstance(value, Stream):
                got = theirs[key]
                assert (got.ids, got.values, got.last_id, got.max_deleted_id, got.entries_added) == (
                    value.ids, value.values, value.last_id, value.max_deleted_id, value.entries_added)
            elif isinstance(value, ZSet):
                assert theirs[key].scores == value.scores
            else:
                assert theirs[key] == value
    assert other.dbs[0].expires == {b"s": 1_700_000_100_000}
    aof = io.BytesIO()
    dump_rdb(broker, aof, aof_base=True)
    assert parse_rdb(aof.getvalue())[2].aux[b"aof-base"] == b"1"


def test_version_11_types_of_redis_7_2() -> None:
    set_lp = listpack.encode([b"a", b"b", 7])
    stream_lp = listpack.encode([1, 0, 1, b"f", 0, 2, 0, 0, b"v", 4])
    stream = (length(1) + string(struct.pack(">QQ", 5, 0)) + string(stream_lp) + length(1)
              + length(5) + length(0) + length(5) + length(0) + length(0) + length(0) + length(1) + length(0))
    body = b"\xfe\x00" + b"\x14" + string(b"set") + string(set_lp) + b"\x15" + string(b"st") + stream
    dbs, _, report = parse_rdb(rdb_file(body, version=11))
    assert report.version == 11
    assert dbs[0][b"set"] == {b"a", b"b", b"7"}
    assert dbs[0][b"st"].ids == [(5, 0)] and dbs[0][b"st"].values == [[b"f", b"v"]]


@pytest.mark.parametrize("body, message", [
    (b"\xfe\x00\x07" + string(b"mod:key") + length(0x1234 << 10), "key b'mod:key' holds a value of module type"),
    # refused without scripting; with it, this library does not compile: refused too
    (b"\xf5" + string(b"#!lua name=lib\nthis is not lua"), "function library"),
    (b"\xf7" + length(77), "aux data of module"),
    (b"\xfe\x00" + (b"\x00" + string(b"k") + string(b"v")) * 2, "duplicated key b'k'"),
])
def test_what_fanout_cannot_hold_is_refused_and_nothing_changes(body: bytes, message: str) -> None:
    broker, client = _broker()
    broker.execute(client, [b"SET", b"existing", b"1"])
    with pytest.raises(RdbError, match=message):
        load_rdb(broker, rdb_file(body))
    assert broker.dbs[0].data == {b"existing": b"1"}


def test_stream_consumer_groups_load() -> None:
    lp = listpack.encode([1, 0, 1, b"f", 0, 2, 0, 0, b"v", 4])
    group = (string(b"g") + length(5) + length(0) + length(1)  # name, last id 5-0, entries-read 1
             + length(1) + struct.pack(">QQ", 5, 0) + struct.pack("<q", 1000) + length(2)  # global PEL
             + length(1) + string(b"c") + struct.pack("<q", 900) + length(1) + struct.pack(">QQ", 5, 0))
    stream = (length(1) + string(struct.pack(">QQ", 5, 0)) + string(lp) + length(1) + length(5) + length(0)
              + length(5) + length(0) + length(0) + length(0) + length(1) + length(1) + group)
    data = rdb_file(b"\xfe\x00\x13" + string(b"jobs") + stream, version=10)
    loaded = parse_rdb(data)[0][0][b"jobs"]
    cg = loaded.groups[b"g"]
    assert (cg.last_id, cg.entries_read, list(cg.consumers)) == ((5, 0), 1, [b"c"])
    nack = cg.pel[(5, 0)]
    assert (nack.delivery_time, nack.delivery_count, nack.consumer.name) == (1000, 2, b"c")
    assert cg.consumers[b"c"].pel[(5, 0)] is nack and cg.consumers[b"c"].seen_time == 900
    out = io.BytesIO()
    broker, _ = _broker()
    broker.dbs[0].data[b"jobs"] = loaded
    dump_rdb(broker, out)
    again = parse_rdb(out.getvalue())[0][0][b"jobs"].groups[b"g"]
    assert (again.last_id, again.entries_read, again.pel[(5, 0)].delivery_count) == ((5, 0), 1, 2)


def test_corruption_is_reported_with_its_offset() -> None:
    broker, _ = _broker()
    _fill(broker)
    out = io.BytesIO()
    dump_rdb(broker, out)
    data = bytearray(out.getvalue())
    truncated = bytes(data[:len(data) // 2])
    with pytest.raises(RdbError, match=r"unexpected end of file \(at offset \d+\)"):
        parse_rdb(truncated)
    data[-20] ^= 0x55
    with pytest.raises(RdbError, match=r"offset \d+"):
        parse_rdb(bytes(data))
    with pytest.raises(RdbError, match="wrong signature"):
        parse_rdb(b"NOTREDIS")


def test_dump_payload_footer_and_errors() -> None:
    payload = dump_value(b"123")
    assert payload == b"\x00\xc0\x7b" + b"\x0a\x00" + struct.pack("<Q", crc64(b"\x00\xc0\x7b\x0a\x00"))
    assert load_value(payload) == b"123"
    newer = b"\x00\xc0\x7b\x0b\x00"
    assert load_value(newer + struct.pack("<Q", crc64(newer))) == b"123"  # 7.2's version 11
    future = b"\x00\xc0\x7b\x0c\x00"
    with pytest.raises(RdbError, match="version or checksum"):
        load_value(future + struct.pack("<Q", crc64(future)))


def test_loading_gate_refuses_all_but_loading_commands() -> None:
    broker, client = _broker()
    broker.persistence.set_loading(True)
    for _ in range(2):  # the second time through the (emptied) fast-path cache too
        reply = broker.execute(client, [b"GET", b"k"])
        assert isinstance(reply, CommandError) and reply.message == LOADING
    assert b"loading:1" in broker.execute(client, [b"INFO", b"persistence"]).encode()
    broker.persistence.set_loading(False)
    assert broker.execute(client, [b"GET", b"k"]) is None


def test_misconf_gate_after_a_failed_background_save() -> None:
    broker, client = _broker()
    broker.execute(client, [b"CONFIG", b"SET", b"save", b"3600 1"])  # a bare Broker has no schedule
    broker.persistence.last_bgsave_ok = False
    broker.persistence._refresh_gate()
    reply = broker.execute(client, [b"SET", b"k", b"v"])
    assert isinstance(reply, CommandError) and reply.message == MISCONF
    assert broker.execute(client, [b"PING"]).message == MISCONF  # type: ignore[union-attr]
    assert broker.execute(client, [b"GET", b"k"]) is None
    broker.execute(client, [b"MULTI"])
    queued = broker.execute(client, [b"SET", b"k", b"v"])
    assert isinstance(queued, CommandError) and queued.message == MISCONF
    broker.execute(client, [b"DISCARD"])
    broker.execute(client, [b"CONFIG", b"SET", b"save", b""])  # no schedule: no refusal, as Redis
    assert broker.execute(client, [b"SET", b"k", b"v"]).wire == b"+OK\r\n"  # type: ignore[union-attr]
    assert broker.dirty == 1  # the refused writes did not count
