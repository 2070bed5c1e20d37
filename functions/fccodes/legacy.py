"""The original tutorial's table, read into fc-codes rows (`make migrate`, docs/functions.md).

The tutorial kept one row per code in a table `code`: primary key `uuid` (a `uuid1()` string),
`start` and `end` (epoch seconds as floats: `time.mktime` of the event's "start period" / "end
period", so in the function's local time) and `status` (`UNACTIVED`, or `ACTIVED` once used). It
accepted a code while `start <= now <= end`. Plain values only: the migration tool reads the
table with the SDK and hands each row's columns here.
"""

import math

from . import codes

SOURCE_KEY = "uuid"
SOURCE_COLUMNS = ("start", "end", "status")
UNACTIVED = "UNACTIVED"
ACTIVED = "ACTIVED"
STATES = {UNACTIVED: "UNUSED", ACTIVED: "USED"}
DEFAULT_BATCH = "tutorial"  # the batch label of migrated codes
MIGRATED_BY = "migrate"  # the `nonce` of migrated rows: tells them apart from generated ones


class BadRow(ValueError):
    """A row of the source table that is not in the tutorial's shape (the message says why)."""


def key_of(uuid):
    """The stored key of a tutorial code: its text exactly as issued (an imported code)."""
    if not isinstance(uuid, str):
        raise BadRow("uuid is %s, not a string" % type(uuid).__name__)
    key = codes.literal_key(uuid)
    if key is None:
        raise BadRow("uuid %r is not 1-%d printable characters" % (uuid, codes.MAX_LITERAL_LENGTH))
    return key


def window_ms(start, end):
    """(valid_from, valid_until) in epoch ms with the tutorial's meaning, `start <= now <= end`.

    fc-codes accepts `valid_from <= now < valid_until` with `now` in whole milliseconds, so
    valid_from is `start` rounded up and valid_until one millisecond after `end` rounded down:
    for every millisecond `now`, both tests agree.
    """
    for name, value in (("start", start), ("end", end)):
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not math.isfinite(value):
            raise BadRow("%s is %r, not a finite number of epoch seconds" % (name, value))
    return math.ceil(start * 1000), math.floor(end * 1000) + 1


def row_of(uuid, columns, batch, now_ms):
    """(key, attributes) of the fc-codes row for one tutorial row (`columns`: its attributes).

    Raises BadRow when the row is not in the tutorial's shape.
    """
    key = key_of(uuid)
    status = columns.get("status")
    if status not in STATES:
        raise BadRow("status is %r, not UNACTIVED or ACTIVED" % (status,))
    missing = [c for c in ("start", "end") if c not in columns]
    if missing:
        raise BadRow("no %s column" % " or ".join(missing))
    valid_from, valid_until = window_ms(columns["start"], columns["end"])
    used = status == ACTIVED
    attributes = {
        "batch": batch,
        "state": STATES[status],
        "valid_from": valid_from,
        "valid_until": valid_until,
        "max_uses": 1,
        "uses": 1 if used else 0,
        "created_at": now_ms,
        "nonce": MIGRATED_BY,
    }
    if used:
        # The tutorial kept no time of use: the migration's time stands in for it.
        attributes["redeemed_at"] = now_ms
    return key, attributes
