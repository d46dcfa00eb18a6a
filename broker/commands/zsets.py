"""Sorted set commands (ZADD, ZRANGE, ZUNIONSTORE, BZPOPMIN ...), as redis-server 7.

Values are ``broker.zset.ZSet``; every single-member update is O(log n). Argument
checks follow Redis's ``t_zset.c`` in the same order, so the first error reported
for a bad command line is the one Redis reports. Scores come back as Python floats
and the encoder writes them (RESP2 bulk string, RESP3 double); ZSCAN is the one
place scores are strings in both protocols, as in Redis.
"""

from __future__ import annotations

import math
import random
import re
from typing import Any, Callable

from broker.commands.args import NOT_INTEGER, SYNTAX, parse_int, parse_timeout
from broker.commands.scan import parse_scan_args, scan_page
from broker.client import Client
from broker.glob import glob_match
from broker.keyspace import WRONGTYPE, Keyspace
from broker.notify import NotifyClass
from broker.resp import NULL_ARRAY, CommandError, format_double
from broker.results import Blocked
from broker.table import command
from broker.zset import MAX_MEMBER, LexRange, ScoreRange, ZSet

__all__: list[str] = []

_ZSET = NotifyClass.ZSET
_GENERIC = NotifyClass.GENERIC

NOT_FLOAT = "ERR value is not a valid float"
SCORE_RANGE = "ERR min or max is not a float"
LEX_RANGE = "ERR min or max not valid string range item"
NAN_RESULT = "ERR resulting score is not a number (NaN)"
_LONG_MAX = 2**63 - 1
_SPACES = b" \t\n\v\f\r"
_HEX_FLOAT = re.compile(rb"[+-]?0[xX][0-9a-fA-F]*\.?[0-9a-fA-F]*([pP][+-]?[0-9]+)?")
_MANTISSA_DIGITS = re.compile(rb"[1-9]")


# ------------------------------------------------------------ argument parsing

def _strtod(text: bytes) -> float | None:
    """C ``strtod`` over the whole of ``text`` (no leading space), None if it stops early.

    Accepts what glibc does and Python's float() does not (hex floats) and refuses
    what float() takes and strtod does not (``_``, trailing spaces).
    """
    if not text or text[-1] in _SPACES or b"_" in text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    if _HEX_FLOAT.fullmatch(text):
        try:
            return float.fromhex(text.decode())
        except (ValueError, OverflowError):
            return None
    return None


def parse_score(raw: bytes, error: str = NOT_FLOAT) -> float:
    """A score or weight as Redis ``getDoubleFromObject`` reads it.

    Refuses spaces, NaN and values strtod flags ERANGE (``1e400``, ``1e-400``);
    ``inf`` spelled out is fine.
    """
    value = _strtod(raw) if raw and raw[0] not in _SPACES else None
    if value is None or math.isnan(value):
        raise CommandError(error)
    if math.isinf(value) and b"inf" not in raw.lower():
        raise CommandError(error)  # overflow
    if value == 0.0 and _MANTISSA_DIGITS.search(_mantissa(raw)):
        raise CommandError(error)  # underflow to zero
    return value


def _mantissa(raw: bytes) -> bytes:
    """The digits before the exponent (``e`` in decimal, ``p`` in hex notation)."""
    lowered = raw.lower()
    if lowered.lstrip(b"+-").startswith(b"0x"):
        return lowered.split(b"p")[0][2:]
    return lowered.split(b"e")[0]


def _range_item(raw: bytes) -> tuple[float, bool]:
    """One end of a score range (``zslParseRange``): ``(`` means exclusive.

    strtod here may skip leading spaces and an empty string reads as 0, as in Redis.
    """
    exclusive = raw[:1] == b"("
    text = raw[1:] if exclusive else raw
    stripped = text.lstrip(_SPACES)
    if not text:
        return 0.0, exclusive
    value = _strtod(stripped) if stripped else None
    if value is None or math.isnan(value):
        raise CommandError(SCORE_RANGE)
    return value, exclusive


def parse_score_range(low: bytes, high: bytes) -> ScoreRange:
    low_value, low_ex = _range_item(low)
    high_value, high_ex = _range_item(high)
    return ScoreRange(low_value, high_value, low_ex, high_ex)


