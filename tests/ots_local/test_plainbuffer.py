"""Our PlainBuffer parser and writer against the SDK's own builder and readers."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from tablestore.error import OTSClientError
from tablestore.metadata import INF_MAX as SDK_INF_MAX
from tablestore.metadata import INF_MIN as SDK_INF_MIN
from tablestore.metadata import PK_AUTO_INCR
from tablestore.plainbuffer.plain_buffer_builder import PlainBufferBuilder
from tablestore.plainbuffer.plain_buffer_coded_stream import PlainBufferCodedInputStream
from tablestore.plainbuffer.plain_buffer_crc8 import PlainBufferCrc8
from tablestore.plainbuffer.plain_buffer_stream import PlainBufferInputStream

from ots_local import plainbuffer
from ots_local.errors import ParameterInvalid
from ots_local.plainbuffer import (
    AUTO_INCREMENT,
    INF_MAX,
    INF_MIN,
    OP_DELETE_ALL_VERSIONS,
    OP_DELETE_ONE_VERSION,
    OP_INCREMENT,
    crc8,
    encode_row,
    encode_row_body,
    encode_rows,
    parse_row,
    parse_variant,
)

names = st.text("abcdefghijklmnopqrstuvwxyz_ABCXYZ0123456789", min_size=1, max_size=12)
int64 = st.integers(-(2**63), 2**63 - 1)
pk_values = st.one_of(int64, st.text(max_size=20), st.binary(max_size=20))
attribute_values = st.one_of(
    int64,
    st.text(max_size=40),
    st.binary(max_size=40),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
)
timestamps = st.one_of(st.none(), st.integers(0, 2**62))


def to_sdk(value):
    """The SDK's Python type for a value (it sends bytearray as BINARY, bytes as STRING)."""
    return bytearray(value) if isinstance(value, bytes) else value


def sdk_read(buffer):
    stream = PlainBufferCodedInputStream(PlainBufferInputStream(bytes(buffer)))
    return stream.read_row()


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    st.lists(st.tuples(names, pk_values), min_size=1, max_size=4),
    st.lists(st.tuples(names, attribute_values, timestamps), max_size=6),
)
def test_we_parse_every_row_the_sdk_builds(primary_key, cells):
    sdk_cells = [(n, to_sdk(v)) if ts is None else (n, to_sdk(v), ts) for n, v, ts in cells]
    data = bytes(
        PlainBufferBuilder.serialize_for_put_row(
            [(n, to_sdk(v)) for n, v in primary_key], sdk_cells
        )
    )
    row = parse_row(data)
    assert row.primary_key == primary_key
    assert row.cells == [(n, v, None, ts) for n, v, ts in cells]
    assert row.delete_marker is False


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    st.lists(st.tuples(names, pk_values), min_size=1, max_size=4),
    st.lists(st.tuples(names, attribute_values, st.integers(0, 2**62)), max_size=6),
)
def test_the_sdk_reads_every_row_we_write(primary_key, cells):
    data = encode_row(primary_key, cells)
    sdk_pk, sdk_cells = sdk_read(data)
    assert sdk_pk == [(n, to_sdk(v)) for n, v in primary_key]
    assert sdk_cells == [(n, to_sdk(v), ts) for n, v, ts in cells]


def test_the_sdk_reads_several_rows_from_one_buffer():
    rows = [([("pk", i)], [("v", "x" * i, 1000 + i)]) for i in range(3)]
    data = encode_rows([encode_row_body(pk, cells) for pk, cells in rows])
    stream = PlainBufferCodedInputStream(PlainBufferInputStream(data))
    parsed = stream.read_rows()
    assert [(row.primary_key, row.attribute_columns) for row in parsed] == rows
    assert encode_rows([]) == b""


def test_update_operations_are_parsed_with_their_op_and_timestamp():
    data = bytes(
        PlainBufferBuilder.serialize_for_update_row(
            [("pk", "a")],
            {
                "put": [("p", 1, 10)],
                "delete": [("d", None, 20)],
                "delete_all": ["all"],
                "increment": [("n", 5)],
            },
        )
    )
    assert parse_row(data).cells == [
        ("p", 1, None, 10),
        ("d", None, OP_DELETE_ONE_VERSION, 20),
        ("all", None, OP_DELETE_ALL_VERSIONS, None),
        ("n", 5, OP_INCREMENT, None),
    ]


def test_delete_marker_inf_and_auto_increment_are_parsed():
    deleted = parse_row(bytes(PlainBufferBuilder.serialize_for_delete_row([("pk", "a")])))
    assert deleted.delete_marker is True
    bounds = parse_row(
        bytes(
            PlainBufferBuilder.serialize_primary_key(
                [("a", SDK_INF_MIN), ("b", SDK_INF_MAX), ("c", PK_AUTO_INCR)]
            )
        )
    )
    assert bounds.primary_key == [("a", INF_MIN), ("b", INF_MAX), ("c", AUTO_INCREMENT)]


