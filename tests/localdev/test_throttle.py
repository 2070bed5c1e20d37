"""localdev/throttle.py: frontdoor.yml's quotas, counted like API Gateway (fixed windows)."""

import pytest

from localdev.gateway import GatewayError
from localdev.throttle import Throttle, smoke_app_key
from tools import checks
from tools.templates import FRONTDOOR_TEMPLATE, Route


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def route(method, path, auth="APP"):
    return Route(method, path, "fc-codes", "fn", auth, 10000, None)


DELETE = route("DELETE", "/codes/[code]")
GENERATE = route("POST", "/codes")
QUERY = route("GET", "/codes/[code]", "ANONYMOUS")


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def throttle(clock):
    return Throttle.from_infra(FRONTDOOR_TEMPLATE, "admin", clock=clock)


def calls_until_throttled(throttle, r, key, limit=1000):
    for n in range(1, limit + 1):
        try:
            throttle.check(r, key)
        except GatewayError as e:
            return n, e
    return None, None


def test_the_policies_are_read_from_frontdoor_yml(throttle):
    public = throttle.policies[("GET", "/codes/[code]")]
    admin = throttle.policies[("DELETE", "/codes/[code]")]
    assert (public.window_s, public.api, public.app) == (60, 60000, None)
    assert (admin.window_s, admin.api, admin.app, admin.special) == (60, 600, 300, {"SmokeApp": 20})
    # Every route of the API's declaration is throttled.
    assert set(throttle.policies) == set(checks.ROUTES)
    assert throttle.app_keys == {"admin": "AdminApp", smoke_app_key("admin"): "SmokeApp"}


def test_the_smoke_app_has_its_own_small_quota_per_api(throttle):
    n, error = calls_until_throttled(throttle, DELETE, smoke_app_key("admin"))
    assert n == 21
    assert (error.status, error.code, error.gateway_message) == (
        429,
        "TOO_MANY_REQUESTS",
        "Throttled by APP Flow Control",
    )
    # Another API, another count; the admin App is untouched.
    throttle.check(GENERATE, smoke_app_key("admin"))
    throttle.check(DELETE, "admin")


def test_the_app_default_then_the_api_ceiling(throttle):
    assert calls_until_throttled(throttle, DELETE, "admin")[0] == 301
    # 300 admin + 20 smoke calls so far; anonymous callers count against the API only.
    throttle.check(DELETE, smoke_app_key("admin"))
    n, error = calls_until_throttled(throttle, DELETE, None)
    assert n == 600 - 301 + 1
    assert error.gateway_message == "Throttled by API Flow Control"


def test_a_new_window_starts_a_new_count(throttle, clock):
    assert calls_until_throttled(throttle, DELETE, smoke_app_key("admin"))[0] == 21
    clock.now += 60
    throttle.check(DELETE, smoke_app_key("admin"))


def test_anonymous_routes_have_the_api_ceiling(throttle):
    for _ in range(60000):
        throttle.check(QUERY, None)
    with pytest.raises(GatewayError) as e:
        throttle.check(QUERY, None)
    assert e.value.status == 429
