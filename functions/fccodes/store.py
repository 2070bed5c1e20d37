"""Tablestore access: the only module that imports `tablestore`.

`CodeStore` turns rows and conditions into SDK calls and SDK failures into domain errors: every
method raises `StoreUnavailable` when Tablestore cannot answer, with `maybe_applied` telling the
caller whether a failed write may still have been applied (connection dropped after sending, a
timeout, a 5xx) and `retryable` whether trying again can help. Each method makes exactly one
request; retrying, with a budget that fits in the function timeout, is the caller's business
(`fccodes.retry`), which is why the SDK's own retry policy is switched off here.

`ClientFactory` builds OTS clients lazily, one per set of credentials, so a rotated STS token
(FC hands out tokens that expire) gets a new client. The interface the service sees, with its
plain values (`Expect`, batch outcomes, limits), is `fccodes.port`.
"""

import logging
import threading

# Before importing the SDK: tablestore 6.x warns on import when its native codec does not load
# (any runtime but CPython 3.12), which FC would print with every cold start.
logging.getLogger("tablestore").addHandler(logging.NullHandler())
logging.getLogger("tablestore").setLevel(logging.ERROR)
# The client logs every failed request at ERROR, condition failures included, which are routine
# here; our one log line per invocation already names the store error that mattered.
SDK_LOGGER = "fccodes.sdk"
logging.getLogger(SDK_LOGGER).addHandler(logging.NullHandler())
logging.getLogger(SDK_LOGGER).propagate = False
# The client decides whether to build its DEBUG lines from the logger's own `level`, not from the
# effective level: left NOTSET, it renders every request and response protobuf as text (a third
# of a generate call's CPU on tablestore 5.x) only for the NullHandler to drop it.
logging.getLogger(SDK_LOGGER).setLevel(logging.CRITICAL)

from tablestore import (  # noqa: E402
    INF_MAX,
    INF_MIN,
    BatchGetRowRequest,
    BatchWriteRowRequest,
    ComparatorType,
    CompositeColumnCondition,
    Condition,
    DeleteRowItem,
    Direction,
    LogicalOperator,
    OTSClient,
    OTSServiceError,
    PutRowItem,
    Row,
    RowExistenceExpectation,
    SingleColumnCondition,
    TableInBatchGetRowItem,
    TableInBatchWriteRowItem,
    UpdateRowItem,
)
from tablestore.retry import NoRetryPolicy  # noqa: E402  (not exported by `tablestore`)

from .errors import StoreUnavailable, TableNotFound  # noqa: E402
from .port import CONDITION_FAILED, FAILED, OK, BatchRows, Expect, Store  # noqa: E402

PK = "code"
BATCH_KEY = ("pk", "sk")  # the batches table's key columns

# The service refused before doing anything: safe to retry any request.
_THROTTLED = frozenset(
    (
        "OTSServerBusy",
        "OTSNotEnoughCapacityUnit",
        "OTSOperationThrottled",
        "OTSQuotaExhausted",
        "OTSTableNotReady",
        "OTSPartitionUnavailable",
        "OTSRowOperationConflict",
        "OTSOperationConflict",
    )
)
# Failed somewhere inside the service: a write may have been applied anyway.
_AMBIGUOUS = frozenset(("OTSTimeout", "OTSInternalServerError", "OTSServerUnavailable"))
_CONDITION_FAILED = "OTSConditionCheckFail"
_NO_SUCH_TABLE = "OTSObjectNotExist"  # for row operations: the table does not exist

_COMPARATORS = {
    "==": ComparatorType.EQUAL,
    "!=": ComparatorType.NOT_EQUAL,
    ">": ComparatorType.GREATER_THAN,
    ">=": ComparatorType.GREATER_EQUAL,
    "<": ComparatorType.LESS_THAN,
    "<=": ComparatorType.LESS_EQUAL,
}


