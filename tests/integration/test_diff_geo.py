"""Geo commands against a real redis-server: scores, distances, searches, errors.

Searches are compared reply for reply, order included: members at equal distances
(many at one spot) with COUNT exercise Redis's partial quicksort, and points near
the poles, the antimeridian and cell edges exercise the choice of search cells.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.differential import assert_same_replies, keyspace_events

PLACES = ["13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania",
          "2.349014", "48.864716", "Paris", "-0.127758", "51.507351", "London",
          "179.99", "0.5", "east-edge", "-179.99", "0.5", "west-edge", "0", "85.05", "north",
          "139.691706", "35.689487", "Tokyo", "-73.935242", "40.730610", "NYC"]

SCRIPTS: dict[str, list[tuple[Any, ...]]] = {
    "add_pos_dist_hash": [
        ("GEOADD", "g", *PLACES), ("ZRANGE", "g", 0, -1, "WITHSCORES"), ("GEOPOS", "g", "Palermo", "nope", "north"),
        ("GEODIST", "g", "Palermo", "Catania"), ("GEODIST", "g", "Palermo", "Catania", "km"),
        ("GEODIST", "g", "Paris", "Tokyo", "mi"), ("GEODIST", "g", "Paris", "London", "FT"),
        ("GEODIST", "g", "Paris", "Paris"), ("GEODIST", "g", "Paris", "nope"), ("GEODIST", "none", "a", "b"),
        ("GEODIST", "g", "Paris", "London", "yards"), ("GEODIST", "g", "Paris", "London", "km", "x"),
        ("GEOHASH", "g", "Palermo", "Catania", "nope", "north", "east-edge"), ("GEOHASH", "none", "a"),
        ("GEOPOS", "none", "a", "b"), ("GEOPOS", "g"), ("GEOHASH", "g"),
        ("GEOADD", "g", "NX", "0", "0", "Paris", "1", "1", "new"), ("GEOPOS", "g", "Paris", "new"),
        ("GEOADD", "g", "XX", "CH", "1", "2", "Paris", "3", "3", "absent"), ("ZSCORE", "g", "absent"),
        ("GEOADD", "g", "CH", "1", "2", "Paris"), ("GEOADD", "g", "NX", "XX", "1", "1", "a"),
        ("GEOADD", "g", "1", "1"), ("GEOADD", "g", "GT", "1", "1", "a"), ("GEOADD", "g", "200", "1", "bad"),
        ("GEOADD", "g", "1", "86", "bad"), ("GEOADD", "g", "x", "1", "bad"), ("GEOADD", "g", "nan", "1", "bad"),
        ("GEOADD", "g", "inf", "1", "bad"), ("GEOADD", "g", " 1", "1", "bad"), ("SET", "s", "x"),
        ("GEOADD", "s", "1", "1", "m"), ("GEOPOS", "s", "m"), ("GEODIST", "s", "a", "b"), ("GEOHASH", "s", "m"),
        ("GEOADD", "g", "-180", "-85.05112878", "corner", "180", "85.05112878", "corner2"),
        ("GEOPOS", "g", "corner", "corner2"), ("GEOHASH", "g", "corner", "corner2"),
    ],
    "odd_scores": [
        ("ZADD", "g", "0", "zero", "-1", "neg", "4503599627370495", "max52", "4503599627370496", "over52",
         "1e20", "huge", "-1e19", "hugeneg", "3.5", "frac", "inf", "inf", "-inf", "ninf"),
        ("GEOPOS", "g", "zero", "neg", "max52", "over52", "huge", "hugeneg", "frac"),
        ("GEOHASH", "g", "zero", "neg", "max52", "over52", "huge", "frac"),
        ("GEODIST", "g", "zero", "max52"), ("GEODIST", "g", "neg", "frac", "km"),
        ("GEOSEARCH", "g", "FROMLONLAT", "0", "0", "BYRADIUS", "20000", "km", "ASC", "WITHHASH"),
    ],
    "radius": [
        ("GEOADD", "g", *PLACES),
        ("GEORADIUS", "g", "15", "37", "200", "km"), ("GEORADIUS", "g", "15", "37", "200", "km", "ASC"),
        ("GEORADIUS", "g", "15", "37", "200", "km", "DESC", "WITHDIST", "WITHCOORD", "WITHHASH"),
        ("GEORADIUS", "g", "15", "37", "2000", "mi", "COUNT", "1"), ("GEORADIUS", "g", "15", "37", "2000", "mi",
                                                                     "COUNT", "2", "ANY"),
        ("GEORADIUS", "g", "15", "37", "0", "m"), ("GEORADIUS", "g", "15", "37", "-1", "m"),
        ("GEORADIUS", "g", "15", "37", "x", "m"), ("GEORADIUS", "g", "15", "37", "1", "yd"),
        ("GEORADIUS", "g", "15", "37", "200", "km", "COUNT", "0"), ("GEORADIUS", "g", "15", "37", "200", "km", "ANY"),
        ("GEORADIUS", "g", "15", "37", "200", "km", "COUNT", "x"), ("GEORADIUS", "g", "15", "37", "200", "km", "FOO"),
        ("GEORADIUS", "g", "15", "37", "200", "km", "COUNT"), ("GEORADIUSBYMEMBER", "g", "Palermo", "300", "km"),
        ("GEORADIUSBYMEMBER", "g", "Palermo", "300", "km", "WITHDIST", "ASC"),
        ("GEORADIUSBYMEMBER", "g", "nope", "300", "km"), ("GEORADIUSBYMEMBER", "none", "nope", "300", "km"),
        ("GEORADIUSBYMEMBER", "none", "nope", "x", "yd", "WITHDIST"), ("GEORADIUS", "none", "1", "1", "1", "m"),
        ("GEORADIUS_RO", "g", "15", "37", "200", "km", "WITHDIST"),
        ("GEORADIUS_RO", "g", "15", "37", "200", "km", "STORE", "d"),
        ("GEORADIUSBYMEMBER_RO", "g", "Paris", "400", "km"), ("GEORADIUS", "g", "179.9", "0.4", "50", "km"),
        ("GEORADIUS", "g", "-179.9", "0.4", "50", "km", "WITHDIST"), ("GEORADIUS", "g", "0", "85", "100", "km"),
        ("GEORADIUS", "g", "0", "0", "21000", "km", "ASC"), ("GEORADIUS", "g", "200", "0", "1", "km"),
    ],
    "store": [
        ("GEOADD", "g", *PLACES), ("GEORADIUS", "g", "15", "37", "200", "km", "STORE", "d"),
        ("ZRANGE", "d", 0, -1, "WITHSCORES"), ("GEORADIUS", "g", "15", "37", "200", "km", "STOREDIST", "d2"),
        ("ZRANGE", "d2", 0, -1, "WITHSCORES"), ("GEORADIUS", "g", "15", "37", "200", "km", "STORE", "d", "WITHDIST"),
        ("GEORADIUS", "g", "15", "37", "1", "m", "STORE", "d"), ("EXISTS", "d"),
        ("GEORADIUS", "none", "15", "37", "1", "m", "STORE", "d2"), ("EXISTS", "d2"),
        ("GEOSEARCHSTORE", "d3", "g", "FROMMEMBER", "Paris", "BYRADIUS", "500", "km"),
        ("ZRANGE", "d3", 0, -1, "WITHSCORES"),
        ("GEOSEARCHSTORE", "d3", "g", "FROMMEMBER", "Paris", "BYRADIUS", "500", "km", "STOREDIST", "COUNT", "1"),
        ("ZRANGE", "d3", 0, -1, "WITHSCORES"),
        ("GEOSEARCHSTORE", "d3", "g", "FROMMEMBER", "Paris", "BYRADIUS", "500", "km", "WITHDIST"),
        ("GEOSEARCHSTORE", "d3", "g", "FROMLONLAT", "0", "0", "BYBOX", "1", "1", "m"), ("EXISTS", "d3"),
        ("GEOSEARCHSTORE", "d3", "none", "FROMLONLAT", "0", "0", "BYBOX", "1", "1", "m"),
        ("GEOSEARCHSTORE", "d4", "g", "FROMLONLAT", "0", "0", "BYBOX", "1", "1", "m", "STORE", "x"),
        ("SET", "str", "v"), ("GEORADIUS", "g", "15", "37", "200", "km", "STORE", "str"), ("TYPE", "str"),
        ("GEORADIUS", "str", "15", "37", "200", "km"),
    ],
    "search": [
        ("GEOADD", "g", *PLACES),
        ("GEOSEARCH", "g", "FROMMEMBER", "Paris", "BYRADIUS", "400", "km", "ASC", "WITHDIST"),
        ("GEOSEARCH", "g", "FROMLONLAT", "2", "48", "BYBOX", "1000", "800", "km", "DESC", "WITHCOORD"),
        ("GEOSEARCH", "g", "FROMLONLAT", "14", "38", "BYBOX", "400", "400", "km", "WITHHASH"),
        ("GEOSEARCH", "g", "FROMLONLAT", "14", "38", "BYBOX", "40000", "40000", "km", "COUNT", "3"),
        ("GEOSEARCH", "g", "FROMLONLAT", "14", "38", "BYBOX", "40000", "40000", "km", "COUNT", "3", "ANY"),
        ("GEOSEARCH", "g", "FROMLONLAT", "14", "-38", "BYBOX", "4000", "9000", "mi", "ASC"),
        ("GEOSEARCH", "g", "FROMMEMBER", "nope", "BYRADIUS", "1", "km"),
        ("GEOSEARCH", "none", "FROMMEMBER", "nope", "BYRADIUS", "1", "km"),
        ("GEOSEARCH", "g", "FROMMEMBER", "Paris", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "km"),
        ("GEOSEARCH", "g", "BYRADIUS", "1", "km", "FROMLONLAT", "1", "1"),
        ("GEOSEARCH", "g", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "km", "BYBOX", "1", "1", "km"),
        ("GEOSEARCH", "g", "FROMLONLAT", "1", "1", "COUNT", "1"), ("GEOSEARCH", "g", "BYRADIUS", "1", "km", "ASC"),
        ("GEOSEARCH", "g", "FROMLONLAT", "1", "1", "BYBOX", "-1", "1", "km"),
        ("GEOSEARCH", "g", "FROMLONLAT", "1", "1", "BYBOX", "x", "1", "km"),
        ("GEOSEARCH", "g", "FROMLONLAT", "1", "1", "BYBOX", "1", "y", "km"),
        ("GEOSEARCH", "g", "FROMLONLAT", "1", "1", "BYBOX", "1", "1", "au"),
        ("GEOSEARCH", "g", "FROMLONLAT", "1", "100", "BYRADIUS", "1", "km"),
        ("GEOSEARCH", "g", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "km", "STOREDIST"),
        ("GEOSEARCH", "g", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "km", "STORE", "x"),
        ("geosearch", "g", "frommember", "Paris", "byradius", "400", "KM", "withdist", "withcoord", "withhash"),
    ],
    "equal_distances": [
        # many members at one spot and on a ring: ties broken as Redis's quicksort breaks them
        ("GEOADD", "g", *[part for i in range(60) for part in ("10", "10", f"same{i:02d}")]),
        ("GEOADD", "g", *[part for i in range(50) for part in ("10.01", "10", f"ring{i:02d}")]),
        ("GEOSEARCH", "g", "FROMLONLAT", "10", "10", "BYRADIUS", "10", "km", "COUNT", "5"),
        ("GEOSEARCH", "g", "FROMLONLAT", "10", "10", "BYRADIUS", "10", "km", "COUNT", "70", "DESC"),
        ("GEOSEARCH", "g", "FROMLONLAT", "10", "10", "BYRADIUS", "10", "km", "COUNT", "65"),
        ("GEOSEARCH", "g", "FROMLONLAT", "10", "10", "BYRADIUS", "10", "km", "COUNT", "109", "DESC"),
        ("GEOSEARCH", "g", "FROMLONLAT", "10", "10", "BYRADIUS", "10", "km", "DESC"),
        ("GEOSEARCH", "g", "FROMLONLAT", "10", "10", "BYRADIUS", "10", "km", "ASC", "COUNT", "6", "ANY"),
        ("GEOSEARCH", "g", "FROMLONLAT", "10.005", "10", "BYBOX", "10", "10", "km", "COUNT", "55"),
    ],
}


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_geo_scripts(redis_server, fanout_broker, name: str, protocol: int) -> None:
    assert_same_replies(redis_server.port, fanout_broker.port, SCRIPTS[name], protocol=protocol)


def test_geo_keyspace_events(redis_server, fanout_broker) -> None:
    script = [("GEOADD", "g", *PLACES), ("GEOADD", "g", "1", "1", "Paris"), ("GEOADD", "g", "NX", "1", "1", "Paris"),
              ("GEORADIUS", "g", "15", "37", "200", "km", "STORE", "d"),
              ("GEOSEARCHSTORE", "d", "g", "FROMLONLAT", "0", "0", "BYBOX", "1", "1", "m"),
              ("GEOSEARCHSTORE", "d", "g", "FROMMEMBER", "Paris", "BYRADIUS", "9000", "km"),
              ("GEOPOS", "g", "x"), ("GEOSEARCH", "missing", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "m")]
    assert keyspace_events(fanout_broker.port, script) == keyspace_events(redis_server.port, script)


def _random_points(rng: random.Random, count: int, x: float, y: float, spread: float) -> list[str]:
    parts: list[str] = []
    for i in range(count):
        lon = min(max(x + rng.uniform(-spread, spread), -180), 180)
        lat = min(max(y + rng.uniform(-spread, spread), -85.05), 85.05)
        parts += [f"{lon:.6f}", f"{lat:.6f}", f"p{i}"]
    return parts


CENTRES = st.sampled_from([(0.0, 0.0), (13.4, 52.5), (-73.9, 40.7), (179.95, -10.0), (-179.95, 64.0),
                           (25.0, 84.9), (100.0, -81.0), (0.0, -0.0001)])


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(centre=CENTRES, seed=st.integers(0, 10_000), spread=st.sampled_from([0.01, 0.5, 5.0, 60.0]),
       radius=st.sampled_from(["0.5", "20", "350", "5000"]), unit=st.sampled_from(["km", "mi", "m", "ft"]),
       count=st.sampled_from([(), ("COUNT", "1"), ("COUNT", "7"), ("COUNT", "50"), ("COUNT", "3", "ANY")]),
       order=st.sampled_from([(), ("ASC",), ("DESC",)]), box=st.booleans())
def test_random_geo_searches(redis_server, fanout_broker, centre, seed, spread, radius, unit, count, order,
                             box) -> None:
    rng = random.Random(seed)
    x, y = centre
    points = _random_points(rng, 120, x, y, spread)
    shape = ("BYBOX", radius, str(float(radius) * 1.5), unit) if box else ("BYRADIUS", radius, unit)
    script = [("GEOADD", "g", *points),
              ("GEOSEARCH", "g", "FROMLONLAT", str(x), str(y), *shape, *count, *order,
               "WITHDIST", "WITHHASH", "WITHCOORD"),
              ("GEOSEARCH", "g", "FROMMEMBER", "p3", *shape, *count, *order),
              ("GEOSEARCHSTORE", "d", "g", "FROMMEMBER", "p7", *shape, *count, *order, "STOREDIST"),
              ("ZRANGE", "d", 0, -1, "WITHSCORES"),
              ("GEODIST", "g", "p1", "p2", unit), ("GEOHASH", "g", "p1", "p2"), ("GEOPOS", "g", "p5")]
    assert_same_replies(redis_server.port, fanout_broker.port, script)


def test_points_on_the_antimeridian_are_found_by_small_searches(redis_server, fanout_broker) -> None:
    """Longitude 180 encodes one past the last geohash cell (Redis's overflow): a small
    search around such a point must still find it (the sub-cell pruning once missed it)."""
    script: list[tuple[str, ...]] = [("GEOADD", "g", "180", "-10.2", "east", "-180", "-10.2", "west",
                                      "179.99999", "-10.2", "near", "180", "85.05", "corner")]
    for member in ("east", "west", "near", "corner"):
        script += [("GEOSEARCH", "g", "FROMMEMBER", member, "BYBOX", "0.5", "0.75", "ft", "ASC"),
                   ("GEOSEARCH", "g", "FROMMEMBER", member, "BYRADIUS", "2", "m", "ASC"),
                   ("GEOSEARCH", "g", "FROMMEMBER", member, "BYRADIUS", "5", "km", "ASC", "WITHDIST")]
    script += [("GEOSEARCH", "g", "FROMLONLAT", "180", "-10.2", "BYRADIUS", "1", "m"),
               ("GEOSEARCH", "g", "FROMLONLAT", "-180", "-10.2", "BYBOX", "3", "3", "m")]
    assert_same_replies(redis_server.port, fanout_broker.port, script)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(levels=st.lists(st.integers(1, 25), min_size=2, max_size=6), count=st.integers(1, 90),
       order=st.sampled_from(["ASC", "DESC"]), seed=st.integers(0, 1000))
def test_ties_at_several_distances(redis_server, fanout_broker, levels, count, order, seed) -> None:
    """Groups of members at one spot each (equal distances within a group), shuffled
    names: COUNT below the total takes Redis's partial quicksort, whose order among
    equal distances is its own."""
    rng = random.Random(seed)
    names = [f"m{i:03d}" for i in range(sum(levels))]
    rng.shuffle(names)
    parts: list[str] = []
    for level, size in enumerate(levels):
        for _ in range(size):
            parts += [f"{10 + level * 0.001 * rng.choice([1, -1]):.4f}", "10", names.pop()]
    script = [("GEOADD", "g", *parts),
              ("GEOSEARCH", "g", "FROMLONLAT", "10", "10", "BYRADIUS", "50", "km", "COUNT", str(count), order,
               "WITHDIST"),
              ("GEORADIUS", "g", "10.0003", "10", "50", "km", "COUNT", str(count), order)]
    assert_same_replies(redis_server.port, fanout_broker.port, script)


def test_searches_near_the_66th_and_80th_parallels(redis_server, fanout_broker) -> None:
    """Redis takes one (and past 80°, two) coarser cells there: unsorted replies come
    in the order of the cells scanned."""
    rng = random.Random(66)
    for lat in ("65.9", "66.01", "66.5", "79.99", "80.01", "-66.3", "-80.2"):
        points = _random_points(rng, 80, 20.0, float(lat), 2.0)
        script = [("GEOADD", "g", *points)] + [
            ("GEOSEARCH", "g", "FROMLONLAT", "20", lat, "BYRADIUS", radius, "km")
            for radius in ("5", "40", "120", "600")]
        assert_same_replies(redis_server.port, fanout_broker.port, script)
