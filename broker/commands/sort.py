"""SORT and SORT_RO, as redis-server 7.0 (``sort.c``).

Elements of a list, set or sorted set are sorted by their numeric value, as
strings (ALPHA), or by the values of other keys (``BY weight_*``, ``BY
hash_*->field``), then optionally mapped to other keys' values (``GET``) and
stored as a list (STORE). Redis sorts with glibc's qsort (a stable merge sort
here), and with its own partial quicksort when ``BY`` and ``LIMIT`` are combined;
both are reproduced, so elements with equal weights come out in Redis's order
(for lists; a set's or a hash-ordered sorted set's own order is its own).

ALPHA without STORE compares with ``strcoll``: byte order up to the first NUL,
which is what the C locale that redis-server normally runs in does.
"""

from __future__ import annotations

import math
from collections import deque
from operator import itemgetter
from typing import Any, Callable

from broker.commands.args import SYNTAX, parse_int
from broker.commands.zsets import _MANTISSA_DIGITS, _mantissa, _strtod
from broker.client import Client
from broker.geo import partial_sort
from broker.keyspace import WRONGTYPE, Keyspace
from broker.notify import NotifyClass
from broker.resp import CommandError
from broker.table import command
from broker.zset import ZSet

__all__: list[str] = []

_LIST = NotifyClass.LIST
_GENERIC = NotifyClass.GENERIC
_WHITESPACE = b" \t\n\v\f\r"


def _reads_any_key(client: Client, argv: list[bytes]) -> bool:
    """BY and GET patterns name keys the ACLs never see: a user needs read access to
    every key to use them (sort.c user_has_full_key_access)."""
    user = client.user
    if user is None or user.unrestricted:
        return True
    cmd = client.broker.commands[argv[0].lower()]
    return user.reads_any_key(cmd, argv)


# SORT key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC | DESC]
#   [ALPHA] [STORE destination]
@command("sort", -2, "write denyoom", keys=(1, 1, 1), group="generic")
def sort(client: Client, argv: list[bytes]) -> Any:
    return _sort(client, argv, read_only=False)


# SORT_RO key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC | DESC] [ALPHA]
@command("sort_ro", -2, "readonly", keys=(1, 1, 1), group="generic", since="7.0.0")
def sort_ro(client: Client, argv: list[bytes]) -> Any:
    return _sort(client, argv, read_only=True)


def lookup_by_pattern(db: Keyspace, pattern: bytes, element: bytes) -> bytes | None:
    """``lookupKeyByPattern``: ``#`` is the element itself; otherwise the first ``*``
    is replaced by it, and ``->field`` after it reads a hash field. Missing keys,
    fields and the wrong types are None."""
    if pattern == b"#":
        return element
    star = pattern.find(b"*")
    if star < 0:
        return None
    arrow = pattern.find(b"->", star + 1)
    field = None
    if arrow >= 0 and arrow + 2 < len(pattern):
        field = pattern[arrow + 2:]
        key = pattern[:star] + element + pattern[star + 1:arrow]
    else:
        key = pattern[:star] + element + pattern[star + 1:]
    value = db.read(key)
    if value is None:
        return None
    if field is not None:
        return value.get(field) if type(value) is dict else None
    return value if type(value) is bytes else None


def _weight(raw: bytes) -> float | None:
    """SORT's ``strtod`` check: leading blanks skipped, the rest read to its end (a NUL
    ends it, as in C), no NaN, no overflow or underflow; None when refused. An
    empty string reads as 0."""
    text = raw.split(b"\0", 1)[0]
    if not text:
        return 0.0
    stripped = text.lstrip(_WHITESPACE)
    value = _strtod(stripped) if stripped else None
    if value is None or math.isnan(value):
        return None
    if math.isinf(value) and b"inf" not in stripped.lower():
        return None
    if value == 0.0 and _MANTISSA_DIGITS.search(_mantissa(stripped)):
        return None
    return value