class ClientFactory(object):
    """Builds and caches OTS clients, one per set of credentials, built on first use.

    Thread-safe: an FC instance with concurrency > 1 runs invocations in threads, each with the
    credentials of its own context. The last CACHED clients built are kept, so a rotation (old
    and new STS token in flight together) builds each client once. Finding a built client takes
    no lock: only a build does. `client_class` lets tests aim it anywhere; production uses the
    SDK's `OTSClient` with no SDK-level retries.
    """

    CACHED = 4

    def __init__(self, endpoint, instance, timeout, max_connections=64, client_class=None):
        self.endpoint = endpoint
        self.instance = instance
        self.timeout = timeout
        self.max_connections = max_connections
        self.client_class = client_class or OTSClient
        self.builds = 0  # how many clients were built: a rotation test reads it
        self._lock = threading.Lock()
        # ((credentials, client), ...), newest last; replaced whole, never changed in place, so
        # readers need no lock.
        self._clients = ()  # type: tuple

    def client(self, credentials):
        """The client for `credentials`, built on first use (or again once evicted)."""
        found = self._find(credentials)
        if found is not None:
            return found
        with self._lock:
            found = self._find(credentials)  # built by another thread meanwhile?
            if found is not None:
                return found
            client = self.client_class(
                self.endpoint,
                credentials.access_key_id,
                credentials.access_key_secret,
                self.instance,
                sts_token=credentials.security_token,
                socket_timeout=self.timeout,
                max_connection=self.max_connections,
                retry_policy=NoRetryPolicy(),
                logger_name=SDK_LOGGER,
            )
            self.builds += 1
            self._clients = (*self._clients[-(self.CACHED - 1) :], (credentials, client))
            return client

    def _find(self, credentials):
        for known, client in self._clients:
            if known == credentials:
                return client
        return None


