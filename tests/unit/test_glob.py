"""Glob matching as Redis's stringmatchlen does it."""

import pytest

from broker.glob import glob_match


@pytest.mark.parametrize("pattern, subject, expected", [
    (b"*", b"", True), (b"*", b"anything", True), (b"chat:*", b"chat:lobby", True), (b"chat:*", b"chat", False),
    (b"h?llo", b"hello", True), (b"h?llo", b"hllo", False), (b"h[ae]llo", b"hallo", True),
    (b"h[ae]llo", b"hillo", False), (b"h[^e]llo", b"hallo", True), (b"h[^e]llo", b"hello", False),
    (b"h[a-b]llo", b"hbllo", True), (b"h[b-a]llo", b"hallo", True), (b"h[a-b]llo", b"hcllo", False),
    (b"h\\*llo", b"h*llo", True), (b"h\\*llo", b"hello", False), (b"a[\\]]b", b"a]b", True),
    (b"a[bc", b"ab", True), (b"a[bc", b"ac", True), (b"a[bc", b"a[", False),
    (b"*a*b*c*", b"xaybzc", True), (b"*a*b*c*", b"xaybz", False), (b"a*", b"\x00\xffa", False),
    (b"\x00*", b"\x00\xff", True), (b"[", b"[", False), (b"?", b"", False),
])
def test_cases(pattern, subject, expected):
    assert glob_match(pattern, subject) is expected


def test_pathological_pattern_is_fast():
    # Exponential backtracking is cut like Redis 7 does; this must return at once.
    assert glob_match(b"a*" * 30 + b"b", b"a" * 60) is False


def test_nocase():
    assert glob_match(b"HeLLo*", b"hello world", nocase=True)
