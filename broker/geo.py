"""Geohashes and distances as redis-server 7.0 computes them (sans-I/O): the
52-bit interleaved scores of ``geohash.c``, the search areas of
``geohash_helper.c`` and the partial sort of ``pqsort.c``, step for step in the
same double arithmetic, so GEOADD writes the same scores as Redis, GEOSEARCH finds
the same members in the same order and GEODIST prints the same digits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

__all__ = [
    "LAT_MIN", "LAT_MAX", "LONG_MIN", "LONG_MAX", "STEP_MAX", "Shape", "areas_by_shape", "cell_ranges", "decode_score",
    "distance", "encode_score", "fixed4", "geohash_string", "partial_sort", "points_within", "prune_bounds", "within",
]

LAT_MIN, LAT_MAX = -85.05112878, 85.05112878
LONG_MIN, LONG_MAX = -180.0, 180.0
STEP_MAX = 26
_U64 = (1 << 64) - 1
D_R = math.pi / 180.0
EARTH_RADIUS_IN_METERS = 6372797.560856
MERCATOR_MAX = 20037726.37
CIRCLE, BOX = 1, 2


# ---------------------------------------------------------------- geohash.c

def _spread(v: int) -> int:
    v = (v | (v << 16)) & 0x0000FFFF0000FFFF
    v = (v | (v << 8)) & 0x00FF00FF00FF00FF
    v = (v | (v << 4)) & 0x0F0F0F0F0F0F0F0F
    v = (v | (v << 2)) & 0x3333333333333333
    return (v | (v << 1)) & 0x5555555555555555


def _squash(v: int) -> int:
    v &= 0x5555555555555555
    v = (v | (v >> 1)) & 0x3333333333333333
    v = (v | (v >> 2)) & 0x0F0F0F0F0F0F0F0F
    v = (v | (v >> 4)) & 0x00FF00FF00FF00FF
    v = (v | (v >> 8)) & 0x0000FFFF0000FFFF
    return (v | (v >> 16)) & 0x00000000FFFFFFFF


def _interleave(lat_bits: int, long_bits: int) -> int:
    """``interleave64``: latitude bits at even positions, longitude at odd ones."""
    return _spread(lat_bits & 0xFFFFFFFF) | (_spread(long_bits & 0xFFFFFFFF) << 1)


def encode(longitude: float, latitude: float, step: int,
           long_range: tuple[float, float] = (LONG_MIN, LONG_MAX),
           lat_range: tuple[float, float] = (LAT_MIN, LAT_MAX)) -> int | None:
    """``geohashEncode``: the ``2 * step`` interleaved bits, None out of range."""
    if step > 32 or step == 0:
        return None
    if longitude > LONG_MAX or longitude < LONG_MIN or latitude > LAT_MAX or latitude < LAT_MIN:
        return None
    if not (lat_range[0] <= latitude <= lat_range[1] and long_range[0] <= longitude <= long_range[1]):
        return None
    lat_offset = (latitude - lat_range[0]) / (lat_range[1] - lat_range[0])
    long_offset = (longitude - long_range[0]) / (long_range[1] - long_range[0])
    lat_offset *= float(1 << step)
    long_offset *= float(1 << step)
    # a double passed as uint32_t: truncated toward zero
    return _interleave(int(lat_offset), int(long_offset))


@dataclass(slots=True)
class Area:
    bits: int
    step: int
    long_min: float
    long_max: float
    lat_min: float
    lat_max: float


def decode(bits: int, step: int) -> Area:
    """``geohashDecode`` over the WGS84 ranges."""
    lat_scale = LAT_MAX - LAT_MIN
    long_scale = LONG_MAX - LONG_MIN
    ilato = _squash(bits)
    ilono = _squash(bits >> 1)
    cells = float(1 << step)
    return Area(bits, step,
                LONG_MIN + (ilono * 1.0 / cells) * long_scale,
                LONG_MIN + ((ilono + 1) * 1.0 / cells) * long_scale,
                LAT_MIN + (ilato * 1.0 / cells) * lat_scale,
                LAT_MIN + ((ilato + 1) * 1.0 / cells) * lat_scale)


def _center(area: Area) -> tuple[float, float]:
    """``geohashDecodeAreaToLongLat``: the middle of the cell, clamped to the ranges."""
    x = (area.long_min + area.long_max) / 2
    x = min(max(x, LONG_MIN), LONG_MAX)
    y = (area.lat_min + area.lat_max) / 2
    y = min(max(y, LAT_MIN), LAT_MAX)
    return x, y


_SPREAD = [_spread(v) for v in range(256)]


def encode_score(longitude: float, latitude: float) -> int:
    """GEOADD's score: the 52-bit geohash of a valid pair (``encode`` at step 26 over
    the WGS84 ranges, the same double operations; bits spread by table)."""
    if longitude > LONG_MAX or longitude < LONG_MIN or latitude > LAT_MAX or latitude < LAT_MIN:
        raise ValueError("longitude,latitude out of range")
    lat_offset = (latitude - LAT_MIN) / (LAT_MAX - LAT_MIN) * 67108864.0  # 2^26
    long_offset = (longitude - LONG_MIN) / (LONG_MAX - LONG_MIN) * 67108864.0
    lat, lon = int(lat_offset), int(long_offset)
    spread = _SPREAD
    return (spread[lat & 0xFF] | spread[lat >> 8 & 0xFF] << 16 | spread[lat >> 16 & 0xFF] << 32
            | spread[lat >> 24 & 0xFF] << 48
            | (spread[lon & 0xFF] | spread[lon >> 8 & 0xFF] << 16 | spread[lon >> 16 & 0xFF] << 32
               | spread[lon >> 24 & 0xFF] << 48) << 1)


def decode_score(score: float) -> tuple[float, float]:
    """``decodeGeohash``: the (longitude, latitude) a zset score stands for."""
    return _center(decode(_to_uint64(score), STEP_MAX))


def _to_uint64(value: float) -> int:
    """``(uint64_t)value`` as gcc compiles it for x86-64: below 2^63 one truncating
    conversion, above it a conversion of ``value - 2^63`` with the top bit flipped;
    an out-of-range conversion gives the "integer indefinite" 2^63."""
    if not value < 2.0**63:
        rest = value - 2.0**63
        converted = int(rest) if rest < 2.0**63 else 1 << 63
        return (converted ^ (1 << 63)) & _U64
    converted = int(value) if value >= -(2.0**63) else 1 << 63
    return converted & _U64


# Deinterleaving by table, for the search loop (one decode per member scanned):
# _DEINTERLEAVE[v] holds the even bits of the 16-bit chunk v packed in bits 0-7 and
# its odd bits in bits 32-39, so four lookups of a 64-bit hash, shifted by 8 per
# chunk and OR-ed, give the latitude cell (low 32 bits) and longitude cell (high 32
# bits): what _squash(bits) and _squash(bits >> 1) give, without 12 mask steps each.
_BYTE_PAIRS = [_squash(v) | _squash(v >> 1) << 32 for v in range(256)]
_DEINTERLEAVE = [_BYTE_PAIRS[v & 0xFF] | _BYTE_PAIRS[v >> 8] << 4 for v in range(1 << 16)]


def _move_x(bits: int, step: int, d: int) -> int:
    if d == 0:
        return bits
    x = bits & 0xAAAAAAAAAAAAAAAA
    y = bits & 0x5555555555555555
    zz = 0x5555555555555555 >> (64 - step * 2)
    if d > 0:
        x = (x + (zz + 1)) & _U64
    else:
        x = ((x | zz) - (zz + 1)) & _U64
    x &= 0xAAAAAAAAAAAAAAAA >> (64 - step * 2)
    return x | y


def _move_y(bits: int, step: int, d: int) -> int:
    if d == 0:
        return bits
    x = bits & 0xAAAAAAAAAAAAAAAA
    y = bits & 0x5555555555555555
    zz = 0xAAAAAAAAAAAAAAAA >> (64 - step * 2)
    if d > 0:
        y = (y + (zz + 1)) & _U64
    else:
        y = ((y | zz) - (zz + 1)) & _U64
    y &= 0x5555555555555555 >> (64 - step * 2)
    return x | y


def _neighbour(bits: int, step: int, dx: int, dy: int) -> int:
    return _move_y(_move_x(bits, step, dx), step, dy)


# --------------------------------------------------------- geohash_helper.c

def _deg_rad(angle: float) -> float:
    return angle * D_R


def _rad_deg(angle: float) -> float:
    return angle / D_R


def estimate_steps(range_meters: float, lat: float) -> int:
    """``geohashEstimateStepsByRadius``."""
    if range_meters == 0:
        return 26
    step = 1
    while range_meters < MERCATOR_MAX:
        range_meters *= 2
        step += 1
    step -= 2
    if lat > 66 or lat < -66:
        step -= 1
        if lat > 80 or lat < -80:
            step -= 1
    return min(max(step, 1), 26)


@dataclass(slots=True)
class Shape:
    """A search: its centre, a radius (CIRCLE) or a width and height (BOX), in the
    unit's meters-per-unit ``conversion``."""

    x: float = 0.0
    y: float = 0.0
    kind: int = 0
    conversion: float = 1.0
    radius: float = 0.0
    width: float = 0.0
    height: float = 0.0
    bounds: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])


