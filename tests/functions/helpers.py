"""Test helpers for functions/: recorded events, a scripted random source, a settable clock,
and the FC context of the shared harness (`harness.fc`, re-exported).

Python 3.6 compatible: these tests also run on FC's runtimes.
"""

import json
import os
import threading

from fccodes import codes
from harness.fc import Attributes, FCContext, server_credentials

__all__ = [
    "EVENT_BODY",
    "EVENT_CODE",
    "Attributes",
    "Clock",
    "FCContext",
    "ScriptedRandom",
    "load_event",
    "load_event_json",
    "server_credentials",
]

EVENTS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "events")

# The code the recorded events under tests/events/ refer to, and the random symbols behind it.
EVENT_CODE = "7K3M-Q9XD-2FHN-W4TX"
EVENT_BODY = "7K3MQ9XD2FHNW4T"


def load_event(name):
    """A recorded event as FC delivers it: bytes."""
    with open(os.path.join(EVENTS_DIR, name), "rb") as f:
        return f.read()


def load_event_json(name):
    return json.loads(load_event(name).decode("utf-8"))


class ScriptedRandom(object):
    """A random source that first yields the given code bodies, then real randomness.

    `random_bytes(n)` for a scripted body returns the symbol values, which `codes.make_key` maps
    back to exactly those symbols. Thread-safe (generate writes in parallel).
    """

    def __init__(self, *bodies):
        self.bodies = list(bodies)
        self.lock = threading.Lock()

    def __call__(self, n):
        with self.lock:
            if self.bodies and len(self.bodies[0]) == n:
                body = self.bodies.pop(0)
                return bytes(bytearray(codes.VALUE[symbol] for symbol in body))
        return os.urandom(n)


class Clock(object):
    """An adjustable epoch-milliseconds clock."""

    def __init__(self, now_ms):
        self.now_ms = now_ms

    def __call__(self):
        return self.now_ms