class CodeStore(Store):
    """The `codes` table: one row per code, primary key `code` (the normalized key).

    Requests are signed with `credentials`; `signed` gives the same table with other
    credentials (one per invocation: nothing is shared between concurrent ones).
    """

    def __init__(self, factory, table, credentials=None):
        self.factory = factory
        self.table = table
        self.credentials = credentials

    def signed(self, credentials):
        """This store, its requests signed with `credentials`."""
        return CodeStore(self.factory, self.table, credentials)

    def _client(self):
        if self.credentials is None:
            raise RuntimeError("CodeStore used without credentials: call signed() first")
        return self.factory.client(self.credentials)

    # --- single rows --------------------------------------------------------------------------
    def get(self, key, columns=None):
        """The row's attributes as a dict, or None if there is no such row.

        Raises StoreUnavailable.
        """
        try:
            _, row, _ = self._client().get_row(
                self.table, [(PK, key)], columns_to_get=_with_pk(columns), max_version=1
            )
        except Exception as exc:
            raise _translate(exc, write=False, table=self.table) from exc
        return _attributes(row)

    def update_if(self, key, put, expect, delete=()):
        """UpdateRow: set `put`, remove `delete`, if the row exists and every Expect holds.

        Returns False when the condition failed (nothing written). Raises StoreUnavailable.
        """
        changes = {"put": sorted(put.items())}
        if delete:
            changes["delete_all"] = list(delete)
        condition = _condition(RowExistenceExpectation.EXPECT_EXIST, expect)
        try:
            self._client().update_row(self.table, Row([(PK, key)], changes), condition)
        except Exception as exc:
            if _is_condition_failure(exc):
                return False
            raise _translate(exc, write=True, table=self.table) from exc
        return True

    def delete_if(self, key, expect=()):
        """DeleteRow, absent rows included, if every Expect holds (absent columns: `if_missing`).

        Returns False when the condition failed. Raises StoreUnavailable.
        """
        condition = _condition(RowExistenceExpectation.IGNORE, expect)
        try:
            self._client().delete_row(self.table, Row([(PK, key)]), condition)
        except Exception as exc:
            if _is_condition_failure(exc):
                return False
            raise _translate(exc, write=True, table=self.table) from exc
        return True

    # --- batches ------------------------------------------------------------------------------
    def insert_new(self, keys, attributes, own=None):
        """BatchWriteRow of one new row per key, all with `attributes` (None values left out)
        plus `own(key)` (a dict of the row's own attributes) if given, each only if no row with
        that key exists yet.

        Returns one outcome per key, in order: OK, CONDITION_FAILED (a row with that key
        exists) or FAILED (transient, may have been written). At most BATCH_WRITE_LIMIT keys.
        Raises StoreUnavailable for the whole request.
        """
        condition = Condition(RowExistenceExpectation.EXPECT_NOT_EXIST)
        columns = _columns(attributes)  # one list for every row: they share their attributes
        items = []
        for key in keys:
            row_columns = columns if own is None else sorted(columns + _columns(own(key)))
            items.append(PutRowItem(Row([(PK, key)], row_columns), condition))
        return self._batch_write(items)

    def update_many(self, keys, put, delete=(), expect=()):
        """BatchWriteRow updating each existing row of `keys` (at most BATCH_WRITE_LIMIT): set
        `put`, remove `delete`, if every Expect holds.

        Outcomes per key: OK, CONDITION_FAILED (absent, or a condition failed) or FAILED.
        Raises StoreUnavailable for the whole request.
        """
        changes = {"put": sorted(put.items())} if put else {}
        if delete:
            changes["delete_all"] = list(delete)
        condition = _condition(RowExistenceExpectation.EXPECT_EXIST, expect)
        items = [UpdateRowItem(Row([(PK, key)], changes), condition) for key in keys]
        return self._batch_write(items)

    def index_range(self, index, partition, start, limit, columns, any_of=()):
        """GetRange over the global index `index`: the rows whose first key column is
        `partition`, in code order, from the code `start` on (None: from the first); only rows
        where one of the `any_of` Expects holds, if given (the store filters them).

        Returns (rows, following): rows are (code, attributes) pairs, at most `limit`;
        `following` is the code the next read starts at, None at the range's end. One request;
        it may return fewer rows than `limit` (even none) and still a `following`.
        Raises StoreUnavailable.
        """
        first = index_partition_column(index)
        begin = [(first, partition), (PK, INF_MIN if start is None else start)]
        end = [(first, partition), (PK, INF_MAX)]
        try:
            _, following, page, _ = self._client().get_range(
                index,
                Direction.FORWARD,
                begin,
                end,
                # None: whole index rows (all the index holds), the cheapest read of an index
                columns_to_get=None if columns is None else [first, PK, *columns],
                limit=limit,
                column_filter=_any_of(any_of),
                max_version=1,
            )
        except Exception as exc:
            raise _translate(exc, write=False, table=(index, "batch index", "CODES_TABLE")) from exc
        rows = [
            (_pk_value(row, PK), {c[0]: c[1] for c in row.attribute_columns or ()}) for row in page
        ]
        return rows, None if following is None else _key_value(following, PK)

    def delete_owned(self, keys, column, value):
        """BatchWriteRow deleting each row whose `column` equals `value` (rows someone wrote).

        Outcomes per key: OK (deleted), CONDITION_FAILED (absent, or not ours) or FAILED.
        Raises StoreUnavailable for the whole request.
        """
        condition = _condition(RowExistenceExpectation.EXPECT_EXIST, [Expect(column, "==", value)])
        items = [DeleteRowItem(Row([(PK, key)]), condition) for key in keys]
        return self._batch_write(items)

    def get_many(self, keys, columns=None):
        """BatchGetRow: {key: attributes} for the keys that exist (at most BATCH_GET_LIMIT).

        Raises StoreUnavailable, also when any single row could not be read.
        """
        request = BatchGetRowRequest()
        request.add(
            TableInBatchGetRowItem(
                self.table,
                [[(PK, key)] for key in keys],
                columns_to_get=_with_pk(columns),
                max_version=1,
            )
        )
        try:
            response = self._client().batch_get_row(request)
        except Exception as exc:
            raise _translate(exc, write=False, table=self.table) from exc
        found = {}
        for key, item in zip(keys, response.get_result_by_table(self.table) or []):
            if not item.is_ok:
                raise _store_error(item.error_code, item.error_message, False, self.table)
            attributes = _attributes(item.row)
            if attributes is not None:
                found[key] = attributes
        return found

    def _batch_write(self, items):
        request = BatchWriteRowRequest()
        request.add(TableInBatchWriteRowItem(self.table, items))
        try:
            response = self._client().batch_write_row(request)
        except Exception as exc:
            raise _translate(exc, write=True, table=self.table) from exc
        results = _batch_results(response, self.table, items[0])
        if len(results) != len(items):
            raise StoreUnavailable(
                reason="BatchWriteRow answered %d rows for %d" % (len(results), len(items)),
                maybe_applied=True,
            )
        outcomes = []
        for item in results:
            if item.is_ok:
                outcomes.append(OK)
            elif item.error_code == _CONDITION_FAILED:
                outcomes.append(CONDITION_FAILED)
            else:
                error = _store_error(item.error_code, item.error_message, True, self.table)
                if not error.retryable:
                    raise error
                outcomes.append(FAILED)
        return outcomes


