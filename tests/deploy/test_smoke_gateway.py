"""The smoke test through the front door, proven against the local stack before it meets the cloud.

The stack serves template.yml's routes with frontdoor.yml's throttling and Apps
(localdev/throttle.py), so `make smoke` walks the same steps as after a deploy: 401 without the
App's signature, generate within the gateway timeout, anonymous query and redeem, signed delete,
a throttled burst of the smoke App, then one of this address on an anonymous route; then the same
lifecycle through the FC invoke API.
"""

import http.client
import io
import json
import shutil
from contextlib import redirect_stdout
from urllib.parse import urlsplit

import pytest

from localdev.throttle import smoke_app_key
from tests.localdev.helpers import copy_template
from tests.support import localdev_stack
from tools import fc3_client, gateway_client, smoke
from tools.templates import FRONTDOOR_TEMPLATE, S_YAML

pytestmark = pytest.mark.slow  # a whole local stack: make test runs it, test-quick does not

APP_KEY = "smoke-test-admin-key"
# The steps of the FC part (tools/smoke.py `run`), the same through either invoke API.
FC_STEPS = [
    "ok   generate",
    "ok   query",
    "ok   redeem",
    "ok   redeem again",
    "ok   batch figures",
    "ok   disable batch",
    "ok   rollback",
    "ok   delete",
    "ok   query deleted",
    "ok   cleanup",
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    base = tmp_path_factory.mktemp("front-door")
    template = copy_template(base)
    shutil.copy(FRONTDOOR_TEMPLATE, base / FRONTDOOR_TEMPLATE.name)
    shutil.copy(S_YAML, base / S_YAML.name)  # the local FC 3.0 API serves s.yaml's names
    running = localdev_stack.start(template, base / "data", app_key=APP_KEY)
    yield running
    assert running.stop() == 0, "\n".join(running.output)


def smoke_env(stack, **extra):
    return dict(
        {
            "FC_CODES_GATEWAY_URL": stack.url,
            "FC_CODES_APP_KEY": smoke_app_key(APP_KEY),
            "FC_CODES_APP_SECRET": "local-secret",
        },
        **extra,
    )


def run_smoke(argv, env):
    out = io.StringIO()
    with redirect_stdout(out):
        status = smoke.main(argv, env=env)
    return status, out.getvalue().splitlines()


def test_make_smoke_passes_through_the_front_door_then_the_fc_api(stack):
    env = smoke_env(
        stack,
        FC_ENDPOINT=stack.url,
        ALIBABA_CLOUD_ACCESS_KEY_ID=localdev_stack.LOCAL_ACCESS_KEY_ID,
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=localdev_stack.LOCAL_ACCESS_KEY_SECRET,
    )
    status, lines = run_smoke([], env)
    assert status == 0, lines
    steps = [line.split(":")[0] for line in lines if line.startswith(("ok", "FAIL"))]
    assert steps == [
        "ok   admin without signature",
        "ok   generate",
        "ok   query",
        "ok   redeem",
        "ok   redeem again",
        "ok   delete without signature",
        "ok   delete",
        "ok   query deleted",
        "ok   cleanup",
        "ok   throttled burst",
        "ok   anonymous burst",
        # then FC's invoke API
        *FC_STEPS,
    ]
    burst = next(line for line in lines if line.startswith("ok   throttled burst"))
    # frontdoor.yml: the smoke App's own quota is 20 calls a minute on each admin API; before the
    # burst it made 3 signed DELETEs (the code, two spare codes), so the 18th call is refused.
    assert "429 after 18 signed calls (Throttled by APP Flow Control)" in burst
    anonymous = next(line for line in lines if line.startswith("ok   anonymous burst"))
    # frontdoor.yml: one client address may query 60 times a minute (the plug-in's rule by
    # CaClientIp; the API's ceiling is 60,000); the smoke test queried twice before the burst.
    assert "429 after 59 anonymous calls (Throttled by PARAMETER Flow Control)" in anonymous
    assert lines[-1] == "smoke: passed"


def test_the_fc_part_also_speaks_fc_3_0_by_s_yaml_function_names(stack):
    env = {
        "FC_ENDPOINT": stack.url,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": localdev_stack.LOCAL_ACCESS_KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": localdev_stack.LOCAL_ACCESS_KEY_SECRET,
    }
    status, lines = run_smoke(["--via", "fc", "--fc-api", "2023-03-30"], env)
    assert status == 0, lines
    names = sorted(smoke.s_function_names().values())
    assert lines[0] == f"smoke: {stack.url} FC 3.0 functions {names}"
    assert "fc-codes-gen_code" in names
    assert [line.split(":")[0] for line in lines[1:-1]] == FC_STEPS


def test_the_local_fc_3_0_api_checks_the_v3_signature(stack):
    key, secret = localdev_stack.LOCAL_ACCESS_KEY_ID, localdev_stack.LOCAL_ACCESS_KEY_SECRET
    body = b'{"code": "AAAA-AAAA-AAAA-AAAA"}'
    good = fc3_client.FC3Client(stack.url, key, secret).invoke("fc-codes-query_code", body)
    assert good.status == 200
    assert json.loads(good.body)["error"]["code"] == "INVALID_CODE"
    wrong = fc3_client.FC3Client(stack.url, key, "not-the-secret").invoke(
        "fc-codes-query_code", body
    )
    assert wrong.status == 403 and json.loads(wrong.body)["Code"] == "SignatureNotMatch"
    missing = fc3_client.FC3Client(stack.url, key, secret).invoke("fc-codes-nothing", body)
    assert missing.status == 404 and json.loads(missing.body)["Code"] == "FunctionNotFound"
    # A body that is not the one signed: its sha256 no longer matches the signed header.
    path = "/2023-03-30/functions/fc-codes-query_code/invocations"
    host = stack.url.split("//", 1)[1]
    headers = fc3_client.sign("POST", host, path, body, "InvokeFunction", key, secret)
    tampered = stack.request("POST", path, body + b" ", headers=headers)
    assert tampered.status == 400 and tampered.json()["Code"] == "ContentSha256Mismatch"


def test_the_throttled_app_is_only_the_smoke_app(stack):
    # The smoke App is over its quota now (the test above); the admin App is not.
    client = gateway_client.GatewayClient(stack.url, smoke_app_key(APP_KEY), "s")
    assert client.call("DELETE", "/codes/" + smoke.BURST_CODE, signed=True).status == 429
    admin = gateway_client.GatewayClient(stack.url, APP_KEY, "s")
    assert admin.call("DELETE", "/codes/" + smoke.BURST_CODE, signed=True).status == 400


def query_from(stack, source):
    """GET /codes/<BURST_CODE> anonymously from the local address `source`: (status, message)."""
    url = urlsplit(stack.url)
    conn = http.client.HTTPConnection(
        url.hostname, url.port, timeout=30, source_address=(source, 0)
    )
    try:
        conn.request("GET", "/codes/" + smoke.BURST_CODE)
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.getheader("X-Ca-Error-Message")
    finally:
        conn.close()


def test_the_throttled_client_is_only_this_address(stack):
    # 127.0.0.1 is over its budget on the query API now (the anonymous burst above); another
    # address is not (Linux routes all of 127/8 to loopback, so the client can bind 127.0.0.2).
    assert query_from(stack, "127.0.0.1") == (429, "Throttled by PARAMETER Flow Control")
    assert query_from(stack, "127.0.0.2")[0] == 400


def test_a_burst_that_is_never_throttled_fails_the_smoke_test(stack):
    # The admin App's quota (300 a minute) is far above a 5-call burst: the step must fail.
    env = smoke_env(stack, FC_CODES_APP_KEY=APP_KEY)
    status, lines = run_smoke(["--via", "gateway", "--burst", "5"], env)
    assert status == 1
    assert "FAIL throttled burst: 5 signed calls were never throttled (429)" in lines
    # This address is still over its budget on the query API (the tests above).
    assert "FAIL query: expected 200, got 429 TOO_MANY_REQUESTS" in lines
    assert lines[-1] == "smoke: FAILED"


def test_without_the_app_keys_the_front_door_part_does_not_start(stack, capsys):
    env = {"FC_CODES_GATEWAY_URL": stack.url}
    assert smoke.main([], env=env) == 2
    err = capsys.readouterr().err
    assert "missing FC_CODES_APP_KEY, FC_CODES_APP_SECRET for the front door" in err


def test_the_signature_covers_method_headers_path_and_body():
    headers = gateway_client.sign(
        "POST",
        "/codes",
        b'{"count": 3}',
        "key-1",
        "secret-1",
        {"Accept": "application/json", "Content-Type": "application/json; charset=utf-8"},
        now_ms=1_700_000_000_000,
        nonce="n-1",
    )
    text = gateway_client.string_to_sign(
        "POST", "/codes", {}, headers, gateway_client.SIGNED_HEADERS
    )
    assert text == (
        "POST\napplication/json\n"
        + headers["Content-MD5"]
        + "\napplication/json; charset=utf-8\n\n"
        "X-Ca-Key:key-1\nX-Ca-Nonce:n-1\nX-Ca-Signature-Method:HmacSHA256\n"
        "X-Ca-Timestamp:1700000000000\n/codes"
    )
    assert headers["X-Ca-Signature-Headers"] == (
        "X-Ca-Key,X-Ca-Nonce,X-Ca-Signature-Method,X-Ca-Timestamp"
    )
    again = gateway_client.sign(
        "POST", "/codes", b'{"count": 4}', "key-1", "secret-1", {}, now_ms=1, nonce="n-1"
    )
    other = gateway_client.sign(
        "POST", "/codes", b'{"count": 3}', "key-1", "secret-1", {}, now_ms=1, nonce="n-1"
    )
    assert again["X-Ca-Signature"] != other["X-Ca-Signature"]
    assert gateway_client.string_to_sign("GET", "/p", {"b": "2", "a": ""}, {}, ()) == (
        "GET\n\n\n\n\n/p?a&b=2"
    )