def _lex_item(raw: bytes, is_max: bool) -> tuple[Any, bool]:
    first = raw[:1]
    if first == b"+" and len(raw) == 1:
        return MAX_MEMBER, False
    if first == b"-" and len(raw) == 1:
        # '-' below everything: as a minimum it is b"" inclusive; as a maximum, nothing.
        return (None if is_max else b""), False
    if first == b"(":
        return raw[1:], True
    if first == b"[":
        return raw[1:], False
    raise CommandError(LEX_RANGE)


def parse_lex_range(low: bytes, high: bytes) -> LexRange:
    low_value, low_ex = _lex_item(low, False)
    high_value, high_ex = _lex_item(high, True)
    return LexRange(low_value, high_value, low_ex, high_ex)


def _long(raw: bytes) -> int:
    return parse_int(raw, NOT_INTEGER)


# -------------------------------------------------------------------- helpers

def _get(db: Keyspace, key: bytes) -> ZSet | None:
    return db.get_typed(key, ZSet)  # type: ignore[no-any-return]


def _read_zset(db: Keyspace, key: bytes) -> ZSet | None:
    """The lookup of a read command (``lookupKeyRead``): counts a hit or miss, keymiss on a miss."""
    return db.read_typed(key, ZSet)  # type: ignore[no-any-return]


def _scored(client: Client, pairs: list[tuple[bytes, float]], withscores: bool) -> list[Any]:
    """Members, with scores flat (RESP2) or as [member, score] pairs (RESP3)."""
    if not withscores:
        return [member for member, _ in pairs]
    if client.proto >= 3:
        return [[member, score] for member, score in pairs]
    flat: list[Any] = []
    for member, score in pairs:
        flat.append(member)
        flat.append(score)
    return flat


def _rank_bounds(start: int, end: int, length: int) -> tuple[int, int] | None:
    """Redis's index sanitising for ZRANGE/ZREMRANGEBYRANK; None when empty."""
    if start < 0:
        start += length
    if end < 0:
        end += length
    if start < 0:
        start = 0
    if start > end or start >= length:
        return None
    if end >= length:
        end = length - 1
    return start, end


def _store(db: Keyspace, key: bytes, result: ZSet, event: bytes) -> int:
    """Write a *STORE result like Redis ``setKey``; an empty one deletes ``key``."""
    if result:
        db.set(key, result)
        db.notify(_ZSET, event, key)
        db.signal_ready(key)
        return len(result)
    if db.lookup(key) is not None:
        db.delete(key)
        db.notify(_GENERIC, b"del", key)
    return 0


def _after_removal(db: Keyspace, key: bytes, zset: ZSet, event: bytes) -> None:
    db.notify(_ZSET, event, key)
    db.delete_if_empty(key, zset)


# ---------------------------------------------------------------- ZADD family

def _zadd(client: Client, argv: list[bytes], start: int, incr: bool) -> Any:
    nx = xx = gt = lt = ch = False
    index = start
    while index < len(argv):
        option = argv[index].upper()
        if option == b"NX":
            nx = True
        elif option == b"XX":
            xx = True
        elif option == b"GT":
            gt = True
        elif option == b"LT":
            lt = True
        elif option == b"CH":
            ch = True
        elif option == b"INCR":
            incr = True
        else:
            break
        index += 1
    elements = len(argv) - index
    if elements % 2 or not elements:
        raise CommandError(SYNTAX)
    elements //= 2
    if nx and xx:
        raise CommandError("ERR XX and NX options at the same time are not compatible")
    if (gt and nx) or (lt and nx) or (gt and lt):
        raise CommandError("ERR GT, LT, and/or NX options at the same time are not compatible")
    if incr and elements > 1:
        raise CommandError("ERR INCR option supports a single increment-element pair")
    scores = [parse_score(argv[index + 2 * i]) for i in range(elements)]
    key = argv[1]
    db = client.db
    zset = _get(db, key)
    added = updated = processed = 0
    score = 0.0
    if zset is None:
        if xx:
            return None if incr else 0
        zset = ZSet()
        db.add(key, zset)
    for i in range(elements):
        score = scores[i]
        member = argv[index + 2 * i + 1]
        current = zset.scores.get(member)
        if current is not None:
            if nx:
                continue
            if incr:
                score += current
                if math.isnan(score):
                    _zadd_done(db, key, incr, added, updated)
                    raise CommandError(NAN_RESULT)
            if (lt and score >= current) or (gt and score <= current):
                continue
            processed += 1
            if score != current:
                zset.add(member, score)
                updated += 1
        elif not xx:
            zset.add(member, score)
            added += 1
            processed += 1
    _zadd_done(db, key, incr, added, updated)
    if added + updated > 1:
        # zaddGenericCommand's dirty += added + updated (the core adds the first one)
        client.broker.dirty += added + updated - 1
    if incr:
        return score if processed else None
    return added + updated if ch else added