def _sort(client: Client, argv: list[bytes], read_only: bool) -> Any:
    desc = alpha = dont_sort = False
    limit_start, limit_count = 0, -1
    sort_by: bytes | None = None
    store_key: bytes | None = None
    gets: list[bytes] = []
    index = 2
    while index < len(argv):
        left = len(argv) - index - 1
        option = argv[index].lower()
        if option == b"asc":
            desc = False
        elif option == b"desc":
            desc = True
        elif option == b"alpha":
            alpha = True
        elif option == b"limit" and left >= 2:
            limit_start, limit_count = parse_int(argv[index + 1]), parse_int(argv[index + 2])
            index += 2
        elif not read_only and option == b"store" and left >= 1:
            store_key = argv[index + 1]
            index += 1
        elif option == b"by" and left >= 1:
            sort_by = argv[index + 1]
            if b"*" not in sort_by:
                dont_sort = True
            elif not _reads_any_key(client, argv):
                raise CommandError("ERR BY option of SORT denied due to insufficient ACL permissions.")
            index += 1
        elif option == b"get" and left >= 1:
            if not _reads_any_key(client, argv):
                raise CommandError("ERR GET option of SORT denied due to insufficient ACL permissions.")
            gets.append(argv[index + 1])
            index += 1
        else:
            raise CommandError(SYNTAX)
        index += 1
    db = client.db
    value = db.read(argv[1])
    if value is not None and type(value) not in (set, deque, ZSet):
        raise CommandError(WRONGTYPE)
    if value is None:
        value = deque()
    if dont_sort and type(value) is set and (store_key is not None or getattr(client, "is_script", False)):
        # a set has no order of its own: stored or scripted results must not depend on it
        dont_sort, alpha, sort_by = False, True, None
    length = len(value)
    start = min(max(limit_start, 0), length)
    limit_count = min(max(limit_count, -1), length)
    end = length - 1 if limit_count < 0 else start + limit_count - 1
    if start >= length:
        start, end = length - 1, length - 2
    if end >= length:
        end = length - 1
    # (element, weight) pairs; a weight is a float, or the bytes ALPHA compares (None: missing)
    vector: list[list[Any]]
    distinct = False  # known distinct numeric weights: the elements need not break ties
    if dont_sort and type(value) is deque:
        items: list[bytes] = []
        if end >= start:
            count = end - start + 1 if (start != 0 or end != length - 1) else length
            ordered = reversed(value) if desc else iter(value)
            for position, element in enumerate(ordered):
                if position >= start + count:
                    break
                if position >= start:
                    items.append(element)
            end -= start
            start = 0
        vector = [[element, 0.0] for element in items]
    elif dont_sort and type(value) is ZSet:
        count = end - start + 1 if (start != 0 or end != length - 1) else length
        if count > 0:
            pairs = value.range(length - start - count, length - start - 1, reverse=True) if desc \
                else value.range(start, start + count - 1)
        else:
            pairs = []
        vector = [[member, 0.0] for member, _ in pairs]
        end -= start
        start = 0
    elif not dont_sort and sort_by is None and not alpha:
        # SORT key [LIMIT ...] [ASC|DESC]: weights are the elements themselves, read
        # in one pass (plain digits, the common case, are float()'s; strtod agrees)
        elements = list(value.scores if type(value) is ZSet else value)
        lengths = list(map(len, elements))
        if elements and b"".join(elements).isdigit() and min(lengths) > 0 and max(lengths) < 300:
            # int() then float(): the same double (an integer's float() is correctly
            # rounded, as strtod is) at less than half the cost of float(bytes)
            weights: list[float | None] = list(map(float, map(int, elements)))
        else:
            weights = [float(element) if element.isdigit() and len(element) < 300 else _weight(element)
                       for element in elements]
            if None in weights:
                raise CommandError("ERR One or more scores can't be converted into double")
        vector = list(zip(elements, weights))  # type: ignore[arg-type]
        # distinct weights (the usual case) order the elements alone, and a float key
        # sorts several times faster than a (weight, element) tuple
        distinct = len(set(weights)) == len(weights)
    elif type(value) is ZSet:
        vector = [[member, 0.0] for member in value.scores]
    else:
        vector = [[element, 0.0] for element in value]
    if alpha and sort_by is not None:
        for item in vector:
            item[1] = None  # ALPHA BY: no weight key sorts first
    conversion_error = False
    if not dont_sort:
        for item in vector if sort_by is not None or alpha else ():
            if sort_by is not None:
                weight = lookup_by_pattern(db, sort_by, item[0])
                if weight is None:
                    continue
            else:
                weight = item[0]
            if alpha:
                if sort_by is not None:
                    item[1] = weight
            elif weight.isdigit() and len(weight) < 300:
                # plain digits (the common case): strtod's value is float()'s, and
                # below 300 digits it is finite
                item[1] = float(weight)
            else:
                number = _weight(weight)
                if number is None:
                    conversion_error = True
                else:
                    item[1] = number
        if sort_by is not None and (start != 0 or end != len(vector) - 1) and vector:
            partial_sort(vector, _comparator(alpha, True, store_key is not None, desc), start, end)
        else:
            # a stable sort by key gives the stable merge sort's order with sortCompare
            # (reverse=True keeps equal keys in their order, as the negated compare does)
            # at C speed, where cmp_to_key called Python once per comparison
            if distinct:
                key: Callable[[list[Any]], Any] = itemgetter(1)
            elif not alpha and sort_by is None:
                # equal weights: by the elements first, then (stable) by the weight is
                # the (weight, element) order, two C-speed sorts instead of tuple keys
                vector.sort(key=itemgetter(0), reverse=desc)
                key = itemgetter(1)
            elif alpha and sort_by is None and b"\0" not in b"".join([item[0] for item in vector]):
                key = itemgetter(0)  # no NUL: strcoll's order is the bytes' order
            else:
                key = _sort_key(alpha, sort_by is not None, store_key is not None)
            vector.sort(key=key, reverse=desc)
    if conversion_error:
        raise CommandError("ERR One or more scores can't be converted into double")
    selected = vector[start:end + 1] if end >= start else []
    if store_key is None:
        if not gets:
            return [element for element, _ in selected]
        reply: list[Any] = []
        for element, _ in selected:
            if not gets:
                reply.append(element)
            for pattern in gets:
                reply.append(lookup_by_pattern(db, pattern, element))
        return reply
    stored: deque[bytes] = deque()
    for element, _ in selected:
        if not gets:
            stored.append(element)
        for pattern in gets:
            found = lookup_by_pattern(db, pattern, element)
            stored.append(b"" if found is None else found)
    if stored:
        db.lookup(store_key)  # lookupKeyWrite: an expired destination goes first
        db.set(store_key, stored)
        db.notify(_LIST, b"sortstore", store_key)
        db.signal_ready(store_key)
    elif db.lookup(store_key) is not None:
        db.delete(store_key)
        db.notify(_GENERIC, b"del", store_key)
    return len(stored)


