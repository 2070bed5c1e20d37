"""Function Compute's asynchronous invocation, locally: an in-process queue with FC's retry policy.

`X-Fc-Invocation-Type: Async` on the invoke API puts the event in this queue and answers 202
with the request id at once. Dispatcher threads take events off the queue and invoke the
function through the same instance pools as synchronous calls (so at most `--max-instances`
run at once per function; the rest wait in the queue). An invocation that fails (the function
raised, timed out, or its instance died: FC's `UnhandledInvocationError`, or a failed
initializer) is retried, as FC does by default, up to MAX_RETRIES more times with the same
request id, after a delay that doubles from `first_delay`. Every attempt's outcome is one log
line; the last line says `done`, or `failed ... dropped` when the retries are used up.

What differs from FC is written down in docs/localdev.md ("Asynchronous invocation").
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from localdev.instances import Invocation, Stopped

MAX_RETRIES = 3  # FC's default for a function error (maxAsyncRetryAttempts)
FIRST_DELAY_S = 0.5  # before the first retry; then doubled, at most MAX_DELAY_S
MAX_DELAY_S = 8.0
DISPATCHERS = 32  # threads taking events off the queue (instance pools bound the real work)


@dataclass
class Event:
    """One queued asynchronous invocation."""

    function: str
    payload: bytes
    request_id: str
    attempt: int = 1  # 1 = the first try


class AsyncQueue:
    """The queue, its dispatchers and the delayed retries.

    `invoke(function, payload, request_id)` runs one attempt; `log(line, invocation)` reports
    it. `counts` holds the figures `/__localdev/health` shows (queued, running, retried,
    succeeded, dropped).
    """

    def __init__(
        self,
        invoke: Callable[[str, bytes, str], Invocation],
        log: Callable[[str, Invocation | None], None],
        max_retries: int = MAX_RETRIES,
        first_delay: float = FIRST_DELAY_S,
        dispatchers: int = DISPATCHERS,
    ) -> None:
        self.invoke = invoke
        self.log = log
        self.max_retries = max_retries
        self.first_delay = first_delay
        self.cond = threading.Condition()
        self.ready: list[Event] = []  # FIFO of events due now
        self.delayed: list[tuple[float, int, Event]] = []  # heap of (due, seq, event)
        self.seq = itertools.count()
        self.running = 0
        self.stopping = False
        self.counts = {"accepted": 0, "retried": 0, "succeeded": 0, "dropped": 0}
        self.threads = [
            threading.Thread(target=self._dispatch, daemon=True, name=f"async-dispatch-{i}")
            for i in range(dispatchers)
        ]
        for thread in self.threads:
            thread.start()

    def submit(self, function: str, payload: bytes, request_id: str) -> None:
        """Queue one invocation; it runs as soon as a dispatcher and an instance are free."""
        with self.cond:
            if self.stopping:
                raise Stopped("the local stack is stopping")
            self.counts["accepted"] += 1
            self.ready.append(Event(function, payload, request_id))
            self.cond.notify()

    def pending(self) -> int:
        """Invocations queued, waiting for a retry, or running."""
        with self.cond:
            return len(self.ready) + len(self.delayed) + self.running

    def describe(self) -> dict[str, int]:
        with self.cond:
            return {
                **self.counts,
                "queued": len(self.ready),
                "waiting_retry": len(self.delayed),
                "running": self.running,
            }

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is queued, waiting or running; False if `timeout` passed first."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.ready or self.delayed or self.running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 0.1))
            return True

    def stop(self, timeout: float) -> int:
        """Let what runs finish (up to `timeout`), then drop what is left; returns how many."""
        self.wait_idle(timeout)
        with self.cond:
            self.stopping = True
            left = len(self.ready) + len(self.delayed)
            self.ready.clear()
            self.delayed.clear()
            self.cond.notify_all()
        if left:
            self.log(f"FC API async: {left} queued invocation(s) dropped: the stack stopped", None)
        return left

    # --- dispatchers --------------------------------------------------------------------------
    def _next(self) -> Event | None:
        with self.cond:
            while True:
                if self.stopping:
                    return None
                now = time.monotonic()
                while self.delayed and self.delayed[0][0] <= now:
                    self.ready.append(heapq.heappop(self.delayed)[2])
                if self.ready:
                    self.running += 1
                    return self.ready.pop(0)
                wait = self.delayed[0][0] - now if self.delayed else None
                self.cond.wait(wait)

    def _dispatch(self) -> None:
        while True:
            event = self._next()
            if event is None:
                return
            try:
                self._attempt(event)
            finally:
                with self.cond:
                    self.running -= 1
                    self.cond.notify_all()

    def _attempt(self, event: Event) -> None:
        tries = f"attempt {event.attempt}/{self.max_retries + 1}"
        try:
            invocation = self.invoke(event.function, event.payload, event.request_id)
        except Stopped:
            self.log(f"FC API async {event.function} dropped: the stack stopped", None)
            return
        head = f"FC API async {event.function}"
        if invocation.ok:
            with self.cond:
                self.counts["succeeded"] += 1
            self.log(f"{head} done ({tries}) [{event.request_id}]", invocation)
            return
        what = f"{invocation.error_type}: {invocation.error_message[:200]}"
        if event.attempt > self.max_retries:
            with self.cond:
                self.counts["dropped"] += 1
            self.log(
                f"{head} failed ({tries}, {what}); no retries left, dropped [{event.request_id}]",
                invocation,
            )
            return
        delay = min(MAX_DELAY_S, self.first_delay * 2 ** (event.attempt - 1))
        self.log(
            f"{head} failed ({tries}, {what}); retry in {delay:g} s [{event.request_id}]",
            invocation,
        )
        retry = Event(event.function, event.payload, event.request_id, event.attempt + 1)
        with self.cond:
            self.counts["retried"] += 1
            heapq.heappush(self.delayed, (time.monotonic() + delay, next(self.seq), retry))
            self.cond.notify()
