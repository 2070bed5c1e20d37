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
any index or list of keys. Memory is flat: keys are derived BATCH_WRITE_LIMIT at a time.

The seed is the batch's secret: whoever holds it can derive its codes. It travels only in the
worker's event (FC passes it to our function, nobody else), never in an answer or a log line.

Plain logic over `fccodes.port.Store`, Python 3.6.
"""

import hashlib
import hmac

from . import codes
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


def write(store, chunk, deadline, sleep, progress=None):
    """Write the chunk (idempotently); returns the number of rows it holds (chunk.count).

    `progress(written)` is called after each request with the rows known written so far.
    Raises StoreUnavailable when the store fails past the deadline: the rows written stay, and
    running `write` again (FC's retry) completes the chunk without duplicates.
    """
    template = dict(chunk.attributes, nonce=chunk.nonce)
    written = 0
    extension = chunk.count  # the next position for a collision's replacement
    collisions = 0
    start = 0
    while start < chunk.count:
        pending = list(range(start, min(chunk.count, start + BATCH_WRITE_LIMIT)))
        start += len(pending)
        backoff = Backoff(deadline, sleep=sleep)
        error = None
        while pending:
            if not backoff.next():
                raise error or StoreUnavailable(reason="no time left to write the chunk")
            keys = [chunk.key(p) for p in pending]
            try:
                outcomes = store.insert_new(keys, template)
            except StoreUnavailable as exc:
                if not exc.retryable:
                    raise
                error = exc
                continue  # an applied write without an answer shows up as ours next time
            retry, taken = [], []
            for position, key, outcome in zip(pending, keys, outcomes):
                if outcome == OK:
                    written += 1
                elif outcome == CONDITION_FAILED:
                    taken.append((position, key))
                else:
                    retry.append(position)
            if taken:
                owners = _owners(store, [k for _, k in taken], deadline, sleep)
                for position, key in taken:
                    owner = owners.get(key)
                    if owner == chunk.nonce:
                        written += 1  # an earlier attempt (or an unanswered write) stored it
                    elif owner is None:
                        retry.append(position)  # gone meanwhile: write it again
                    else:
                        collisions += 1
                        if collisions > MAX_COLLISIONS:
                            raise RuntimeError("the key stream collides %d times" % collisions)
                        retry.append(extension)
                        extension += 1
            pending = sorted(retry)
        if progress is not None:
            progress(written)
    return written


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