@settings(derandomize=True)
@given(st.binary(max_size=200))
def test_crc8_is_the_sdks(data):
    assert crc8(0, data) == PlainBufferCrc8.crc_string(0, data)


def test_variants_as_filters_carry_them():
    for value in [7, "é", b"\x00", True, 2.5]:
        data = bytes(PlainBufferBuilder.serialize_column_value(to_sdk(value)))
        assert parse_variant(data) == value
    with pytest.raises(ParameterInvalid):
        parse_variant(b"\x09")


VALID = bytes(PlainBufferBuilder.serialize_for_put_row([("pk", "a")], [("v", "xyz", 5)]))


@pytest.mark.parametrize("cut", range(len(VALID)))
def test_every_truncation_is_a_clean_400(cut):
    with pytest.raises(ParameterInvalid):
        parse_row(VALID[:cut])


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.integers(0, len(VALID) - 1), st.integers(1, 255))
def test_a_corrupted_byte_never_crashes_the_parser(position, flip):
    data = bytearray(VALID)
    data[position] ^= flip
    # ParameterInvalid is a clean 400; anything else (IndexError, struct.error...) would be a 500.
    with contextlib.suppress(ParameterInvalid):
        parse_row(bytes(data))


def test_a_wrong_header_is_rejected():
    with pytest.raises(ParameterInvalid, match="mismatch header"):
        parse_row(b"\x76\x00\x00\x00" + VALID[4:])


def test_trailing_garbage_is_rejected():
    with pytest.raises(ParameterInvalid):
        parse_row(VALID + b"\x01")


def test_the_writer_refuses_types_tablestore_has_not():
    with pytest.raises(TypeError):
        plainbuffer.encode_value(None)


# --- the fast path through the SDK's C reader --------------------------------------------------
update_ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), names, attribute_values, timestamps),
        st.tuples(st.just("delete"), names, st.just(None), st.integers(0, 2**40)),
        st.tuples(st.just("delete_all"), names, st.just(None), st.just(None)),
        st.tuples(st.just("increment"), names, int64, st.just(None)),
    ),
    min_size=1,
    max_size=5,
)


def sdk_update(primary_key, ops):
    columns = {}
    for kind, name, value, ts in ops:
        if kind == "delete_all":
            columns.setdefault(kind, []).append(name)
        elif ts is None:
            columns.setdefault(kind, []).append((name, to_sdk(value)))
        else:
            columns.setdefault(kind, []).append((name, to_sdk(value), ts))
    try:
        return bytes(PlainBufferBuilder.serialize_for_update_row(primary_key, columns))
    except OTSClientError:
        # The SDK's pure-Python builder undersizes its buffer for versions on delete ops (its
        # C++ encoder does not): nothing to compare then.
        assume(False)
        raise


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    st.lists(st.tuples(names, pk_values), min_size=1, max_size=4),
    st.lists(st.tuples(names, attribute_values, timestamps), max_size=6),
    update_ops,
)
def test_the_fast_path_reads_exactly_what_the_python_reader_reads(primary_key, cells, ops):
    sdk_pk = [(n, to_sdk(v)) for n, v in primary_key]
    put = bytes(
        PlainBufferBuilder.serialize_for_put_row(
            sdk_pk, [(n, to_sdk(v)) if ts is None else (n, to_sdk(v), ts) for n, v, ts in cells]
        )
    )
    update = sdk_update(sdk_pk, ops)
    delete = bytes(PlainBufferBuilder.serialize_for_delete_row(sdk_pk))
    for data in (put, update, delete):
        assert parse_row(data) == plainbuffer.parse_row_python(data)


def test_the_fast_path_takes_plain_rows_and_leaves_ops_and_markers_to_python():
    if plainbuffer._native_parse_row is None:
        pytest.skip("the SDK's C PlainBuffer reader is not built for this platform")
    put = bytes(PlainBufferBuilder.serialize_for_put_row([("pk", "a")], [("v", "x", 5), ("n", 1)]))
    assert plainbuffer._parse_row_native(put) == plainbuffer.parse_row_python(put)
    for data in (
        sdk_update([("pk", "a")], [("increment", "n", 1, None)]),
        sdk_update([("pk", "a")], [("delete_all", "n", None, None)]),
        bytes(PlainBufferBuilder.serialize_for_delete_row([("pk", "a")])),
    ):
        assert plainbuffer._parse_row_native(data) is None  # the C reader would drop the op
        assert parse_row(data) == plainbuffer.parse_row_python(data)
    corrupted = bytearray(put)
    corrupted[put.index(b"x")] ^= 1
    assert plainbuffer._parse_row_native(bytes(corrupted)) is None
    with pytest.raises(ParameterInvalid, match="checksum is mismatch"):
        parse_row(bytes(corrupted))
