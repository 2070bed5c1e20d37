"""Generating big batches in chunks that any number of FC instances write, each retry-safe.

A batch of millions is split into chunks; each chunk is written by one asynchronous invocation
of a worker, which FC may run again (its retry policy) after a crash, a timeout or an error. So a
chunk's codes are not drawn at random on each attempt: they come from a key stream, HMAC-SHA256
of a secret batch seed over (chunk, position), turned into symbols the way random bytes are
(`codes.make_key`). Every attempt of a chunk therefore tries the same keys in the same order and
recognises its own rows by the chunk's `nonce`:

- written -> done; a row with our nonce already there (an earlier attempt) -> done;
- a row with another nonce (a collision with someone else's code, about 2^-75 per code) -> the
  next position beyond `count` takes its place, the same one on every attempt;
- failed in the store -> tried again.

A chunk thus ends with exactly `count` rows carrying its nonce, however often it runs, and
`cleanup` can delete them again (positions 0 .. count + EXTRA, only rows with that nonce) without
any index or list of keys. Memory is flat in the batch's size: a chunk's keys are derived
BATCH_WRITE_LIMIT at a time and kept for its key list only.

The seed is the batch's secret: whoever holds it can derive its codes. It is kept in the batch's
record, which only the worker reads whole (fccodes.asyncgen); never in an answer, an event or a
log line.

Plain logic over `fccodes.port.Store`, Python 3.6.
"""

import hashlib
import hmac
import threading

from . import codes, parallel
from .errors import StoreUnavailable
from .port import BATCH_GET_LIMIT, BATCH_WRITE_LIMIT, CONDITION_FAILED, OK
from .retry import Backoff

EXTRA = 64  # positions past `count` that collisions may have used (cleanup looks that far)
MAX_COLLISIONS = EXTRA  # more in one chunk means a broken key stream, not bad luck


class Chunk(object):
    """One chunk of a batch: positions 0..count-1 of the key stream `index` of `seed`."""

    __slots__ = ("attributes", "code_length", "count", "index", "prefix", "seed")

    def __init__(self, seed, index, count, prefix, code_length, attributes):
        self.seed = bytes(bytearray.fromhex(seed)) if isinstance(seed, str) else seed
        self.index = index
        self.count = count
        self.prefix = prefix or ""
        self.code_length = code_length
        self.attributes = attributes  # batch, state, validity, max_uses, uses, created_at, ...

    @property
    def nonce(self):
        """The chunk's mark on its rows (16 hex digits, derived: the same on every attempt)."""
        return self._mac(b"nonce|%d" % self.index).hexdigest()[:16]

    def key(self, position):
        """The key at `position` of this chunk's stream."""
        digest = self._mac(b"key|%d|%d" % (self.index, position)).digest()
        return codes.make_key(self.prefix, lambda n: digest[:n], self.code_length)

    def _mac(self, message):
        return hmac.new(self.seed, message, hashlib.sha256)


def write(store, chunk, deadline, sleep, progress=None, own=None, concurrency=1):
    """Write the chunk (idempotently); returns its keys: exactly `chunk.count` rows that carry
    its nonce, in no particular order.

    Requests of BATCH_WRITE_LIMIT rows go out `concurrency` at a time (threads), each row with
    `chunk.attributes`, the nonce and `own(key)` (its shard of the batch index). `progress(n)`
    is called after each request with the rows known written so far. Raises StoreUnavailable
    when the store fails past the deadline: the rows written stay, and running `write` again
    (FC's retry) completes the chunk without duplicates.
    """
    state = _Writing(store, chunk, deadline, sleep, progress, own)
    groups = [
        list(range(start, min(chunk.count, start + BATCH_WRITE_LIMIT)))
        for start in range(0, chunk.count, BATCH_WRITE_LIMIT)
    ]
    errors = parallel.run_all(groups, state.write_group, concurrency, stop=state.failed)
    if errors:
        raise errors[0]  # another request failed: the chunk fails; FC's retry completes it
    return state.keys


