"""Old RDB encodings (zipmap, ziplists, quicklists of ziplists, plain lists,
string scores, seconds expiries, version-1 streams), hand-built from the format
spec: redis-server 7.0 and fanout load the same file to the same dataset."""

from __future__ import annotations

import os
import shutil
import tempfile
import time

from tests.support.persistence import read_dataset, start_fanout_on, start_redis_on
from tests.support.rdb_files import OLD_FORMAT_EXPECTED, old_format_body, rdb_file


def test_old_encodings_load_as_redis_server_loads_them() -> None:
    directory = tempfile.mkdtemp(prefix="fanout-oldrdb-")
    try:
        deadline_s = int(time.time()) + 1000
        with open(os.path.join(directory, "dump.rdb"), "wb") as handle:
            handle.write(rdb_file(old_format_body(deadline_s), version=9))
        redis = start_redis_on(directory)
        try:
            theirs = read_dataset(redis.port)
        finally:
            redis.stop()
        fanout = start_fanout_on(directory, "--save", "")
        try:
            ours = read_dataset(fanout.port)
        finally:
            fanout.stop()
        assert ours == theirs
        for name, (kind, value) in OLD_FORMAT_EXPECTED.items():
            assert ours[name][:2] == (kind, value), name
        assert ours[(0, b"expiring")][2] == deadline_s * 1000
        meta, entries = ours[(0, b"stream:v1")][1]
        assert entries == [[b"10-1", [b"f", b"a"]], [b"10-2", [b"g", b"b"]]]
        assert meta[b"last-generated-id"] == b"10-2" and meta[b"entries-added"] == 2
    finally:
        shutil.rmtree(directory, ignore_errors=True)
