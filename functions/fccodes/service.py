"""The four operations: generate, redeem, query, delete.

Business rules live here and nowhere else; the service talks to a `CodeStore` (which raises
`StoreUnavailable`), never to the SDK, and never reads the environment. Times are epoch
milliseconds; rendering them is the edge's job.

Row attributes beyond the contract's (docs/functions.md lists them): `prefix` (how to display
the key), `nonce` (which generate call wrote the row), `redeem_tx` (which redeem call wrote it
last) and `redeemers` (multi-use codes: who redeemed recently, for replays).
"""

import binascii
import contextlib
import hashlib
import json
import secrets
import threading
import time

from . import codes, parallel, schema
from .asyncgen import AsyncOps, AsyncStarted
from .campaigns import (
    ACTIVE,
    CHUNKS_PER_WRITE,
    GENERATING,
    KEYS_PER_CHUNK,
    LOG_LIMIT,
    RECORD,
    CampaignOps,
    Cursors,
    Page,
    chunk_sk,
    idem_pk,
    is_async,
    parse_log,
    record_pk,
)
from .errors import (
    BatchBusy,
    BatchExists,
    CodeAlreadyUsed,
    CodeDisabled,
    CodeExpired,
    CodeNotFound,
    CodeNotYetValid,
    CodeRestricted,
    IdempotencyKeyReused,
    InvalidCode,
    InvalidRequest,
    StoreUnavailable,
    TableNotFound,
)
from .port import BATCH_GET_LIMIT, BATCH_WRITE_LIMIT, CONDITION_FAILED, OK, Expect
from .retry import Backoff
from .status import (
    CODE_DISABLED,
    EXPIRED,
    NOT_YET_VALID,
    UNUSED,
    USED,
    is_disabled,
    status_of,
)

# Columns `query` may read: never `redeemed_by` (a public endpoint) nor our bookkeeping.
PUBLIC_COLUMNS = [
    "batch",
    "state",
    "valid_from",
    "valid_until",
    "max_uses",
    "uses",
    "created_at",
    "redeemed_at",
    "prefix",
    "metadata",
    "disabled",
    "batch_disabled",
]
# A multi-use code remembers its last REDEEMERS_LIMIT redeemers: a user among them redeeming
# again is a replay (no use consumed). Covers every redemption of codes with max_uses <= limit.
REDEEMERS_LIMIT = 1000
# Share of the invocation's time a generate may spend writing; the rest is kept for cleanup.
WRITE_SHARE = 0.6
HINT_LIMIT = 1024  # prefixes whose redeem path (fast or read-first) an instance remembers
MAX_REDRAWS = 100  # a random source that repeats itself this often is broken, not unlucky


def wall_clock_ms():
    return int(time.time() * 1000)


class Generated(object):
    """A stored batch: `keys` in normalized form, everything else as written to each row.

    `replay` when an idempotent retry got the batch an earlier call made.
    """

    __slots__ = (
        "batch",
        "created_at",
        "customer",
        "keys",
        "max_uses",
        "metadata",
        "per_user_limit",
        "prefix",
        "replay",
        "valid_from",
        "valid_until",
    )

    def __init__(self, batch, keys, record, replay=False):
        self.batch = batch
        self.keys = keys
        self.prefix = record.get("prefix") or ""
        self.valid_from = record.get("valid_from")
        self.valid_until = record.get("valid_until")
        self.max_uses = record.get("max_uses", 1)
        self.created_at = record.get("created_at")
        self.metadata = record.get("metadata")
        self.customer = record.get("customer")
        self.per_user_limit = record.get("per_user_limit")
        self.replay = replay


class Redeemed(object):
    """A successful redemption; `replay` when it had already happened for this user/call."""

    __slots__ = (
        "key",
        "max_uses",
        "metadata",
        "prefix",
        "redeemed_at",
        "redemption_id",
        "replay",
        "uses",
    )

    def __init__(
        self, key, prefix, uses, max_uses, redeemed_at, replay, metadata=None, redemption_id=None
    ):
        self.key = key
        self.prefix = prefix
        self.uses = uses
        self.max_uses = max_uses
        self.redeemed_at = redeemed_at
        self.replay = replay
        self.metadata = metadata  # JSON text, as stored
        self.redemption_id = redemption_id

    @property
    def status(self):
        return USED if self.uses >= self.max_uses else UNUSED