def _zadd_done(db: Keyspace, key: bytes, incr: bool, added: int, updated: int) -> None:
    if added or updated:
        db.notify(_ZSET, b"zincr" if incr else b"zadd", key)
    if added:
        db.signal_ready(key)


# ZADD key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]
@command("zadd", -4, "write denyoom fast", keys=(1, 1, 1), group="sorted-set")
def zadd(client: Client, argv: list[bytes]) -> Any:
    if len(argv) == 4:
        raw = argv[2]
        # A plain integer score (no sign, no options possible): strtod reads it as float() does.
        if raw.isdigit() and len(raw) < 300:
            return _zadd_one(client, argv[1], float(raw), argv[3])
    return _zadd(client, argv, 2, False)


def _zadd_one(client: Client, key: bytes, score: float, member: bytes) -> int:
    """ZADD key score member with no options, the common form, without the general loop."""
    db = client.db
    zset = db.lookup(key)
    if zset is None:
        zset = ZSet()
        db.add(key, zset)
    elif type(zset) is not ZSet:
        raise CommandError(WRONGTYPE)
    current = zset.scores.get(member)
    if current is not None and current == score:
        return 0
    zset.add(member, score)
    db.notify(_ZSET, b"zadd", key)
    if current is None:
        db.signal_ready(key)
        return 1
    return 0


# ZINCRBY key increment member
@command("zincrby", 4, "write denyoom fast", keys=(1, 1, 1), group="sorted-set")
def zincrby(client: Client, argv: list[bytes]) -> Any:
    return _zadd(client, argv, 2, True)


# ----------------------------------------------------------- point queries

# ZSCORE key member
@command("zscore", 3, "readonly fast", keys=(1, 1, 1), group="sorted-set")
def zscore(client: Client, argv: list[bytes]) -> Any:
    zset = _read_zset(client.db, argv[1])
    return None if zset is None else zset.scores.get(argv[2])


# ZMSCORE key member [member ...]
@command("zmscore", -3, "readonly fast", keys=(1, 1, 1), group="sorted-set")
def zmscore(client: Client, argv: list[bytes]) -> Any:
    zset = _read_zset(client.db, argv[1])
    if zset is None:
        return [None] * (len(argv) - 2)
    scores = zset.scores
    return [scores.get(member) for member in argv[2:]]


# ZCARD key
@command("zcard", 2, "readonly fast", keys=(1, 1, 1), group="sorted-set")
def zcard(client: Client, argv: list[bytes]) -> Any:
    zset = _read_zset(client.db, argv[1])
    return 0 if zset is None else len(zset)


def _zrank(client: Client, argv: list[bytes], reverse: bool) -> Any:
    # WITHSCORE is Redis 7.2; redis-server 7.0 refuses the 4th argument.
    if len(argv) > 4:
        raise CommandError(f"ERR wrong number of arguments for '{argv[0].decode().lower()}' command")
    withscore = False
    if len(argv) == 4:
        if argv[3].upper() != b"WITHSCORE":
            raise CommandError(SYNTAX)
        withscore = True
    missing = NULL_ARRAY if withscore else None
    zset = _read_zset(client.db, argv[1])
    if zset is None:
        return missing
    rank = zset.rank(argv[2], reverse)
    if rank is None:
        return missing
    if withscore:
        return [rank, zset.scores[argv[2]]]
    return rank


# ZRANK key member [WITHSCORE]
@command("zrank", -3, "readonly fast", keys=(1, 1, 1), group="sorted-set")
def zrank(client: Client, argv: list[bytes]) -> Any:
    return _zrank(client, argv, False)


# ZREVRANK key member [WITHSCORE]
@command("zrevrank", -3, "readonly fast", keys=(1, 1, 1), group="sorted-set")
def zrevrank(client: Client, argv: list[bytes]) -> Any:
    return _zrank(client, argv, True)


