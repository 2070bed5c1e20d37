"""FC's asynchronous invocation in process, for the worker of big batches (`gen_chunk`).

The functions queue the worker's events through their dispatcher (`fccodes.app.Runtime`'s
`dispatcher`, injected here instead of FC's invoke API, which tests/localdev drives for real).
`drain()` runs each event through the real handler, `gen_chunk.handler(event bytes, context)`,
with FC's policy: an attempt that raises runs again, with the same request id, at most
MAX_RETRIES more times; then the event is dropped. Python 3.6 compatible (FC's runtimes run
tests/functions too).
"""

import json
import threading
import uuid
from collections import deque

import gen_chunk

from fccodes import api

from .helpers import FCContext

MAX_RETRIES = api.GEN_WORKER.max_retries


class Queued(object):
    __slots__ = ("attempt", "event", "request_id")

    def __init__(self, event, request_id, attempt=1):
        self.event = event
        self.request_id = request_id
        self.attempt = attempt


class LocalQueue(object):
    """The queue: `dispatcher` goes into app.Runtime; `drain()` runs what is queued.

    `before(queued)` (optional) runs before each attempt and may raise to make it fail (a worker
    that dies before it starts); `refuse` makes `send` fail as FC's API would (InvokeFailed).
    """

    def __init__(self, credentials, timeout=30, before=None):
        self.credentials = credentials
        self.timeout = timeout
        self.before = before
        self.lock = threading.Lock()
        self.pending = deque()
        self.sent = []  # every event accepted, in order
        self.outcomes = []  # (request id, attempt, "ok" / "raised: ..." )
        self.dropped = []
        self.refuse = None  # an exception to raise from send

    def dispatcher(self, credentials, context):
        return self

    def send(self, event):
        if self.refuse is not None:
            raise self.refuse
        request_id = str(uuid.uuid4())
        payload = json.dumps(event).encode("utf-8")
        with self.lock:
            self.sent.append(event)
            self.pending.append(Queued(payload, request_id))
        return request_id

    def run_one(self):
        """Run the next attempt; False when nothing is queued."""
        with self.lock:
            if not self.pending:
                return False
            queued = self.pending.popleft()
        context = FCContext(
            request_id=queued.request_id,
            credentials=self.credentials,
            timeout=self.timeout,
            name=api.GEN_WORKER.name,
        )
        try:
            if self.before is not None:
                self.before(queued)
            gen_chunk.handler(queued.event, context)
        except Exception as exc:  # FC's UnhandledInvocationError: retried, then dropped
            with self.lock:
                self.outcomes.append((queued.request_id, queued.attempt, "raised: %s" % exc))
                if queued.attempt > MAX_RETRIES:
                    self.dropped.append(queued)
                else:
                    self.pending.append(Queued(queued.event, queued.request_id, queued.attempt + 1))
            return True
        with self.lock:
            self.outcomes.append((queued.request_id, queued.attempt, "ok"))
        return True

    def drain(self, limit=100000, threads=1):
        """Run attempts until nothing is queued (or `limit` attempts); returns how many ran."""
        if threads <= 1:
            ran = 0
            while ran < limit and self.run_one():
                ran += 1
            return ran
        counts = []

        def loop():
            n = 0
            while self.run_one():
                n += 1
            counts.append(n)

        workers = [threading.Thread(target=loop) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return sum(counts)

    def drop_pending(self):
        """Forget what is queued (FC dropping events without a word); returns how many."""
        with self.lock:
            n = len(self.pending)
            self.pending.clear()
        return n