class CodeInfo(object):
    """What `query` shows about a code."""

    __slots__ = (
        "batch",
        "created_at",
        "key",
        "max_uses",
        "metadata",
        "prefix",
        "redeemed_at",
        "status",
        "uses",
        "valid_from",
        "valid_until",
    )

    def __init__(self, key, row, now, status=None):
        self.key = key
        self.prefix = row.get("prefix", "")
        self.batch = row.get("batch")
        self.valid_from = row.get("valid_from")
        self.valid_until = row.get("valid_until")
        self.max_uses = row.get("max_uses", 1)
        self.uses = row.get("uses", 0)
        self.created_at = row.get("created_at")
        self.redeemed_at = row.get("redeemed_at")
        self.metadata = row.get("metadata")
        self.status = status or status_of(row, now)


# Conditions that never change (built once: redeem is the hot path).
_IS_UNUSED = Expect("state", "==", UNUSED)
_SINGLE_USE = Expect("max_uses", "==", 1)
# Codes that need their row read first: their metadata goes into the answer, and a per-user
# limit is checked before the code is taken.
_NO_METADATA = Expect("metadata", "==", "", if_missing=True)
_NO_USER_LIMIT = Expect("per_user_limit", "==", 0, if_missing=True)
_NOT_DISABLED = Expect("disabled", "!=", 1, if_missing=True)
_BATCH_NOT_DISABLED = Expect("batch_disabled", "!=", 1, if_missing=True)

# Why a code that is not UNUSED cannot be redeemed.
REFUSALS = {
    USED: CodeAlreadyUsed,
    EXPIRED: CodeExpired,
    NOT_YET_VALID: CodeNotYetValid,
    CODE_DISABLED: CodeDisabled,
}


