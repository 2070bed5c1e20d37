"""Order-preserving byte encoding of primary keys.

Rows are stored under `encode_key(pk)`, so the storage's bytewise key order is Tablestore's
row order: INTEGER as signed int64, STRING (UTF-8) and BINARY as unsigned bytes, column by
column. INTEGER is 8 big-endian bytes with the sign bit flipped; STRING and BINARY escape 0x00 as
0x00 0xFF and end with 0x00 0x00, which keeps every prefix shorter than its extensions.

Range bounds may hold INF_MIN / INF_MAX. As storage bytes, a bound is either an exact key or a
virtual point just before a byte string `q` (`q=None`: after everything): INF_MIN in column i sits
just before the encoded prefix of columns 0..i-1, INF_MAX just before that prefix's successor.
Bounds are compared on their values, not their bytes (two different bounds can share bytes).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any, NamedTuple

from .plainbuffer import INF_MAX, INF_MIN

# protobuf PrimaryKeyType values
PK_INTEGER = 1
PK_STRING = 2
PK_BINARY = 3

_U64 = struct.Struct(">Q")
_SIGN = 1 << 63


def encode_key(values: Sequence[Any], types: Sequence[int]) -> bytes:
    """The storage key of a primary key whose values match `types` (validated before)."""
    parts = []
    for value, pk_type in zip(values, types, strict=True):
        if pk_type == PK_INTEGER:
            parts.append(_U64.pack(value + _SIGN))
        else:
            raw = value.encode() if pk_type == PK_STRING else value
            parts.append(raw.replace(b"\x00", b"\x00\xff") + b"\x00\x00")
    return b"".join(parts)


def decode_key(key: bytes, types: Sequence[int]) -> list[Any]:
    """The primary key values of a storage key."""
    values: list[Any] = []
    pos = 0
    for pk_type in types:
        if pk_type == PK_INTEGER:
            values.append(_U64.unpack_from(key, pos)[0] - _SIGN)
            pos += 8
        else:
            end = key.index(b"\x00\x00", pos)
            raw = key[pos:end].replace(b"\x00\xff", b"\x00")
            values.append(raw.decode() if pk_type == PK_STRING else raw)
            pos = end + 2
    return values


def _successor(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with `prefix`."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes((stripped[-1] + 1,))


def compare_bounds(a: Sequence[Any], b: Sequence[Any]) -> int:
    """Compare two (validated) range keys in Tablestore order: -1, 0 or 1.

    Column by column, INF_MIN < any value < INF_MAX; an INF in both at the same column makes
    them equal (the rest is irrelevant). Python's str order is UTF-8 byte order.
    """
    for x, y in zip(a, b, strict=True):
        rank_x = 0 if x is INF_MIN else 2 if x is INF_MAX else 1
        rank_y = 0 if y is INF_MIN else 2 if y is INF_MAX else 1
        if rank_x != rank_y:
            return -1 if rank_x < rank_y else 1
        if rank_x != 1:
            return 0
        if x != y:
            return -1 if x < y else 1
    return 0


def _point(values: Sequence[Any], types: Sequence[int]) -> tuple[bytes | None, bool]:
    """A range key as storage bytes: (key, True) if exact, else (q, False) for a virtual
    point just before byte string q (q None: after every key)."""
    for i, value in enumerate(values):
        if value is INF_MIN or value is INF_MAX:
            prefix = encode_key(values[:i], types[:i])
            return (prefix if value is INF_MIN else _successor(prefix)), False
    return encode_key(values, types), True


class KeyRange(NamedTuple):
    """Storage key bounds of a range; a None bound is open. `empty`: no key can match."""

    lower: bytes | None
    lower_inclusive: bool
    upper: bytes | None
    upper_inclusive: bool
    empty: bool = False


def key_range(
    start: Sequence[Any], end: Sequence[Any], types: Sequence[int], backward: bool
) -> KeyRange | None:
    """The storage keys of GetRange from `start` to `end`; None if start is not before end
    in the direction. FORWARD reads start <= row < end; BACKWARD reads end < row <= start."""
    order = compare_bounds(start, end)
    if order == 0 or (order > 0) != backward:
        return None
    low, high = (end, start) if backward else (start, end)
    low_key, low_exact = _point(low, types)
    high_key, high_exact = _point(high, types)
    if low_key is None:  # the range starts after every possible key
        return KeyRange(None, True, None, False, empty=True)
    # A virtual point admits the keys >= (or <) its bytes whichever side it is on; an exact
    # key is included at the start of the read and excluded at its end.
    return KeyRange(low_key, not (backward and low_exact), high_key, backward and high_exact)
