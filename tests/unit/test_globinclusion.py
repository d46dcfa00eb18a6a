"""Glob inclusion for pattern permissions (issue 13, item 4): exact, with witnesses."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.glob import glob_match
from broker.globinclusion import counterexample, includes

_pattern = st.binary(min_size=0, max_size=6).map(lambda raw: bytes(b"ab:*?[]^-\\"[b % 10] for b in raw))
_subject = st.binary(max_size=7).map(lambda raw: bytes(b"ab:[]^-\\x"[b % 9] for b in raw))


@pytest.mark.parametrize("allowed, pattern, expected", [
    ([b"team:?:*"], b"team:*:*", False),  # the attack: team:secret:plans
    ([b"team:?:*"], b"team:a:*", True),
    ([b"team:?:*"], b"team:?:x*", True),
    ([b"team:?:*"], b"team:[ab]:*", True),
    ([b"team:*"], b"team:*:*", True),
    ([b"team:*"], b"team*", False),  # "team" itself, and "teamx"
    ([b"*"], b"anything*", True),
    ([b"a*", b"b*"], b"[ab]*", True),  # needs the union: neither alone includes it
    ([b"a*", b"b*"], b"[abc]*", False),
    ([b"*a", b"*b"], b"*[ab]", True),
    ([b"x:*"], b"x:\\*", True), ([b"x:\\*"], b"x:*", False),
    ([], b"a", False), ([b""], b"", True), ([b"*"], b"", False),
    ([b"??*"], b"?*", False), ([b"?*"], b"??*", True),
])
def test_cases(allowed, pattern, expected):
    assert includes(allowed, pattern) is expected
    witness = counterexample(allowed, pattern)
    if expected:
        assert witness is None
    else:
        assert glob_match(pattern, witness) and not any(glob_match(a, witness) for a in allowed)


@settings(max_examples=1500, deadline=None)
@given(st.lists(_pattern, max_size=3), _pattern, st.lists(_subject, max_size=30))
def test_yes_means_no_generated_channel_escapes(allowed, pattern, subjects):
    if includes(allowed, pattern):
        for subject in subjects:
            if glob_match(pattern, subject):
                assert any(glob_match(a, subject) for a in allowed), subject
    else:  # exact: a "no" comes with a channel that proves it
        witness = counterexample(allowed, pattern)
        assert glob_match(pattern, witness)
        assert not any(glob_match(a, witness) for a in allowed)


@settings(max_examples=300, deadline=None)
@given(st.lists(_pattern, min_size=1, max_size=2), _pattern)
def test_self_and_superset(allowed, pattern):
    assert includes(allowed + [pattern], pattern)
    assert includes([b"*"], pattern) is (pattern != b"")


def test_work_is_bounded():
    # "an a 7th from the end": its subset automaton has 2^6 states. Inclusion
    # holds, but past the bound the answer is a refusal, never a wrong yes.
    allowed = [b"*a" + b"?" * 6]
    pattern = b"*a" + b"?" * 5 + b"[ab]"
    with pytest.raises(LookupError):
        counterexample(allowed, pattern, max_steps=50)
    assert includes(allowed, pattern, max_steps=50) is False
    assert includes(allowed, pattern) is True