class CodeService(AsyncOps, CampaignOps):
    """The operations over a Store (`fccodes.port`) and the batches table.

    `using(store, batches, dispatcher)` gives the same service over other stores: the edge binds
    them per invocation, with that invocation's credentials (the dispatcher queues the worker's
    invocations of a big batch, fccodes.asyncgen). `clock()` gives epoch milliseconds and
    `random_bytes(n)` n random bytes: both injectable so tests can travel in time and force
    collisions. `code_length`, `gen_concurrency` and, for big batches, `max_sync` (above it a
    batch is generated asynchronously), `chunk_size` and `gen_deadline_ms` come from the
    settings.
    """

    def __init__(
        self,
        store,
        code_length,
        gen_concurrency,
        clock=wall_clock_ms,
        random_bytes=secrets.token_bytes,
        sleep=time.sleep,
        batches=None,
        max_sync=None,
        chunk_size=10000,
        gen_deadline_ms=7200 * 1000,
    ):
        self.store = store
        self.batches = batches  # the batches table (fccodes.store.BatchTable)
        self.dispatcher = None  # bound per invocation (`using`)
        self._fast_path_hint = {}  # type: dict  # prefix -> try the one-request path first
        self.code_length = code_length
        self.gen_concurrency = gen_concurrency
        self.clock = clock
        self.random_bytes = random_bytes
        self.sleep = sleep
        self.max_sync = max_sync  # None: every batch is generated in the call
        self.chunk_size = chunk_size
        self.gen_deadline_ms = gen_deadline_ms

    def using(self, store, batches=None, dispatcher=None):
        """This service over `store` and `batches` (same settings, injected parts, hints)."""
        other = CodeService.__new__(CodeService)  # a plain copy; copy.copy costs 10x more
        other.__dict__.update(self.__dict__)
        other.store = store
        if batches is not None:
            other.batches = batches
        if dispatcher is not None:
            other.dispatcher = dispatcher
        return other

    # --- generate -----------------------------------------------------------------------------
    def generate(self, request, deadline):
        """Store `request.count` new codes as a new batch and return them all, or store none.

        The batch's record is written first (state GENERATING; its label must be new: else
        BatchExists), then the codes, then the key lists, then the record becomes ACTIVE. With an
        idempotency key, a retry gets the batch the first call made (`replay`), or BatchBusy
        while that call still runs, or IdempotencyKeyReused if its parameters differ.

        Raises StoreUnavailable (with `cleanup_complete`) when the batch cannot be completed in
        time; every row this call may have written is then deleted again, by its nonce.

        A count above `max_sync` is generated asynchronously (fccodes.asyncgen): the record is
        written and the worker's first event queued; the answer is an AsyncStarted (202). An
        idempotent retry of such a call gets the batch's state (AsyncStarted, `replay`).
        """
        now = self.clock()
        batch = request.batch or self._batch_id(now)
        nonce = secrets.token_hex(8)
        # Only a call with an idempotency key may get an earlier call's batch.
        fingerprint = request.fingerprint() if request.idempotency_key is not None else None
        if request.idempotency_key is not None:
            claim = {"batch": batch, "request": fingerprint, "nonce": nonce, "created_at": now}
            pk = idem_pk(request.idempotency_key)
            if not self._retry(lambda: self.batches.insert(pk, "request", claim), deadline):
                known = self._retry(lambda: self.batches.get(pk, "request"), deadline) or {}
                if known.get("nonce") != nonce:  # not our own write whose answer got lost
                    if known.get("request") != fingerprint:
                        raise IdempotencyKeyReused()
                    replay = self._replay(known.get("batch", batch), fingerprint, deadline)
                    if replay is not None:
                        return replay
                    batch = known.get("batch", batch)  # the first call failed: make it now
        job = _Generation(self, request, batch, now, nonce)
        record = dict(job.template)
        record.update(
            {
                "state": GENERATING,
                "per_user_limit": request.per_user_limit,
                "customer": request.customer,
                "idem": fingerprint,
            }
        )
        for column in ("batch", "uses"):
            record.pop(column)
        asynchronous = self.max_sync is not None and request.count > self.max_sync
        if asynchronous:
            record = self.async_record(record, request.count, now)
        if not self._retry(lambda: self.batches.insert(record_pk(batch), RECORD, record), deadline):
            replay = self._replay(batch, fingerprint, deadline, nonce=nonce)
            if replay is not None:
                return replay
        if asynchronous:
            return self.start_async(record, batch, deadline)
        job.run(deadline)
        keys = job.stored_keys()
        record.update({"state": ACTIVE, "count": len(keys)})
        job.finish(keys, record, deadline)
        return Generated(batch, keys, record)

    def _replay(self, batch, fingerprint, deadline, nonce=None):
        """The batch an earlier call with the same idempotency key made (None: none exists, or
        it is this call's own record, written by an attempt whose answer got lost).

        Raises BatchExists (a batch by that label, not from this key), BatchBusy."""
        record = self._retry(lambda: self.batches.get(record_pk(batch), RECORD), deadline)
        if record is None or (nonce is not None and record.get("nonce") == nonce):
            return None
        if fingerprint is None or record.get("idem") != fingerprint:
            raise BatchExists()
        if is_async(record):  # its state and progress: the codes are read with the export
            record = self.sweep(batch, record, deadline)
            return AsyncStarted(
                batch, record, self.generation(batch, record, deadline), replay=True
            )
        if record.get("state") == GENERATING:
            raise BatchBusy()
        return Generated(batch, self.batch_keys(batch, record, deadline), record, replay=True)

    def _batch_id(self, now):
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now // 1000))
        tail = "".join(codes.ALPHABET[b & 31] for b in bytearray(self.random_bytes(4)))
        return "%s-%s" % (stamp, tail)

    # --- redeem -------------------------------------------------------------------------------
    def redeem(self, request, deadline):
        """Redeem a code; raises CodeNotFound, CodeAlreadyUsed, CodeExpired, CodeNotYetValid,
        CodeDisabled, CodeRestricted, UserLimitReached, InvalidRequest (no user_id for a code
        with a per-user limit) or StoreUnavailable.

        A single-use code without metadata and without a per-user limit costs one conditional
        UpdateRow and nothing else: its condition also holds the new checks (not disabled, not
        by its batch either; no customer or this user). The row is read only when that
        condition fails: to explain why, to recognise a replay, or to continue with
        compare-and-set on `uses` (multi-use codes, codes with metadata or a per-user limit).
        """
        key, user_id = request.key, request.user_id
        now = self.clock()
        # Identifies this call's write if its answer gets lost, and the redemption to a rollback.
        tx = binascii.hexlify(bytes(self.random_bytes(8))).decode("ascii")
        prefix = self._guess_prefix(key)
        if self._fast_path_hint.get(prefix, True):
            put = {"state": USED, "uses": 1, "redeemed_at": now, "redeem_tx": tx}
            if user_id is not None:
                put["redeemed_by"] = user_id
            expect = [_IS_UNUSED, _SINGLE_USE, _NO_METADATA, _NO_USER_LIMIT]
            expect.extend(_valid_at(now))
            expect.extend(_allowed_for(user_id))
            # The guessed prefix is part of the condition, so a wrong guess (CODE_LENGTH changed
            # since the code was made) cannot produce a wrong display: it takes the slow path.
            expect.append(_prefix_is(prefix))
            if self._retry(lambda: self.store.update_if(key, put, expect), deadline):
                return Redeemed(key, prefix, 1, 1, now, replay=False, redemption_id=tx)
        return self._redeem_from_row(key, user_id, now, tx, deadline)

    def _redeem_from_row(self, key, user_id, now, tx, deadline):
        me = _user_tag(user_id) if user_id is not None else tx
        contention = Backoff(deadline, attempts=64, sleep=self.sleep)
        slot = None  # the per-user-limit slot this call holds, if any
        try:
            while True:
                row = self._retry(lambda: self.store.get(key), deadline)
                if row is None:
                    raise _absent(key)
                self._learn_path(row)
                prefix = row.get("prefix", "")
                max_uses = row.get("max_uses", 1)
                uses = row.get("uses", 0)
                metadata = row.get("metadata")
                redeemers = row.get("redeemers", "").split()
                log = parse_log(row)
                if row.get("redeem_tx") == tx or (user_id is None and tx in redeemers):
                    # Our own earlier attempt was applied after all (its answer got lost).
                    slot = None  # it is used now: keep it
                    return Redeemed(
                        key, prefix, uses, max_uses, row.get("redeemed_at"), False, metadata, tx
                    )
                if is_disabled(row):  # before replays: nothing succeeds after a disable
                    raise CodeDisabled()
                # The same user again: a replay. (If our own lost write was applied and someone
                # else redeemed after it, this also lands here: success, flagged as a replay.)
                if user_id is not None and (
                    (max_uses == 1 and row.get("redeemed_by") == user_id) or me in redeemers
                ):
                    return Redeemed(
                        key,
                        prefix,
                        uses,
                        max_uses,
                        row.get("redeemed_at"),
                        True,
                        metadata,
                        _redemption_of(row, log, user_id=user_id),
                    )
                if row.get("customer") is not None and row.get("customer") != user_id:
                    raise CodeRestricted()
                status = status_of(row, now)
                if status != UNUSED:
                    raise REFUSALS[status]()
                limit = row.get("per_user_limit")
                if limit is not None and slot is None:
                    if user_id is None:
                        raise InvalidRequest(
                            "user_id", "is required: this code's batch limits codes per user"
                        )
                    batch = row.get("batch", "")
                    slot = (batch, self.claim_slot(user_id, batch, limit, key, tx, deadline))
                    # No second read: if the row changed meanwhile, the compare-and-set below
                    # fails and the loop reads it again.
                # Valid and not used up. Compare-and-set on `uses`: only one writer moves it
                # from n to n+1.
                put = {"uses": uses + 1, "redeemed_at": now, "redeem_tx": tx}
                if uses + 1 >= max_uses:
                    put["state"] = USED
                if user_id is not None:
                    put["redeemed_by"] = user_id
                if max_uses > 1:
                    put["redeemers"] = " ".join([*redeemers, me][-REDEEMERS_LIMIT:])
                    put["log"] = json.dumps([*log, [now, user_id, tx]][-LOG_LIMIT:])
                expect = [Expect("uses", "==", uses), _IS_UNUSED]
                expect.extend(_valid_at(now))
                expect.extend(_allowed_for(user_id))
                if self._retry(lambda p=put, e=expect: self.store.update_if(key, p, e), deadline):
                    slot = None  # used: keep it
                    return Redeemed(
                        key, prefix, uses + 1, max_uses, now, False, metadata, redemption_id=tx
                    )
                if not contention.next():  # lost the race many times; the caller may retry
                    raise StoreUnavailable(
                        "too many concurrent redemptions of this code; retry",
                        reason="compare-and-set contention",
                    )
        finally:
            if slot is not None:  # refused after all: give the user's slot back
                # A slot that cannot be given back costs the user one redemption, never grants one.
                with contextlib.suppress(StoreUnavailable):
                    self.release_slot(user_id, slot[0], deadline, sk=slot[1], tx=tx)

    def _learn_path(self, row):
        """Remember per prefix whether codes need their row read (metadata, per-user limit):
        the next such code skips the fast path's update that is bound to fail."""
        prefix = row.get("prefix", "")
        slow = row.get("metadata") is not None or row.get("per_user_limit") is not None
        hint = self._fast_path_hint
        if len(hint) >= HINT_LIMIT and prefix not in hint:
            hint.clear()
        hint[prefix] = not slow

    # --- rollback and the redemption log ------------------------------------------------------
    def rollback(self, request, deadline):
        """Undo one redemption (of `user_id`, or with `redemption_id`): `uses` goes down by one
        and the user may redeem again. Idempotent: returns (info, False) when there is no such
        redemption (any more). Raises CodeNotFound, StoreUnavailable."""
        key = request.key
        contention = Backoff(deadline, attempts=64, sleep=self.sleep)
        while True:
            row = self._retry(lambda: self.store.get(key), deadline)
            if row is None:
                raise CodeNotFound()
            uses = row.get("uses", 0)
            log = parse_log(row)
            entry = _find_redemption(row, log, request.user_id, request.redemption_id)
            user_id = request.user_id if entry is None else entry[1]
            if entry is None or uses < 1:
                self._release_for(row, user_id, key, deadline)
                return CodeInfo(key, row, self.clock()), False
            put = {"uses": uses - 1, "state": UNUSED}
            delete = []
            expect = [Expect("uses", "==", uses)]
            if row.get("max_uses", 1) == 1:
                delete = ["redeemed_by", "redeemed_at", "redeem_tx"]
                expect.append(Expect("redeem_tx", "==", row.get("redeem_tx", "")))
            else:
                kept = [e for e in log if e is not entry]
                put["log"] = json.dumps(kept)
                tag = _user_tag(user_id) if user_id is not None else entry[2]
                redeemers = row.get("redeemers", "").split()
                if tag in redeemers:
                    redeemers.remove(tag)
                put["redeemers"] = " ".join(redeemers)
            if self._retry(
                lambda p=put, e=expect, d=delete: self.store.update_if(key, p, e, delete=d),
                deadline,
            ):
                self._release_for(row, user_id, key, deadline)
                row.update(put)
                for column in delete:
                    row.pop(column, None)
                return CodeInfo(key, row, self.clock()), True
            if not contention.next():
                raise StoreUnavailable(
                    "too many concurrent changes of this code; retry",
                    reason="compare-and-set contention",
                )

    def _release_for(self, row, user_id, key, deadline):
        if row.get("per_user_limit") is not None and user_id is not None:
            self.release_slot(user_id, row.get("batch", ""), deadline, key=key)

    def redemptions(self, request, deadline):
        """A page of who redeemed the code and when, newest first: (prefix, Page of
        (redeemed_at, user_id, redemption_id)). Raises CodeNotFound, InvalidRequest."""
        key = request.key
        row = self._retry(lambda: self.store.get(key), deadline)
        if row is None:
            raise CodeNotFound()
        if row.get("max_uses", 1) == 1:
            entries = []
            if row.get("redeemed_at") is not None and row.get("uses", 0) >= 1:
                entries = [[row["redeemed_at"], row.get("redeemed_by"), row.get("redeem_tx")]]
        else:
            entries = list(reversed(parse_log(row)))
        offset = 0
        if request.cursor is not None:
            offset = Cursors.decode("redemptions:" + key, request.cursor).get("o")
            if not isinstance(offset, int) or offset < 0:
                raise InvalidRequest("cursor", "is not a cursor this API gave out")
        page = entries[offset : offset + request.limit]
        following = None
        if offset + request.limit < len(entries):
            following = Cursors.encode("redemptions:" + key, {"o": offset + request.limit})
        return row.get("prefix", ""), Page(page, following)

    # --- query and delete ---------------------------------------------------------------------
    def query(self, key, deadline):
        """The code's public state; raises CodeNotFound (InvalidCode for an absent literal key)
        or StoreUnavailable."""
        row = self._retry(lambda: self.store.get(key, PUBLIC_COLUMNS), deadline)
        if row is None:
            raise _absent(key)
        return CodeInfo(key, row, self.clock())

    def delete(self, key, deadline):
        """Delete a code, idempotently; returns its prefix (for display). Raises StoreUnavailable,
        and InvalidCode for a literal key (input that is no generated code) with no row.

        Like redeem, the guessed prefix rides in the delete's condition; only a wrong guess
        costs a read and a second delete.
        """
        if codes.is_literal(key):
            # Input that is no generated code and no stored imported one stays INVALID_CODE.
            if self._retry(lambda: self.store.get(key, ["state"]), deadline) is None:
                raise InvalidCode()
            self._retry(lambda: self.store.delete_if(key), deadline)
            return ""
        prefix = self._guess_prefix(key)
        if self._retry(lambda: self.store.delete_if(key, [_prefix_is(prefix)]), deadline):
            return prefix
        row = self._retry(lambda: self.store.get(key, ["prefix"]), deadline)
        if row is not None:
            self._retry(lambda: self.store.delete_if(key), deadline)
            prefix = row.get("prefix", "")
        return prefix

    # --- helpers ------------------------------------------------------------------------------
    def _guess_prefix(self, key):
        """The prefix `key` has if it was made with the current CODE_LENGTH."""
        if codes.is_literal(key):
            return ""
        length = len(key) - self.code_length - 1
        return key[:length] if 1 <= length <= codes.MAX_PREFIX_LENGTH else ""

    def _retry(self, operation, deadline):
        """Run a single-request store operation, retrying transient failures within deadline.

        Only for operations that are safe to repeat: reads, deletes, and conditional writes
        whose condition turns a repeat of an applied write into a (recognised) failure.
        """
        backoff = Backoff(deadline, sleep=self.sleep)
        error = None
        while backoff.next():
            try:
                return operation()
            except StoreUnavailable as exc:
                if not exc.retryable:
                    raise
                error = exc
        raise error or StoreUnavailable(reason="no time left for the request")


