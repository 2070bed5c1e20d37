"""The storage key encoding preserves Tablestore's row order; range bounds admit the right keys."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ots_local.keys import (
    PK_BINARY,
    PK_INTEGER,
    PK_STRING,
    decode_key,
    encode_key,
    key_range,
)
from ots_local.plainbuffer import INF_MAX, INF_MIN

VALUES = {
    PK_INTEGER: st.integers(-(2**63), 2**63 - 1),
    PK_STRING: st.text(max_size=6),
    PK_BINARY: st.binary(max_size=6),
}
# Small alphabets make equal prefixes (and so the interesting cases) likely.
SMALL = {
    PK_INTEGER: st.sampled_from([-(2**63), -1, 0, 1, 2**63 - 1]),
    PK_STRING: st.text("a\x00é", max_size=3),
    PK_BINARY: st.binary(max_size=3).map(lambda b: bytes(x % 3 * 127 for x in b)),
}
schemas = st.lists(st.sampled_from([PK_INTEGER, PK_STRING, PK_BINARY]), min_size=1, max_size=4)


def semantic(values):
    """Tablestore order of a full key: STRING by UTF-8 bytes, the rest naturally."""
    return tuple(v.encode() if isinstance(v, str) else v for v in values)


def semantic_bound(values):
    """A bound's position: INF_MIN / INF_MAX decide at their column."""
    out = []
    for value in values:
        if value is INF_MIN or value is INF_MAX:
            out.append((0 if value is INF_MIN else 2, b""))
            break
        out.append((1, value.encode() if isinstance(value, str) else value))
    return tuple(out)


def keys_for(schema, pool, draw):
    return draw(st.lists(st.tuples(*(pool[t] for t in schema)), min_size=1, max_size=12))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.data())
def test_key_order_is_tablestore_order_and_keys_decode_back(data):
    schema = data.draw(schemas)
    keys = keys_for(schema, VALUES, data.draw)
    encoded = {encode_key(k, schema): k for k in keys}
    assert sorted(encoded, key=lambda e: semantic(encoded[e])) == sorted(encoded)
    for key_bytes, values in encoded.items():
        assert tuple(decode_key(key_bytes, schema)) == values


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.data())
def test_key_ranges_admit_exactly_the_rows_between_the_bounds(data):
    schema = data.draw(schemas)
    rows = keys_for(schema, SMALL, data.draw)
    bound_value = st.one_of(st.just(INF_MIN), st.just(INF_MAX))
    start = [data.draw(st.one_of(SMALL[t], bound_value)) for t in schema]
    end = [data.draw(st.one_of(SMALL[t], bound_value)) for t in schema]
    backward = data.draw(st.booleans())
    keys = key_range(start, end, schema, backward)
    low, high = semantic_bound(start), semantic_bound(end)
    if backward:
        low, high = high, low
    if not low < high:
        assert keys is None
        return
    assert keys is not None
    for row in rows:
        position = tuple((1, v) for v in semantic(row))
        expected = (high >= position > low) if backward else (low <= position < high)
        key = encode_key(row, schema)
        admitted = (
            not keys.empty
            and (
                keys.lower is None
                or (key >= keys.lower if keys.lower_inclusive else key > keys.lower)
            )
            and (
                keys.upper is None
                or (key <= keys.upper if keys.upper_inclusive else key < keys.upper)
            )
        )
        assert admitted == expected, (row, start, end, backward)
