"""The Tablestore API operations: protobuf requests in, protobuf responses out.

Each handler decodes its `{Api}Request`, checks the request's shape, calls the `Engine` and
encodes the `{Api}Response`; errors are raised as `OTSError`. The protobuf classes are the
SDK's generated ones (`tablestore.protobuf`), so the wire format is the SDK's by construction.

Validation order follows the real service: request shape, then the table, then the primary
key, then the condition.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf.message import DecodeError

from . import errors, validation
from .engine import Engine, WriteCondition
from .filters import compile_filter
from .indexes import IndexMeta
from .limits import (
    BATCH_GET_MAX_ROWS,
    BATCH_WRITE_MAX_BYTES,
    BATCH_WRITE_MAX_ROWS,
    DEFAULT_DEVIATION,
)
from .plainbuffer import AUTO_INCREMENT, encode_row, encode_row_body, encode_rows, parse_row
from .rows import (
    EXPECT_EXIST,
    EXPECT_IGNORE,
    EXPECT_NOT_EXIST,
    OP_DELETE,
    OP_PUT,
    OP_UPDATE,
    RT_NONE,
    ReadRow,
    ReadSpec,
)
from .sdk import pb2 as pb
from .sdk import search_pb2
from .tables import TableMeta, valid_name

_ROW_KINDS = {pb.PUT: OP_PUT, pb.UPDATE: OP_UPDATE, pb.DELETE: OP_DELETE}
_ROW_API = {OP_PUT: "PutRow", OP_UPDATE: "UpdateRow", OP_DELETE: "DeleteRow"}
# The conditions without a column condition, made once (the engine only reads them).
_PLAIN_CONDITIONS = {
    existence: WriteCondition(existence, None)
    for existence in (EXPECT_IGNORE, EXPECT_EXIST, EXPECT_NOT_EXIST)
}


# The request messages that can carry a transaction ID.
_TRANSACTIONAL: dict[Any, bool] = {}
# A write's answer without a row depends on its message type and capacity units only.
_WRITE_ANSWERS: dict[tuple[Any, int, int], bytes] = {}


def _parse(cls: Any, body: bytes) -> Any:
    message = cls()
    try:
        message.ParseFromString(body)
    except DecodeError:
        raise errors.ParameterInvalid("Parse PBMessage from RawString failed.") from None
    if not message.IsInitialized():
        missing = ", ".join(message.FindInitializationErrors())
        raise errors.ParameterInvalid(f"Parse PBMessage from RawString failed: missing {missing}.")
    # ots_local has no local transactions (StartLocalTransaction is unsupported), so no
    # transaction ID is valid; the service answers this for one it does not know.
    transactional = _TRANSACTIONAL.get(cls)
    if transactional is None:
        transactional = _TRANSACTIONAL[cls] = "transaction_id" in cls.DESCRIPTOR.fields_by_name
    if transactional and message.HasField("transaction_id"):
        raise errors.ParameterInvalid("TransactionID is invalid.")
    return message


def _encode(row: ReadRow | None) -> bytes:
    return b"" if row is None else encode_row(row.primary_key, row.cells)


def _set_consumed(message: Any, read: int, write: int) -> None:
    unit = message.consumed.capacity_unit
    unit.read = read
    unit.write = write


def _condition(message: Any) -> WriteCondition:
    if not message.column_condition:
        plain = _PLAIN_CONDITIONS.get(message.row_existence)
        if plain is not None:
            return plain
        return WriteCondition(message.row_existence, None)
    predicate = compile_filter(message.column_condition, for_read=False).predicate
    return WriteCondition(message.row_existence, predicate)


def _return_content(message: Any) -> tuple[int, list[str]]:
    if not message.HasField("return_content"):
        return RT_NONE, []
    content = message.return_content
    return content.return_type, list(content.return_column_names)


def _read_spec(message: Any, *, batch: bool) -> ReadSpec:
    spec = ReadSpec(
        columns_to_get=list(message.columns_to_get),
        max_versions=message.max_versions if message.HasField("max_versions") else None,
        start_column=message.start_column if message.HasField("start_column") else None,
        end_column=message.end_column if message.HasField("end_column") else None,
    )
    specific = None
    has_range = False
    if message.HasField("time_range"):
        time_range = message.time_range
        has_start, has_end = time_range.HasField("start_time"), time_range.HasField("end_time")
        if has_start != has_end:
            raise errors.ParameterInvalid("Start and end time must be given at the same time.")
        has_range = has_start
        if time_range.HasField("specific_time"):
            specific = time_range.specific_time
            spec.time_range = (specific, specific + 1)
        elif has_range:
            spec.time_range = (time_range.start_time, time_range.end_time)
    validation.check_read_spec(spec, specific, has_range, batch)
    if message.filter:
        spec.filter = compile_filter(message.filter, for_read=True)
    return spec


def _index_meta(message: Any) -> IndexMeta:
    return IndexMeta(
        name=message.name,
        primary_key=list(message.primary_key),
        defined_columns=list(message.defined_column),
        index_type=message.index_type,
        update_mode=message.index_update_mode,
    )


def _read_pk(data: bytes) -> list[tuple[str, Any]]:
    row = parse_row(data)
    if row.cells:
        raise errors.ParameterInvalid("Attribute column cannot be given while reading data.")
    if row.delete_marker:
        raise errors.ParameterInvalid("Delete marker cannot be given.")
    return row.primary_key


def _no_repeated_rows_on_indexed_table(engine: Engine, table_name: str, changes: list) -> None:
    """A table with secondary indexes takes each row at most once per BatchWriteRow.

    The service refuses repeated rows there (its Java SDK's writer splits batches for such
    tables for that reason); how it answers is not documented: we fail the whole request.
    """
    table = engine.tables.get(table_name)
    if table is None or not table.indexes:
        return
    seen = set()
    for change in changes:
        primary_key = change[1].primary_key
        if any(value is AUTO_INCREMENT for _, value in primary_key):
            continue  # a new row each time
        key = tuple(sorted(primary_key, key=lambda pair: pair[0]))
        if key in seen:
            raise errors.ParameterInvalid(
                f"The same row appears twice in BatchWriteRow for table '{table_name}', which"
                " has secondary indexes: give each row once."
            )
        seen.add(key)


class API:
    """Dispatches API names to handlers over one Engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.handlers: dict[str, Callable[[bytes], bytes]] = {
            "CreateTable": self.create_table,
            "ListTable": self.list_table,
            "DescribeTable": self.describe_table,
            "UpdateTable": self.update_table,
            "DeleteTable": self.delete_table,
            "GetRow": self.get_row,
            "PutRow": self.put_row,
            "UpdateRow": self.update_row,
            "DeleteRow": self.delete_row,
            "BatchGetRow": self.batch_get_row,
            "BatchWriteRow": self.batch_write_row,
            "GetRange": self.get_range,
            "ListSearchIndex": self.list_search_index,
            "CreateIndex": self.create_index,
            "DropIndex": self.drop_index,
        }

    def unsupported(self, api: str) -> errors.OTSError:
        """The error for an API name this server does not implement."""
        return errors.ParameterInvalid(
            f"Unsupported operation: {api}. (ots_local implements: {', '.join(self.handlers)}.)"
        )

    # --- tables -------------------------------------------------------------------------------
    def create_table(self, body: bytes) -> bytes:
        request = _parse(pb.CreateTableRequest, body)
        table_meta = request.table_meta
        auto = [i for i, c in enumerate(table_meta.primary_key) if c.HasField("option")]
        if len(auto) > 1:
            raise errors.ParameterInvalid("AUTO_INCREMENT primary key count must <= 1.")
        if request.HasField("stream_spec") and request.stream_spec.enable_stream:
            raise errors.ParameterInvalid("ots_local does not support streams (stream_spec).")
        options = request.table_options
        if not options.HasField("time_to_live"):
            raise errors.ParameterInvalid("Time-to-live is missing while creating table.")
        if not options.HasField("max_versions"):
            raise errors.ParameterInvalid("MaxVersions is missing while creating table.")
        unit = request.reserved_throughput.capacity_unit
        meta = TableMeta(
            name=table_meta.table_name,
            pk_names=[column.name for column in table_meta.primary_key],
            pk_types=[column.type for column in table_meta.primary_key],
            auto_increment=auto[0] if auto else None,
            defined_columns=[(column.name, column.type) for column in table_meta.defined_column],
            time_to_live=options.time_to_live,
            max_versions=options.max_versions,
            deviation=(
                options.deviation_cell_version_in_sec
                if options.HasField("deviation_cell_version_in_sec")
                else DEFAULT_DEVIATION
            ),
            allow_update=options.allow_update if options.HasField("allow_update") else None,
            read_cu=unit.read,
            write_cu=unit.write,
        )
        self.engine.create_table(meta, [_index_meta(index) for index in request.index_metas])
        return pb.CreateTableResponse().SerializeToString()

    def create_index(self, body: bytes) -> bytes:
        request = _parse(pb.CreateIndexRequest, body)
        self.engine.create_index(
            request.main_table_name, _index_meta(request.index_meta), request.include_base_data
        )
        return pb.CreateIndexResponse().SerializeToString()

    def drop_index(self, body: bytes) -> bytes:
        request = _parse(pb.DropIndexRequest, body)
        self.engine.delete_index(request.main_table_name, request.index_name)
        return pb.DropIndexResponse().SerializeToString()

    def list_table(self, body: bytes) -> bytes:
        _parse(pb.ListTableRequest, body)
        response = pb.ListTableResponse()
        response.table_names.extend(self.engine.list_tables())
        return response.SerializeToString()

    def delete_table(self, body: bytes) -> bytes:
        request = _parse(pb.DeleteTableRequest, body)
        self.engine.delete_table(request.table_name)
        return pb.DeleteTableResponse().SerializeToString()

    def describe_table(self, body: bytes) -> bytes:
        request = _parse(pb.DescribeTableRequest, body)
        meta = self.engine.table(request.table_name).meta
        response = pb.DescribeTableResponse()
        out = response.table_meta
        out.table_name = meta.name
        for i, (name, pk_type) in enumerate(zip(meta.pk_names, meta.pk_types, strict=True)):
            column = out.primary_key.add(name=name, type=pk_type)
            if meta.auto_increment == i:
                column.option = pb.AUTO_INCREMENT
        for name, column_type in meta.defined_columns:
            out.defined_column.add(name=name, type=column_type)
        for live in self.engine.table(request.table_name).indexes:
            index = live.index_meta
            response.index_metas.add(
                name=index.name,
                primary_key=index.primary_key,
                defined_column=index.defined_columns,
                index_update_mode=index.update_mode,
                index_type=index.index_type,
            )
        self._fill_throughput_and_options(response, meta)
        return response.SerializeToString()

    def update_table(self, body: bytes) -> bytes:
        request = _parse(pb.UpdateTableRequest, body)
        reserved = None
        if request.HasField("reserved_throughput"):
            unit = request.reserved_throughput.capacity_unit
            current = self.engine.table(request.table_name).meta
            reserved = (
                unit.read if unit.HasField("read") else current.read_cu,
                unit.write if unit.HasField("write") else current.write_cu,
            )
        options: dict[str, Any] = {}
        if request.HasField("table_options"):
            given = request.table_options
            for field, attribute in (
                ("time_to_live", "time_to_live"),
                ("max_versions", "max_versions"),
                ("deviation_cell_version_in_sec", "deviation"),
                ("allow_update", "allow_update"),
            ):
                if given.HasField(field):
                    options[attribute] = getattr(given, field)
            if not options:
                raise errors.ParameterInvalid("No parameter is specified in table options.")
        if request.HasField("stream_spec") and request.stream_spec.enable_stream:
            raise errors.ParameterInvalid("ots_local does not support streams (stream_spec).")
        meta = self.engine.update_table(request.table_name, reserved, options)
        response = pb.UpdateTableResponse()
        self._fill_throughput_and_options(response, meta)
        return response.SerializeToString()

    @staticmethod
    def _fill_throughput_and_options(response: Any, meta: TableMeta) -> None:
        details = response.reserved_throughput_details
        details.capacity_unit.read = meta.read_cu
        details.capacity_unit.write = meta.write_cu
        details.last_increase_time = meta.last_increase_ms // 1000
        if meta.last_decrease_ms is not None:
            details.last_decrease_time = meta.last_decrease_ms // 1000
        options = response.table_options
        options.time_to_live = meta.time_to_live
        options.max_versions = meta.max_versions
        options.deviation_cell_version_in_sec = meta.deviation
        options.allow_update = True if meta.allow_update is None else meta.allow_update

    def list_search_index(self, body: bytes) -> bytes:
        """Always empty: ots_local has no search indexes (CreateSearchIndex is unsupported).

        The SDK's own clean-up lists a table's search indexes before deleting it.
        """
        _parse(search_pb2.ListSearchIndexRequest, body)
        return search_pb2.ListSearchIndexResponse().SerializeToString()

    # --- single rows --------------------------------------------------------------------------
    def get_row(self, body: bytes) -> bytes:
        request = _parse(pb.GetRowRequest, body)
        primary_key = _read_pk(request.primary_key)
        validation.check_read_pk(primary_key)
        spec = _read_spec(request, batch=False)
        row, read_cu = self.engine.get_row(request.table_name, primary_key, spec)
        response = pb.GetRowResponse()
        _set_consumed(response, read_cu, 0)
        response.row = _encode(row)
        return response.SerializeToString()

    def put_row(self, body: bytes) -> bytes:
        request = _parse(pb.PutRowRequest, body)
        return self._write_one(pb.PutRowResponse, request, OP_PUT, request.row)

    def update_row(self, body: bytes) -> bytes:
        request = _parse(pb.UpdateRowRequest, body)
        return self._write_one(pb.UpdateRowResponse, request, OP_UPDATE, request.row_change)

    def delete_row(self, body: bytes) -> bytes:
        request = _parse(pb.DeleteRowRequest, body)
        return self._write_one(pb.DeleteRowResponse, request, OP_DELETE, request.primary_key)

    def _write_one(self, response_type: Any, request: Any, op: int, data: bytes) -> bytes:
        row = parse_row(data)
        validation.check_write_shape(op, row, _ROW_API[op])
        condition = _condition(request.condition)
        return_type, return_columns = (
            _return_content(request) if request.HasField("return_content") else (RT_NONE, [])
        )
        # No explicit transaction: on a table without indexes a single-row write is at most one
        # storage write (in a data file, a statement SQLite commits before we answer).
        result = self.engine.write(
            request.table_name, op, row, condition, return_type, return_columns
        )
        if result.row is None:
            answer_key = (response_type, result.read_cu, result.write_cu)
            answer = _WRITE_ANSWERS.get(answer_key)
            if answer is None:
                response = response_type()
                _set_consumed(response, result.read_cu, result.write_cu)
                answer = response.SerializeToString()
                if len(_WRITE_ANSWERS) < 1024:  # capacity units are few in practice
                    _WRITE_ANSWERS[answer_key] = answer
            return answer
        response = response_type()
        _set_consumed(response, result.read_cu, result.write_cu)
        response.row = _encode(result.row)
        return response.SerializeToString()

    # --- batches ------------------------------------------------------------------------------
    def batch_get_row(self, body: bytes) -> bytes:
        request = _parse(pb.BatchGetRowRequest, body)
        if not request.tables:
            raise errors.ParameterInvalid("No row specified in the request of BatchGetRow.")
        total = sum(len(table.primary_key) for table in request.tables)
        if total > BATCH_GET_MAX_ROWS:
            raise errors.ParameterInvalid(
                f"Rows count exceeds the upper limit: {BATCH_GET_MAX_ROWS}."
            )
        plans = []
        for table in request.tables:
            spec = _read_spec(table, batch=True)
            keys = []
            for data in table.primary_key:
                primary_key = _read_pk(data)
                validation.check_read_pk(primary_key)
                keys.append(primary_key)
            plans.append((table.table_name, spec, keys))
        response = pb.BatchGetRowResponse()
        engine = self.engine
        for table_name, spec, keys in plans:
            out = response.tables.add(table_name=table_name)
            for primary_key in keys:
                item = out.rows.add()
                try:
                    row, read_cu = engine.get_row(table_name, primary_key, spec)
                except errors.OTSError as error:
                    item.is_ok = False
                    item.error.code = error.code
                    item.error.message = error.message
                    continue
                item.is_ok = True
                _set_consumed(item, read_cu, 0)
                item.row = _encode(row)
        return response.SerializeToString()

    def batch_write_row(self, body: bytes) -> bytes:
        request = _parse(pb.BatchWriteRowRequest, body)
        if not request.tables:
            raise errors.ParameterInvalid("No row is specified in BatchWriteRow.")
        seen: set[str] = set()
        total = 0
        for table in request.tables:
            name = table.table_name
            if name in seen:
                raise errors.ParameterInvalid(f"Duplicated table name: '{name}'.")
            seen.add(name)
            if not valid_name(name):
                raise errors.ParameterInvalid(f"Invalid table name: '{name}'.")
            if not table.rows:
                raise errors.ParameterInvalid(f"No operation is specified for table: '{name}'.")
            total += len(table.rows)
        if total > BATCH_WRITE_MAX_ROWS:
            raise errors.ParameterInvalid(
                f"Rows count exceeds the upper limit: {BATCH_WRITE_MAX_ROWS}."
            )
        plans = []
        size = 0
        for table in request.tables:
            changes = []
            for item in table.rows:
                op = _ROW_KINDS.get(item.type)
                if op is None:
                    raise errors.ParameterInvalid(
                        "The type of row in batch write operation is invalid."
                    )
                row = parse_row(item.row_change)
                size += validation.check_write_shape(op, row, "BatchWriteRow")
                return_type, return_columns = _return_content(item)
                changes.append((op, row, _condition(item.condition), return_type, return_columns))
            plans.append((table.table_name, changes))
        if size > BATCH_WRITE_MAX_BYTES:
            raise errors.ParameterInvalid(
                "The total data size of BatchWriteRow request exceeds the limit, limit size:"
                f" {BATCH_WRITE_MAX_BYTES}, data size: {size}."
            )
        engine = self.engine
        for table_name, changes in plans:
            _no_repeated_rows_on_indexed_table(engine, table_name, changes)
        response = pb.BatchWriteRowResponse()
        with engine.storage.transaction():
            for table_name, changes in plans:
                out = response.tables.add(table_name=table_name)
                for op, row, condition, return_type, return_columns in changes:
                    item = out.rows.add()
                    try:
                        result = engine.write(
                            table_name, op, row, condition, return_type, return_columns
                        )
                    except errors.OTSError as error:
                        item.is_ok = False
                        item.error.code = error.code
                        item.error.message = error.message
                        if isinstance(error, errors.ConditionCheckFail):
                            _set_consumed(item, 1, 1)
                        continue
                    item.is_ok = True
                    _set_consumed(item, result.read_cu, result.write_cu)
                    if result.row is not None:
                        item.row = _encode(result.row)
        return response.SerializeToString()

    # --- ranges -------------------------------------------------------------------------------
    def get_range(self, body: bytes) -> bytes:
        request = _parse(pb.GetRangeRequest, body)
        start = _read_pk(request.inclusive_start_primary_key)
        end = _read_pk(request.exclusive_end_primary_key)
        validation.check_range_pk(start)
        validation.check_range_pk(end)
        limit = None
        if request.HasField("limit"):
            limit = request.limit
            if limit <= 0:
                raise errors.ParameterInvalid("The limit must be greater than 0.")
        spec = _read_spec(request, batch=False)
        rows, next_pk, read_cu = self.engine.get_range(
            request.table_name, request.direction, start, end, limit, spec
        )
        response = pb.GetRangeResponse()
        _set_consumed(response, read_cu, 0)
        memo: dict[int, tuple[bytes, int]] = {}  # the rows' timestamps often repeat
        response.rows = encode_rows(
            [
                row.body
                if row.body is not None
                else encode_row_body(row.primary_key, row.cells, memo)
                for row in rows
            ]
        )
        if next_pk is not None:
            response.next_start_primary_key = encode_row(next_pk)
        return response.SerializeToString()