def _absent(key):
    """The error for a code with no row: CODE_NOT_FOUND, or INVALID_CODE for input that is not
    a generated code's shape (it was looked up in case it is an imported code)."""
    return InvalidCode() if codes.is_literal(key) else CodeNotFound()


def _valid_at(now):
    return [
        Expect("valid_from", "<=", now),
        Expect("valid_until", ">", now, if_missing=True),  # absent: never expires
    ]


def _allowed_for(user_id):
    """The code is not disabled (by itself or its batch) and has no customer, or this user."""
    return [
        _NOT_DISABLED,
        _BATCH_NOT_DISABLED,
        # No customer is "", so without a user_id only codes without a customer pass.
        Expect("customer", "==", user_id or "", if_missing=True),
    ]


def _redemption_of(row, log, user_id):
    """The redemption id of a user's (latest) redemption."""
    if row.get("max_uses", 1) == 1:
        return row.get("redeem_tx")
    entry = _find_redemption(row, log, user_id, None)
    return entry[2] if entry is not None else None


def _find_redemption(row, log, user_id, redemption_id):
    """The redemption [at, user_id, id] of `user_id` (its latest) and/or with `redemption_id`
    (both given: both must match)."""

    def wanted(entry):
        return (user_id is None or entry[1] == user_id) and (
            redemption_id is None or entry[2] == redemption_id
        )

    if row.get("max_uses", 1) == 1:
        if row.get("uses", 0) < 1 or row.get("redeemed_at") is None:
            return None
        entry = [row.get("redeemed_at"), row.get("redeemed_by"), row.get("redeem_tx")]
        return entry if wanted(entry) else None
    for entry in reversed(log):
        if isinstance(entry, list) and len(entry) == 3 and wanted(entry):
            return entry
    return None


