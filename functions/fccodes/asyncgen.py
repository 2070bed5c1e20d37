"""Batches above MAX_CODES_PER_REQUEST: generated asynchronously by the worker function.

`POST /codes` with such a count writes the batch's record (state GENERATING, with a secret seed)
and queues one asynchronous invocation of the worker (`gen_chunk`, FC's async invoke API,
`fccodes.fcinvoke`), then answers 202 at once. The worker fans the batch out over FC itself: an
event names a range of chunks; a range of more than one chunk is split into up to FANOUT ranges,
each queued as its own invocation (a tree: 1,000 chunks are three levels deep), and a range of
one chunk is written by that invocation (`fccodes.bulkgen`: codes derived from the seed, so
every attempt of a chunk writes the same codes). So a batch of millions is written by as many FC
instances as FC runs in parallel.

Rows of the batches table under the batch's `b:<batch>` (besides its record):

- `keys:<chunk>`: the chunk's keys (the key list that disable and enable walk, up to 320 KB),
  written once every row of the chunk is stored.
- `done:<chunk>`: the chunk is written, with its `count`: inserted once (EXPECT_NOT_EXIST) after
  its key list, so a retried chunk never counts twice. Progress is the sum of these small rows
  (GetRange reads them, never the key lists: a row is read whole, whatever columns are asked).
- `run:<chunk>:<attempt tag>`: a lease: an attempt is writing the chunk until `until` (epoch ms;
  0 once it has stopped). Also how an attempt knows its number: FC runs an event at most
  MAX_ATTEMPTS times, with the same request id.
- `gone:<chunk>`: after a failure, the chunk's rows are deleted.

States: GENERATING -> ACTIVE (READY: the worker that publishes the last chunk's key list sets
it, on the condition that the record still says GENERATING) or -> FAILED (with `reason`, on the
same condition, so the two exclude each other). FAILED is set by the last attempt of a chunk that
cannot be written, or, for attempts that die without a word or events FC drops, by anyone who
reads the batch after its deadline (`expires_at`): the worker, and GET /batches/{batch}. Then
the same tree of events deletes every chunk's rows; a chunk that an attempt may still be writing
(a live lease) is left to that attempt, which checks the state after taking its lease and again
after writing, and deletes its own rows when the batch has failed. `cleaned` is set once every
chunk is gone; a read of a FAILED batch whose cleanup stalled sends the cleanup again.

Plain logic over `fccodes.port`, mixed into CodeService. Python 3.6.
"""

import contextlib
import hashlib
import secrets
from typing import Any  # noqa: F401  (type comments)

from . import api, bulkgen, campaigns, schema
from .campaigns import (
    ACTIVE,
    FAILED,
    GENERATING,
    RECORD,
    RECORD_COLUMNS,
    chunk_sk,
    is_async,
    record_pk,
)
from .errors import InvalidRequest, ServiceError, StoreUnavailable
from .port import OK, Expect

READY = "READY"  # generation.status once every chunk is written (the batch is then ACTIVE)
FANOUT = 16  # sub-ranges one event is split into
# FC runs an asynchronous event at most 1 + MaxAsyncRetryAttempts (3: FC's default, which the
# templates set for the worker) times: the last attempt that cannot write its chunk fails the
# batch.
MAX_ATTEMPTS = api.GEN_WORKER.max_retries + 1
WRITE_SHARE = 0.7  # of an attempt's time for writing; the rest for failing the batch cleanly
LEASE_MARGIN_MS = 10000  # past the function's timeout, for clocks that differ a little
SWEEP_MS = 5 * 60 * 1000  # a stalled cleanup is sent again at most this often
SEED_BYTES = 32
MAX_LEASES = 64  # attempts of one event (FC's at most MAX_ATTEMPTS, duplicates aside)


DONE = "done:"


def done_sk(chunk):
    return DONE + "%05d" % chunk


def run_prefix(chunk):
    return "run:%05d:" % chunk


def gone_sk(chunk):
    return "gone:%05d" % chunk


