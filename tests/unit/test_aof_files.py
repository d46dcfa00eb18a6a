"""AOF files without a server: the manifest, reading commands back, truncated tails
cut at every byte, corruption refused (broker/persistence)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from broker.core import Broker
from broker.persistence.aof import AofLoadError, load_files
from broker.persistence.aof_format import AofCorrupt, AofTruncated, read_commands
from broker.persistence.manifest import Manifest, ManifestError
from broker.propagate import encode_command


def test_manifest_round_trip_and_redis_layout():
    text = ("file appendonly.aof.3.base.rdb seq 3 type b\n"
            "file appendonly.aof.2.incr.aof seq 2 type h\n"
            "file appendonly.aof.4.incr.aof seq 4 type i\n"
            "file appendonly.aof.5.incr.aof seq 5 type i\n")
    manifest = Manifest.parse(text)
    assert manifest.format() == text
    assert [f.name for f in manifest.files()] == ["appendonly.aof.3.base.rdb", "appendonly.aof.4.incr.aof",
                                                  "appendonly.aof.5.incr.aof"]
    assert manifest.new_incr() == "appendonly.aof.6.incr.aof"
    assert manifest.new_base(rdb=False) == "appendonly.aof.4.base.aof"
    manifest.retire_incrs(keep_last=True)
    assert manifest.format() == ("file appendonly.aof.4.base.aof seq 4 type b\n"
                                 "file appendonly.aof.4.incr.aof seq 4 type h\n"
                                 "file appendonly.aof.5.incr.aof seq 5 type h\n"
                                 "file appendonly.aof.3.base.rdb seq 3 type h\n"
                                 "file appendonly.aof.2.incr.aof seq 2 type h\n"
                                 "file appendonly.aof.6.incr.aof seq 6 type i\n")


@pytest.mark.parametrize("text, message", [
    ("", "Found an empty AOF manifest"),
    ("file a seq 1\n", "Invalid AOF manifest file format"),
    ("file a/b seq 1 type b\n", "File can't be a path"),
    ("file a seq 1 type b\nfile b seq 2 type b\n", "Found duplicate base file information"),
    ("file a seq 2 type i\nfile b seq 1 type i\n", "Found a non-monotonic sequence number"),
    ("file a seq 1 type x\n", "Unknown AOF file type"),
])
def test_bad_manifests_are_refused_with_redis_words(text, message):
    with pytest.raises(ManifestError, match=message):
        Manifest.parse(text)


def _commands(count: int) -> bytes:
    return b"".join(encode_command([b"SET", b"k%d" % i, b"v%d" % i]) for i in range(count))


def test_read_commands_skips_annotations_and_reports_offsets():
    data = b"#TS:1700000000\r\n" + _commands(2)
    read = list(read_commands(data))
    assert [argv for argv, _ in read] == [[b"SET", b"k0", b"v0"], [b"SET", b"k1", b"v1"]]
    assert read[-1][1] == len(data)


def _aof_dir(tmp_path: Path, data: bytes) -> tuple[Manifest, Path]:
    manifest = Manifest()
    name = manifest.new_incr()
    (tmp_path / name).write_bytes(data)
    return manifest, tmp_path / name


def test_a_tail_cut_at_every_byte_of_the_last_command_loads_the_rest_and_is_truncated(tmp_path):
    whole = _commands(3)
    last = encode_command([b"SET", b"last", b"value"])
    for cut in range(len(last)):
        manifest, path = _aof_dir(tmp_path, whole + last[:cut])
        broker = Broker()
        assert load_files(broker, str(tmp_path), manifest, truncated_ok=True) == 3
        assert sorted(broker.dbs[0].data) == [b"k0", b"k1", b"k2"]
        assert path.stat().st_size == len(whole)
    manifest, path = _aof_dir(tmp_path, whole + last)
    broker = Broker()
    assert load_files(broker, str(tmp_path), manifest, truncated_ok=True) == 4
    assert broker.dbs[0].data[b"last"] == b"value"


def test_a_truncated_tail_is_refused_without_aof_load_truncated_and_the_file_kept(tmp_path):
    data = _commands(3) + b"*3\r\n$3\r\nSET"
    manifest, path = _aof_dir(tmp_path, data)
    with pytest.raises(AofLoadError, match=r"Unexpected end of file .* at offset %d" % len(_commands(3))):
        load_files(Broker(), str(tmp_path), manifest, truncated_ok=False)
    assert path.read_bytes() == data


def test_an_unfinished_transaction_at_the_end_is_left_out(tmp_path):
    data = _commands(2) + encode_command([b"MULTI"]) + encode_command([b"SET", b"t", b"1"])
    manifest, path = _aof_dir(tmp_path, data)
    broker = Broker()
    load_files(broker, str(tmp_path), manifest, truncated_ok=True)
    assert b"t" not in broker.dbs[0].data and b"k1" in broker.dbs[0].data
    assert path.stat().st_size == len(_commands(2))


@pytest.mark.parametrize("position", [0, 1, 5, 30, 60])
def test_corruption_anywhere_but_the_tail_is_refused_naming_file_and_offset_and_nothing_loads(tmp_path, position):
    data = bytearray(_commands(5))
    data[position] = ord("!")
    manifest, path = _aof_dir(tmp_path, bytes(data))
    broker = Broker()
    with pytest.raises(AofLoadError, match=r"appendonly\.aof\.1\.incr\.aof at offset \d+"):
        load_files(broker, str(tmp_path), manifest, truncated_ok=True)
    assert path.read_bytes() == bytes(data)
    assert not broker.dbs[0].data
    with pytest.raises((AofCorrupt, AofTruncated)):
        list(read_commands(bytes(data)))


def test_a_truncated_file_that_is_not_the_last_is_refused(tmp_path):
    manifest = Manifest()
    first = manifest.new_incr()
    second = manifest.new_incr()
    (tmp_path / first).write_bytes(_commands(2)[:-3])
    (tmp_path / second).write_bytes(_commands(1))
    with pytest.raises(AofLoadError, match=first):
        load_files(Broker(), str(tmp_path), manifest, truncated_ok=True)
    assert os.path.getsize(tmp_path / first) == len(_commands(2)) - 3