def _batch_results(response, table, first_item):
    # The response groups rows by operation type; every batch we send holds one type only.
    if isinstance(first_item, PutRowItem):
        by_table = response.table_of_put
    elif isinstance(first_item, UpdateRowItem):
        by_table = response.table_of_update
    else:
        by_table = response.table_of_delete
    return by_table.get(table) or []


def _columns(attributes, key=(PK,)):
    return [
        (name, value)
        for name, value in sorted(attributes.items())
        if name not in key and value is not None
    ]


def _with_pk(columns):
    # Whether a row exists shows in its primary key, which is returned only when asked for
    # once columns_to_get is given.
    return None if columns is None else [PK, *columns]


def _attributes(row):
    if row is None or not row.primary_key:
        return None
    return {column[0]: column[1] for column in row.attribute_columns or ()}


def _single(e):
    """The SDK's condition for an Expect, made on its first use and kept with it (`built`): the
    service's fixed conditions (6 of the 10 in a redemption's update) are made once per instance.
    The SDK only reads it when encoding a request, so concurrent invocations may share it."""
    built = e.built
    if built is None:
        built = e.built = SingleColumnCondition(
            e.column, e.value, _COMPARATORS[e.op], pass_if_missing=e.if_missing
        )
    return built


def _condition(existence, expect):
    singles = [_single(e) for e in expect]
    if not singles:
        return Condition(existence)
    if len(singles) == 1:
        return Condition(existence, singles[0])
    both = CompositeColumnCondition(LogicalOperator.AND)
    for single in singles:
        both.add_sub_condition(single)
    return Condition(existence, both)


def _is_condition_failure(exc):
    return isinstance(exc, OTSServiceError) and exc.code == _CONDITION_FAILED


def _store_error(code, message, write, table, server_error=False):
    """The StoreUnavailable for a Tablestore error code (of a request, or of one batch row)."""
    reason = "%s: %s" % (code, message)
    if code == _NO_SUCH_TABLE:
        if isinstance(table, tuple):  # not the codes table: (name, what it is, its setting)
            return TableNotFound(table[0], reason, table[1], table[2])
        return TableNotFound(table, reason=reason)
    if code in _THROTTLED:
        return StoreUnavailable(reason=reason)
    if code in _AMBIGUOUS or server_error:
        return StoreUnavailable(reason=reason, maybe_applied=write)
    # Authentication, a bad request: retrying cannot help.
    return StoreUnavailable(reason=reason, retryable=False)


def _translate(exc, write, table):
    """The StoreUnavailable for an SDK or transport failure."""
    if isinstance(exc, OTSServiceError):
        return _store_error(exc.code, exc.message, write, table, (exc.http_status or 0) >= 500)
    # Transport errors (urllib3: connection refused, reset, dropped, read timeout) and the
    # SDK's own response checks: the request may have reached the server and been applied.
    return StoreUnavailable(
        reason="%s: %s" % (type(exc).__name__, str(exc)[:300]), maybe_applied=write
    )


def index_partition_column(index):
    """The first key column of our batch index (the only index these tables have)."""
    return "bshard"


def _any_of(expects):
    """A GetRange filter: one of the Expects holds (None: no filter)."""
    singles = [_single(e) for e in expects]
    if not singles:
        return None
    if len(singles) == 1:
        return singles[0]
    either = CompositeColumnCondition(LogicalOperator.OR)
    for single in singles:
        either.add_sub_condition(single)
    return either


def _key_value(primary_key, name):
    for column in primary_key:
        if column[0] == name:
            return column[1]
    return None


def _pk_value(row, name):
    for column in row.primary_key:
        if column[0] == name:
            return column[1]
    return None


