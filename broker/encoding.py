"""OBJECT ENCODING: the representation redis-server 7.0 would use for a value (sans-I/O).

Values here are plain Python objects (see ``broker.keyspace``), so the encoding is
derived from the value and the ``*-max-listpack-*`` / ``set-max-intset-entries``
thresholds, as if the value had been built in one go. Redis never converts back:
a hash or set that outgrew its compact form stays ``hashtable`` when it shrinks,
and a string changed in place (SETRANGE, APPEND, SETBIT ...) is ``raw`` even if it
reads as an integer. Those values are remembered in ``Keyspace.encodings`` (key ->
(the value object, its encoding)), valid while the key still holds that very
object: an overwrite or a new value under the key needs no bookkeeping, it is
simply not the remembered object (``delete`` drops the entry, so it holds no value
alive). Sorted sets carry their own ``encoding`` (``broker.zset``).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Iterable

# ``string2l``: the integer a string encodes exactly, else None (the listpack reader's)
from broker.persistence.listpack import as_int as as_long

if TYPE_CHECKING:
    from broker.config import Config
    from broker.keyspace import Keyspace

__all__ = ["as_long", "encoding_of", "keep_converted", "mark_raw"]

_EMBSTR_LIMIT = 44
# the defaults of hash-max-listpack-entries/-value in Redis 7.0's config.c
_HASH_LISTPACK_ENTRIES, _HASH_LISTPACK_VALUE = 512, 64
_INTSET_ENTRIES = 512


def encoding_of(value: Any, config: "Config | None" = None, db: "Keyspace | None" = None,
                key: bytes = b"") -> bytes:
    """OBJECT ENCODING of ``value`` (under ``key`` in ``db``, whose remembered
    conversions come first)."""
    if db is not None and db.encodings:
        kept = db.encodings.get(key)
        if kept is not None and kept[0] is value:
            return kept[1]
    kind = type(value)
    if kind is bytes:
        if as_long(value) is not None:
            return b"int"
        return b"embstr" if len(value) <= _EMBSTR_LIMIT else b"raw"
    if kind is dict:
        entries = int(config.get("hash-max-listpack-entries")) if config else _HASH_LISTPACK_ENTRIES
        longest = int(config.get("hash-max-listpack-value")) if config else _HASH_LISTPACK_VALUE
        # (map(len): the scan runs at C speed, HDEL calls it on small hashes)
        small = len(value) <= entries and (not value or (
            max(map(len, value)) <= longest and max(map(len, value.values())) <= longest))
        return b"listpack" if small else b"hashtable"
    if kind is set:
        entries = int(config.get("set-max-intset-entries")) if config else _INTSET_ENTRIES
        small = len(value) <= entries and all(as_long(member) is not None for member in value)
        return b"intset" if small else b"hashtable"
    if kind is deque:
        return b"quicklist"
    return getattr(value, "encoding", b"listpack")  # type: ignore[no-any-return]


def keep_converted(db: "Keyspace", key: bytes, value: Any, leaving: Iterable[bytes], gone: int = 0) -> None:
    """Before ``leaving`` (members or fields) go from a hash or set: if it is in its
    big encoding now, it stays there (Redis converts listpack/intset -> hashtable,
    never back).

    O(len(leaving)): what makes a value big now is its length or an element that
    does not fit (a non-integer member, a long field or value); removing elements
    that fit changes neither, so only the leaving ones need a look. ``gone``: that
    many of them (SPOP's) have left the set already.
    """
    encodings = db.encodings
    if encodings:
        kept = encodings.get(key)
        if kept is not None and kept[0] is value:
            return
    config = getattr(db.host, "config", None)
    if type(value) is set:
        limit = int(config.get("set-max-intset-entries")) if config else _INTSET_ENTRIES
        big = len(value) + gone > limit or any(
            (gone or member in value) and as_long(member) is None for member in leaving)
    else:
        limit = int(config.get("hash-max-listpack-entries")) if config else _HASH_LISTPACK_ENTRIES
        longest = int(config.get("hash-max-listpack-value")) if config else _HASH_LISTPACK_VALUE
        big = len(value) > limit or any(
            field in value and (len(field) > longest or len(value[field]) > longest) for field in leaving)
    if big:
        encodings[key] = (value, b"hashtable")


def mark_raw(db: "Keyspace", key: bytes, value: bytes) -> None:
    """A string just changed in place (SETRANGE, APPEND, SETBIT, BITFIELD): ``raw``.

    Only strings that would read as ``int`` or ``embstr`` need the mark (longer ones
    are ``raw`` anyway, and a mark must not keep a big value alive after a SET
    replaced it). CPython shares the objects of 0 or 1 byte, so every overwrite of a
    string drops its key's mark (Keyspace.set, and SET's fast path) rather than
    rely on the new value being another object; not the empty string, which no
    write in place leaves (APPEND of "" to a new key is embstr in Redis)."""
    if 0 < len(value) <= _EMBSTR_LIMIT:
        db.encodings[key] = (value, b"raw")
