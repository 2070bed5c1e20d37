"""The server's event loop: socket readiness callbacks, timers, calls from other threads.

One thread runs `run_forever`; every callback runs on it, so whatever the callbacks touch (the
engine's data) needs no lock. Other threads hand it work with `call_soon_threadsafe`.

Why not asyncio: its loop wraps every readiness event in a `Handle` run through a context, and
its selector builds key objects per event; for one client's PutRow that machinery was a third
of ots_local's server CPU per request (docs/ots_local.md, "Performance"). This loop is a dict
lookup and a call per event, on epoll where the platform has it and `poll` elsewhere.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import os
import select
import time
from collections import deque
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("ots_local")

if hasattr(select, "epoll"):
    _IN, _OUT, _FAILED = select.EPOLLIN, select.EPOLLOUT, select.EPOLLERR | select.EPOLLHUP
else:  # pragma: no cover (macOS and other platforms without epoll)
    _IN, _OUT, _FAILED = select.POLLIN, select.POLLOUT, select.POLLERR | select.POLLHUP


class _Poller:
    """epoll, or poll where there is none: register / modify / unregister, wait in seconds."""

    def __init__(self) -> None:
        self._epoll = select.epoll() if hasattr(select, "epoll") else None
        self._poll = select.poll() if self._epoll is None else None

    def register(self, fd: int, events: int) -> None:
        (self._epoll or self._poll).register(fd, events)  # type: ignore[union-attr]

    def modify(self, fd: int, events: int) -> None:
        (self._epoll or self._poll).modify(fd, events)  # type: ignore[union-attr]

    def unregister(self, fd: int) -> None:
        (self._epoll or self._poll).unregister(fd)  # type: ignore[union-attr]

    def waiter(self) -> tuple[Callable[[Any], list[tuple[int, int]]], float, Any]:
        """(wait, scale, forever): `wait(timeout * scale)` returns the ready (fd, events),
        `wait(forever)` waits until one is ready (timeout in seconds)."""
        if self._epoll is not None:
            return self._epoll.poll, 1.0, -1
        assert self._poll is not None  # pragma: no cover
        return self._poll.poll, 1000.0, None  # pragma: no cover

    def close(self) -> None:
        if self._epoll is not None:
            self._epoll.close()


class Timer:
    """A callback due at a time on the loop's clock; `cancel()` before it runs drops it."""

    __slots__ = ("callback", "when")

    def __init__(self, when: float, callback: Callable[[], object] | None) -> None:
        self.when = when
        self.callback = callback

    def cancel(self) -> None:
        self.callback = None


class EventLoop:
    """A minimal single-threaded event loop (see the module's docstring)."""

    def __init__(self) -> None:
        self._poller = _Poller()
        self._readers: dict[int, Callable[[], object]] = {}
        self._writers: dict[int, Callable[[], object]] = {}
        self._timers: list[tuple[float, int, Timer]] = []
        self._sequence = itertools.count()
        self._calls: deque[Callable[[], object]] = deque()
        self._stopping = False
        # Other threads wake the loop by writing a byte here.
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self.add_reader(self._wake_read, self._drain_wakeups)

    # --- file descriptors ---------------------------------------------------------------------
    def _update(self, fd: int, had: bool) -> None:
        mask = (_IN if fd in self._readers else 0) | (_OUT if fd in self._writers else 0)
        if not mask:
            self._poller.unregister(fd)
        elif had:
            self._poller.modify(fd, mask)
        else:
            self._poller.register(fd, mask)

    def add_reader(self, fd: int, callback: Callable[[], object]) -> None:
        """Call `callback()` whenever `fd` is readable (or failed)."""
        had = fd in self._readers or fd in self._writers
        self._readers[fd] = callback
        self._update(fd, had)

    def remove_reader(self, fd: int) -> None:
        if self._readers.pop(fd, None) is not None:
            self._update(fd, True)

    def add_writer(self, fd: int, callback: Callable[[], object]) -> None:
        """Call `callback()` whenever `fd` is writable (or failed)."""
        had = fd in self._readers or fd in self._writers
        self._writers[fd] = callback
        self._update(fd, had)

    def remove_writer(self, fd: int) -> None:
        if self._writers.pop(fd, None) is not None:
            self._update(fd, True)

    # --- timers and calls ---------------------------------------------------------------------
    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        """Run `callback()` on the loop in `delay` seconds (loop thread only)."""
        timer = Timer(time.monotonic() + delay, callback)
        heapq.heappush(self._timers, (timer.when, next(self._sequence), timer))
        return timer

    def call_soon_threadsafe(self, callback: Callable[[], object]) -> None:
        """Run `callback()` on the loop soon; callable from any thread."""
        self._calls.append(callback)
        self._wake()

    def stop(self) -> None:
        """Make `run_forever` return after the current iteration; callable from any thread
        (and from a signal handler)."""
        self._stopping = True
        self._wake()

    def _wake(self) -> None:
        # A full pipe has wake-ups pending already; a closed one belongs to a stopped loop.
        with contextlib.suppress(OSError):
            os.write(self._wake_write, b"\0")

    def _drain_wakeups(self) -> None:
        try:
            while os.read(self._wake_read, 4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        calls = self._calls
        while calls:
            self._run(calls.popleft())

    @staticmethod
    def _run(callback: Callable[[], object]) -> None:
        try:
            callback()
        except Exception:
            logger.exception("ots_local: a loop callback failed")

    def _run_due_timers(self) -> float | None:
        """Run the timers that are due; returns the wait until the next one (None: none)."""
        timers = self._timers
        while timers:
            when, _, timer = timers[0]
            if timer.callback is None:
                heapq.heappop(timers)
                continue
            wait = when - time.monotonic()
            if wait > 0:
                return wait
            heapq.heappop(timers)
            callback, timer.callback = timer.callback, None
            self._run(callback)
        return None

    # --- running ------------------------------------------------------------------------------
    def run_forever(self) -> None:
        """Serve callbacks on this thread until `stop()` (once stopped, it stays stopped)."""
        wait, scale, forever = self._poller.waiter()
        readers = self._readers
        writers = self._writers
        read_events = _IN | _FAILED
        write_events = _OUT | _FAILED
        timeout = None
        while not self._stopping:
            for fd, events in wait(forever if timeout is None else timeout * scale):
                try:
                    # A failed socket goes to its reader (which sees the error), else to its
                    # writer; a reader that closes its socket removes the writer too.
                    if events & read_events and (callback := readers.get(fd)) is not None:
                        callback()
                        if not events & _OUT:
                            continue
                    elif not events & write_events:
                        continue
                    callback = writers.get(fd)
                    if callback is not None:
                        callback()
                except Exception:
                    logger.exception("ots_local: a loop callback failed")
            timeout = self._run_due_timers() if self._timers else None

    def close(self) -> None:
        self._poller.close()
        os.close(self._wake_read)
        os.close(self._wake_write)
