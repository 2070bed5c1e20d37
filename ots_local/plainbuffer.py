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
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from .errors import ParameterInvalid
from .sdk import native_parse_row as _native_parse_row

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


# A parsed cell: (name, value, op, timestamp). `value` is None when the cell carries none
# (delete ops); `op` and `timestamp` are None when absent. Plain tuples: rows are parsed by the
# thousand per batch, and a tuple is the cheapest record Python has.
Cell = tuple[str, Any, int | None, int | None]


class Row(NamedTuple):
    """One parsed row: primary key `(name, value)` pairs, attribute cells, delete marker, and
    `size`, the bytes of its names and values (what limits and capacity units count)."""

    primary_key: list[tuple[str, Any]]
    cells: list[Cell]
    delete_marker: bool
    size: int


_I32 = struct.Struct("<i")
_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")
_i32_at = _I32.unpack_from
_i64_at = _I64.unpack_from
_f64_at = _F64.unpack_from
# Column names repeat across rows and requests: decode each once.
_names: dict[bytes, str] = {}
_MAX_CACHED_NAMES = 4096


def _broken(detail: str) -> ParameterInvalid:
    return ParameterInvalid("Cell data broken, " + detail)


def parse_row(buf: bytes) -> Row:
    """Parse a buffer holding exactly one row (a request's row, pk or row change).

    Rows without ops or delete marker (PutRow rows, keys) take the SDK's C reader when it
    is there: 8x faster than `parse_row_python`, whose result and errors it otherwise matches.
    """
    if _native_parse_row is not None:
        row = _parse_row_native(buf)
        if row is not None:
            return row
    return parse_row_python(buf)


def parse_row_python(buf: bytes) -> Row:
    """`parse_row` in pure Python: the reference reader, which explains every error."""
    rows = parse_rows(buf)
    if len(rows) != 1:
        raise _broken(f"expect one row, got {len(rows)}.")
    return rows[0]


def _parse_row_native(buf: bytes) -> Row | None:
    """The row read by the SDK's C reader, or None to leave it to the Python reader.

    The C reader verifies both checksums but drops cell ops and the delete marker, so its
    result is used only when the buffer is exactly as long as the same row encoded without
    them (each op or marker adds bytes). Malformed buffers (it raises) go to the Python
    reader too, for the service's error message.
    """
    try:
        primary_key, cells = _native_parse_row(buf)
    except Exception:
        return None
    # header 4, TAG_ROW_PK 1, row checksum 2, TAG_ROW_DATA 1 if there are cells. Around its
    # name and payload a cell has 14 bytes (TAG_CELL, name tag and length, value tag, length
    # and type, checksum tag and byte); STRING / BINARY payloads add their 4-byte length and a
    # timestamp adds 9. Names and STRING values are measured at once, as one UTF-8 text.
    # Inlined: this runs for every cell of every batch.
    texts = []
    payload = 0  # the bytes of the values that are not STRING
    framing = 7 + (1 if cells else 0) + 14 * (len(primary_key) + len(cells))
    out_pk = []
    for pk_cell in primary_key:
        name = pk_cell[0]
        value = pk_cell[1]
        texts.append(name)
        cls = value.__class__
        if cls is str:
            texts.append(value)
            framing += 4
        elif cls is bytearray:
            value = bytes(value)
            payload += len(value)
            framing += 4
        else:
            payload += 1 if cls is bool else 8
        out_pk.append((name, value))
    out_cells: list[Cell] = []
    for cell in cells:
        name = cell[0]
        value = cell[1]
        texts.append(name)
        cls = value.__class__
        if cls is str:
            texts.append(value)
            framing += 4
        elif cls is bytearray:
            value = bytes(value)
            payload += len(value)
            framing += 4
        else:
            payload += 1 if cls is bool else 8
        if len(cell) > 2:
            framing += 9
            out_cells.append((name, value, None, cell[2]))
        else:
            out_cells.append((name, value, None, None))
    text = "".join(texts)
    size = payload + (len(text) if text.isascii() else len(text.encode()))
    if framing + size != len(buf):
        return None
    return Row(out_pk, out_cells, False, size)


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
            # Some SDKs send the buffer they allocated, zero bytes after the last row's
            # checksum included; the service ignores them (no row starts with a zero byte).
            if buf[pos] == 0 and not buf[pos:].strip(b"\x00"):
                break
            row, pos = _parse_row_at(buf, pos, end)
            rows.append(row)
    except (IndexError, struct.error):
        raise _broken("length is shorter than expect.") from None
    return rows


