"""The limits of the service, in one place (docs/ots_local.md, "What is supported").

Each is the real Tablestore's documented limit unless marked as ots_local's own. Request
validation (`validation.py`, `tables.py`, `api.py`, `filters.py`), the engine and the HTTP
transport read them from here.
"""

from __future__ import annotations

# --- instance and tables -----------------------------------------------------------------------
MAX_TABLES = 64  # per instance
MAX_PK_COLUMNS = 4
MAX_NAME_LENGTH = 255  # table, column and index names, in bytes
MAX_DEFINED_COLUMNS = 32
MAX_DEVIATION = (2**63 - 1) // 1000000  # max_time_deviation, seconds
DEFAULT_DEVIATION = 86400  # max_time_deviation when CreateTable gives none, seconds

# --- values and rows ---------------------------------------------------------------------------
MAX_PK_VALUE_LENGTH = 1024  # a STRING / BINARY primary key value, in bytes
MAX_VALUE_LENGTH = 2 * 1024 * 1024  # a STRING / BINARY attribute value, in bytes
MAX_COLUMNS_PER_WRITE = 1024
MAX_COLUMNS_TO_GET = 128
MAX_ROW_REQUEST_SIZE = 4 * 1024 * 1024  # PutRow / UpdateRow data size
MAX_TIMESTAMP = (2**63 - 1) // 1000  # exclusive, in ms
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
CU_BYTES = 4096  # one capacity unit per started 4 KB

# --- batches and ranges ------------------------------------------------------------------------
BATCH_GET_MAX_ROWS = 100
BATCH_WRITE_MAX_ROWS = 200
BATCH_WRITE_MAX_BYTES = 4 * 1024 * 1024
RANGE_MAX_ROWS = 5000  # rows per GetRange page
RANGE_MAX_BYTES = 4 * 1024 * 1024  # data per GetRange page

# --- filters -----------------------------------------------------------------------------------
MAX_FILTER_DEPTH = 32
MAX_FILTER_COUNT = 32

# --- HTTP and authentication -------------------------------------------------------------------
MAX_BODY = 5 * 1024 * 1024  # an HTTP request body
MAX_HEAD = 64 * 1024  # an HTTP request head (ots_local's own)
MAX_CLOCK_SKEW_S = 15 * 60  # x-ots-date against the server's clock

# --- ots_local's own -----------------------------------------------------------------------------
MAX_FAULT_LATENCY_MS = 600_000  # the longest latency fault

# --- secondary indexes -------------------------------------------------------------------------
MAX_INDEXES_PER_TABLE = 5
MAX_INDEX_PK_COLUMNS = 4  # index columns; the data table's primary key columns come on top
MAX_INDEX_ATTRIBUTE_COLUMNS = 32
MAX_INDEX_DELAY_MS = 600_000  # ots_local's own: the longest index_delay_ms setting