class Dispatcher(object):
    """Queues asynchronous invocations of the worker (fccodes.fcinvoke implements it over FC's
    invoke API). `send(event)` returns FC's request id or raises StoreUnavailable (InvokeFailed:
    WORKER_UNAVAILABLE), retryable unless FC refused the request itself."""

    def send(self, event):
        raise NotImplementedError


class AsyncStarted(object):
    """The answer to a generate that went asynchronous (or to its idempotent retry)."""

    __slots__ = ("batch", "generation", "record", "replay")

    def __init__(self, batch, record, generation, replay=False):
        self.batch = batch
        self.record = record
        self.generation = generation
        self.replay = replay


class Outcome(object):
    """What one worker invocation did, for its log line."""

    __slots__ = ("fields",)

    def __init__(self, **fields):
        self.fields = fields


class AsyncOps(object):
    """The asynchronous generation, mixed into CodeService (which provides what is declared
    here; `dispatcher` is bound per invocation, with its credentials)."""

    store = None  # type: Any
    batches = None  # type: Any
    dispatcher = None  # type: Any
    clock = None  # type: Any
    sleep = None  # type: Any
    code_length = 15
    gen_concurrency = 1
    chunk_size = 10000
    gen_deadline_ms = 7200 * 1000

    def _retry(self, operation, deadline):  # type: (Any, Any) -> Any
        raise NotImplementedError

    # --- gen_code: start ----------------------------------------------------------------------
    def start_async(self, record, batch, deadline):
        """Queue the first event of a new batch whose record (GENERATING) is written; on failure
        delete the record again (nothing else exists yet) and raise."""
        event = {"batch": batch, "nonce": record["nonce"], "from": 0, "to": record["chunks"]}
        try:
            self._send(event, deadline)
        except StoreUnavailable:
            # The label is free again and an idempotent retry starts anew. (An event FC did
            # accept after all finds no record, or another nonce, and does nothing.)
            with contextlib.suppress(StoreUnavailable):
                self._retry(
                    lambda: self.batches.delete_if(
                        record_pk(batch), RECORD, [Expect("nonce", "==", record["nonce"])]
                    ),
                    deadline,
                )
            raise
        return AsyncStarted(batch, record, self.generation(batch, record, deadline))

    def async_record(self, template, total, now):
        """The record of a new asynchronous batch: the parameters, its size and a fresh seed."""
        size = self.chunk_size
        record = dict(template)
        record.update(
            {
                "state": GENERATING,
                "mode": campaigns.ASYNC,
                "count": total,
                "chunk_size": size,
                "chunks": (total + size - 1) // size,
                "seed": secrets.token_hex(SEED_BYTES),  # the batch's secret: never shown
                "expires_at": now + self.gen_deadline_ms,
            }
        )
        return record

    # --- progress -------------------------------------------------------------------------------
    def generation(self, batch, record, deadline):
        """The `generation` object GET /batches/{batch} shows for an asynchronous batch: status
        (GENERATING, READY, FAILED), codes written of the total, chunks, reason, cleanup."""
        chunks = record.get("chunks", 0)
        state = record.get("state")
        written = done = 0
        if state in (GENERATING, FAILED):  # FAILED: what is still stored, until cleanup ends
            for _, row in self._chunk_rows(batch, DONE, chunks, deadline):
                done += 1
                written += row.get("count", 0)
        else:  # ACTIVE or DISABLED: complete
            done, written = chunks, record.get("count", 0)
        status = {GENERATING: GENERATING, FAILED: FAILED}.get(state, READY)
        body = {
            "status": status,
            "total": record.get("count", 0),
            "written": written,
            "chunks": chunks,
            "chunks_written": done,
            "reason": record.get("reason"),
            "finished_at": record.get("finished_at"),
            "cleanup_complete": None,
        }
        if state == FAILED:
            body["cleanup_complete"] = bool(record.get("cleaned"))
        return body

    def sweep(self, batch, record, deadline):
        """What a reader of an asynchronous batch does for it: make it READY when every chunk is
        written (its last worker died before saying so), fail it past its deadline, send a
        stalled cleanup again. Returns the record as it is now."""
        now = self.clock()
        state = record.get("state")
        if state == GENERATING:
            if not self._settle(batch, record, deadline):
                return record
        elif state == FAILED and not record.get("cleaned"):
            last = max(record.get("failed_at", 0), record.get("swept_at", 0))
            if now - last >= SWEEP_MS:
                swept = self._retry(
                    lambda: self.batches.update_if(
                        record_pk(batch),
                        RECORD,
                        {"swept_at": now},
                        [Expect("state", "==", FAILED), Expect("swept_at", "==", last, True)],
                    ),
                    deadline,
                )
                if swept:  # one reader sends it
                    self._send(self._root(batch, record), deadline)
        else:
            return record
        pk, columns = record_pk(batch), list(RECORD_COLUMNS)
        return self._retry(lambda: self.batches.get(pk, RECORD, columns), deadline) or record

    # --- gen_chunk: the worker -------------------------------------------------------------------
    def work(self, event, request_id, lease_ms, deadline):
        """Serve one worker event: fan a range out, or write (or, after a failure, delete) one
        chunk. Returns an Outcome; raises when FC should run the event again."""
        batch, nonce, low, high = _parse_event(event)
        pk = record_pk(batch)
        record = self._retry(lambda: self.batches.get(pk, RECORD), deadline)
        if not is_async(record) or record.get("nonce") != nonce:
            return Outcome(batch=batch, result="stale")  # another batch, or one that is gone
        if record.get("state") not in (GENERATING, FAILED) or record.get("cleaned"):
            return Outcome(batch=batch, result="done already")  # a late or duplicate event
        if high - low > 1:
            sent = self._fan_out(event, low, high, deadline)
            return Outcome(batch=batch, result="fanned out", events=sent)
        state = record.get("state")
        if state == GENERATING and self.clock() >= record.get("expires_at", 0):
            self._settle(batch, record, deadline)
            return Outcome(batch=batch, chunk=low, result="past the deadline")
        if state == FAILED:
            cleaned = self._clean_chunk(batch, record, low, None, deadline)
            return Outcome(batch=batch, chunk=low, result="deleted" if cleaned else "left")
        if state != GENERATING:
            return Outcome(batch=batch, chunk=low, result="done already")
        lease, attempt = self._lease(batch, low, request_id, lease_ms, deadline)
        try:
            result = self._write_chunk(batch, low, lease, attempt, deadline)
        except Exception as exc:
            # This attempt writes nothing more (bulkgen.write returns only when its requests
            # have): a cleanup need not wait for its lease.
            with contextlib.suppress(StoreUnavailable):
                self._release(batch, lease, deadline)
            if attempt < MAX_ATTEMPTS:
                raise  # FC runs the event again
            what = (
                exc.message
                if isinstance(exc, ServiceError)
                else "%s: %s"
                % (
                    type(exc).__name__,
                    exc,
                )
            )
            reason = "chunk %d could not be written in %d attempts (%s)" % (low, attempt, what)
            self._fail(batch, record, reason, deadline)  # its cleanup deletes this chunk too
            return Outcome(batch=batch, chunk=low, attempt=attempt, result="failed", reason=reason)
        return Outcome(batch=batch, chunk=low, attempt=attempt, result=result)

    def _write_chunk(self, batch, index, lease, attempt, deadline):
        pk = record_pk(batch)
        # The state after taking the lease: a failure set before it is seen here, and one set
        # after it leaves this chunk to this attempt (cleanup respects a live lease).
        record = self._retry(lambda: self.batches.get(pk, RECORD), deadline)
        if record is None or record.get("state") != GENERATING:
            if record is not None and record.get("state") == FAILED:
                self._clean_chunk(batch, record, index, lease, deadline)
            self._release(batch, lease, deadline)
            return "not written (%s)" % (record or {}).get("state", "gone")
        chunk = self._chunk(batch, record, index)
        done = done_sk(index)
        if self._retry(lambda: self.batches.get(pk, done, ["count"]), deadline) is None:
            keys = bulkgen.write(
                self.store,
                chunk,
                deadline.fraction(WRITE_SHARE),
                self.sleep,
                own=lambda key: {"bshard": schema.bshard(batch, schema.shard_of(key))},
                concurrency=self.gen_concurrency,
            )
            # The key list (every attempt writes the same one), then the mark that counts the
            # chunk, inserted once: a second attempt (or a duplicate event) finds it there.
            listed = {"keys": " ".join(keys), "nonce": chunk.nonce}
            self._retry(lambda: _put(self.batches, pk, chunk_sk(index), listed), deadline)
            mark = {"count": len(keys), "nonce": chunk.nonce}
            self._retry(lambda: self.batches.insert(pk, done, mark), deadline)
        self._release(batch, lease, deadline)
        # After the lease is released: a failure set meanwhile was not left to us by a cleanup
        # that saw our lease, so this attempt deletes its own rows.
        record = self._retry(lambda: self.batches.get(pk, RECORD), deadline) or record
        if record.get("state") == FAILED:
            self._clean_chunk(batch, record, index, None, deadline)
            return "written, then deleted (the batch failed)"
        self._maybe_ready(batch, record, deadline)
        return "written"

    def _settle(self, batch, record, deadline):
        """A GENERATING batch: READY if every chunk is marked written, else FAILED if past its
        deadline; whether it changed."""
        chunks = record.get("chunks", 0)
        rows = self._chunk_rows(batch, DONE, chunks, deadline)
        if len(rows) == chunks:
            return self._maybe_ready(batch, record, deadline, rows)
        if self.clock() < record.get("expires_at", 0):
            return False
        reason = "not finished by its deadline: %d of %d chunks (%d of %d codes) were written" % (
            len(rows),
            chunks,
            sum(row.get("count", 0) for _, row in rows),
            record.get("count", 0),
        )
        return self._fail(batch, record, reason, deadline)

    def _maybe_ready(self, batch, record, deadline, rows=None):
        """ACTIVE once every chunk's key list is there (whoever sees it first; once)."""
        chunks = record.get("chunks", 0)
        if rows is None:
            rows = self._chunk_rows(batch, DONE, chunks, deadline)
        if len(rows) < chunks:
            return False
        written = sum(row.get("count", 0) for _, row in rows)
        if written != record.get("count"):  # cannot happen: each chunk holds its count
            raise RuntimeError("%d codes written, %d expected" % (written, record.get("count")))
        return self._retry(
            lambda: self.batches.update_if(
                record_pk(batch),
                RECORD,
                {"state": ACTIVE, "finished_at": self.clock()},
                [Expect("state", "==", GENERATING), Expect("nonce", "==", record["nonce"])],
            ),
            deadline,
        )

    # --- failure and cleanup ------------------------------------------------------------------
    def _fail(self, batch, record, reason, deadline):
        """GENERATING -> FAILED (once), then queue the deletion of every chunk."""
        now = self.clock()
        failed = self._retry(
            lambda: self.batches.update_if(
                record_pk(batch),
                RECORD,
                {"state": FAILED, "reason": reason[:500], "failed_at": now, "finished_at": now},
                [Expect("state", "==", GENERATING), Expect("nonce", "==", record["nonce"])],
            ),
            deadline,
        )
        if failed:
            self._send(self._root(batch, record), deadline)
        return failed

    def _clean_chunk(self, batch, record, index, lease, deadline):
        """Delete the chunk's rows and its key list; mark it gone unless another attempt may
        still be writing it (a live lease other than `lease`: that attempt deletes its own
        rows). Returns whether the chunk is marked gone."""
        pk = record_pk(batch)
        now = self.clock()
        first = run_prefix(index)
        leases = self._retry(
            lambda: self.batches.rows(pk, first, first + "~", None, ["until"]), deadline
        )
        live = [sk for sk, row in leases if sk != lease and row.get("until", 0) > now]
        chunk = self._chunk(batch, record, index)
        bulkgen.cleanup(self.store, chunk, deadline, self.sleep)
        if live:
            return False
        self._retry(lambda: self.batches.delete_if(pk, done_sk(index)), deadline)
        self._retry(lambda: self.batches.delete_if(pk, chunk_sk(index)), deadline)
        self._retry(lambda: self.batches.insert(pk, gone_sk(index), {"at": now}), deadline)
        chunks = record.get("chunks", 0)
        if len(self._chunk_rows(batch, "gone:", chunks, deadline)) == chunks:
            self._retry(
                lambda: self.batches.update_if(
                    pk, RECORD, {"cleaned": 1}, [Expect("state", "==", FAILED)]
                ),
                deadline,
            )
        return True

    # --- helpers --------------------------------------------------------------------------------
    def _chunk(self, batch, record, index):
        size = record["chunk_size"]
        count = min(size, record["count"] - index * size)
        attributes = {
            "batch": batch,
            "state": "UNUSED",
            "valid_from": record.get("valid_from"),
            "valid_until": record.get("valid_until"),
            "max_uses": record.get("max_uses", 1),
            "uses": 0,
            "created_at": record.get("created_at"),
            "prefix": record.get("prefix") or None,
            "metadata": record.get("metadata"),
            "customer": record.get("customer"),
            "per_user_limit": record.get("per_user_limit"),
        }
        return bulkgen.Chunk(
            record["seed"], index, count, record.get("prefix") or "", self.code_length, attributes
        )

    def _chunk_rows(self, batch, prefix, chunks, deadline):
        """[(sk, row)] of the rows `<prefix>00000`.. of the batch's chunks (`done:` or `gone:`:
        small rows, never the key lists)."""
        return self._retry(
            lambda: self.batches.rows(
                record_pk(batch), prefix + "%05d" % 0, prefix + "%05d" % chunks, None, ["count"]
            ),
            deadline,
        )

    def _lease(self, batch, index, request_id, lease_ms, deadline):
        """Take the chunk's lease for this attempt: (its sk, the attempt's number, 1..)."""
        pk = record_pk(batch)
        tag = hashlib.sha256((request_id or "").encode("utf-8")).hexdigest()[:12]
        until = self.clock() + lease_ms + LEASE_MARGIN_MS
        for attempt in range(1, MAX_LEASES + 1):
            sk = "%s%s:%d" % (run_prefix(index), tag, attempt)
            if self._retry(lambda s=sk: self.batches.insert(pk, s, {"until": until}), deadline):
                return sk, attempt
        raise RuntimeError("chunk %d: %d attempts of one event" % (index, MAX_LEASES))

    def _release(self, batch, lease, deadline):
        self._retry(lambda: self.batches.update_if(record_pk(batch), lease, {"until": 0}), deadline)

    def _fan_out(self, event, low, high, deadline):
        parts = min(FANOUT, high - low)
        step, rest = divmod(high - low, parts)
        start = low
        sent = 0
        for n in range(parts):
            end = start + step + (1 if n < rest else 0)
            self._send(dict(event, **{"from": start, "to": end}), deadline)
            sent += 1
            start = end
        return sent

    def _root(self, batch, record):
        return {"batch": batch, "nonce": record["nonce"], "from": 0, "to": record["chunks"]}

    def _send(self, event, deadline):
        if self.dispatcher is None:
            raise StoreUnavailable(
                "asynchronous generation is not configured (GEN_WORKER)",
                reason="no dispatcher",
                retryable=False,
            )
        return self._retry(lambda: self.dispatcher.send(event), deadline)


def _put(batches, pk, sk, row):
    """Write one row unconditionally (a repeat writes the same); StoreUnavailable if not."""
    if batches.put_all(pk, [(sk, row)]) != [OK]:
        raise StoreUnavailable(reason="a key list was not written", maybe_applied=True)


def _parse_event(event):
    """(batch, nonce, from, to) of a worker event; InvalidRequest for anything else."""
    if not isinstance(event, dict):
        raise InvalidRequest(None, "a worker event is a JSON object")
    batch, nonce = event.get("batch"), event.get("nonce")
    if not isinstance(batch, str) or not isinstance(nonce, str):
        raise InvalidRequest("batch", "a worker event names a batch and its nonce")
    low, high = _chunk_number(event, "from"), _chunk_number(event, "to")
    if high <= low:
        raise InvalidRequest("to", "must be greater than from")
    return batch, nonce, low, high


def _chunk_number(event, name):
    value = event.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidRequest(name, "must be a chunk number")
    return value