def _bounding_box(shape: Shape) -> list[float]:
    longitude, latitude = shape.x, shape.y
    height = shape.conversion * (shape.radius if shape.kind == CIRCLE else shape.height / 2)
    width = shape.conversion * (shape.radius if shape.kind == CIRCLE else shape.width / 2)
    lat_delta = _rad_deg(height / EARTH_RADIUS_IN_METERS)
    long_delta_top = _rad_deg(width / EARTH_RADIUS_IN_METERS / math.cos(_deg_rad(latitude + lat_delta)))
    long_delta_bottom = _rad_deg(width / EARTH_RADIUS_IN_METERS / math.cos(_deg_rad(latitude - lat_delta)))
    southern = latitude < 0
    return [longitude - long_delta_bottom if southern else longitude - long_delta_top,
            latitude - lat_delta,
            longitude + long_delta_bottom if southern else longitude + long_delta_top,
            latitude + lat_delta]


def areas_by_shape(shape: Shape) -> list[tuple[int, int]]:
    """``geohashCalculateAreasByShapeWGS84`` + ``membersOfAllNeighbors``' order: the
    (bits, step) cells to scan, centre first, zeroed and repeated cells left out."""
    shape.bounds = _bounding_box(shape)
    min_lon, min_lat, max_lon, max_lat = shape.bounds
    if shape.kind == CIRCLE:
        radius_meters = shape.radius
    else:
        radius_meters = math.sqrt((shape.width / 2) * (shape.width / 2) + (shape.height / 2) * (shape.height / 2))
    radius_meters *= shape.conversion
    steps = estimate_steps(radius_meters, shape.y)
    bits = encode(shape.x, shape.y, steps)
    assert bits is not None

    def around(bits: int, steps: int) -> dict[str, int]:
        return {"n": _neighbour(bits, steps, 0, 1), "s": _neighbour(bits, steps, 0, -1),
                "e": _neighbour(bits, steps, 1, 0), "w": _neighbour(bits, steps, -1, 0),
                "ne": _neighbour(bits, steps, 1, 1), "nw": _neighbour(bits, steps, -1, 1),
                "se": _neighbour(bits, steps, 1, -1), "sw": _neighbour(bits, steps, -1, -1)}

    near = around(bits, steps)
    area = decode(bits, steps)
    if steps > 1 and (decode(near["n"], steps).lat_max < max_lat or decode(near["s"], steps).lat_min > min_lat
                      or decode(near["e"], steps).long_max < max_lon
                      or decode(near["w"], steps).long_min > min_lon):
        steps -= 1
        bits = encode(shape.x, shape.y, steps)
        assert bits is not None
        near = around(bits, steps)
        area = decode(bits, steps)
    cells: dict[str, tuple[int, int]] = {name: (value, steps) for name, value in near.items()}
    if steps >= 2:
        zero = (0, 0)
        if area.lat_min < min_lat:
            cells["s"] = cells["sw"] = cells["se"] = zero
        if area.lat_max > max_lat:
            cells["n"] = cells["ne"] = cells["nw"] = zero
        if area.long_min < min_lon:
            cells["w"] = cells["sw"] = cells["nw"] = zero
        if area.long_max > max_lon:
            cells["e"] = cells["se"] = cells["ne"] = zero
    ordered = [(bits, steps)] + [cells[name] for name in ("n", "s", "e", "w", "ne", "nw", "se", "sw")]
    result: list[tuple[int, int]] = []
    last = 0
    for index, cell in enumerate(ordered):
        if cell == (0, 0):
            continue
        # Redis compares with the last processed cell only once that is not the centre
        if last and cell == ordered[last]:
            continue
        result.append(cell)
        last = index
    return result