# prefix -> its Expect: the few prefixes an instance sees, each condition made once (and with it
# the store's form of it, see port.Expect).
_PREFIX_EXPECTS = {}  # type: dict


def _prefix_is(prefix):
    found = _PREFIX_EXPECTS.get(prefix)
    if found is None:
        if len(_PREFIX_EXPECTS) >= HINT_LIMIT:
            _PREFIX_EXPECTS.clear()
        # Rows without a prefix have no `prefix` column at all.
        found = _PREFIX_EXPECTS[prefix] = Expect("prefix", "==", prefix, if_missing=not prefix)
    return found


def _user_tag(user_id):
    """A short stable tag for a user id in `redeemers` (64 bits: collisions are negligible)."""
    return "u" + hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:16]


class _Generation(object):
    """One generate call: chunks written in parallel, collisions redrawn, all-or-nothing.

    Every row carries this call's `nonce`. Rows whose write had an unknown outcome (timeout,
    dropped connection) are read back, right away or when a later attempt fails their
    `EXPECT_NOT_EXIST` condition: our nonce means the write was applied (success), another
    means a collision (new code), no row means write again. On failure, every row that may be
    ours is deleted on the condition that it carries our nonce, so nobody else's code is ever
    touched.
    """

    def __init__(self, service, request, batch, now, nonce):
        self.service = service
        self.store = service.store
        self.request = request
        self.batch = batch
        self.nonce = nonce
        self.template = {
            "batch": batch,
            "state": UNUSED,
            "valid_from": now if request.valid_from is None else request.valid_from,
            "valid_until": request.valid_until,
            "max_uses": request.max_uses,
            "uses": 0,
            "created_at": now,
            "prefix": request.prefix or None,
            "nonce": self.nonce,
            "metadata": request.metadata,
            "customer": request.customer,
            "per_user_limit": request.per_user_limit,
        }
        self.lock = threading.Lock()
        self.drawn = set()  # every key this call has used: never hand out one twice
        self.stored = []  # per chunk: keys known written by us
        self.maybe = set()  # keys whose write may have been applied (cleanup candidates)
        self.failed = threading.Event()
        self.chunk_rows = 0  # key-list rows this call may have written

    def new_key(self):
        for _ in range(MAX_REDRAWS):
            key = codes.make_key(
                self.request.prefix, self.service.random_bytes, self.service.code_length
            )
            with self.lock:
                if key not in self.drawn:
                    self.drawn.add(key)
                    return key
        raise RuntimeError("the random source repeats itself: %d draws in a row" % MAX_REDRAWS)

    def stored_keys(self):
        return [key for chunk in self.stored for key in chunk]

    def _own(self, key):
        """A row's own attributes: its shard of the batch index (fccodes.schema)."""
        return {"bshard": schema.bshard(self.batch, schema.shard_of(key))}

    def _write_key_lists(self, pk, rows, deadline):
        """Write the key-list rows; those whose write got no answer are read back."""
        batches = self.service.batches
        pending = list(rows)
        backoff = Backoff(deadline, sleep=self.service.sleep)
        error = None
        while pending and backoff.next():
            part = pending[:CHUNKS_PER_WRITE]
            try:
                outcomes = batches.put_all(pk, part)
            except StoreUnavailable as exc:
                if not exc.retryable:
                    raise
                error = exc
                if exc.maybe_applied:  # perhaps written: keep only what is not there yet
                    try:
                        there = dict(batches.rows(pk, part[0][0], part[-1][0] + "~"))
                    except StoreUnavailable:
                        continue
                    done = [sk for sk, row in part if there.get(sk) == row]
                    pending = [item for item in pending if item[0] not in done]
                continue
            written = [sk for (sk, _), outcome in zip(part, outcomes) if outcome == OK]
            pending = [item for item in pending if item[0] not in written]
        if pending:
            raise error or StoreUnavailable(reason="no time left to write the key lists")

    def finish(self, keys, record, deadline):
        """Write the key lists and make the record ACTIVE; on failure undo the whole call."""
        batches = self.service.batches
        pk = record_pk(self.batch)
        rows = [
            (chunk_sk(n), {"keys": " ".join(keys[i : i + KEYS_PER_CHUNK])})
            for n, i in enumerate(range(0, len(keys), KEYS_PER_CHUNK))
        ]
        record["chunks"] = self.chunk_rows = len(rows)
        retry = self.service._retry
        try:
            self._write_key_lists(pk, rows, deadline)
            done = retry(
                lambda: batches.update_if(
                    pk,
                    RECORD,
                    {"state": ACTIVE, "count": len(keys), "chunks": len(rows)},
                    [Expect("nonce", "==", self.nonce)],
                ),
                deadline,
            )
            if not done:
                raise StoreUnavailable(reason="the batch record vanished", retryable=False)
        except StoreUnavailable as error:
            for key in keys:
                self.maybe.add(key)
            error.cleanup_complete = self._cleanup(deadline)
            error.message = self._failure_message(error.cleanup_complete)
            raise error

    def run(self, deadline):
        count = self.request.count
        sizes = [
            min(BATCH_WRITE_LIMIT, count - start) for start in range(0, count, BATCH_WRITE_LIMIT)
        ]
        self.stored = [[] for _ in sizes]
        write_deadline = deadline.fraction(WRITE_SHARE)

        def write(index, size):
            # Keys are drawn by the writer of each chunk: the first request leaves after 200
            # keys, not after all of them, and drawing overlaps the other chunks' round trips.
            self._write(index, [self.new_key() for _ in range(size)], write_deadline)

        errors = self._each(sizes, write)
        if not errors:
            return
        # Whatever went wrong (the store, or a bug), no row of a failed call may stay behind.
        cleanup_complete = self._cleanup(deadline)
        error = next((e for e in errors if not isinstance(e, StoreUnavailable)), None)
        # A missing table is told as such: nothing was written, so nothing can remain.
        error = error or next((e for e in errors if isinstance(e, TableNotFound)), errors[0])
        if isinstance(error, StoreUnavailable) and not isinstance(error, TableNotFound):
            error.cleanup_complete = cleanup_complete
            error.message = self._failure_message(cleanup_complete)
        raise error

    def _each(self, items, work):
        """Run work(i, item) for every item, in parallel when worthwhile; the errors raised.
        An error sets `failed`: the others stop at their next step (every item still runs)."""

        def marked(numbered):
            try:
                work(*numbered)
            except Exception:
                self.failed.set()
                raise

        return parallel.run_all(enumerate(items), marked, self.service.gen_concurrency)

    def _write(self, index, pending, deadline):
        uncertain = set()  # type: set  # keys of this chunk whose write may have been applied
        backoff = Backoff(deadline, sleep=self.service.sleep)
        backoff.next()  # the first attempt is free (the deadline is checked below)
        error = None
        while pending:
            if self.failed.is_set():
                raise StoreUnavailable(reason="another part of the batch failed")
            if deadline.expired():
                raise error or StoreUnavailable(reason="no time left to write the batch")
            try:
                outcomes = self.store.insert_new(pending, self.template, self._own)
            except StoreUnavailable as exc:
                if not exc.retryable:
                    # A row-level error in a BatchWriteRow answer stops us before the rows that
                    # succeeded beside it are noted: let cleanup try them all (by nonce).
                    self._note_uncertain(uncertain, pending)
                    raise
                error = exc
                if exc.maybe_applied:  # no answer: read back what is there instead
                    self._note_uncertain(uncertain, pending)
                    pending = self._resolve(index, pending)
                if pending and not backoff.next():
                    raise exc
                continue
            retry, check = [], []
            for key, outcome in zip(pending, outcomes):
                if outcome == OK:
                    self._note_stored(index, key)
                elif outcome == CONDITION_FAILED and key in uncertain:
                    check.append(key)  # exists, but perhaps from our own earlier attempt
                elif outcome == CONDITION_FAILED:  # we never wrote it: someone else's code
                    retry.append(self.new_key())
                else:  # failed inside the store: may or may not have been written
                    self._note_uncertain(uncertain, [key])
                    retry.append(key)
            if check:
                retry.extend(self._resolve(index, check))
            stalled = len(retry) == len(pending) and OK not in outcomes
            if stalled and not backoff.next():  # no progress at all: pause, or give up
                raise error or StoreUnavailable(reason="the batch makes no progress")
            pending = retry

    def _resolve(self, index, keys):
        """Keys whose write had an unknown outcome: what still needs writing.

        Read back: our nonce -> written (done); no row -> write the same key again; another
        nonce -> a collision, replaced by a new key. Keys that cannot be read now are returned
        as they are (a later write attempt tells, or reads them again).
        """
        try:
            nonces = self._nonces(keys)
        except StoreUnavailable as exc:
            if not exc.retryable:
                raise
            return list(keys)
        todo = []
        for key in keys:
            if key not in nonces:
                todo.append(key)
            elif nonces[key] == self.nonce:
                self._note_stored(index, key)
            else:
                todo.append(self.new_key())
        return todo

    def _nonces(self, keys):
        """{key: nonce} for those of `keys` that exist. Raises StoreUnavailable."""
        found = {}
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            rows = self.store.get_many(keys[start : start + BATCH_GET_LIMIT], ["nonce"])
            for key, row in rows.items():
                found[key] = row.get("nonce")
        return found

    def _note_uncertain(self, uncertain, keys):
        uncertain.update(keys)
        with self.lock:
            self.maybe.update(keys)

    def _note_stored(self, index, key):
        with self.lock:
            self.stored[index].append(key)
            self.maybe.add(key)

    def _cleanup(self, deadline):
        """Delete every row that may be ours (by nonce); True if none can remain."""
        self.failed.clear()
        keys = sorted(self.maybe)
        chunks = [keys[i : i + BATCH_WRITE_LIMIT] for i in range(0, len(keys), BATCH_WRITE_LIMIT)]
        if self._each(chunks, lambda i, chunk: self._delete(chunk, deadline)):
            return False
        # Then the batch's own rows: its key lists, and its record (only if it is ours), so
        # that the label is free again and an idempotent retry makes the batch anew.
        batches, pk, retry = self.service.batches, record_pk(self.batch), self.service._retry
        try:
            for n in range(self.chunk_rows):
                retry(lambda n=n: batches.delete_if(pk, chunk_sk(n)), deadline)
            retry(
                lambda: batches.delete_if(pk, RECORD, [Expect("nonce", "==", self.nonce)]),
                deadline,
            )
        except StoreUnavailable:
            return False
        return True

    def _delete(self, pending, deadline):
        backoff = Backoff(deadline, sleep=self.service.sleep)
        error = StoreUnavailable(reason="no time left for cleanup")
        while pending and backoff.next():
            try:
                outcomes = self.store.delete_owned(pending, "nonce", self.nonce)
            except StoreUnavailable as exc:
                error = exc
                if not exc.retryable:
                    break
                if exc.maybe_applied:  # no answer: see which of our rows are still there
                    try:
                        nonces = self._nonces(pending)
                    except StoreUnavailable:
                        continue
                    pending = [key for key in pending if nonces.get(key) == self.nonce]
                continue
            # CONDITION_FAILED: no row, or not ours: either way nothing of ours is left there.
            pending = [
                k for k, outcome in zip(pending, outcomes) if outcome not in (OK, CONDITION_FAILED)
            ]
        if pending:
            raise error

    def _failure_message(self, cleanup_complete):
        if cleanup_complete:
            return (
                "the code store is unavailable: no codes were generated "
                "(nothing of this call was left behind); retry later"
            )
        return (
            "the code store is unavailable: no codes were generated, and cleanup is incomplete: "
            "some rows of batch %r (attribute nonce = %s) may remain; retry later"
            % (self.template["batch"], self.nonce)
        )
