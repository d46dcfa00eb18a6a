"""Glob matching as Redis's stringmatchlen does it, in bounded time and stack (issue 13, item 7)."""

import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.glob import MAX_REGEX_PATTERN, STAR, _scan, glob_match, literal_parts, parse_glob
from tests.support.stringmatch import stringmatchlen


@pytest.mark.parametrize("pattern, subject, expected", [
    # '*' does not match the empty subject in stringmatchlen (KEYS/SCAN special-case a lone '*').
    (b"*", b"", False), (b"", b"", True), (b"", b"a", False),
    (b"*", b"anything", True), (b"chat:*", b"chat:lobby", True), (b"chat:*", b"chat", False),
    (b"h?llo", b"hello", True), (b"h?llo", b"hllo", False), (b"h[ae]llo", b"hallo", True),
    (b"h[ae]llo", b"hillo", False), (b"h[^e]llo", b"hallo", True), (b"h[^e]llo", b"hello", False),
    (b"h[!e]llo", b"h!llo", True), (b"h[!e]llo", b"hallo", False),  # '!' is a member, not a negation
    (b"h[a-b]llo", b"hbllo", True), (b"h[b-a]llo", b"hallo", True), (b"h[a-b]llo", b"hcllo", False),
    (b"h\\*llo", b"h*llo", True), (b"h\\*llo", b"hello", False), (b"a[\\]]b", b"a]b", True),
    (b"a[bc", b"ab", True), (b"a[bc", b"ac", True), (b"a[bc", b"a[", False),
    (b"*a*b*c*", b"xaybzc", True), (b"*a*b*c*", b"xaybz", False), (b"a*", b"\x00\xffa", False),
    (b"\x00*", b"\x00\xff", True), (b"[", b"[", False), (b"?", b"", False),
    (b"[^", b"x", True), (b"a\\", b"a\\", True), (b"[a-", b"a", True),
    (b"[a-\xff]", b"b", False), (b"[a-\xff]", b"\x00", True), (b"[a-\xff]", b"\xff", True),
    (b"[a-\xff]", b"\x80", False),  # signed chars: the range is -1..97
])
def test_cases(pattern, subject, expected):
    assert glob_match(pattern, subject) is expected
    assert stringmatchlen(pattern, subject) is expected  # the reference agrees


def test_nocase():
    assert glob_match(b"HeLLo*", b"hello world", nocase=True)
    assert not glob_match(b"HeLLo*", b"hello world")
    assert not glob_match(b"[\\A]", b"a", nocase=True)  # escaped set members stay exact
    assert not glob_match(b"[Z-a]", b"b", nocase=True)  # swapped, then lowercased: z..a, empty


# Small alphabets make collisions (matches) likely; the specials are all there.
_pattern_bytes = st.binary(max_size=10).map(
    lambda raw: bytes(b"ab*?[]^-\\!A\xff\x80"[b % 13] for b in raw))
_subject_bytes = st.binary(max_size=10).map(lambda raw: bytes(b"ab[]-\\A\xff\x80*"[b % 10] for b in raw))


@settings(max_examples=3000, deadline=None)
@given(_pattern_bytes, _subject_bytes, st.booleans())
def test_matches_reference_port(pattern, subject, nocase):
    assert glob_match(pattern, subject, nocase) is stringmatchlen(pattern, subject, nocase)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=8), st.binary(max_size=8))
def test_matches_reference_port_any_bytes(pattern, subject):
    assert glob_match(pattern, subject) is stringmatchlen(pattern, subject)


def test_thousand_stars_no_recursion():
    # Issue 13: 1,000 stars over a ~1 KB channel raised RecursionError.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # the matcher must not need Python stack per star
    try:
        assert glob_match(b"*" * 1000, b"x" * 1000)
        assert not glob_match(b"a*" * 1000 + b"b", b"a" * 1000)
        assert glob_match(b"*a" * 480 + b"*", b"a" * 1000)
        assert not glob_match(b"*a" * 480 + b"*b", b"a" * 1000)
    finally:
        sys.setrecursionlimit(limit)


def test_many_stars_many_names_completes():
    # The KEYS attack's shape: a 480-star pattern against 1,000 long names. It must
    # end (no assertion on speed here; bench/patterns.py measures it).
    pattern = b"*a" * 480 + b"*b"
    names = [b"a" * 1000 + b"%d" % i for i in range(1000)]
    assert [name for name in names if glob_match(pattern, name)] == []


def test_parse_and_literal_parts():
    assert parse_glob(b"a**b") == parse_glob(b"a*b")
    assert parse_glob(b"a**b")[1] == STAR
    assert literal_parts(parse_glob(b"user:[x]:*:end")) == (b"user:x:", b":end", True)
    assert literal_parts(parse_glob(b"plain")) == (b"plain", b"", False)
    assert literal_parts(parse_glob(b"*tail")) == (b"", b"tail", True)


@settings(max_examples=2000, deadline=None)
@given(_pattern_bytes, _subject_bytes)
def test_long_pattern_loop_matches_reference_port(pattern, subject):
    # The loop used past MAX_REGEX_PATTERN, checked on small inputs.
    assert _scan(parse_glob(pattern), subject) is stringmatchlen(pattern, subject)


def test_very_long_patterns_take_the_loop():
    pattern = b"*a" * MAX_REGEX_PATTERN + b"*"
    assert glob_match(pattern, b"a" * (MAX_REGEX_PATTERN + 1))
    assert not glob_match(pattern, b"a" * (MAX_REGEX_PATTERN - 1))
    assert not glob_match(b"x" * (MAX_REGEX_PATTERN + 1), b"x" * MAX_REGEX_PATTERN)
