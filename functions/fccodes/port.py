"""The store as the service sees it: plain values and the methods a code store offers.

The service states its rules with `Expect` conditions and reads batch outcomes as `OK`,
`CONDITION_FAILED` or `FAILED`; `fccodes.store.CodeStore` implements `Store` over Tablestore.
Nothing here knows the SDK, so the service never imports it, and the RAM actions that
`tools/checks.py` derives from `fccodes/store.py` are all the SDK calls there are.
"""

BATCH_WRITE_LIMIT = 200  # rows per insert_new / delete_owned call (Tablestore's BatchWriteRow)
BATCH_GET_LIMIT = 100  # rows per get_many call (Tablestore's BatchGetRow)

# Outcomes of one row in a batch write.
OK = "ok"
CONDITION_FAILED = "condition_failed"
FAILED = "failed"  # transient: the row may or may not have been written

COMPARATORS = ("==", "!=", ">", ">=", "<", "<=")


class Expect(object):
    """A column condition: `column op value`; `if_missing` is the result when the column is absent.

    `op` is one of COMPARATORS. A list of them means all must hold. An Expect is never changed
    once made, so a store may keep what it made of one in `built` (opaque here): the service's
    fixed conditions are module constants, turned into the store's form once per instance
    rather than on every call.
    """

    __slots__ = ("built", "column", "if_missing", "op", "value")

    def __init__(self, column, op, value, if_missing=False):
        self.column = column
        self.op = op
        self.value = value
        self.if_missing = if_missing
        self.built = None


class Store(object):
    """One table of codes, keyed by the normalized code; rows are dicts of plain values.

    Every method makes exactly one request and raises `StoreUnavailable` when the store cannot
    answer: `maybe_applied` says whether a failed write may have been applied anyway,
    `retryable` whether trying again can help. Retrying is the caller's business.
    """

    def get(self, key, columns=None):
        """The row's attributes (only `columns` if given), or None if there is no such row."""
        raise NotImplementedError

    def update_if(self, key, put, expect, delete=()):
        """Set `put`, remove `delete`, if the row exists and every Expect holds.

        Returns False when the condition failed (nothing written).
        """
        raise NotImplementedError

    def delete_if(self, key, expect=()):
        """Delete the row (absent rows included) if every Expect holds; False if one did not."""
        raise NotImplementedError

    def insert_new(self, keys, attributes, own=None):
        """One new row per key (at most BATCH_WRITE_LIMIT), all with `attributes` (None values
        left out) plus `own(key)` (that row's own attributes) if given, each only if no row
        with that key exists yet.

        Returns one outcome per key, in order: OK, CONDITION_FAILED (a row with that key
        exists) or FAILED (transient, may have been written).
        """
        raise NotImplementedError

    def delete_owned(self, keys, column, value):
        """Delete each row whose `column` equals `value` (at most BATCH_WRITE_LIMIT keys).

        Outcomes per key: OK (deleted), CONDITION_FAILED (absent, or not ours) or FAILED.
        """
        raise NotImplementedError

    def get_many(self, keys, columns=None):
        """{key: attributes} for those of `keys` that exist (at most BATCH_GET_LIMIT).

        Raises StoreUnavailable also when any single row could not be read.
        """
        raise NotImplementedError

    def update_many(self, keys, put, delete=(), expect=()):
        """Update each existing row of `keys` (at most BATCH_WRITE_LIMIT): set `put`, remove
        `delete`, if every Expect holds. Outcomes per key: OK, CONDITION_FAILED (absent, or a
        condition failed) or FAILED (transient)."""
        raise NotImplementedError

    def index_range(self, index, partition, start, limit, columns, any_of=()):
        """Rows of the global index `index` whose first key column is `partition`, in code
        order, from the code `start` on (None: the first), with `columns` (None: all the
        index holds, the cheapest read), only those where one of the
        `any_of` Expects holds if given: (rows, following), rows being [(code, attributes)]
        (at most `limit`, maybe fewer, even none), `following` the code to start the next
        read at (None: the range is done). The index is eventually consistent: it may trail
        the table."""
        raise NotImplementedError


class BatchRows(object):
    """The batches table: rows keyed by (`pk`, `sk`), dicts of plain values (fccodes.schema).

    Every method makes one request and raises StoreUnavailable like Store's.
    """

    def get(self, pk, sk, columns=None):
        """The row's attributes, or None if there is no such row."""
        raise NotImplementedError

    def insert(self, pk, sk, attributes):
        """Write the row if it does not exist; False if it does (nothing written)."""
        raise NotImplementedError

    def update_if(self, pk, sk, put, expect=(), delete=()):
        """Update an existing row if every Expect holds; False when not (nothing written)."""
        raise NotImplementedError

    def delete_if(self, pk, sk, expect=()):
        """Delete the row (absent rows included) if every Expect holds; False if one did not."""
        raise NotImplementedError

    def rows(self, pk, sk_from, sk_to, limit=None, columns=None):
        """[(sk, attributes)] of the rows with `pk` and sk_from <= sk < sk_to, in sk order."""
        raise NotImplementedError

    def put_all(self, pk, rows):
        """Write [(sk, attributes)] unconditionally (one request): outcomes OK or FAILED."""
        raise NotImplementedError
