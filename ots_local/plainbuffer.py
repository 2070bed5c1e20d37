"""PlainBuffer: the row encoding Tablestore carries inside protobuf `bytes` fields.

Layout (all integers little-endian)::

    buffer = int32 header (0x75), then rows back to back
    row    = 0x01 pk-cell* [0x02 cell*] [0x08 delete-marker] 0x09 row-crc
    cell   = 0x03 0x04 int32 name_len name [0x05 int32 value_len type payload]
             [0x06 op] [0x07 int64 timestamp] 0x0A cell-crc

The cell CRC-8 (polynomial 0x07) covers the name, the value (type byte and payload exactly as
on the wire), the timestamp and then the op byte; the op is hashed last although it precedes
the timestamp on the wire. The row CRC covers each cell's CRC, then 1 or 0 for the delete
marker. The SDK's own reader cannot parse requests (it fails on INF_MIN/INF_MAX and on cells
with an op), hence this module.

Values are plain Python values typed one-to-one: INTEGER `int`, DOUBLE `float`, BOOLEAN `bool`,
STRING `str`, BINARY `bytes`; INF_MIN, INF_MAX and AUTO_INCREMENT are the sentinels below.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any, NamedTuple

from .errors import ParameterInvalid

HEADER = 0x75
TAG_ROW_PK = 0x01
TAG_ROW_DATA = 0x02
TAG_CELL = 0x03
TAG_CELL_NAME = 0x04
TAG_CELL_VALUE = 0x05
TAG_CELL_TYPE = 0x06
TAG_CELL_TIMESTAMP = 0x07
TAG_DELETE_ROW_MARKER = 0x08
TAG_ROW_CHECKSUM = 0x09
TAG_CELL_CHECKSUM = 0x0A

VT_INTEGER = 0x00
VT_DOUBLE = 0x01
VT_BOOLEAN = 0x02
VT_STRING = 0x03
VT_NULL = 0x06
VT_BLOB = 0x07
VT_INF_MIN = 0x09
VT_INF_MAX = 0x0A
VT_AUTO_INCREMENT = 0x0B

OP_DELETE_ALL_VERSIONS = 0x01
OP_DELETE_ONE_VERSION = 0x03
OP_INCREMENT = 0x04


class Sentinel:
    """A primary key value with no payload: INF_MIN, INF_MAX or the AUTO_INCREMENT placeholder."""

    __slots__ = ("type_name",)

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __repr__(self) -> str:
        return self.type_name


INF_MIN = Sentinel("VT_INF_MIN")
INF_MAX = Sentinel("VT_INF_MAX")
AUTO_INCREMENT = Sentinel("VT_AUTO_INCREMENT")
_SENTINELS = {VT_INF_MIN: INF_MIN, VT_INF_MAX: INF_MAX, VT_AUTO_INCREMENT: AUTO_INCREMENT}

# Tablestore's names for value types, as its error messages spell them.
_TYPE_NAMES = {
    int: "VT_INTEGER",
    float: "VT_DOUBLE",
    bool: "VT_BOOLEAN",
    str: "VT_STRING",
    bytes: "VT_BLOB",
}


def type_name(value: Any) -> str:
    """The wire type name of a value (`VT_STRING`, `VT_INF_MIN`, ...)."""
    if isinstance(value, Sentinel):
        return value.type_name
    return _TYPE_NAMES[type(value)]


def _crc8_table() -> bytes:
    table = bytearray(256)
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table[i] = crc
    return bytes(table)


CRC8_TABLE = _crc8_table()


def crc8(crc: int, data: bytes) -> int:
    """Continue the PlainBuffer CRC-8 `crc` over `data`."""
    table = CRC8_TABLE
    for byte in data:
        crc = table[crc ^ byte]
    return crc


class Cell(NamedTuple):
    """One parsed cell. `value` is None when the cell carries no value (delete ops)."""

    name: str
    value: Any
    op: int | None
    timestamp: int | None


class Row(NamedTuple):
    """One parsed row: primary key `(name, value)` pairs, attribute cells, delete marker."""

    primary_key: list[tuple[str, Any]]
    cells: list[Cell]
    delete_marker: bool


_I32 = struct.Struct("<i")
_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")
_i32_at = _I32.unpack_from
_i64_at = _I64.unpack_from
_f64_at = _F64.unpack_from


def _broken(detail: str) -> ParameterInvalid:
    return ParameterInvalid("Cell data broken, " + detail)


def parse_row(buf: bytes) -> Row:
    """Parse a buffer holding exactly one row (a request's row, pk or row change)."""
    rows = parse_rows(buf)
    if len(rows) != 1:
        raise _broken(f"expect one row, got {len(rows)}.")
    return rows[0]


def parse_rows(buf: bytes) -> list[Row]:
    """Parse a buffer: header, then rows until the end. Raises ParameterInvalid if malformed."""
    if len(buf) < 4:
        raise _broken("length is shorter than expect.")
    header = _i32_at(buf, 0)[0]
    if header != HEADER:
        raise _broken(f"mismatch header, actual: {header}, expect: {HEADER}.")
    rows = []
    pos = 4
    end = len(buf)
    try:
        while pos < end:
            row, pos = _parse_row_at(buf, pos, end)
            rows.append(row)
    except (IndexError, struct.error):
        raise _broken("length is shorter than expect.") from None
    return rows


def _parse_row_at(buf: bytes, pos: int, end: int) -> tuple[Row, int]:
    table = CRC8_TABLE
    if buf[pos] != TAG_ROW_PK:
        raise _broken(f"mismatch tag, actual tag({buf[pos]}), expect({TAG_ROW_PK}).")
    pos += 1
    row_crc = 0
    primary_key = []
    while pos < end and buf[pos] == TAG_CELL:
        cell, cell_crc, pos = _parse_cell_at(buf, pos + 1, end)
        if cell.op is not None:
            raise ParameterInvalid(f"OpType cannot be given for primary key name:{cell.name}.")
        if cell.timestamp is not None:
            raise ParameterInvalid(f"Timestamp cannot be given for primary key name:{cell.name}.")
        if cell.value is None:
            raise ParameterInvalid(f"No value is given for primary key name:{cell.name}.")
        primary_key.append((cell.name, cell.value))
        row_crc = table[row_crc ^ cell_crc]
    cells = []
    if pos < end and buf[pos] == TAG_ROW_DATA:
        pos += 1
        while pos < end and buf[pos] == TAG_CELL:
            cell, cell_crc, pos = _parse_cell_at(buf, pos + 1, end)
            cells.append(cell)
            row_crc = table[row_crc ^ cell_crc]
    delete_marker = pos < end and buf[pos] == TAG_DELETE_ROW_MARKER
    if delete_marker:
        pos += 1
    row_crc = table[row_crc ^ delete_marker]
    if buf[pos] != TAG_ROW_CHECKSUM:
        raise _broken("row is not end with checksum tag.")
    if buf[pos + 1] != row_crc:
        raise _broken(f"checksum is mismatch, {buf[pos + 1]} :{row_crc} :")
    return Row(primary_key, cells, delete_marker), pos + 2


def _parse_cell_at(buf: bytes, pos: int, end: int) -> tuple[Cell, int, int]:
    """Parse the cell after its TAG_CELL; returns the cell, its CRC and the next position."""
    if buf[pos] != TAG_CELL_NAME:
        raise _broken("attr has no name.")
    name_end = pos + 5 + _i32_at(buf, pos + 1)[0]
    if name_end > end or name_end < pos + 5:
        raise _broken("wrong string format.")
    name_bytes = buf[pos + 5 : name_end]
    try:
        name = name_bytes.decode()
    except UnicodeDecodeError:
        raise ParameterInvalid("Invalid column name: the name is not UTF-8.") from None
    crc = crc8(0, name_bytes)
    pos = name_end
    value: Any = None
    if buf[pos] == TAG_CELL_VALUE:
        start = pos + 5
        value_end = start + _i32_at(buf, pos + 1)[0]
        if value_end > end or value_end <= start:
            raise _broken(f"wrong string format, size: {value_end - start}.")
        vtype = buf[start]
        if vtype == VT_INTEGER and value_end == start + 9:
            value = _i64_at(buf, start + 1)[0]
        elif vtype in (VT_STRING, VT_BLOB):
            if _i32_at(buf, start + 1)[0] != value_end - start - 5:
                raise _broken(f"wrong string format, size: {value_end - start}.")
            raw = buf[start + 5 : value_end]
            if vtype == VT_BLOB:
                value = raw
            else:
                try:
                    value = raw.decode()
                except UnicodeDecodeError:
                    raise ParameterInvalid(
                        f"Value of column {name} must be UTF8 encoding."
                    ) from None
        elif vtype == VT_BOOLEAN and value_end == start + 2:
            value = buf[start + 1] != 0
        elif vtype == VT_DOUBLE and value_end == start + 9:
            value = _f64_at(buf, start + 1)[0]
        elif vtype in _SENTINELS and value_end == start + 1:
            value = _SENTINELS[vtype]
        else:
            raise ParameterInvalid("data format is invalid, unknown variant type occured.")
        crc = crc8(crc, buf[start:value_end])
        pos = value_end
    op = None
    timestamp = None
    timestamp_at = 0
    # The SDK writes the op before the timestamp; accept either order.
    for _ in range(2):
        tag = buf[pos]
        if tag == TAG_CELL_TYPE and op is None:
            op = buf[pos + 1]
            pos += 2
        elif tag == TAG_CELL_TIMESTAMP and timestamp is None:
            timestamp = _i64_at(buf, pos + 1)[0]
            timestamp_at = pos + 1
            pos += 9
    if timestamp is not None:
        crc = crc8(crc, buf[timestamp_at : timestamp_at + 8])
    if op is not None:
        crc = CRC8_TABLE[crc ^ op]
    if buf[pos] != TAG_CELL_CHECKSUM:
        raise _broken("cell is not end with checksum[0x0A] tag.")
    if buf[pos + 1] != crc:
        raise _broken(f"checksum is mismatch, {buf[pos + 1]} :{crc} :")
    return Cell(name, value, op, timestamp), crc, pos + 2


def parse_variant(data: bytes) -> Any:
    """Parse a bare "variant" value (type byte + payload), as filters carry their operand."""
    try:
        vtype = data[0]
        if vtype == VT_INTEGER and len(data) == 9:
            return _i64_at(data, 1)[0]
        if vtype in (VT_STRING, VT_BLOB) and _i32_at(data, 1)[0] == len(data) - 5:
            return data[5:].decode() if vtype == VT_STRING else bytes(data[5:])
        if vtype == VT_BOOLEAN and len(data) == 2:
            return data[1] != 0
        if vtype == VT_DOUBLE and len(data) == 9:
            return _f64_at(data, 1)[0]
    except (IndexError, struct.error, UnicodeDecodeError):
        pass
    raise ParameterInvalid("data format is invalid, unknown variant type occured.")


# --- writing ---------------------------------------------------------------------------------

_HEADER_BYTES = _I32.pack(HEADER)
_pack_i32 = _I32.pack
_pack_i64 = _I64.pack
_pack_f64 = _F64.pack


def encode_value(value: Any) -> bytes:
    """A value as type byte + payload (what the value CRC covers)."""
    cls = value.__class__
    if cls is str:
        raw = value.encode()
        return b"\x03" + _pack_i32(len(raw)) + raw
    if cls is int:
        return b"\x00" + _pack_i64(value)
    if cls is bool:
        return b"\x02\x01" if value else b"\x02\x00"
    if cls is float:
        return b"\x01" + _pack_f64(value)
    if cls is bytes:
        return b"\x07" + _pack_i32(len(value)) + value
    raise TypeError(f"cannot encode {cls.__name__} in PlainBuffer")


def encode_cell(name: str, value: Any, timestamp: int | None) -> tuple[bytes, int]:
    """One cell (from TAG_CELL to its checksum) and its CRC."""
    name_bytes = name.encode()
    value_bytes = encode_value(value)
    crc = crc8(crc8(0, name_bytes), value_bytes)
    parts = [
        b"\x03\x04",
        _pack_i32(len(name_bytes)),
        name_bytes,
        b"\x05",
        _pack_i32(len(value_bytes)),
        value_bytes,
    ]
    if timestamp is not None:
        ts_bytes = _pack_i64(timestamp)
        crc = crc8(crc, ts_bytes)
        parts += (b"\x07", ts_bytes)
    parts.append(bytes((TAG_CELL_CHECKSUM, crc)))
    return b"".join(parts), crc


def encode_row_body(
    primary_key: Sequence[tuple[str, Any]], cells: Sequence[tuple[str, Any, int]] = ()
) -> bytes:
    """One row without the buffer header. Always starts with TAG_ROW_PK (the SDK requires it)."""
    table = CRC8_TABLE
    parts = [b"\x01"]
    row_crc = 0
    for name, value in primary_key:
        cell, crc = encode_cell(name, value, None)
        parts.append(cell)
        row_crc = table[row_crc ^ crc]
    if cells:
        parts.append(b"\x02")
        for name, value, timestamp in cells:
            cell, crc = encode_cell(name, value, timestamp)
            parts.append(cell)
            row_crc = table[row_crc ^ crc]
    parts.append(bytes((TAG_ROW_CHECKSUM, table[row_crc])))  # table[crc ^ 0]: no delete marker
    return b"".join(parts)


def encode_row(
    primary_key: Sequence[tuple[str, Any]], cells: Sequence[tuple[str, Any, int]] = ()
) -> bytes:
    """A complete buffer holding one row."""
    return _HEADER_BYTES + encode_row_body(primary_key, cells)


def encode_rows(bodies: list[bytes]) -> bytes:
    """A complete buffer holding the given row bodies (GetRange), or b'' for none."""
    if not bodies:
        return b""
    return _HEADER_BYTES + b"".join(bodies)