def _parse_row_at(buf: bytes, pos: int, end: int) -> tuple[Row, int]:
    """Parse the row at `pos`; returns it and the position after it.

    One loop over every cell, pk and attribute alike: this is the server's hottest code, so
    lookups are hoisted into locals and each cell's CRC runs over one concatenated buffer.
    """
    table = CRC8_TABLE
    i32_at = _i32_at
    i64_at = _i64_at
    names = _names
    if buf[pos] != TAG_ROW_PK:
        raise _broken(f"mismatch tag, actual tag({buf[pos]}), expect({TAG_ROW_PK}).")
    pos += 1
    row_crc = 0
    size = 0
    primary_key: list[tuple[str, Any]] = []
    cells: list[Cell] = []
    in_pk = True
    while True:
        tag = buf[pos]
        if tag == TAG_ROW_DATA and in_pk:
            in_pk = False
            pos += 1
            continue
        if tag != TAG_CELL:
            break
        if buf[pos + 1] != TAG_CELL_NAME:
            raise _broken("attr has no name.")
        start = pos + 6
        pos = start + i32_at(buf, pos + 2)[0]
        if pos > end or pos < start:
            raise _broken("wrong string format.")
        raw_name = buf[start:pos]
        name = names.get(raw_name)
        if name is None:
            try:
                name = raw_name.decode()
            except UnicodeDecodeError:
                raise ParameterInvalid("Invalid column name: the name is not UTF-8.") from None
            if len(names) < _MAX_CACHED_NAMES:
                names[raw_name] = name
        size += pos - start
        value: Any = None
        covered = raw_name  # what the cell CRC covers: name, value, timestamp (then the op)
        if buf[pos] == TAG_CELL_VALUE:
            start = pos + 5
            pos = start + i32_at(buf, pos + 1)[0]
            if pos > end or pos <= start:
                raise _broken(f"wrong string format, size: {pos - start}.")
            vtype = buf[start]
            if vtype in (VT_STRING, VT_BLOB):
                if i32_at(buf, start + 1)[0] != pos - start - 5:
                    raise _broken(f"wrong string format, size: {pos - start}.")
                value = buf[start + 5 : pos]
                size += pos - start - 5
                if vtype == VT_STRING:
                    try:
                        value = value.decode()
                    except UnicodeDecodeError:
                        raise ParameterInvalid(
                            f"Value of column {name} must be UTF8 encoding."
                        ) from None
            elif vtype == VT_INTEGER and pos == start + 9:
                value = i64_at(buf, start + 1)[0]
                size += 8
            elif vtype == VT_BOOLEAN and pos == start + 2:
                value = buf[start + 1] != 0
                size += 1
            elif vtype == VT_DOUBLE and pos == start + 9:
                value = _f64_at(buf, start + 1)[0]
                size += 8
            elif vtype in _SENTINELS and pos == start + 1:
                value = _SENTINELS[vtype]
            else:
                raise ParameterInvalid("data format is invalid, unknown variant type occured.")
            covered += buf[start:pos]
        op = None
        timestamp = None
        # The SDK writes the op before the timestamp; accept either order.
        if buf[pos] == TAG_CELL_TYPE:
            op = buf[pos + 1]
            pos += 2
        if buf[pos] == TAG_CELL_TIMESTAMP:
            timestamp = i64_at(buf, pos + 1)[0]
            covered += buf[pos + 1 : pos + 9]
            pos += 9
            if op is None and buf[pos] == TAG_CELL_TYPE:
                op = buf[pos + 1]
                pos += 2
        crc = 0
        for byte in covered:
            crc = table[crc ^ byte]
        if op is not None:
            crc = table[crc ^ op]
        if buf[pos] != TAG_CELL_CHECKSUM:
            raise _broken("cell is not end with checksum[0x0A] tag.")
        if buf[pos + 1] != crc:
            raise _broken(f"checksum is mismatch, {buf[pos + 1]} :{crc} :")
        pos += 2
        row_crc = table[row_crc ^ crc]
        if in_pk:
            if op is not None:
                raise ParameterInvalid(f"OpType cannot be given for primary key name:{name}.")
            if timestamp is not None:
                raise ParameterInvalid(f"Timestamp cannot be given for primary key name:{name}.")
            if value is None:
                raise ParameterInvalid(f"No value is given for primary key name:{name}.")
            primary_key.append((name, value))
        else:
            cells.append((name, value, op, timestamp))
    delete_marker = buf[pos] == TAG_DELETE_ROW_MARKER
    if delete_marker:
        pos += 1
    row_crc = table[row_crc ^ delete_marker]
    if buf[pos] != TAG_ROW_CHECKSUM:
        raise _broken("row is not end with checksum tag.")
    if buf[pos + 1] != row_crc:
        raise _broken(f"checksum is mismatch, {buf[pos + 1]} :{row_crc} :")
    return Row(primary_key, cells, delete_marker, size), pos + 2


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