def _collate(a: bytes, b: bytes) -> int:
    """``strcoll`` in the C locale: byte order of the parts before a NUL."""
    a, b = a.split(b"\0", 1)[0], b.split(b"\0", 1)[0]
    return (a > b) - (a < b)


def _bytes_order(a: bytes, b: bytes) -> int:
    return (a > b) - (a < b)


def _cut_at_nul(value: bytes) -> bytes:
    """What ``strcoll`` in the C locale compares: the bytes before a NUL."""
    return value.split(b"\0", 1)[0] if b"\0" in value else value


def _alpha_by_key(item: list[Any]) -> tuple[int, bytes]:
    weight = item[1]
    return (0, b"") if weight is None else (1, _cut_at_nul(weight))


def _alpha_by_store_key(item: list[Any]) -> tuple[int, bytes]:
    weight = item[1]
    return (0, b"") if weight is None else (1, weight)


def _alpha_key(item: list[Any]) -> bytes:
    return _cut_at_nul(item[0])


def _sort_key(alpha: bool, by_pattern: bool, store: bool) -> Callable[[list[Any]], Any]:
    """A key whose order is ``sortCompare``'s (ascending) for the options of one SORT:
    numbers by (weight, element bytes); ALPHA BY a missing weight first, then weights
    (``strcoll`` of the C locale, or memcmp with STORE) with ties left in place;
    ALPHA alone the elements the same way."""
    if not alpha:
        return itemgetter(1, 0)
    if by_pattern:
        return _alpha_by_store_key if store else _alpha_by_key
    return itemgetter(0) if store else _alpha_key


def _comparator(alpha: bool, by_pattern: bool, store: bool, desc: bool) -> Callable[[list[Any], list[Any]], int]:
    """``sortCompare`` for the options of one SORT."""
    def compare(x: list[Any], y: list[Any]) -> int:
        if not alpha:
            if x[1] > y[1]:
                result = 1
            elif x[1] < y[1]:
                result = -1
            else:
                result = _bytes_order(x[0], y[0])
        elif by_pattern:
            if x[1] is None or y[1] is None:
                result = 0 if x[1] is y[1] else (-1 if x[1] is None else 1)
            else:
                result = _bytes_order(x[1], y[1]) if store else _collate(x[1], y[1])
        else:
            result = _bytes_order(x[0], y[0]) if store else _collate(x[0], y[0])
        return -result if desc else result
    return compare