class _Writing(object):
    """What the requests of one `write` share: the keys written, collisions, the first error."""

    def __init__(self, store, chunk, deadline, sleep, progress, own):
        self.store = store
        self.chunk = chunk
        self.deadline = deadline
        self.sleep = sleep
        self.progress = progress
        self.own = own
        self.template = dict(chunk.attributes, nonce=chunk.nonce)
        self.lock = threading.Lock()
        self.keys = []  # type: list
        self.extension = chunk.count  # the next position for a collision's replacement
        self.collisions = 0
        self.failed = threading.Event()  # set by a failed request: the others stop

    def write_group(self, pending):
        chunk = self.chunk
        backoff = Backoff(self.deadline, sleep=self.sleep)
        error = None
        while pending:
            if self.failed.is_set():
                return  # `write` raises the request's error that set it
            if not backoff.next():
                raise error or StoreUnavailable(reason="no time left to write the chunk")
            keys = [chunk.key(p) for p in pending]
            try:
                outcomes = self.store.insert_new(keys, self.template, self.own)
            except StoreUnavailable as exc:
                if not exc.retryable:
                    raise
                error = exc
                continue  # an applied write without an answer shows up as ours next time
            retry, taken, written = [], [], []
            for position, key, outcome in zip(pending, keys, outcomes):
                if outcome == OK:
                    written.append(key)
                elif outcome == CONDITION_FAILED:
                    taken.append((position, key))
                else:
                    retry.append(position)
            if taken:
                owners = _owners(self.store, [k for _, k in taken], self.deadline, self.sleep)
                for position, key in taken:
                    owner = owners.get(key)
                    if owner == chunk.nonce:
                        written.append(key)  # an earlier attempt (or an unanswered write) did
                    elif owner is None:
                        retry.append(position)  # gone meanwhile: write it again
                    else:
                        retry.append(self._replacement())
            with self.lock:
                self.keys.extend(written)
                done = len(self.keys)
            if self.progress is not None:
                self.progress(done)
            pending = sorted(retry)

    def _replacement(self):
        """The next position past `count`: the same one on every attempt, since positions are
        handed out in the order collisions are met (requests of one attempt may meet them in
        another order; cleanup looks EXTRA positions far, whatever the order)."""
        with self.lock:
            self.collisions += 1
            if self.collisions > MAX_COLLISIONS:
                raise RuntimeError("the key stream collides %d times" % self.collisions)
            position = self.extension
            self.extension += 1
            return position


def cleanup(store, chunk, deadline, sleep):
    """Delete every row of the chunk (positions 0 .. count + EXTRA with its nonce); returns how
    many were deleted. Raises StoreUnavailable if the store fails past the deadline."""
    deleted = 0
    positions = list(range(chunk.count + EXTRA))
    for start in range(0, len(positions), BATCH_WRITE_LIMIT):
        pending = [chunk.key(p) for p in positions[start : start + BATCH_WRITE_LIMIT]]
        backoff = Backoff(deadline, sleep=sleep)
        error = None
        while pending:
            if not backoff.next():
                raise error or StoreUnavailable(reason="no time left to clean up the chunk")
            try:
                outcomes = store.delete_owned(pending, "nonce", chunk.nonce)
            except StoreUnavailable as exc:
                if not exc.retryable:
                    raise
                error = exc
                continue
            deleted += outcomes.count(OK)
            # CONDITION_FAILED: absent, or not ours; either way nothing of ours is there.
            pending = [k for k, o in zip(pending, outcomes) if o not in (OK, CONDITION_FAILED)]
    return deleted


def _owners(store, keys, deadline, sleep):
    """{key: nonce} of the rows that exist among `keys`."""
    found = {}
    for start in range(0, len(keys), BATCH_GET_LIMIT):
        part = keys[start : start + BATCH_GET_LIMIT]
        backoff = Backoff(deadline, sleep=sleep)
        error = None
        while True:
            if not backoff.next():
                raise error or StoreUnavailable(reason="no time left to read back the chunk")
            try:
                rows = store.get_many(part, ["nonce"])
                break
            except StoreUnavailable as exc:
                if not exc.retryable:
                    raise
                error = exc
        for key, row in rows.items():
            found[key] = row.get("nonce")
    return found


def split(total, chunk_size):
    """[(index, count)] of the chunks of a batch of `total` codes."""
    return [
        (i, min(chunk_size, total - start)) for i, start in enumerate(range(0, total, chunk_size))
    ]