class BatchTable(BatchRows):
    """The batches table: primary key (`pk`, `sk`), both STRING; rows are dicts of plain values.

    Holds batch records, the key lists of batches, idempotency keys and per-user slots (see
    `fccodes.schema`). Every method makes one request and raises StoreUnavailable like
    CodeStore's.
    """

    def __init__(self, factory, table, credentials=None):
        self.factory = factory
        self.table = table
        self.credentials = credentials

    def signed(self, credentials):
        return BatchTable(self.factory, self.table, credentials)

    @property
    def _named(self):
        return (self.table, "batches table", "BATCHES_TABLE")

    def _client(self):
        return self.factory.client(self.credentials)

    def get(self, pk, sk, columns=None):
        """The row's attributes, or None if there is no such row."""
        try:
            _, row, _ = self._client().get_row(
                self.table,
                [("pk", pk), ("sk", sk)],
                columns_to_get=None if columns is None else ["pk", *columns],
                max_version=1,
            )
        except Exception as exc:
            raise _translate(exc, write=False, table=self._named) from exc
        return _attributes(row)

    def insert(self, pk, sk, attributes):
        """PutRow if no such row exists; False if one does (nothing written)."""
        condition = Condition(RowExistenceExpectation.EXPECT_NOT_EXIST)
        row = Row([("pk", pk), ("sk", sk)], _columns(attributes, BATCH_KEY))
        try:
            self._client().put_row(self.table, row, condition)
        except Exception as exc:
            if _is_condition_failure(exc):
                return False
            raise _translate(exc, write=True, table=self._named) from exc
        return True

    def update_if(self, pk, sk, put, expect=(), delete=()):
        """UpdateRow of an existing row if every Expect holds; False when not (no write)."""
        changes = {"put": sorted(put.items())} if put else {}
        if delete:
            changes["delete_all"] = list(delete)
        condition = _condition(RowExistenceExpectation.EXPECT_EXIST, expect)
        try:
            self._client().update_row(self.table, Row([("pk", pk), ("sk", sk)], changes), condition)
        except Exception as exc:
            if _is_condition_failure(exc):
                return False
            raise _translate(exc, write=True, table=self._named) from exc
        return True

    def delete_if(self, pk, sk, expect=()):
        """DeleteRow (absent rows included) if every Expect holds; False when one did not."""
        condition = _condition(RowExistenceExpectation.IGNORE, expect)
        try:
            self._client().delete_row(self.table, Row([("pk", pk), ("sk", sk)]), condition)
        except Exception as exc:
            if _is_condition_failure(exc):
                return False
            raise _translate(exc, write=True, table=self._named) from exc
        return True

    def rows(self, pk, sk_from, sk_to, limit=None, columns=None):
        """GetRange: [(sk, attributes)] of the rows with `pk` and sk_from <= sk < sk_to."""
        start = [("pk", pk), ("sk", sk_from)]
        end = [("pk", pk), ("sk", sk_to)]
        found = []  # type: list
        while start is not None and (limit is None or len(found) < limit):
            try:
                _, start, page, _ = self._client().get_range(
                    self.table,
                    Direction.FORWARD,
                    start,
                    end,
                    # The key too: a row's key is returned only when asked for with columns.
                    columns_to_get=None if columns is None else ["pk", "sk", *columns],
                    limit=None if limit is None else limit - len(found),
                    max_version=1,
                )
            except Exception as exc:
                raise _translate(exc, write=False, table=self._named) from exc
            for row in page:
                found.append((_pk_value(row, "sk"), _attributes(row) or {}))
        return found

    def put_all(self, pk, rows):
        """BatchWriteRow of unconditional PutRows (pk, sk) -> attributes, [(sk, attributes)].

        Outcomes per row: OK or FAILED. Raises StoreUnavailable for the whole request.
        """
        condition = Condition(RowExistenceExpectation.IGNORE)
        items = [
            PutRowItem(Row([("pk", pk), ("sk", sk)], _columns(attributes, BATCH_KEY)), condition)
            for sk, attributes in rows
        ]
        request = BatchWriteRowRequest()
        request.add(TableInBatchWriteRowItem(self.table, items))
        try:
            response = self._client().batch_write_row(request)
        except Exception as exc:
            raise _translate(exc, write=True, table=self._named) from exc
        results = response.table_of_put.get(self.table) or []
        if len(results) != len(items):
            raise StoreUnavailable(reason="BatchWriteRow answered too few rows", maybe_applied=True)
        outcomes = []
        for item in results:
            if item.is_ok:
                outcomes.append(OK)
            else:
                error = _store_error(item.error_code, item.error_message, True, self._named)
                if not error.retryable:
                    raise error
                outcomes.append(FAILED)
        return outcomes
