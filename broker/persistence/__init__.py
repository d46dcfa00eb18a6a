"""Persistence: the data outlives the process (Redis's AOF and RDB formats).

Layout:
    manifest.py    Redis 7's AOF manifest: base, incremental and history files (sans-I/O)
    aof_format.py  AOF contents: reading commands back (truncation, corruption), writing a base
    aof.py         the append-only file: buffer, write, fsync policies, rewrites, start-up load
"""
