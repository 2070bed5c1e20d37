"""Retry timing: exponential backoff with jitter, bounded by attempts and the deadline."""

from fccodes.retry import MAX_ATTEMPTS, Backoff, Deadline


class FakeTime(object):
    """A clock that only moves when the code under test sleeps."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_backoff_grows_with_jitter_and_stops_after_max_attempts():
    t = FakeTime()
    backoff = Backoff(Deadline(100, t.clock), sleep=t.sleep, rng=lambda: 1.0)
    attempts = 0
    while backoff.next():
        attempts += 1
    assert attempts == MAX_ATTEMPTS
    assert t.sleeps == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


def test_backoff_jitter_is_at_least_half_the_step():
    t = FakeTime()
    backoff = Backoff(Deadline(100, t.clock), sleep=t.sleep, rng=lambda: 0.0)
    while backoff.next():
        pass
    assert t.sleeps[:3] == [0.025, 0.05, 0.1]


def test_backoff_never_sleeps_past_the_deadline():
    t = FakeTime()
    backoff = Backoff(Deadline(0.3, t.clock), sleep=t.sleep, rng=lambda: 1.0)
    attempts = 0
    while backoff.next():
        attempts += 1
    assert attempts == 3  # 0.05 + 0.1 = 0.15 slept; the next 0.2 would end past 0.3
    assert t.now < 0.3


def test_an_expired_deadline_allows_no_attempt():
    t = FakeTime()
    assert not Backoff(Deadline(0, t.clock), sleep=t.sleep).next()


def test_deadline_fraction():
    t = FakeTime()
    deadline = Deadline(10, t.clock)
    t.now = 2.0
    assert deadline.fraction(0.5).remaining() == 4.0


def test_no_retry_starts_that_a_slow_request_could_not_finish_in_time():
    """One request may take up to request_timeout: a retry that could end past the deadline
    is not started, so the function answers before FC's timeout kills it."""
    t = FakeTime()
    backoff = Backoff(Deadline(9, t.clock, request_timeout=5), sleep=t.sleep, rng=lambda: 1.0)
    assert backoff.next()  # the first attempt always runs
    t.now = 5.0  # it timed out after 5 s: 4 s left, less than one more request may take
    assert not backoff.next()
    assert t.sleeps == []


def test_retries_that_fit_still_run_and_fraction_keeps_the_request_timeout():
    t = FakeTime()
    deadline = Deadline(20, t.clock, request_timeout=5)
    backoff = Backoff(deadline, sleep=t.sleep, rng=lambda: 1.0)
    assert backoff.next() and backoff.next()  # 0.05 + 5 s fit in 20 s
    assert deadline.fraction(0.5).request_timeout == 5
