"""Fault injection: what `POST /__ots_local/faults` and `OTSLocal.add_fault` set up.

Kinds:

- ``latency``: delay the response by `latency_ms` (other clients are not blocked); the
  operation runs after the delay. Latency faults add up, and combine with one other fault.
- ``busy``: answer 503 `OTSServerBusy` "Server is busy." without applying anything.
- ``timeout``: answer 503 `OTSTimeout` "Operation timeout." without applying anything.
- ``drop_before``: close the connection without applying anything or answering.
- ``drop_after``: apply (and commit) the operation, then close the connection unanswered:
  the write happened but the client never hears of it.

A fault matches every API request, or only those of `api`; it fires on each match, or with
`probability`; it expires after firing `count` times (default: never, until cleared).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from .limits import MAX_FAULT_LATENCY_MS

KINDS = ("latency", "busy", "timeout", "drop_before", "drop_after")
_FIELDS = {"kind", "api", "count", "probability", "latency_ms"}


class FaultSpecError(ValueError):
    """A fault description that cannot be used; the message says why."""


@dataclass
class Fault:
    """One injected fault."""

    id: int
    kind: str
    api: str | None = None
    count: int | None = None  # remaining firings; None = unlimited
    probability: float | None = None
    latency_ms: float | None = None
    fired: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "api": self.api,
            "count": self.count,
            "probability": self.probability,
            "latency_ms": self.latency_ms,
            "fired": self.fired,
        }


class Faults:
    """The active faults of one server, consulted once per API request."""

    def __init__(self, known_apis: frozenset[str], rng: random.Random | None = None) -> None:
        self.known_apis = known_apis
        self.rng = rng or random.Random()  # noqa: S311 (chaos, not security)
        self.active: list[Fault] = []
        self._next_id = 1

    def add(self, spec: Any) -> Fault:
        """Validate a JSON fault description and activate it. Raises FaultSpecError."""
        if not isinstance(spec, dict):
            raise FaultSpecError('a fault is a JSON object, e.g. {"kind": "busy"}')
        unknown = sorted(set(spec) - _FIELDS)
        if unknown:
            raise FaultSpecError(f"unknown field(s) {unknown}; fields are {sorted(_FIELDS)}")
        kind = spec.get("kind")
        if kind not in KINDS:
            raise FaultSpecError(f"kind must be one of {list(KINDS)}, not {kind!r}")
        api = spec.get("api")
        if api is not None and api not in self.known_apis:
            raise FaultSpecError(f"api must be one of {sorted(self.known_apis)}, not {api!r}")
        count = spec.get("count")
        if count is not None and (type(count) is not int or count < 1):
            raise FaultSpecError(f"count must be a positive integer, not {count!r}")
        probability = spec.get("probability")
        if probability is not None:
            if not isinstance(probability, int | float) or not 0 <= probability <= 1:
                raise FaultSpecError(f"probability must be a number in [0, 1], not {probability!r}")
            probability = float(probability)
        latency_ms = spec.get("latency_ms")
        if kind == "latency":
            if (
                not isinstance(latency_ms, int | float)
                or not 0 <= latency_ms <= MAX_FAULT_LATENCY_MS
            ):
                raise FaultSpecError(
                    f"a latency fault needs latency_ms in [0, {MAX_FAULT_LATENCY_MS}],"
                    f" not {latency_ms!r}"
                )
            latency_ms = float(latency_ms)
        elif latency_ms is not None:
            raise FaultSpecError("latency_ms is only for kind 'latency'")
        fault = Fault(self._next_id, kind, api, count, probability, latency_ms)
        self._next_id += 1
        self.active.append(fault)
        return fault

    def clear(self) -> int:
        """Remove every fault; returns how many there were."""
        cleared = len(self.active)
        self.active = []
        return cleared

    def pick(self, api: str) -> tuple[float, Fault | None]:
        """The faults firing for this request: total latency (ms) and the one other fault."""
        if not self.active:
            return 0.0, None
        latency = 0.0
        chosen = None
        for fault in list(self.active):
            if fault.api is not None and fault.api != api:
                continue
            if fault.kind != "latency" and chosen is not None:
                continue
            if fault.probability is not None and self.rng.random() >= fault.probability:
                continue
            fault.fired += 1
            if fault.count is not None:
                fault.count -= 1
                if fault.count == 0:
                    self.active.remove(fault)
            if fault.kind == "latency":
                latency += fault.latency_ms or 0.0
            else:
                chosen = fault
        return latency, chosen
