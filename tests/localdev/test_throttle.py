"""localdev/throttle.py: frontdoor.yml's quotas, counted like API Gateway (fixed windows)."""

import http.client
import json
import shutil
import threading

import pytest
import yaml

from localdev.gateway import Gateway, GatewayError
from localdev.instances import Invocation
from localdev.server import LocalServer
from localdev.throttle import PARAMETER_THROTTLED, Throttle, smoke_app_key
from tools import checks
from tools.frontdoor import ClientRule
from tools.templates import FRONTDOOR_TEMPLATE, Route


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def route(method, path, auth="APP"):
    return Route(method, path, "fc-codes", "fn", auth, 10000, None)


REDEEM_ROUTE = ("POST", "/codes/[code]/redeem")
DELETE = route("DELETE", "/codes/[code]")
GENERATE = route("POST", "/codes")
QUERY = route("GET", "/codes/[code]", "ANONYMOUS")
REDEEM = route("POST", "/codes/[code]/redeem", "ANONYMOUS")


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def throttle(clock):
    return Throttle.from_infra(FRONTDOOR_TEMPLATE, "admin", clock=clock)


def calls_until_throttled(throttle, r, key, limit=1000, client="127.0.0.1"):
    for n in range(1, limit + 1):
        try:
            throttle.check(r, key, client)
        except GatewayError as e:
            return n, e
    return None, None


def test_the_policies_are_read_from_frontdoor_yml(throttle):
    # The anonymous APIs: their trafficControl plug-ins (the parameter defaults of frontdoor.yml).
    per_client = (ClientRule("PerClientIp", 60, 60),)
    for public in (throttle.policies[("GET", "/codes/[code]")], throttle.policies[REDEEM_ROUTE]):
        assert (public.window_s, public.api, public.app, public.clients) == (
            60,
            60000,
            None,
            per_client,
        )
    admin = throttle.policies[("DELETE", "/codes/[code]")]
    assert admin.clients == ()
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


def test_each_client_address_has_its_own_budget_on_each_anonymous_api(throttle, clock):
    n, error = calls_until_throttled(throttle, QUERY, None, client="127.0.0.1")
    assert n == 61
    assert (error.status, error.code, error.gateway_message) == (
        429,
        "TOO_MANY_REQUESTS",
        PARAMETER_THROTTLED,
    )
    assert "PerClientIp: 60 calls per 60 s from 127.0.0.1" in error.message
    # Another address, another budget; the same address on the other anonymous API, too. An App
    # key changes nothing on an anonymous API.
    assert calls_until_throttled(throttle, QUERY, "admin", client="127.0.0.2")[0] == 61
    assert calls_until_throttled(throttle, REDEEM, None, client="127.0.0.1")[0] == 61
    clock.now += 60
    throttle.check(QUERY, None, "127.0.0.1")


def test_the_anonymous_apis_ceiling_counts_every_client(throttle):
    # 1,000 addresses of 60 calls each fill the ceiling of 60,000; the next address is refused
    # by the API's ceiling, not by its own (empty) budget.
    for i in range(1000):
        for _ in range(60):
            throttle.check(QUERY, None, f"10.0.{i // 256}.{i % 256}")
    with pytest.raises(GatewayError) as e:
        throttle.check(QUERY, None, "10.9.9.9")
    assert (e.value.status, e.value.gateway_message) == (429, "Throttled by API Flow Control")


def test_a_plugin_replaces_a_policy_bound_to_the_same_api(tmp_path, clock):
    # API Gateway: binding a throttling plug-in makes a TrafficControl on the same API invalid.
    front = tmp_path / FRONTDOOR_TEMPLATE.name
    shutil.copy(FRONTDOOR_TEMPLATE, front)
    raw = yaml.safe_load(front.read_text())
    binding = raw["Resources"]["AdminThrottleBinding"]["Properties"]
    binding["ApiIds"].append({"Fn::GetAtt": ["QueryCodeApi", "ApiId"]})
    raw["Parameters"]["PublicClientLimit"]["Default"] = 5
    front.write_text(yaml.safe_dump(raw))
    throttle = Throttle.from_infra(front, "admin", clock=clock)
    query = throttle.policies[("GET", "/codes/[code]")]
    assert (query.api, query.app, query.clients) == (
        60000,
        None,
        (ClientRule("PerClientIp", 5, 60),),
    )
    assert calls_until_throttled(throttle, QUERY, "admin")[0] == 6


def test_no_throttle_counts_nothing_but_keeps_the_apps(clock):
    relaxed = Throttle.from_infra(FRONTDOOR_TEMPLATE, "admin", clock=clock, enforce=False)
    for _ in range(100):
        relaxed.check(DELETE, smoke_app_key("admin"))
    assert relaxed.app_keys == {"admin": "AdminApp", smoke_app_key("admin"): "SmokeApp"}


def test_the_gateway_gives_two_client_addresses_separate_budgets(clock):
    # Over real sockets: the gateway counts the connection's source address, so a client bound to
    # 127.0.0.2 (Linux routes all of 127/8 to loopback) has a budget apart from 127.0.0.1's, and
    # an X-Forwarded-For header changes nothing.
    throttle = Throttle.from_infra(FRONTDOOR_TEMPLATE, "admin", clock=clock)
    answered = []

    def invoke(function, event, request_id):
        answered.append(json.loads(event)["headers"].get("X-Forwarded-For"))
        envelope = {"statusCode": 200, "headers": {}, "body": "{}"}
        return Invocation(function, request_id, json.dumps(envelope).encode())

    gateway = Gateway([QUERY], invoke, "admin", throttle=throttle)
    server = LocalServer(("127.0.0.1", 0), gateway.handle, gateway.handle, dict, print)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def get(source, headers=None):
        host, port = server.server_address[:2]
        conn = http.client.HTTPConnection(host, port, timeout=30, source_address=(source, 0))
        try:
            conn.request("GET", "/codes/ABCD", headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.getheader("X-Ca-Error-Message"), resp.read()
        finally:
            conn.close()

    try:
        for _ in range(60):
            assert get("127.0.0.1", {"X-Forwarded-For": "192.0.2.1"})[0] == 200
        status, message, body = get("127.0.0.1", {"X-Forwarded-For": "192.0.2.2"})
        assert (status, message) == (429, PARAMETER_THROTTLED)
        assert json.loads(body)["error"]["code"] == "TOO_MANY_REQUESTS"
        assert get("127.0.0.2")[0] == 200
        # The function sees where the call came from, as API Gateway's event does.
        assert answered[-1] == "127.0.0.2"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