def _zero_advance_table(count: int) -> bytes:
    """For each CRC state s, the state after `count` zero bytes.

    CRC-8 without reflection or final XOR is linear: crc(s, data) == Z[s] ^ crc(0, data), with
    Z this table for len(data). It lets a cell's CRC continue over its 8-byte timestamp with
    one lookup, given crc(0, timestamp) computed once per distinct timestamp.
    """
    table = bytearray(256)
    for state in range(256):
        crc = state
        for _ in range(count):
            crc = CRC8_TABLE[crc]
        table[state] = crc
    return bytes(table)


_AFTER_8_ZEROS = _zero_advance_table(8)
# Response cells repeat their names: the bytes up to the value and the CRC after the name.
_name_prefixes: dict[str, tuple[bytes, int]] = {}


def _name_prefix(name: str) -> tuple[bytes, int]:
    cached = _name_prefixes.get(name)
    if cached is None:
        name_bytes = name.encode()
        cached = (b"\x03\x04" + _pack_i32(len(name_bytes)) + name_bytes, crc8(0, name_bytes))
        if len(_name_prefixes) < _MAX_CACHED_NAMES:
            _name_prefixes[name] = cached
    return cached


def _encode_cells(
    cells: Iterable[tuple[str, Any, int | None]],
    out: list[bytes],
    timestamp_crcs: dict[int, tuple[bytes, int]],
    row_crc: int,
) -> int:
    """Append the cells' bytes to `out`; returns `row_crc` continued over their CRCs."""
    table = CRC8_TABLE
    after_ts = _AFTER_8_ZEROS
    prefixes = _name_prefixes
    append = out.append
    for name, value, timestamp in cells:
        cached = prefixes.get(name)
        prefix, crc = cached if cached is not None else _name_prefix(name)
        cls = value.__class__
        if cls is str:
            raw = value.encode()
            value_bytes = b"\x03" + _pack_i32(len(raw)) + raw
        elif cls is int:
            value_bytes = b"\x00" + _pack_i64(value)
        else:
            value_bytes = encode_value(value)
        for byte in value_bytes:
            crc = table[crc ^ byte]
        append(prefix)
        append(b"\x05" + _pack_i32(len(value_bytes)))
        append(value_bytes)
        if timestamp is not None:
            known = timestamp_crcs.get(timestamp)
            if known is None:
                ts_bytes = _pack_i64(timestamp)
                known = timestamp_crcs[timestamp] = (b"\x07" + ts_bytes, crc8(0, ts_bytes))
            crc = after_ts[crc] ^ known[1]
            append(known[0])
        append(_CHECKSUM_BYTES[crc])
        row_crc = table[row_crc ^ crc]
    return row_crc


# TAG_CELL_CHECKSUM followed by each possible CRC byte.
_CHECKSUM_BYTES = [bytes((TAG_CELL_CHECKSUM, crc)) for crc in range(256)]


def encode_row_body(
    primary_key: Sequence[tuple[str, Any]],
    cells: Sequence[tuple[str, Any, int]] = (),
    timestamp_crcs: dict[int, tuple[bytes, int]] | None = None,
) -> bytes:
    """One row without the buffer header. Always starts with TAG_ROW_PK (the SDK requires it).

    `timestamp_crcs` may be shared by the rows of one response (their versions often repeat).
    """
    memo = {} if timestamp_crcs is None else timestamp_crcs
    parts = [b"\x01"]
    row_crc = _encode_cells([(n, v, None) for n, v in primary_key], parts, memo, 0)
    if cells:
        parts.append(b"\x02")
        row_crc = _encode_cells(cells, parts, memo, row_crc)
    # No delete marker: the row CRC ends with a 0 byte, table[crc ^ 0].
    parts.append(bytes((TAG_ROW_CHECKSUM, CRC8_TABLE[row_crc])))
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
