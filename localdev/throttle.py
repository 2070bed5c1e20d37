"""The local API Gateway's throttling and Apps, read from frontdoor.yml (the production one).

frontdoor.yml binds every API to an `ALIYUN::ApiGateway::TrafficControl`: a ceiling per API
(`ApiDefault`), a quota per App (`AppDefault`) and special quotas for named Apps (`Special`, type
APP), per MINUTE, HOUR or DAY. API Gateway counts those in fixed windows (one minute, hour or
day) and answers 429 once a count is over; a special App's quota replaces `AppDefault` for it,
while the API ceiling still applies. This module counts the same way, so a burst that the cloud
throttles is throttled locally too (the smoke test proves it against `make run`).

Locally there are two App keys: the admin key `make run` prints (the App `AdminApp`) and the
smoke key (the App `SmokeApp`: its own small quota, so a throttled burst throttles nobody else).
Both may call the admin routes, as `AdminAuthorization` authorizes both Apps.

The gateway calls `Throttle.check(route, app_key)` after authorizing a request; it raises
`GatewayError` 429 when the call is over a quota. Unit tests pass their own clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localdev.gateway import GatewayError
from tools.frontdoor import aliyun_resources, get_att, load_infra
from tools.templates import Route

UNIT_SECONDS = {"MINUTE": 60, "HOUR": 3600, "DAY": 86400}
ADMIN_APP = "AdminApp"
SMOKE_APP = "SmokeApp"


def smoke_app_key(admin_key: str) -> str:
    """The local smoke App's key, derived from the admin key `make run` prints."""
    return f"{admin_key}-smoke"


@dataclass(frozen=True)
class Policy:
    """One TrafficControl: per-window ceilings for an API, any App, and named Apps."""

    window_s: int
    api: int
    app: int | None
    special: dict[str, int] = field(default_factory=dict)  # App resource -> quota


class Throttle:
    """Counts calls per API and per App in fixed windows, as frontdoor.yml's policies say."""

    def __init__(
        self,
        policies: dict[tuple[str, str], Policy],
        app_keys: dict[str, str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policies = policies  # (method, path) -> policy of the API serving that route
        self.app_keys = app_keys  # App key -> App resource name
        self.clock = clock
        # Windows start when the stack starts (API Gateway's are on the clock's minutes): a run
        # of a few seconds right after `make run` starts then always falls in one window.
        self._epoch = clock()
        self._counts: dict[tuple[Any, ...], int] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_infra(cls, infra: Path, admin_key: str, **kw: Any) -> Throttle:
        """The policies of frontdoor.yml, with the local admin and smoke keys as its two Apps."""
        resources = aliyun_resources(load_infra(infra))
        props = {k: r.get("Properties") or {} for k, r in resources.items()}
        routes = {}
        for key, res in resources.items():
            if res.get("Type") == "ALIYUN::ApiGateway::Api":
                config = props[key].get("RequestConfig") or {}
                routes[key] = (str(config.get("RequestHttpMethod")), str(config.get("RequestPath")))
        policies = {}
        for key, res in resources.items():
            if res.get("Type") != "ALIYUN::ApiGateway::TrafficControlBinding":
                continue
            ref = get_att(props[key].get("TrafficControlId"))
            control = props.get(ref[0]) if ref else None
            if control is None:
                continue
            policy = Policy(
                window_s=UNIT_SECONDS[str(control["TrafficControlUnit"])],
                api=int(control["ApiDefault"]),
                app=int(control["AppDefault"]) if control.get("AppDefault") else None,
                special={
                    ref_app[0]: int(s["TrafficValue"])
                    for s in control.get("Special") or []
                    if s.get("SpecialType") == "APP" and (ref_app := get_att(s.get("SpecialKey")))
                },
            )
            for api in props[key].get("ApiIds") or []:
                api_ref = get_att(api)
                if api_ref and api_ref[0] in routes:
                    policies[routes[api_ref[0]]] = policy
        keys = {admin_key: ADMIN_APP, smoke_app_key(admin_key): SMOKE_APP}
        return cls(policies, keys, **kw)

    def check(self, route: Route, app_key: str | None) -> None:
        """Count this call; raise GatewayError 429 if it is over the API's or the App's quota."""
        policy = self.policies.get((route.method, route.path))
        if policy is None:
            return
        window = int((self.clock() - self._epoch) // policy.window_s)
        app = self.app_keys.get(app_key or "")
        app_quota = policy.special.get(app or "", policy.app) if app else None
        api_key = ("api", route.method, route.path, window)
        app_count_key = ("app", app, route.method, route.path, window)
        with self._lock:
            if self._counts.get(api_key, 0) >= policy.api:
                raise _throttled("API", route)
            if app_quota is not None and self._counts.get(app_count_key, 0) >= app_quota:
                raise _throttled("APP", route)
            self._counts[api_key] = self._counts.get(api_key, 0) + 1
            if app_quota is not None:
                self._counts[app_count_key] = self._counts.get(app_count_key, 0) + 1
            # Forget finished windows so the counts stay small.
            for key in [k for k in self._counts if k[-1] < window]:
                del self._counts[key]


def _throttled(kind: str, route: Route) -> GatewayError:
    return GatewayError(
        429,
        "TOO_MANY_REQUESTS",
        f"{route.method} {route.path}: over the {kind.lower()} quota of frontdoor.yml's throttling",
        f"Throttled by {kind} Flow Control",
    )
