"""The original tutorial's table, as its functions made it: for migration tests, bench and drills.

Table `code` (instance `code-ots` in the tutorial), primary key `uuid` (STRING). The tutorial's
gen_code wrote one row per code: `uuid` = str(uuid.uuid1()), `start` / `end` = time.mktime of
the event's "start period" / "end period" (floats, the function's local time), `status` =
"UNACTIVED"; use_code set `status` to "ACTIVED". `fill` writes the same rows (200 per
BatchWriteRow instead of one PutRow each, so that 100,000 rows take seconds).
"""

import time
import uuid

from tablestore import (
    BatchWriteRowRequest,
    Condition,
    PutRowItem,
    Row,
    RowExistenceExpectation,
    TableInBatchWriteRowItem,
)

from harness import tables

TABLE = "code"
KEY = (("uuid", "STRING"),)
PERIOD = "%Y-%m-%d %H:%M:%S"  # the tutorial's "start period" / "end period"


def create(sdk, name=TABLE):
    """The tutorial's table, empty (dropped first if it exists)."""
    tables.recreate(sdk, name, KEY)


def period(text):
    """What the tutorial stored for a "start period" / "end period": time.mktime, a float."""
    return time.mktime(time.strptime(text, PERIOD))


def fill(sdk, count, start_period, end_period, name=TABLE, used_every=0):
    """Write `count` codes as the tutorial's gen_code did; returns {uuid: status}.

    Every `used_every`-th code (0: none) is ACTIVED, as use_code left it.
    """
    start, end = period(start_period), period(end_period)
    written = {}
    rows = []
    for i in range(count):
        code = str(uuid.uuid1())
        status = "ACTIVED" if used_every and i % used_every == 0 else "UNACTIVED"
        written[code] = status
        rows.append(Row([("uuid", code)], [("start", start), ("end", end), ("status", status)]))
        if len(rows) == 200 or i == count - 1:
            put(sdk, name, rows)
            rows = []
    return written


def put(sdk, name, rows):
    """One BatchWriteRow of `rows`, each overwriting (as the tutorial's PutRow did)."""
    request = BatchWriteRowRequest()
    condition = Condition(RowExistenceExpectation.IGNORE)
    request.add(TableInBatchWriteRowItem(name, [PutRowItem(row, condition) for row in rows]))
    response = sdk.batch_write_row(request)
    if not response.is_all_succeed():
        raise RuntimeError("BatchWriteRow of the tutorial's rows failed")
