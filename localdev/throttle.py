"""The local API Gateway's throttling and Apps, read from frontdoor.yml (the production one).

frontdoor.yml throttles every API one of two ways, and this module counts both as API Gateway does:

- an `ALIYUN::ApiGateway::TrafficControl` bound to it (the admin APIs): a ceiling per API
  (`ApiDefault`), a quota per App (`AppDefault`) and special quotas for named Apps (`Special`,
  type APP), per MINUTE, HOUR or DAY. A special App's quota replaces `AppDefault` for it, while
  the API ceiling still applies.
- a trafficControl plug-in (`ALIYUN::ApiGateway::Plugin` + `PluginAttachment`, the anonymous
  APIs), its body in the parameter-based template (tools.frontdoor.traffic_plugin reads it, the
  same reader `make validate` checks it with): a ceiling per API (`defaultLimit` per
  `defaultPeriod`) and, per rule by the client's IP address (`System:CaClientIp`), a budget for
  each address. A plug-in bound to an API makes a policy bound to it invalid, so here too the
  plug-in wins.

API Gateway counts in fixed windows (one minute, hour or day) and answers 429 once a count is
over. This module counts the same way (a refused call counts nothing here), so a burst that the
cloud throttles is throttled locally too (the smoke test proves it against `make run`). The client's
address is the connection's source address, never a header: X-Forwarded-For is the caller's to
write.

Locally there are two App keys: the admin key `make run` prints (the App `AdminApp`) and the
smoke key (the App `SmokeApp`: its own small quota, so a throttled burst throttles nobody else).
Both may call the admin routes, as `AdminAuthorization` authorizes both Apps.

The gateway calls `Throttle.check(route, app_key, client)` after authorizing a request; it raises
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
from tools.frontdoor import ClientRule, aliyun_resources, get_att, load_infra, traffic_plugins
from tools.templates import Route

UNIT_SECONDS = {"MINUTE": 60, "HOUR": 3600, "DAY": 86400}
SWEEP_S = min(UNIT_SECONDS.values())
ADMIN_APP = "AdminApp"
SMOKE_APP = "SmokeApp"


def smoke_app_key(admin_key: str) -> str:
    """The local smoke App's key, derived from the admin key `make run` prints."""
    return f"{admin_key}-smoke"


@dataclass(frozen=True)
class Policy:
    """One API's throttling: per-window ceilings for the API, any App and named Apps (a
    TrafficControl), or for the API and each client address (a trafficControl plug-in)."""

    window_s: int
    api: int
    app: int | None
    special: dict[str, int] = field(default_factory=dict)  # App resource -> quota
    clients: tuple[ClientRule, ...] = ()  # budgets per client IP address, each its own window


class Throttle:
    """Counts calls per API and per App in fixed windows, as frontdoor.yml's policies say."""

    def __init__(
        self,
        policies: dict[tuple[str, str], Policy],
        app_keys: dict[str, str],
        clock: Callable[[], float] = time.monotonic,
        enforce: bool = True,
    ) -> None:
        self.policies = policies  # (method, path) -> policy of the API serving that route
        self.app_keys = app_keys  # App key -> App resource name
        self.clock = clock
        self.enforce = enforce  # False (`--no-throttle`): count nothing, refuse nothing
        # Windows start when the stack starts (API Gateway's are on the clock's minutes): a run
        # of a few seconds right after `make run` starts then always falls in one window.
        self._epoch = clock()
        self._counts: dict[tuple[Any, ...], int] = {}
        self._swept = 0  # the minute whose finished windows were last forgotten
        self._lock = threading.Lock()

    @classmethod
    def from_infra(cls, infra: Path, admin_key: str, **kw: Any) -> Throttle:
        """The policies and plug-ins of frontdoor.yml, with the local admin and smoke keys as its
        two Apps."""
        raw = load_infra(infra)
        resources = aliyun_resources(raw)
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
        plugins, bound = traffic_plugins({**raw, "Resources": resources})
        for api_key, plugin_key in bound.items():
            if api_key in routes:
                plugin = plugins[plugin_key]
                policies[routes[api_key]] = Policy(
                    window_s=plugin.window_s,
                    api=plugin.api_limit,
                    app=None,
                    clients=plugin.client_rules,
                )
        keys = {admin_key: ADMIN_APP, smoke_app_key(admin_key): SMOKE_APP}
        return cls(policies, keys, **kw)

    def check(self, route: Route, app_key: str | None, client: str = "") -> None:
        """Count this call from address `client`; raise GatewayError 429 if it is over the API's,
        the App's or the client's quota."""
        policy = self.policies.get((route.method, route.path))
        if policy is None or not self.enforce:
            return
        elapsed = self.clock() - self._epoch
        # Every count is keyed by its window's length and number: (..., window_s, index).
        window = (policy.window_s, int(elapsed // policy.window_s))
        app = self.app_keys.get(app_key or "")
        app_quota = policy.special.get(app or "", policy.app) if app else None
        api_key: tuple[Any, ...] = ("api", route.method, route.path, *window)
        app_count_key: tuple[Any, ...] = ("app", app, route.method, route.path, *window)
        client_keys: list[tuple[tuple[Any, ...], ClientRule]] = [
            (
                ("client", rule.name, client, route.method, route.path, rule.window_s,
                 int(elapsed // rule.window_s)),
                rule,
            )
            for rule in policy.clients
        ]  # fmt: skip
        with self._lock:
            if self._counts.get(api_key, 0) >= policy.api:
                raise _throttled("API", route)
            if app_quota is not None and self._counts.get(app_count_key, 0) >= app_quota:
                raise _throttled("APP", route)
            for key, rule in client_keys:
                if self._counts.get(key, 0) >= rule.limit:
                    raise _client_throttled(route, rule, client)
            counted = [api_key, *(key for key, _ in client_keys)]
            if app_quota is not None:
                counted.append(app_count_key)
            for key in counted:
                self._counts[key] = self._counts.get(key, 0) + 1
            # Forget finished windows so the counts stay small: once a minute at most, the
            # shortest window there is.
            minute = int(elapsed // SWEEP_S)
            if minute != self._swept:
                self._swept = minute
                for key in [k for k in self._counts if k[-1] < int(elapsed // k[-2])]:
                    del self._counts[key]


# What API Gateway sends in X-Ca-Error-Message when a call is throttled: "Throttled by API Flow
# Control" and "... APP ..." for a TrafficControl's quotas. The wording for a plug-in's rule by a
# parameter could not be checked offline (docs/deploy.md): the smoke test checks the 429 only.
PARAMETER_THROTTLED = "Throttled by PARAMETER Flow Control"


def _throttled(kind: str, route: Route) -> GatewayError:
    return GatewayError(
        429,
        "TOO_MANY_REQUESTS",
        f"{route.method} {route.path}: over the {kind.lower()} quota of frontdoor.yml's throttling",
        f"Throttled by {kind} Flow Control",
    )


def _client_throttled(route: Route, rule: ClientRule, client: str) -> GatewayError:
    return GatewayError(
        429,
        "TOO_MANY_REQUESTS",
        f"{route.method} {route.path}: over the budget of one client address ({rule.name}: "
        f"{rule.limit} calls per {rule.window_s} s from {client or 'an unknown address'}) of "
        "frontdoor.yml's throttling",
        PARAMETER_THROTTLED,
    )
