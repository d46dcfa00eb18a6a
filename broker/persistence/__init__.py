"""Persistence in Redis's own formats: RDB snapshots, DUMP/RESTORE payloads, the AOF.

Layout:
    rdb.py       the RDB file format (version 10 written, 1-11 read): dump_rdb,
                 load_rdb, dump_value/load_value (the DUMP payload)
    snapshot.py  saving to disk (temp file, fsync, rename), BGSAVE's forked
                 child, the save schedule and the counters INFO persistence shows
    listpack.py, ziplist.py, intset.py, zipmap.py
                 the compact encodings Redis stores inside RDB strings
    lzf.py       LZF (de)compression of RDB strings
    crc64.py     the CRC-64 (Jones) checksum Redis puts at the end of a file
    manifest.py  Redis 7's AOF manifest: base, incremental and history files (sans-I/O)
    aof_format.py  AOF contents: reading commands back (truncation, corruption), writing a base
    aof.py       the append-only file: buffer, write, fsync policies, rewrites, start-up load
"""
