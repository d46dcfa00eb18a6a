"""Geo commands, as redis-server 7.0 (``geo.c``): points are sorted-set members
whose score is a 52-bit geohash, so every ZSET command works on them too. The
geohash arithmetic lives in ``broker/geo.py``.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from broker import geo
from broker.commands.args import SYNTAX, parse_float, parse_int
from broker.commands.zsets import _store, _zadd
from broker.client import Client
from broker.longdouble import format_long_double
from broker.notify import NotifyClass
from broker.resp import NULL_ARRAY, CommandError, DoubleText
from broker.table import command
from broker.zset import PREFIX, ScoreRange, ZSet

__all__: list[str] = []

_GENERIC = NotifyClass.GENERIC


def _human(value: float) -> Any:
    """``addReplyHumanLongDouble``: ``%.17Lf`` without trailing zeros, a bulk string
    in RESP2 and a double in RESP3."""
    return DoubleText(format_long_double(Fraction(value)))


def _read_zset(client: Client, key: bytes) -> ZSet | None:
    return client.db.read_typed(key, ZSet)  # type: ignore[no-any-return]


def _lonlat(argv: list[bytes], index: int) -> tuple[float, float]:
    """``extractLongLatOrReply``."""
    x = parse_float(argv[index])
    y = parse_float(argv[index + 1])
    if x < geo.LONG_MIN or x > geo.LONG_MAX or y < geo.LAT_MIN or y > geo.LAT_MAX:
        # Redis formats "-ERR ... %f,%f\r\n" and drops the line break it wrote
        raise CommandError("ERR invalid longitude,latitude pair %f,%f" % (x, y))
    return x, y


def _unit(raw: bytes) -> float:
    units = {b"m": 1.0, b"km": 1000.0, b"ft": 0.3048, b"mi": 1609.34}
    factor = units.get(raw.lower())
    if factor is None:
        raise CommandError("ERR unsupported unit provided. please use M, KM, FT, MI")
    return factor


def _distance_arg(argv: list[bytes], index: int) -> tuple[float, float]:
    """``extractDistanceOrReply``: (radius, meters per unit)."""
    radius = parse_float(argv[index], "ERR need numeric radius")
    if radius < 0:
        raise CommandError("ERR radius cannot be negative")
    return radius, _unit(argv[index + 1])


def _member_lonlat(zset: ZSet, member: bytes) -> tuple[float, float]:
    score = zset.score(member)
    if score is None:
        raise CommandError("ERR could not decode requested zset member")
    return geo.decode_score(score)


# GEOADD key [NX | XX] [CH] longitude latitude member [longitude latitude member ...]
@command("geoadd", -5, "write denyoom", keys=(1, 1, 1), group="geo", since="3.2.0")
def geoadd(client: Client, argv: list[bytes]) -> Any:
    nx = xx = False
    index = 2
    while index < len(argv):
        option = argv[index].lower()
        if option == b"nx":
            nx = True
        elif option == b"xx":
            xx = True
        elif option != b"ch":
            break
        index += 1
    if (len(argv) - index) % 3 or (nx and xx):
        raise CommandError(SYNTAX)
    zadd_argv = [b"zadd", *argv[1:index]]
    for triple in range(index, len(argv), 3):
        x, y = _lonlat(argv, triple)
        zadd_argv += [b"%d" % geo.encode_score(x, y), argv[triple + 2]]
    # Redis runs ZADD with the rewritten arguments: its errors and its zadd event
    return _zadd(client, zadd_argv, 2, False)


# GEODIST key member1 member2 [M | KM | FT | MI]
@command("geodist", -4, "readonly", keys=(1, 1, 1), group="geo", since="3.2.0")
def geodist(client: Client, argv: list[bytes]) -> Any:
    factor = 1.0
    if len(argv) == 5:
        factor = _unit(argv[4])
    elif len(argv) > 5:
        raise CommandError(SYNTAX)
    zset = _read_zset(client, argv[1])
    if zset is None:
        return None
    first, second = zset.score(argv[2]), zset.score(argv[3])
    if first is None or second is None:
        return None
    x1, y1 = geo.decode_score(first)
    x2, y2 = geo.decode_score(second)
    return geo.fixed4(geo.distance(x1, y1, x2, y2) / factor)


# GEOHASH key [member ...]
@command("geohash", -2, "readonly", keys=(1, 1, 1), group="geo", since="3.2.0")
def geohash(client: Client, argv: list[bytes]) -> Any:
    zset = _read_zset(client, argv[1])
    replies: list[Any] = []
    for member in argv[2:]:
        score = zset.score(member) if zset is not None else None
        replies.append(None if score is None else geo.geohash_string(score))
    return replies


# GEOPOS key [member ...]
@command("geopos", -2, "readonly", keys=(1, 1, 1), group="geo", since="3.2.0")
def geopos(client: Client, argv: list[bytes]) -> Any:
    zset = _read_zset(client, argv[1])
    replies: list[Any] = []
    for member in argv[2:]:
        score = zset.score(member) if zset is not None else None
        if score is None:
            replies.append(NULL_ARRAY)
        else:
            x, y = geo.decode_score(score)
            replies.append([_human(x), _human(y)])
    return replies


# GEORADIUS key longitude latitude radius M|KM|FT|MI [WITHCOORD] [WITHDIST] [WITHHASH]
#   [COUNT count [ANY]] [ASC | DESC] [STORE key | STOREDIST key]
@command("georadius", -6, "write denyoom", keys=(1, 1, 1), group="geo", since="3.2.0")
def georadius(client: Client, argv: list[bytes]) -> Any:
    return _search(client, argv, 1, _COORDS)


# GEORADIUS_RO key longitude latitude radius M|KM|FT|MI [WITHCOORD] [WITHDIST] [WITHHASH]
#   [COUNT count [ANY]] [ASC | DESC]
@command("georadius_ro", -6, "readonly", keys=(1, 1, 1), group="geo", since="3.2.10")
def georadius_ro(client: Client, argv: list[bytes]) -> Any:
    return _search(client, argv, 1, _COORDS | _NOSTORE)


# GEORADIUSBYMEMBER key member radius M|KM|FT|MI [WITHCOORD] [WITHDIST] [WITHHASH]
#   [COUNT count [ANY]] [ASC | DESC] [STORE key | STOREDIST key]
@command("georadiusbymember", -5, "write denyoom", keys=(1, 1, 1), group="geo", since="3.2.0")
def georadiusbymember(client: Client, argv: list[bytes]) -> Any:
    return _search(client, argv, 1, _MEMBER)


# GEORADIUSBYMEMBER_RO key member radius M|KM|FT|MI [WITHCOORD] [WITHDIST] [WITHHASH]
#   [COUNT count [ANY]] [ASC | DESC]
@command("georadiusbymember_ro", -5, "readonly", keys=(1, 1, 1), group="geo", since="3.2.10")
def georadiusbymember_ro(client: Client, argv: list[bytes]) -> Any:
    return _search(client, argv, 1, _MEMBER | _NOSTORE)


# GEOSEARCH key FROMMEMBER member | FROMLONLAT longitude latitude
#   BYRADIUS radius M|KM|FT|MI | BYBOX width height M|KM|FT|MI
#   [ASC | DESC] [COUNT count [ANY]] [WITHCOORD] [WITHDIST] [WITHHASH]
@command("geosearch", -7, "readonly", keys=(1, 1, 1), group="geo", since="6.2.0")
def geosearch(client: Client, argv: list[bytes]) -> Any:
    return _search(client, argv, 1, _SEARCH)


# GEOSEARCHSTORE destination source FROMMEMBER member | FROMLONLAT longitude latitude
#   BYRADIUS radius M|KM|FT|MI | BYBOX width height M|KM|FT|MI
#   [ASC | DESC] [COUNT count [ANY]] [STOREDIST]
@command("geosearchstore", -8, "write denyoom", keys=(1, 2, 1), group="geo", since="6.2.0")
def geosearchstore(client: Client, argv: list[bytes]) -> Any:
    return _search(client, argv, 2, _SEARCH | _SEARCH_STORE)


_COORDS, _MEMBER, _NOSTORE, _SEARCH, _SEARCH_STORE = 1, 2, 4, 8, 16
_ASC, _DESC = 1, 2


def _search(client: Client, argv: list[bytes], source_index: int, flags: int) -> Any:
    """``georadiusGeneric``: every GEORADIUS* and GEOSEARCH* form, checks in Redis's order."""
    zset = _read_zset(client, argv[source_index])
    shape = geo.Shape()
    store_key: bytes | None = None
    store_dist = False
    if flags & _COORDS:
        base = 6
        shape.kind = geo.CIRCLE
        shape.x, shape.y = _lonlat(argv, 2)
        shape.radius, shape.conversion = _distance_arg(argv, 4)
    elif flags & _MEMBER:
        base = 5
        if zset is not None:
            shape.kind = geo.CIRCLE
            shape.x, shape.y = _member_lonlat(zset, argv[2])
            shape.radius, shape.conversion = _distance_arg(argv, 3)
    else:
        base = 2
        if flags & _SEARCH_STORE:
            base = 3
            store_key = argv[1]
    with_dist = with_hash = with_coord = False
    from_member = from_lonlat = by_radius = by_box = False
    sort = 0
    any_ = False
    count = 0
    remaining = len(argv) - base
    i = 0
    while i < remaining:
        arg = argv[base + i].lower()
        if arg == b"withdist":
            with_dist = True
        elif arg == b"withhash":
            with_hash = True
        elif arg == b"withcoord":
            with_coord = True
        elif arg == b"any":
            any_ = True
        elif arg == b"asc":
            sort = _ASC
        elif arg == b"desc":
            sort = _DESC
        elif arg == b"count" and i + 1 < remaining:
            count = parse_int(argv[base + i + 1])
            if count <= 0:
                raise CommandError("ERR COUNT must be > 0")
            i += 1
        elif arg in (b"store", b"storedist") and i + 1 < remaining and not flags & (_NOSTORE | _SEARCH):
            store_key = argv[base + i + 1]
            store_dist = arg == b"storedist"
            i += 1
        elif arg == b"storedist" and flags & _SEARCH and flags & _SEARCH_STORE:
            store_dist = True
        elif arg == b"frommember" and i + 1 < remaining and flags & _SEARCH and not from_lonlat:
            if zset is not None:
                shape.x, shape.y = _member_lonlat(zset, argv[base + i + 1])
            from_member = True
            i += 1
        elif arg == b"fromlonlat" and i + 2 < remaining and flags & _SEARCH and not from_member:
            shape.x, shape.y = _lonlat(argv, base + i + 1)
            from_lonlat = True
            i += 2
        elif arg == b"byradius" and i + 2 < remaining and flags & _SEARCH and not by_box:
            shape.radius, shape.conversion = _distance_arg(argv, base + i + 1)
            shape.kind = geo.CIRCLE
            by_radius = True
            i += 2
        elif arg == b"bybox" and i + 3 < remaining and flags & _SEARCH and not by_radius:
            width = parse_float(argv[base + i + 1], "ERR need numeric width")
            height = parse_float(argv[base + i + 2], "ERR need numeric height")
            if height < 0 or width < 0:
                raise CommandError("ERR height or width cannot be negative")
            shape.width, shape.height = width, height
            shape.conversion = _unit(argv[base + i + 3])
            shape.kind = geo.BOX
            by_box = True
            i += 3
        else:
            raise CommandError(SYNTAX)
        i += 1
    name = argv[0].decode("utf-8", "replace")
    if store_key is not None and (with_dist or with_hash or with_coord):
        what = "GEOSEARCHSTORE" if flags & _SEARCH_STORE else "STORE option in GEORADIUS"
        raise CommandError(f"ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options")
    if flags & _SEARCH and not (from_member or from_lonlat):
        raise CommandError(f"ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}")
    if flags & _SEARCH and not (by_radius or by_box):
        raise CommandError(f"ERR exactly one of BYRADIUS and BYBOX can be specified for {name}")
    if any_ and not count:
        raise CommandError("ERR the ANY argument requires COUNT argument")
    db = client.db
    if zset is None:
        if store_key is not None:
            if db.lookup(store_key) is not None:
                db.delete(store_key)
                db.notify(_GENERIC, b"del", store_key)
            return 0
        return []
    if count and not sort and not any_:
        sort = _ASC
    # (distance, score, member, x, y) of every member in the shape, cell by cell
    found: list[list[Any]] = []
    limit = count if any_ else 0
    areas = geo.areas_by_shape(shape)
    bounds = geo.prune_bounds(shape)
    for bits, step in areas:
        for low, high in geo.cell_ranges(bits, step, bounds):
            if found and limit and len(found) >= limit:
                break
            first, end = zset.score_bounds(ScoreRange(float(low), float(high), False, True))
            if end > first:
                geo.points_within(shape, zset.order.islice(first, end), PREFIX, zset.scores, found, limit)
    if not found and store_key is None:
        return []
    returned = len(found) if not count or len(found) < count else count
    if sort:
        def compare(a: list[Any], b: list[Any]) -> int:
            result = (a[0] > b[0]) - (a[0] < b[0])
            return result if sort == _ASC else -result
        if returned == len(found):
            # glibc's qsort is a merge sort here: stable, like sorted()
            found.sort(key=lambda item: item[0], reverse=sort == _DESC)
        else:
            geo.partial_sort(found, compare, 0, returned - 1)
    conversion = shape.conversion
    if store_key is None:
        replies: list[Any] = []
        options = with_dist + with_coord + with_hash
        for meters, score, member, x, y in found[:returned]:
            if not options:
                replies.append(member)
                continue
            item: list[Any] = [member]
            if with_dist:
                item.append(geo.fixed4(meters / conversion))
            if with_hash:
                item.append(int(score))
            if with_coord:
                item.append([_human(x), _human(y)])
            replies.append(item)
        return replies
    result = ZSet((member, meters / conversion if store_dist else score)
                  for meters, score, member, _, _ in found[:returned])
    return _store(db, store_key, result, b"geosearchstore" if flags & _SEARCH else b"georadiusstore")

