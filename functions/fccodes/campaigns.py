"""Batches as objects: their record, listing and figures, disable/enable, per-user limits,
rollback and the redemption log. Mixed into `CodeService` (`fccodes.service`), whose store
(`store`, the codes table) and `batches` (the batches table) it uses.

Rows of the batches table (`fccodes.schema`):

- `b:<batch>` / `batch`: the batch record: `state` (GENERATING, ACTIVE, DISABLED), the
  parameters as generated, `count`, `chunks` (how many key lists), `nonce` (the generate call),
  `idem` (the idempotency key's hash, if any).
- `b:<batch>` / `keys:00000`...: the batch's keys, KEYS_PER_CHUNK a row, space-separated. This
  list, not the eventually consistent index, is what disable and enable walk.
- `i:<hash of the idempotency key>` / `request`: which batch the key made, and the hash of the
  request's parameters.
- `u:<user tag>:<batch>` / `0000`...: the per-user-limit slots a user holds in a batch: at most
  `per_user_limit` rows can exist, each naming the code it was taken for.
"""

import base64
import hashlib
import hmac
import json
import threading
from typing import Any  # noqa: F401  (type comments)

from . import codes, parallel, schema
from .errors import (
    BatchBusy,
    BatchFailed,
    BatchNotFound,
    CodeNotFound,
    InvalidRequest,
    StoreUnavailable,
    UserLimitReached,
)
from .port import BATCH_WRITE_LIMIT, CONDITION_FAILED, OK, Expect
from .retry import Backoff
from .status import status_of

GENERATING = "GENERATING"
ACTIVE = "ACTIVE"
DISABLED = "DISABLED"
FAILED = "FAILED"  # an asynchronous batch that could not be generated (fccodes.asyncgen)
ASYNC = "async"  # the record's `mode` for a batch generated asynchronously

RECORD = "batch"
KEYS_PER_CHUNK = 10000  # keys per key-list row: <= 320 KB, well under a column's 2 MB
CHUNKS_PER_WRITE = 4  # key-list rows per BatchWriteRow: <= 1.3 MB, under a request's 4 MB
LOG_LIMIT = 1000  # redemptions a multi-use code remembers (who and when), newest last
SCAN_BUDGET = 20000  # index rows one listing call reads at most (with a status filter)

RECORD_COLUMNS = (
    "state",
    "prefix",
    "valid_from",
    "valid_until",
    "max_uses",
    "metadata",
    "customer",
    "per_user_limit",
    "created_at",
    "count",
    "chunks",
    "nonce",
    "idem",
    # Asynchronous batches (fccodes.asyncgen); never `seed`, the batch's secret.
    "mode",
    "chunk_size",
    "expires_at",
    "reason",
    "finished_at",
    "failed_at",
    "swept_at",
    "cleaned",
)
# The figures of a batch: how many codes have each status, and how many redemptions in all.
FIGURES = ("unused", "used", "expired", "not_yet_valid", "disabled", "redemptions")
FIGURE_COLUMNS = (
    "state",
    "uses",
    "max_uses",
    "valid_from",
    "valid_until",
    "disabled",
    "batch_disabled",
)


def record_pk(batch):
    return "b:" + batch


def chunk_sk(n):
    return "keys:%05d" % n


def slot_pk(user_id, batch):
    return "u:%s:%s" % (user_tag(user_id), batch)


def user_tag(user_id):
    """A short stable tag for a user id (64 bits of SHA-256: collisions are negligible)."""
    return "u" + hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:16]


def idem_pk(key):
    return "i:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


class BatchInfo(object):
    """What `GET /batches/{batch}` shows: the record, figures counted from the index (None
    while an asynchronous batch is generated, or after it failed), and for an asynchronous
    batch its `generation` (fccodes.asyncgen)."""

    __slots__ = ("batch", "figures", "generation", "record")

    def __init__(self, batch, record, figures, generation=None):
        self.batch = batch
        self.record = record
        self.figures = figures
        self.generation = generation


def is_async(record):
    return record is not None and record.get("mode") == ASYNC


class Page(object):
    """One page of a listing: `items`, and the cursor of the next page (None: the last)."""

    __slots__ = ("items", "next_cursor")

    def __init__(self, items, next_cursor):
        self.items = items
        self.next_cursor = next_cursor


