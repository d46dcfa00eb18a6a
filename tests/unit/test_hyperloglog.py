"""broker/hyperloglog.py: the many-elements hash agrees with the one-element hash."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from broker.hyperloglog import murmurhash64a, murmurhash64a_many

# The scalar function is pinned by the differential tests (values GET from
# redis-server); these check the lane version against it.


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=40), st.sampled_from([b"", b"\xff" * 8, b"\x00" * 16])),
                max_size=80))
def test_many_is_each(elements: list[bytes]) -> None:
    assert murmurhash64a_many(elements) == [murmurhash64a(element) for element in elements]


def test_many_of_one_length_with_extreme_bytes() -> None:
    for length in range(0, 25):
        elements = [bytes([value]) * length for value in (0, 1, 0x7F, 0x80, 0xFF)] * 2
        assert murmurhash64a_many(elements) == [murmurhash64a(element) for element in elements]