# ZCOUNT key min max
@command("zcount", 4, "readonly fast", keys=(1, 1, 1), group="sorted-set")
def zcount(client: Client, argv: list[bytes]) -> Any:
    rng = parse_score_range(argv[2], argv[3])
    zset = _read_zset(client.db, argv[1])
    if zset is None:
        return 0
    first, end = zset.score_bounds(rng)
    return end - first


# ZLEXCOUNT key min max
@command("zlexcount", 4, "readonly fast", keys=(1, 1, 1), group="sorted-set")
def zlexcount(client: Client, argv: list[bytes]) -> Any:
    rng = parse_lex_range(argv[2], argv[3])
    zset = _read_zset(client.db, argv[1])
    if zset is None:
        return 0
    first, end = zset.lex_bounds(rng)
    return end - first


# ZREM key member [member ...]
@command("zrem", -3, "write fast", keys=(1, 1, 1), group="sorted-set")
def zrem(client: Client, argv: list[bytes]) -> Any:
    db = client.db
    zset = _get(db, argv[1])
    if zset is None:
        return 0
    removed = 0
    for member in argv[2:]:
        if zset.remove(member):
            removed += 1
            if not zset:
                break
    if removed:
        _after_removal(db, argv[1], zset, b"zrem")
    return removed


# ------------------------------------------------------------------- ranges

_RANK, _SCORE, _LEX = "rank", "score", "lex"