def cell_scores(bits: int, step: int) -> tuple[int, int]:
    """``scoresOfGeoHashBox``: the [min, max) score range of a cell."""
    return bits << (52 - step * 2), (bits + 1) << (52 - step * 2)


def lat_distance(lat1: float, lat2: float) -> float:
    return EARTH_RADIUS_IN_METERS * abs(_deg_rad(lat2) - _deg_rad(lat1))


def distance(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """``geohashGetDistance``: haversine on a sphere of Redis's radius, in meters."""
    lon1r, lon2r = _deg_rad(lon1), _deg_rad(lon2)
    v = math.sin((lon2r - lon1r) / 2)
    if v == 0.0:
        return lat_distance(lat1, lat2)
    lat1r, lat2r = _deg_rad(lat1), _deg_rad(lat2)
    u = math.sin((lat2r - lat1r) / 2)
    a = u * u + math.cos(lat1r) * math.cos(lat2r) * v * v
    return 2.0 * EARTH_RADIUS_IN_METERS * math.asin(math.sqrt(a))


def within(shape: Shape, x: float, y: float) -> float | None:
    """``geoWithinShape``: the distance of (x, y) from the centre in meters, or None
    when the point is outside the shape."""
    if shape.kind == CIRCLE:
        d = distance(shape.x, shape.y, x, y)
        return None if d > shape.radius * shape.conversion else d
    if lat_distance(y, shape.y) > shape.height * shape.conversion / 2:
        return None
    if distance(x, y, shape.x, y) > shape.width * shape.conversion / 2:
        return None
    return distance(shape.x, shape.y, x, y)


def prune_bounds(shape: Shape) -> tuple[float, float, float, float] | None:
    """Degrees (lat_low, lat_high, centre longitude, longitude half-width) outside
    which no point can be within ``shape`` whatever rounding does; None when the
    shape is too large or too near a pole or the antimeridian to bound this way.

    A point farther than the radius in latitude alone is out (the great-circle
    distance is at least R * dlat), and one farther in longitude than
    2 asin(sin(r / 2R) / cos(max |lat|)) too (the haversine term of the longitude
    alone); BYBOX's checks bound the same way with half its height and width. Both
    get 1% and an absolute margin, far above the doubles' rounding.
    """
    earth = EARTH_RADIUS_IN_METERS
    if shape.kind == CIRCLE:
        lat_meters = lon_meters = shape.radius * shape.conversion
    else:
        lat_meters, lon_meters = shape.height * shape.conversion / 2, shape.width * shape.conversion / 2
    dlat = _rad_deg(lat_meters / earth) * 1.01 + 1e-9
    if dlat > 10 or abs(shape.y) + dlat >= 84:
        return None
    low, high = shape.y - dlat, shape.y + dlat
    cos_min = math.cos(_deg_rad(max(abs(low), abs(high))))
    ratio = math.sin(lon_meters / earth / 2) / cos_min
    if ratio >= 0.5:
        return None
    dlon = _rad_deg(2 * math.asin(ratio)) * 1.01 + 1e-9
    if abs(shape.x) + dlon >= 179.5:
        # Near the antimeridian: a point at longitude 180 has a geohash one past the last
        # cell (Redis's encoding overflows there), which no sub-cell bound describes.
        return None
    return low, high, shape.x, dlon


def cell_ranges(bits: int, step: int, bounds: tuple[float, float, float, float] | None,
                depth: int = 2) -> list[tuple[int, int]]:
    """[min, max) score ranges of the parts of a cell a search must scan, ascending.

    The cell is cut into 4^depth sub-cells; those entirely outside ``bounds`` (from
    ``prune_bounds``) hold no point of the shape and are left out, which leaves the
    points Redis would find in the order it finds them (score order) while decoding
    far fewer. Without bounds, or at the finest step, the whole cell.
    """
    depth = min(depth, STEP_MAX - step)
    if bounds is None or depth <= 0:
        return [cell_scores(bits, step)]
    low, high, centre, dlon = bounds
    sub_step = step + depth
    side = 1 << depth
    lat_cell = (LAT_MAX - LAT_MIN) / (1 << sub_step)
    lon_cell = (LONG_MAX - LONG_MIN) / (1 << sub_step)
    lat_first, lon_first = _squash(bits) << depth, _squash(bits >> 1) << depth
    rows = [a for a in range(side)
            if LAT_MIN + (lat_first + a + 1) * lat_cell >= low and LAT_MIN + (lat_first + a) * lat_cell <= high]
    if not rows:
        return []
    columns = []
    for b in range(side):
        west = LONG_MIN + (lon_first + b) * lon_cell
        east = west + lon_cell
        if west <= centre <= east:
            columns.append(b)
        elif min((west - centre) % 360.0, (centre - east) % 360.0) <= dlon:
            columns.append(b)
    if not columns:
        return []
    if len(rows) == side and len(columns) == side:
        return [cell_scores(bits, step)]
    codes = sorted(_spread(a) | _spread(b) << 1 for a in rows for b in columns)
    shift = 52 - sub_step * 2
    base = bits << (depth * 2)
    ranges: list[tuple[int, int]] = []
    start = previous = codes[0]
    for code in codes[1:]:
        if code != previous + 1:
            ranges.append(((base + start) << shift, (base + previous + 1) << shift))
            start = code
        previous = code
    ranges.append(((base + start) << shift, (base + previous + 1) << shift))
    return ranges


def points_within(shape: Shape, keys: Iterable[bytes], prefix: int, scores: dict[bytes, float],
                  found: list[list[Any]], limit: int) -> None:
    """``geoGetPointsInRange`` for one cell: append ``[meters, score, member, x, y]``
    of each member (sorted-set order key ``key[prefix:]``) within ``shape``, stopping
    once ``found`` holds ``limit`` (0: no limit).

    ``decode_score`` + ``within`` inlined, the same double operations in the same
    order (the centre's radians and cosine computed once): this loop runs for every
    member of the scanned cells, where function calls would be most of its cost.
    """
    table = _DEINTERLEAVE
    lat_min, lat_scale = LAT_MIN, LAT_MAX - LAT_MIN
    long_min, long_scale = LONG_MIN, LONG_MAX - LONG_MIN
    cells = float(1 << STEP_MAX)
    d_r, earth = D_R, EARTH_RADIUS_IN_METERS
    sin, cos, asin, sqrt = math.sin, math.cos, math.asin, math.sqrt
    cx, cy = shape.x, shape.y
    lon1r, lat1r = cx * d_r, cy * d_r
    cos1 = cos(lat1r)
    circle = shape.kind == CIRCLE
    radius = shape.radius * shape.conversion
    lat_limit = radius * (1 + 1e-9)
    half_height = shape.height * shape.conversion / 2
    half_width = shape.width * shape.conversion / 2
    append = found.append
    for key in keys:
        member = key[prefix:]
        score = scores[member]
        bits = int(score) if 0.0 <= score < 9.2e18 else _to_uint64(score)
        t = (table[bits & 0xFFFF] | table[bits >> 16 & 0xFFFF] << 8 | table[bits >> 32 & 0xFFFF] << 16
             | table[bits >> 48] << 24)
        ilato, ilono = t & 0xFFFFFFFF, t >> 32
        # the centre of the cell: (its lower edge + its upper edge) / 2, as _center
        x = ((long_min + (ilono * 1.0 / cells) * long_scale)
             + (long_min + ((ilono + 1) * 1.0 / cells) * long_scale)) / 2
        if x > LONG_MAX:
            x = LONG_MAX
        elif x < long_min:
            x = long_min
        y = ((lat_min + (ilato * 1.0 / cells) * lat_scale)
             + (lat_min + ((ilato + 1) * 1.0 / cells) * lat_scale)) / 2
        if y > LAT_MAX:
            y = LAT_MAX
        elif y < lat_min:
            y = lat_min
        lat2r = y * d_r
        lon2r = x * d_r
        if circle:
            # the great-circle distance is at least the latitude distance
            # (asin(sqrt(u*u + ...)) >= asin(|u|)), so beyond the radius by more than
            # rounding the point is out without the trigonometry
            if earth * abs(lat2r - lat1r) > lat_limit:
                continue
        else:
            # lat_distance(y, cy), then distance(x, y, cx, y): the width at the
            # point's latitude
            if earth * abs(lat1r - lat2r) > half_height:
                continue
            v = sin((lon1r - lon2r) / 2)
            if v != 0.0:
                u = sin((lat2r - lat2r) / 2)
                cos2 = cos(lat2r)
                if 2.0 * earth * asin(sqrt(u * u + cos2 * cos2 * v * v)) > half_width:
                    continue
            elif earth * abs(lat2r - lat2r) > half_width:
                continue
        # distance(cx, cy, x, y)
        v = sin((lon2r - lon1r) / 2)
        if v == 0.0:
            meters = earth * abs(lat2r - lat1r)
        else:
            u = sin((lat2r - lat1r) / 2)
            meters = 2.0 * earth * asin(sqrt(u * u + cos1 * cos(lat2r) * v * v))
        if circle and meters > radius:
            continue
        append([meters, score, member, x, y])
        if limit and len(found) >= limit:
            return


# ------------------------------------------------------------- replies

def fixed4(value: float) -> bytes:
    """``fixedpoint_d2string(..., 4)``: llrint(value * 10^4) written with 4 decimals."""
    if value == 0:
        return b"0.0000"
    scaled = round(value * 10000.0)  # llrint: to nearest, ties to even
    whole, fraction = divmod(abs(scaled), 10000)
    return b"%s%d.%04d" % (b"-" if scaled < 0 else b"", whole, fraction)


_ALPHABET = b"0123456789bcdefghjkmnpqrstuvwxyz"


def geohash_string(score: float) -> bytes:
    """GEOHASH: the standard 11-character geohash (latitude range +-90) of a score."""
    x, y = decode_score(score)
    bits = encode(x, y, 26, (-180.0, 180.0), (-90.0, 90.0))
    assert bits is not None
    chars = bytearray()
    for i in range(11):
        index = 0 if i == 10 else (bits >> (52 - (i + 1) * 5)) & 0x1F
        chars.append(_ALPHABET[index])
    return bytes(chars)


# ------------------------------------------------------------- pqsort.c

def partial_sort(items: list[Any], cmp: Callable[[Any, Any], int], left: int, right: int) -> None:
    """``pqsort``: sort ``items`` in place enough that positions ``left..right`` hold
    what a full sort would put there, with Redis's own quicksort, so members at
    equal distances come out in Redis's order."""
    _pqsort(items, 0, len(items), cmp, left, right)


def _med3(a: list[Any], i: int, j: int, k: int, cmp: Callable[[Any, Any], int]) -> int:
    if cmp(a[i], a[j]) < 0:
        return j if cmp(a[j], a[k]) < 0 else (k if cmp(a[i], a[k]) < 0 else i)
    return j if cmp(a[j], a[k]) > 0 else (i if cmp(a[i], a[k]) < 0 else k)


def _vecswap(a: list[Any], i: int, j: int, n: int) -> None:
    for offset in range(n):
        a[i + offset], a[j + offset] = a[j + offset], a[i + offset]


def _pqsort(a: list[Any], base: int, n: int, cmp: Callable[[Any, Any], int], left: int, right: int) -> None:
    while True:
        if n < 7:
            for pm in range(base + 1, base + n):
                pl = pm
                while pl > base and cmp(a[pl - 1], a[pl]) > 0:
                    a[pl], a[pl - 1] = a[pl - 1], a[pl]
                    pl -= 1
            return
        pm = base + n // 2
        if n > 7:
            pl, pn = base, base + n - 1
            if n > 40:
                d = n // 8
                pl = _med3(a, pl, pl + d, pl + 2 * d, cmp)
                pm = _med3(a, pm - d, pm, pm + d, cmp)
                pn = _med3(a, pn - 2 * d, pn - d, pn, cmp)
            pm = _med3(a, pl, pm, pn, cmp)
        a[base], a[pm] = a[pm], a[base]
        pa = pb = base + 1
        pc = pd = base + n - 1
        while True:
            while pb <= pc:
                result = cmp(a[pb], a[base])
                if result > 0:
                    break
                if result == 0:
                    a[pa], a[pb] = a[pb], a[pa]
                    pa += 1
                pb += 1
            while pb <= pc:
                result = cmp(a[pc], a[base])
                if result < 0:
                    break
                if result == 0:
                    a[pc], a[pd] = a[pd], a[pc]
                    pd -= 1
                pc -= 1
            if pb > pc:
                break
            a[pb], a[pc] = a[pc], a[pb]
            pb += 1
            pc -= 1
        pn = base + n
        r = min(pa - base, pb - pa)
        _vecswap(a, base, pb - r, r)
        r = min(pd - pc, pn - pd - 1)
        _vecswap(a, pb, pn - r, r)
        r = pb - pa
        if r > 1 and not ((left < base and right < base) or (left >= base + r and right >= base + r)):
            _pqsort(a, base, r, cmp, left, right)
        r = pd - pc
        if r > 1:
            base, n = pn - r, r
            if not ((left < base and right < base) or (left >= base + n and right >= base + n)):
                continue
        return
