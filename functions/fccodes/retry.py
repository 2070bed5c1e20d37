"""Retry timing that fits inside the function timeout.

Every invocation gets a `Deadline` derived from the function's timeout; retries back off
exponentially with jitter and stop early rather than let FC kill the instance mid-write (a killed
generate could not clean up after itself).
"""

import random
import time

FIRST_DELAY = 0.05  # seconds
MAX_DELAY = 1.0
MAX_ATTEMPTS = 8


class Deadline(object):
    """A point in time (monotonic clock) by which work must be done.

    `request_timeout` is the longest one store request may take (OTS_TIMEOUT): Backoff starts
    no retry that could still be running at the deadline.
    """

    def __init__(self, seconds, clock=time.monotonic, request_timeout=0.0):
        self.clock = clock
        self.at = clock() + seconds
        self.request_timeout = request_timeout

    def remaining(self):
        return self.at - self.clock()

    def expired(self):
        return self.remaining() <= 0

    def fraction(self, share):
        """A Deadline `share` (0..1) of the way from now to this one."""
        return Deadline(max(0.0, self.remaining()) * share, self.clock, self.request_timeout)


class Backoff(object):
    """Attempts and pauses for one operation: `while backoff.next(): try ...`.

    `next()` returns True for the first attempt, then sleeps before each further attempt and
    returns False once MAX_ATTEMPTS are used or the pause plus one request of the deadline's
    `request_timeout` would end past the deadline (FC kills an invocation at its timeout: a 503
    now beats no answer at all).
    """

    def __init__(self, deadline, attempts=MAX_ATTEMPTS, sleep=time.sleep, rng=random.random):
        self.deadline = deadline
        self.attempts = attempts
        self.sleep = sleep
        self.rng = rng
        self.used = 0

    def next(self):
        if self.used >= self.attempts:
            return False
        if self.used:
            ceiling = min(MAX_DELAY, FIRST_DELAY * (2 ** (self.used - 1)))
            delay = ceiling * (0.5 + self.rng() / 2)  # jitter: parallel writers do not align
            if delay + self.deadline.request_timeout >= self.deadline.remaining():
                return False
            self.sleep(delay)
        elif self.deadline.expired():
            return False
        self.used += 1
        return True