def _zrange(client: Client, argv: list[bytes], src_index: int, dst: bytes | None,
            rangetype: str | None, reverse: bool | None) -> Any:
    """``zrangeGenericCommand``: every ZRANGE flavour, ZRANGESTORE when ``dst``."""
    withscores = False
    offset, limit = 0, -1
    index = src_index + 3
    while index < len(argv):
        option = argv[index].upper()
        left = len(argv) - index - 1
        if dst is None and option == b"WITHSCORES":
            withscores = True
        elif option == b"LIMIT" and left >= 2:
            offset = _long(argv[index + 1])
            limit = _long(argv[index + 2])
            index += 2
        elif reverse is None and option == b"REV":
            reverse = True
        elif rangetype is None and option == b"BYLEX":
            rangetype = _LEX
        elif rangetype is None and option == b"BYSCORE":
            rangetype = _SCORE
        else:
            raise CommandError(SYNTAX)
        index += 1
    reverse = bool(reverse)
    rangetype = rangetype or _RANK
    if limit != -1 and rangetype == _RANK:
        raise CommandError(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
    if withscores and rangetype == _LEX:
        raise CommandError("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
    low, high = argv[src_index + 1], argv[src_index + 2]
    if reverse and rangetype != _RANK:
        low, high = high, low
    pick: Callable[[ZSet], list[tuple[bytes, float]]]
    if rangetype == _RANK:
        start, stop = _long(low), _long(high)

        def pick(zset: ZSet) -> list[tuple[bytes, float]]:
            bounds = _rank_bounds(start, stop, len(zset))
            if bounds is None:
                return []
            first, last = bounds
            if reverse:
                n = len(zset)
                return zset.range(n - 1 - last, n - 1 - first, reverse=True)
            return zset.range(first, last)
    elif rangetype == _SCORE:
        score_range = parse_score_range(low, high)

        def pick(zset: ZSet) -> list[tuple[bytes, float]]:
            first, end = zset.score_bounds(score_range)
            return zset.slice(first, end, reverse, offset, limit)
    else:
        lex_range = parse_lex_range(low, high)

        def pick(zset: ZSet) -> list[tuple[bytes, float]]:
            first, end = zset.lex_bounds(lex_range, reverse)
            return zset.slice(first, end, reverse, offset, limit)
    db = client.db
    zset = _read_zset(db, argv[src_index])  # a read lookup for ZRANGESTORE's source too, as Redis
    pairs = pick(zset) if zset is not None else []
    if dst is not None:
        return _store(db, dst, ZSet(pairs), b"zrangestore")
    return _scored(client, pairs, withscores)


# ZRANGE key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]
@command("zrange", -4, "readonly", keys=(1, 1, 1), group="sorted-set")
def zrange(client: Client, argv: list[bytes]) -> Any:
    return _zrange(client, argv, 1, None, None, None)


# ZRANGESTORE dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]
@command("zrangestore", -5, "write denyoom", keys=(1, 2, 1), group="sorted-set")
def zrangestore(client: Client, argv: list[bytes]) -> Any:
    return _zrange(client, argv, 2, argv[1], None, None)


# ZREVRANGE key start stop [WITHSCORES]
@command("zrevrange", -4, "readonly", keys=(1, 1, 1), group="sorted-set")
def zrevrange(client: Client, argv: list[bytes]) -> Any:
    return _zrange(client, argv, 1, None, _RANK, True)


# ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]
@command("zrangebyscore", -4, "readonly", keys=(1, 1, 1), group="sorted-set")
def zrangebyscore(client: Client, argv: list[bytes]) -> Any:
    return _zrange(client, argv, 1, None, _SCORE, False)


# ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]
@command("zrevrangebyscore", -4, "readonly", keys=(1, 1, 1), group="sorted-set")
def zrevrangebyscore(client: Client, argv: list[bytes]) -> Any:
    return _zrange(client, argv, 1, None, _SCORE, True)


# ZRANGEBYLEX key min max [LIMIT offset count]
@command("zrangebylex", -4, "readonly", keys=(1, 1, 1), group="sorted-set")
def zrangebylex(client: Client, argv: list[bytes]) -> Any:
    return _zrange(client, argv, 1, None, _LEX, False)


# ZREVRANGEBYLEX key max min [LIMIT offset count]
@command("zrevrangebylex", -4, "readonly", keys=(1, 1, 1), group="sorted-set")
def zrevrangebylex(client: Client, argv: list[bytes]) -> Any:
    return _zrange(client, argv, 1, None, _LEX, True)


def _zremrange(client: Client, argv: list[bytes], rangetype: str) -> Any:
    """``zremrangeGenericCommand``: parse the range, then look the key up."""
    if rangetype == _RANK:
        start, stop = _long(argv[2]), _long(argv[3])
    elif rangetype == _SCORE:
        score_range = parse_score_range(argv[2], argv[3])
    else:
        lex_range = parse_lex_range(argv[2], argv[3])
    db = client.db
    key = argv[1]
    zset = _get(db, key)
    if zset is None:
        return 0
    if rangetype == _RANK:
        bounds = _rank_bounds(start, stop, len(zset))
        if bounds is None:
            return 0
        first, end = bounds[0], bounds[1] + 1
    elif rangetype == _SCORE:
        first, end = zset.score_bounds(score_range)
    else:
        first, end = zset.lex_bounds(lex_range)
    if end <= first:
        return 0
    removed = zset.remove_rank_range(first, end - 1)
    _after_removal(db, key, zset, b"zremrangeby" + rangetype.encode())
    return len(removed)


# ZREMRANGEBYRANK key start stop
@command("zremrangebyrank", 4, "write", keys=(1, 1, 1), group="sorted-set")
def zremrangebyrank(client: Client, argv: list[bytes]) -> Any:
    return _zremrange(client, argv, _RANK)


# ZREMRANGEBYSCORE key min max
@command("zremrangebyscore", 4, "write", keys=(1, 1, 1), group="sorted-set")
def zremrangebyscore(client: Client, argv: list[bytes]) -> Any:
    return _zremrange(client, argv, _SCORE)


# ZREMRANGEBYLEX key min max
@command("zremrangebylex", 4, "write", keys=(1, 1, 1), group="sorted-set")
def zremrangebylex(client: Client, argv: list[bytes]) -> Any:
    return _zremrange(client, argv, _LEX)


# ------------------------------------------------------------------ popping

def _pop_reply(db: Keyspace, key: bytes, zset: ZSet, count: int, highest: bool) -> list[tuple[bytes, float]]:
    popped = zset.pop(count, highest)
    _after_removal(db, key, zset, b"zpopmax" if highest else b"zpopmin")
    return popped


def _zpop(client: Client, argv: list[bytes], highest: bool) -> Any:
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    count = 1
    if len(argv) == 3:
        try:
            count = parse_int(argv[2])
        except CommandError:
            count = -1
        if count < 0:
            raise CommandError("ERR value is out of range, must be positive")
    db = client.db
    zset = _get(db, argv[1])
    if zset is None or count == 0:
        return []
    popped = _pop_reply(db, argv[1], zset, count, highest)
    if len(argv) == 3 and client.proto >= 3:
        # RESP3 nests [member, score] pairs only when a count was given.
        return [[member, score] for member, score in popped]
    return [item for pair in popped for item in pair]


# ZPOPMIN key [count]
@command("zpopmin", -2, "write fast", keys=(1, 1, 1), group="sorted-set")
def zpopmin(client: Client, argv: list[bytes]) -> Any:
    return _zpop(client, argv, False)


# ZPOPMAX key [count]
@command("zpopmax", -2, "write fast", keys=(1, 1, 1), group="sorted-set")
def zpopmax(client: Client, argv: list[bytes]) -> Any:
    return _zpop(client, argv, True)


def _bzpop(client: Client, argv: list[bytes], highest: bool) -> Any:
    timeout_ms = parse_timeout(argv[-1])
    keys = argv[1:-1]

    def pop_one(strict: bool) -> Any:
        # BZPOPMIN replies flat: [key, member, score].
        reply = _mpop_first(client.db, keys, highest, 1, strict)
        return None if reply is None else [reply[0], *reply[1][0]]

    reply = pop_one(strict=True)
    if reply is not None:
        return reply
    return Blocked(keys, timeout_ms, lambda: pop_one(strict=False), NULL_ARRAY)


# BZPOPMIN key [key ...] timeout
@command("bzpopmin", -3, "write fast noscript blocking", keys=(1, -2, 1), group="sorted-set")
def bzpopmin(client: Client, argv: list[bytes]) -> Any:
    return _bzpop(client, argv, False)


# BZPOPMAX key [key ...] timeout
@command("bzpopmax", -3, "write fast noscript blocking", keys=(1, -2, 1), group="sorted-set")
def bzpopmax(client: Client, argv: list[bytes]) -> Any:
    return _bzpop(client, argv, True)


# ------------------------------------------------------------ random, scan

_HALF_LONG = _LONG_MAX // 2


# ZRANDMEMBER key [count [WITHSCORES]]
@command("zrandmember", -2, "readonly", keys=(1, 1, 1), group="sorted-set")
def zrandmember(client: Client, argv: list[bytes]) -> Any:
    if len(argv) == 2:
        zset = _read_zset(client.db, argv[1])
        if zset is None:
            return None
        return zset.at(random.randrange(len(zset)))[0]
    count = parse_int(argv[2])
    if not -_LONG_MAX <= count <= _LONG_MAX:
        raise CommandError(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    if len(argv) > 4 or (len(argv) == 4 and argv[3].upper() != b"WITHSCORES"):
        raise CommandError(SYNTAX)
    withscores = len(argv) == 4
    if withscores and not -_HALF_LONG <= count <= _HALF_LONG:
        raise CommandError("ERR value is out of range")
    zset = _read_zset(client.db, argv[1])
    if zset is None or count == 0:
        return []
    size = len(zset)
    if count < 0 or count == 1:
        # Repetitions allowed: each pick is independent.
        picks = [zset.at(random.randrange(size)) for _ in range(abs(count))]
    elif count >= size:
        picks = zset.items_sorted()
    else:
        picks = [zset.at(rank) for rank in random.sample(range(size), count)]
    return _scored(client, picks, withscores)


# ZSCAN key cursor [MATCH pattern] [COUNT count]
@command("zscan", -3, "readonly", keys=(1, 1, 1), group="sorted-set")
def zscan(client: Client, argv: list[bytes]) -> Any:
    args = parse_scan_args(argv, 2)
    zset = _read_zset(client.db, argv[1])
    if zset is None:
        return [b"0", []]
    cursor, page = scan_page(zset.order, args.cursor, args.count)
    flat: list[bytes] = []
    for member, score in zset.decode(page):
        if args.match is None or glob_match(args.match, member):
            flat.append(member)
            # ZSCAN scores are strings in both protocols (Redis keeps them as such).
            flat.append(format_double(score))
    return [b"%d" % cursor, flat]


# ------------------------------------------------------ union, inter, diff

_UNION, _INTER, _DIFF = "union", "inter", "diff"


def _source_pairs(value: Any) -> dict[bytes, float]:
    if value is None:
        return {}
    if type(value) is set:
        return dict.fromkeys(value, 1.0)
    return value.scores  # type: ignore[no-any-return]


def _aggregate(target: float, value: float, how: bytes) -> float:
    if how == b"SUM":
        total = target + value
        return 0.0 if math.isnan(total) else total
    if how == b"MIN":
        return value if value < target else target
    return value if value > target else target


def _setop(client: Client, argv: list[bytes], numkeys_index: int, dst: bytes | None, op: str,
           cardinality_only: bool = False) -> Any:
    """``zunionInterDiffGenericCommand``: ZUNION[STORE], ZINTER[STORE], ZDIFF[STORE], ZINTERCARD."""
    setnum = _long(argv[numkeys_index])
    if setnum < 1:
        raise CommandError(
            f"ERR at least 1 input key is needed for '{argv[0].decode().lower()}' command")
    if setnum > len(argv) - numkeys_index - 1:
        raise CommandError(SYNTAX)
    db = client.db
    sources: list[dict[bytes, float]] = []
    j = numkeys_index + 1
    for key in argv[j:j + setnum]:
        value = db.read(key)  # a read lookup for the STORE forms too, as Redis
        if value is not None and type(value) is not ZSet and type(value) is not set:
            raise CommandError(WRONGTYPE)
        sources.append(_source_pairs(value))
    j += setnum
    weights = [1.0] * setnum
    how = b"SUM"
    withscores = False
    limit = 0
    while j < len(argv):
        option = argv[j].upper()
        remaining = len(argv) - j
        if cardinality_only:
            if remaining >= 2 and option == b"LIMIT":
                limit = _non_negative(argv[j + 1], "ERR LIMIT can't be negative")
                j += 2
                continue
            raise CommandError(SYNTAX)
        if op != _DIFF and remaining >= setnum + 1 and option == b"WEIGHTS":
            weights = [parse_score(raw, "ERR weight value is not a float")
                       for raw in argv[j + 1:j + 1 + setnum]]
            j += 1 + setnum
        elif op != _DIFF and remaining >= 2 and option == b"AGGREGATE":
            how = argv[j + 1].upper()
            if how not in (b"SUM", b"MIN", b"MAX"):
                raise CommandError(SYNTAX)
            j += 2
        elif dst is None and option == b"WITHSCORES":
            withscores = True
            j += 1
        else:
            raise CommandError(SYNTAX)
    if cardinality_only:
        return _intercard(sources, limit)
    result = _compute(sources, weights, how, op)
    if dst is not None:
        return _store(db, dst, ZSet(result.items()), b"z" + op.encode() + b"store")
    return _scored(client, ZSet(result.items()).items_sorted(), withscores)


def _non_negative(raw: bytes, error: str) -> int:
    try:
        value = parse_int(raw)
    except CommandError:
        raise CommandError(error) from None
    if value < 0:
        raise CommandError(error)
    return value


def _intercard(sources: list[dict[bytes, float]], limit: int) -> int:
    """Members in every source, counting stops at ``limit`` (0: no limit)."""
    ordered = sorted(sources, key=len)
    count = 0
    for member in ordered[0]:
        if all(member in other for other in ordered[1:]):
            count += 1
            if count == limit:
                break
    return count


def _compute(sources: list[dict[bytes, float]], weights: list[float], how: bytes,
             op: str) -> dict[bytes, float]:
    if op == _DIFF:
        first, rest = sources[0], sources[1:]
        return {m: s for m, s in first.items() if not any(m in other for other in rest)}
    # Smallest first, as Redis does: INTER walks the smallest input only.
    ordered = sorted(zip(sources, weights), key=lambda pair: len(pair[0]))
    result: dict[bytes, float] = {}
    if op == _UNION:
        for scores, weight in ordered:
            for member, score in scores.items():
                value = weight * score
                if math.isnan(value):
                    value = 0.0
                if member in result:
                    result[member] = _aggregate(result[member], value, how)
                else:
                    result[member] = value
        return result
    base, base_weight = ordered[0]
    for member, score in base.items():
        total = base_weight * score
        if math.isnan(total):
            total = 0.0
        for scores, weight in ordered[1:]:
            other = scores.get(member)
            if other is None:
                break
            total = _aggregate(total, other * weight, how)
        else:
            result[member] = total
    return result


# ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX]
@command("zunionstore", -4, "write denyoom", keys=(1, 1, 1), group="sorted-set")
def zunionstore(client: Client, argv: list[bytes]) -> Any:
    return _setop(client, argv, 2, argv[1], _UNION)


# ZINTERSTORE destination numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX]
@command("zinterstore", -4, "write denyoom", keys=(1, 1, 1), group="sorted-set")
def zinterstore(client: Client, argv: list[bytes]) -> Any:
    return _setop(client, argv, 2, argv[1], _INTER)


# ZDIFFSTORE destination numkeys key [key ...]
@command("zdiffstore", -4, "write denyoom", keys=(1, 1, 1), group="sorted-set")
def zdiffstore(client: Client, argv: list[bytes]) -> Any:
    return _setop(client, argv, 2, argv[1], _DIFF)


# ZUNION numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
@command("zunion", -3, "readonly", keys=(0, 0, 0), group="sorted-set")
def zunion(client: Client, argv: list[bytes]) -> Any:
    return _setop(client, argv, 1, None, _UNION)


# ZINTER numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
@command("zinter", -3, "readonly", keys=(0, 0, 0), group="sorted-set")
def zinter(client: Client, argv: list[bytes]) -> Any:
    return _setop(client, argv, 1, None, _INTER)


# ZDIFF numkeys key [key ...] [WITHSCORES]
@command("zdiff", -3, "readonly", keys=(0, 0, 0), group="sorted-set")
def zdiff(client: Client, argv: list[bytes]) -> Any:
    return _setop(client, argv, 1, None, _DIFF)


# ZINTERCARD numkeys key [key ...] [LIMIT limit]
@command("zintercard", -3, "readonly", keys=(0, 0, 0), group="sorted-set", since="7.0.0")
def zintercard(client: Client, argv: list[bytes]) -> Any:
    return _setop(client, argv, 1, None, _INTER, cardinality_only=True)


# ------------------------------------------------------------ ZMPOP, BZMPOP

def _mpop_args(argv: list[bytes], numkeys_index: int) -> tuple[list[bytes], bool, int]:
    """``zmpopGenericCommand`` parsing: numkeys key [key ...] MIN|MAX [COUNT count]."""
    numkeys = _positive(argv[numkeys_index], "ERR numkeys should be greater than 0")
    where_index = numkeys_index + numkeys + 1
    if where_index >= len(argv):
        raise CommandError(SYNTAX)
    where = argv[where_index].upper()
    if where not in (b"MIN", b"MAX"):
        raise CommandError(SYNTAX)
    count = -1
    j = where_index + 1
    while j < len(argv):
        if count == -1 and argv[j].upper() == b"COUNT" and j + 1 < len(argv):
            count = _positive(argv[j + 1], "ERR count should be greater than 0")
            j += 2
        else:
            raise CommandError(SYNTAX)
    return argv[numkeys_index + 1:where_index], where == b"MAX", max(count, 1)


def _positive(raw: bytes, error: str) -> int:
    try:
        value = parse_int(raw)
    except CommandError:
        raise CommandError(error) from None
    if value < 1:
        raise CommandError(error)
    return value


def _mpop_first(db: Keyspace, keys: list[bytes], highest: bool, count: int, strict: bool) -> Any:
    """Pop from the first non-empty sorted set among ``keys``: [key, [[member, score], ...]].

    ``strict``: a key of another type is an error (a first attempt), not a reason
    to keep waiting (a blocked client's retry).
    """
    for key in keys:
        value = db.lookup(key)
        if value is None:
            continue
        if type(value) is not ZSet:
            if strict:
                raise CommandError(WRONGTYPE)
            continue
        popped = _pop_reply(db, key, value, count, highest)
        return [key, [[member, score] for member, score in popped]]
    return None


# ZMPOP numkeys key [key ...] MIN | MAX [COUNT count]
@command("zmpop", -4, "write", keys=(0, 0, 0), group="sorted-set", since="7.0.0")
def zmpop(client: Client, argv: list[bytes]) -> Any:
    keys, highest, count = _mpop_args(argv, 1)
    reply = _mpop_first(client.db, keys, highest, count, strict=True)
    return NULL_ARRAY if reply is None else reply


# BZMPOP timeout numkeys key [key ...] MIN | MAX [COUNT count]
@command("bzmpop", -5, "write blocking", keys=(0, 0, 0), group="sorted-set", since="7.0.0")
def bzmpop(client: Client, argv: list[bytes]) -> Any:
    keys, highest, count = _mpop_args(argv, 2)
    timeout_ms = parse_timeout(argv[1])
    reply = _mpop_first(client.db, keys, highest, count, strict=True)
    if reply is not None:
        return reply
    return Blocked(keys, timeout_ms, lambda: _mpop_first(client.db, keys, highest, count, strict=False),
                   NULL_ARRAY)
