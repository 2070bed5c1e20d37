"""Size and count limits, value checks and capacity units, with the real service's errors."""

from __future__ import annotations

import pytest
from tablestore import Condition, ReturnType, Row
from tablestore.decoder import OTSProtoBufferDecoder
from tablestore.plainbuffer.plain_buffer_builder import PlainBufferBuilder
from tablestore.protobuf import table_store_pb2 as pb

from .test_auth import error_of, send, signed_request
from .util import ots_error

PK = [("pk", "a")]


@pytest.fixture
def name(tables):
    return tables.create()


def test_a_primary_key_value_over_1_kb_is_rejected(client, name):
    client.put_row(name, Row([("pk", "k" * 1024)], [("v", 1)]))
    with ots_error(
        400,
        "OTSParameterInvalid",
        "The length of primary key column: 'pk' exceeds the MaxLength:1024"
        " with CurrentLength:1025.",
    ):
        client.put_row(name, Row([("pk", "k" * 1025)], [("v", 1)]))


def test_a_value_over_2_mb_is_rejected(client, name):
    client.put_row(name, Row(PK, [("v", "x" * 2097152)]))
    with ots_error(
        400,
        "OTSParameterInvalid",
        "The length of attribute column: 'v' exceeds the MaxLength:2097152"
        " with CurrentLength:2097153.",
    ):
        client.put_row(name, Row(PK, [("v", bytearray(2097153))]))


def test_a_put_row_over_4_mb_is_rejected(client, name):
    cells = [(f"c{i}", "x" * 1_500_000) for i in range(3)]
    with ots_error(400, "OTSParameterInvalid") as info:
        client.put_row(name, Row(PK, cells))
    assert info.value.get_error_message() == (
        "The total data size of PutRow request exceeds the limit, limit size: 4194304,"
        " data size: 4500009."  # pk 3 + 3 x (2 + 1500000)
    )


def test_more_than_1024_columns_are_rejected(client, name):
    client.put_row(name, Row(PK, [(f"c{i}", i) for i in range(1024)]))
    with ots_error(
        400,
        "OTSParameterInvalid",
        "The number of attribute columns exceeds the limit, limit count: 1024, column count: 1025.",
    ):
        client.put_row(name, Row(PK, [(f"c{i}", i) for i in range(1025)]))


def test_more_than_128_columns_to_get_are_rejected(client, name):
    client.get_row(name, PK, [f"c{i}" for i in range(128)], max_version=1)
    with ots_error(
        400,
        "OTSParameterInvalid",
        "The number of columns from the request exceeds the limit, limit count: 128,"
        " column count: 129.",
    ):
        client.get_row(name, PK, [f"c{i}" for i in range(129)], max_version=1)


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ([("bad-name", 1)], "Invalid column name: 'bad-name'."),
        ([("1st", 1)], "Invalid column name: '1st'."),
        ([("pk", 1)], "Duplicated attribute column name with primary key column: pk."),
        ([("d", float("nan"))], "NaN can't be set to double value."),
        ([("d", float("inf"))], "Infinity can't be set to double value."),
        ([("v", 1, -1)], "Timestamp must be in range [0, INT64_MAX/1000)."),
    ],
)
def test_bad_cells_are_rejected(client, name, cells, message):
    with ots_error(400, "OTSParameterInvalid", message):
        client.put_row(name, Row(PK, cells))


@pytest.mark.parametrize(
    ("primary_key", "message"),
    [
        ([("pk", 1)], "Validate PK type fail. Input: VT_INTEGER, Meta: VT_STRING."),
        ([("pk", bytearray(b"a"))], "Validate PK type fail. Input: VT_BLOB, Meta: VT_STRING."),
        ([("other", "a")], "Validate PK name fail. Input: other, Meta: pk."),
        ([("pk", "a"), ("n", 1)], "Validate PK size fail. Input: 2, Meta: 1."),
    ],
)
def test_primary_keys_must_match_the_schema_in_every_api(client, name, primary_key, message):
    for call in (
        lambda: client.get_row(name, primary_key, max_version=1),
        lambda: client.put_row(name, Row(primary_key, [("v", 1)])),
        lambda: client.update_row(name, Row(primary_key, {"put": [("v", 1)]}), None),
        lambda: client.delete_row(name, Row(primary_key), None),
    ):
        with ots_error(400, "OTSInvalidPK", message):
            call()


def test_capacity_units_count_started_4_kb(client, name):
    consumed, _ = client.put_row(name, Row(PK, [("v", "x" * 9000)]))
    assert (consumed.read, consumed.write) == (0, 3)  # 2 + 9000 + 1 + 2 bytes: 3 units
    consumed, _, _ = client.get_row(name, PK, max_version=1)
    assert (consumed.read, consumed.write) == (3, 0)
    consumed, _ = client.update_row(name, Row(PK, {"put": [("w", 1)]}), Condition("EXPECT_EXIST"))
    assert (consumed.read, consumed.write) == (1, 1)


def test_return_type_after_modify_returns_the_named_columns(local, client, name):
    # The Python SDK cannot ask for RT_AFTER_MODIFY; other SDKs do (e.g. to read an increment).
    client.put_row(name, Row(PK, [("n", 10), ("other", "x")]))
    request = pb.UpdateRowRequest(
        table_name=name,
        row_change=bytes(
            PlainBufferBuilder.serialize_for_update_row(PK, {"increment": [("n", 5)]})
        ),
    )
    request.condition.row_existence = pb.IGNORE
    request.return_content.return_type = pb.RT_AFTER_MODIFY
    request.return_content.return_column_names.append("n")
    headers, body = signed_request(local, api="UpdateRow", body=request.SerializeToString())
    status, _, payload = send(local, "UpdateRow", headers, body)
    assert status == 200, error_of(payload)
    (_, row), _ = OTSProtoBufferDecoder("utf8", enable_native=False).decode_response(
        "UpdateRow", payload, ""
    )
    assert row.primary_key == PK
    assert [(n, v) for n, v, _ in row.attribute_columns] == [("n", 15)]
    assert ReturnType.RT_PK  # the SDK's own RT_PK path is covered in test_rows