class Cursors(object):
    """Opaque cursors: JSON, a checksum bound to what they page through, base64url.

    Not a secret: they only say where a listing stands (admin routes). The checksum makes an
    edited or truncated cursor a 400 instead of a wrong page.
    """

    @staticmethod
    def encode(scope, position):
        text = json.dumps(position, separators=(",", ":"), sort_keys=True)
        mac = hmac.new(scope.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()
        raw = json.dumps([text, mac[:16]], separators=(",", ":")).encode("utf-8")
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    @staticmethod
    def decode(scope, cursor, field="cursor"):
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            text, mac = json.loads(raw.decode("utf-8"))
            good = hmac.new(scope.encode("utf-8"), text.encode("utf-8"), hashlib.sha256)
            if not hmac.compare_digest(good.hexdigest()[:16], mac):
                raise ValueError("checksum")
            position = json.loads(text)
            if not isinstance(position, dict):
                raise ValueError("shape")
            return position
        except (ValueError, TypeError, UnicodeDecodeError):
            raise InvalidRequest(field, "is not a cursor this API gave out") from None


class CampaignOps(object):
    """Batch operations, mixed into CodeService, which provides what is declared here."""

    store = None  # type: Any  # the codes table (fccodes.store.CodeStore)
    batches = None  # type: Any  # the batches table (fccodes.store.BatchTable)
    gen_concurrency = 1
    clock = None  # type: Any
    sleep = None  # type: Any

    def _retry(self, operation, deadline):  # type: (Any, Any) -> Any
        raise NotImplementedError

    def query(self, key, deadline):  # type: (Any, Any) -> Any
        raise NotImplementedError

    def sweep(self, batch, record, deadline):  # type: (Any, Any, Any) -> Any
        raise NotImplementedError  # fccodes.asyncgen

    def generation(self, batch, record, deadline):  # type: (Any, Any, Any) -> Any
        raise NotImplementedError  # fccodes.asyncgen

    # --- records ------------------------------------------------------------------------------
    def batch_record(self, batch, deadline, columns=RECORD_COLUMNS):
        """The batch's record; raises BatchNotFound, StoreUnavailable."""
        record = self._retry(
            lambda: self.batches.get(record_pk(batch), RECORD, list(columns)), deadline
        )
        if record is None:
            raise BatchNotFound()
        return record

    def batch_keys(self, batch, record, deadline, first=0, last=None):
        """Every key of a batch (or of its key lists first..last-1), from its key lists
        (strongly consistent, unlike the index)."""
        last = record.get("chunks", 0) if last is None else last
        rows = self._retry(
            lambda: self.batches.rows(
                record_pk(batch), chunk_sk(first), chunk_sk(last), columns=["keys"]
            ),
            deadline,
        )
        keys = []
        for _, row in rows:
            keys.extend(row.get("keys", "").split())
        return keys

    # --- GET /batches/{batch} -----------------------------------------------------------------
    def batch_info(self, batch, deadline):
        """The record and the figures; raises BatchNotFound, StoreUnavailable.

        The figures come from one filtered scan of the batch's index rows: the store returns
        only the codes that differ from a fresh one (redeemed at least once, or disabled), so
        the answer carries a few rows, not the whole batch. The others share the batch's
        validity window: they are unused, expired or not yet valid all alike.
        """
        record = self.batch_record(batch, deadline)
        generation = None
        if is_async(record):
            record = self.sweep(batch, record, deadline)
            generation = self.generation(batch, record, deadline)
            if record.get("state") in (GENERATING, FAILED):
                return BatchInfo(batch, record, None, generation)
        now = self.clock()
        figures = dict.fromkeys(FIGURES, 0)
        count = record.get("count", 0)
        touched = []  # type: list
        lock = threading.Lock()
        index = schema.index_name(self.store.table)
        differs = [
            Expect("uses", ">", 0),
            Expect("disabled", "==", 1),
            Expect("batch_disabled", "==", 1),
        ]
        if record.get("state") == DISABLED:
            differs = differs[:1]  # every code is disabled: only redemptions are news

        def scan(shard):
            start, found = None, []  # type: Any, list
            while True:
                rows, start = self._retry(
                    lambda s=start: self.store.index_range(
                        index, schema.bshard(batch, shard), s, 5000, FIGURE_COLUMNS, differs
                    ),
                    deadline,
                )
                found.extend(row for _, row in rows)
                if start is None:
                    break
            with lock:
                touched.extend(found)

        self._parallel(list(range(schema.SHARDS)), scan)
        for row in touched:
            figures["redemptions"] += row.get("uses", 0)
            if record.get("state") != DISABLED:
                figures[status_of(row, now).lower()] += 1
        fresh = dict(record, state=None)  # what an untouched code's row says about its status
        rest = max(0, count - sum(figures[name] for name in FIGURES[:-1]))
        if record.get("state") == DISABLED:
            figures["disabled"] = count
        else:
            figures[status_of(fresh, now).lower()] += rest
        return BatchInfo(batch, record, figures, generation)

    # --- GET /batches/{batch}/codes -----------------------------------------------------------
    def batch_codes(self, request, deadline):
        """One page of the batch's codes in index order; raises BatchNotFound, InvalidRequest.

        The position is (shard, next code): index keys never change while a batch lives, so
        every code is listed exactly once however redemptions move its status meanwhile.
        """
        batch = request.batch
        record = self.batch_record(batch, deadline)
        if is_async(record):
            # Nobody can know a code of the batch before it is READY: not even an admin.
            _refuse_unfinished(record)
        shard, start = 0, None
        if request.cursor is not None:
            position = Cursors.decode("codes:" + batch, request.cursor)
            shard, start = position.get("s"), position.get("a")
            if (
                not isinstance(shard, int)
                or not 0 <= shard < schema.SHARDS
                or not (start is None or isinstance(start, str))
            ):
                raise InvalidRequest("cursor", "is not a cursor this API gave out")
        index = schema.index_name(self.store.table)
        now = self.clock()
        items = []  # type: list
        scanned = 0
        while shard < schema.SHARDS and len(items) < request.limit and scanned < SCAN_BUDGET:
            want = request.limit - len(items)
            rows, start = self._retry(
                lambda s=shard, a=start, w=want: self.store.index_range(
                    index,
                    schema.bshard(batch, s),
                    a,
                    w,
                    None,  # whole rows: INDEX_COLUMNS
                ),
                deadline,
            )
            scanned += len(rows)
            for key, row in rows:
                status = status_of(row, now)
                if request.status is None or status == request.status:
                    items.append((key, row, status))
            if start is None:
                shard += 1
        next_cursor = None
        if shard < schema.SHARDS:
            next_cursor = Cursors.encode("codes:" + batch, {"s": shard, "a": start})
        return record, Page(items, next_cursor)

    # --- disable / enable ---------------------------------------------------------------------
    def set_batch_disabled(self, batch, disabled, deadline):
        """Disable or enable a whole batch; returns its record as it is now.

        The record's state changes first, then every code row of the batch gets (or loses) its
        `batch_disabled` mark, in parallel BatchWriteRows; this returns only when every row is
        written. A code's own `disabled` mark is a separate column: enabling the batch leaves
        it as it was. Raises BatchNotFound, BatchBusy (still generating), StoreUnavailable.
        """
        record = self.batch_record(batch, deadline)
        _refuse_unfinished(record)
        state = DISABLED if disabled else ACTIVE
        changed = self._retry(
            lambda: self.batches.update_if(
                record_pk(batch),
                RECORD,
                {"state": state, "state_at": self.clock()},
                [Expect("state", "!=", GENERATING), Expect("state", "!=", FAILED)],
            ),
            deadline,
        )
        if not changed:
            _refuse_unfinished(self.batch_record(batch, deadline))
            raise BatchBusy()
        record["state"] = state
        put, delete = ({"batch_disabled": 1}, ()) if disabled else ({}, ("batch_disabled",))
        # Only rows that still need the change are written (the others fail the condition and
        # count as done): a disable repeated after a timeout continues instead of starting over.
        if disabled:
            expect = [Expect("batch_disabled", "!=", 1, if_missing=True)]
        else:
            expect = [Expect("batch_disabled", "==", 1)]

        def mark(chunk):
            pending = chunk
            backoff = Backoff(deadline, sleep=self.sleep)
            error = None
            while pending and backoff.next():
                try:
                    outcomes = self.store.update_many(pending, put, delete, expect)
                except StoreUnavailable as exc:
                    if not exc.retryable:
                        raise
                    error = exc
                    continue  # marks are idempotent: write them all again
                # CONDITION_FAILED: marked already, or the code was deleted: nothing to do.
                pending = [k for k, o in zip(pending, outcomes) if o not in (OK, CONDITION_FAILED)]
            if pending:
                raise error or StoreUnavailable(reason="no time left to mark the batch's codes")

        # One key list (up to KEYS_PER_CHUNK keys) at a time: memory stays flat in the batch's
        # size (an asynchronous batch has up to 1,000 of them).
        for n in range(record.get("chunks", 0)):
            keys = self.batch_keys(batch, record, deadline, first=n, last=n + 1)
            self._parallel(
                [keys[i : i + BATCH_WRITE_LIMIT] for i in range(0, len(keys), BATCH_WRITE_LIMIT)],
                mark,
            )
        return record

    def set_code_disabled(self, key, disabled, deadline):
        """Disable or enable one code (its own mark; its batch's mark is left alone)."""
        if disabled:
            done = self._retry(lambda: self.store.update_if(key, {"disabled": 1}, []), deadline)
        else:
            done = self._retry(
                lambda: self.store.update_if(key, {}, [], delete=("disabled",)), deadline
            )
        if not done:
            raise CodeNotFound()
        return self.query(key, deadline)

    # --- per-user limits ----------------------------------------------------------------------
    def claim_slot(self, user_id, batch, limit, key, tx, deadline):
        """Take one of the user's `limit` slots in `batch` for `key`; returns the slot's sk.

        A slot is a row that can exist only once (PutRow on the condition that it does not
        exist), so at most `limit` redemptions of the batch by one user can be under way or
        done, whatever the race. A slot already held for this very code (an earlier attempt
        that did not finish) is reused. Raises UserLimitReached, StoreUnavailable.
        """
        pk = slot_pk(user_id, batch)
        slot = {"code": key, "tx": tx, "at": self.clock()}
        contention = Backoff(deadline, attempts=16, sleep=self.sleep)
        first = "%04d" % 0
        if limit == 1 and self._retry(lambda: self.batches.insert(pk, first, slot), deadline):
            return first
        while contention.next():
            held = self._retry(lambda: self.batches.rows(pk, "0000", "9999"), deadline)
            taken = set()
            for sk, row in held:
                if row.get("code") == key:
                    return sk
                taken.add(sk)
            free = [sk for sk in ("%04d" % i for i in range(limit)) if sk not in taken]
            if not free:
                raise UserLimitReached()
            if self._retry(lambda f=free[0]: self.batches.insert(pk, f, slot), deadline):
                return free[0]
        raise StoreUnavailable(
            "too many concurrent redemptions by this user; retry", reason="slot contention"
        )

    def release_slot(self, user_id, batch, deadline, sk=None, tx=None, key=None):
        """Give a slot back: the one taken as `sk` by `tx`, or the one held for `key`."""
        pk = slot_pk(user_id, batch)
        if sk is not None:
            self._retry(lambda: self.batches.delete_if(pk, sk, [Expect("tx", "==", tx)]), deadline)
            return
        for found, row in self._retry(lambda: self.batches.rows(pk, "0000", "9999"), deadline):
            if row.get("code") == key:
                self._retry(
                    lambda f=found: self.batches.delete_if(pk, f, [Expect("code", "==", key)]),
                    deadline,
                )

    # --- helpers ------------------------------------------------------------------------------
    def _parallel(self, items, work):
        """Run work(item) for every item on up to gen_concurrency threads; re-raise the first
        error once all are done."""
        errors = parallel.run_all(items, work, self.gen_concurrency)
        if errors:
            raise errors[0]


def _refuse_unfinished(record):
    """BatchBusy while the batch is generated, BatchFailed when that failed."""
    state = record.get("state")
    if state == GENERATING:
        raise BatchBusy()
    if state == FAILED:
        raise BatchFailed(record.get("reason"))


def parse_log(row):
    """A multi-use code's redemption log: [[at, user_id or None, redemption id], ...]."""
    try:
        log = json.loads(row.get("log") or "[]")
    except ValueError:
        return []
    return log if isinstance(log, list) else []


def display_key(key, prefix):
    return codes.display(key, len(prefix or ""))
