"""tools.smoke against `responses` standing in for Function Compute's invoke API.

aliyun-fc2 sends its requests with `requests`, so `responses` sees exactly what would go on the
wire. A small stateful fake plays the four deployed functions (the direct-invoke contract of
docs/contract.md, "Events in, results out"); each test then breaks one thing and checks the step
line and exit code.
test_smoke_functions.py runs it against the real handlers; tests/localdev/test_stack.py runs it
unchanged against the local stack's FC invoke API.
"""

import base64
import email.utils
import hashlib
import hmac
import io
import json
import re

import pytest
import responses

from tools import smoke

ACCOUNT = "1234567890123456"
REGION = "cn-hangzhou"
ENDPOINT = f"https://{ACCOUNT}.{REGION}.fc.aliyuncs.com"
KEY_ID = "LTAI-smoke-test-key-id"
SECRET = "smoke-test-secret-must-never-be-printed"
TOKEN = "smoke-test-sts-token-must-never-be-printed"
ENV = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID,
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET,
    "ALIBABA_CLOUD_ACCOUNT_ID": ACCOUNT,
    "ALIBABA_CLOUD_REGION": REGION,
}
INVOKE_RE = re.compile(
    re.escape(ENDPOINT) + r"/2016-08-15/services/fc-codes/functions/(\w+)/invocations$"
)
CODES = ["ABCD-EFGH-JKMN-PQR0", "ABCD-EFGH-JKMN-PQR1", "ABCD-EFGH-JKMN-PQR2"]


class FakeCodes:
    """The six functions, as far as the smoke test can tell, over an in-memory table."""

    def __init__(self):
        self.rows = {}
        self.disabled = False  # the smoke batch
        self.calls = []  # (function, params)
        self.override = {}  # (function, nth call of it) -> (status, headers, body)

    def __call__(self, request):
        function = INVOKE_RE.match(request.url).group(1)
        params = json.loads(request.body)
        self.calls.append((function, params))
        nth = sum(1 for f, _ in self.calls if f == function)
        if (function, nth) in self.override:
            return self.override[(function, nth)]
        return 200, {"x-fc-request-id": "req-1"}, json.dumps(getattr(self, function)(params))

    def gen_code(self, params):
        codes = CODES[: params["count"]]
        for c in codes:
            self.rows[c] = {"state": "UNUSED", "user": None}
        return {"batch": params["batch"], "count": len(codes), "codes": codes}

    def query_code(self, params):
        row = self.rows.get(params["code"])
        if row is None:
            return {
                "error": {"code": "CODE_NOT_FOUND", "message": "no such code", "request_id": "r"}
            }
        return {"code": params["code"], "status": row["state"]}

    def use_code(self, params):
        row = self.rows.get(params["code"])
        if row is None:
            return {
                "error": {"code": "CODE_NOT_FOUND", "message": "no such code", "request_id": "r"}
            }
        if self.disabled:
            return {"error": {"code": "CODE_DISABLED", "message": "off", "request_id": "r"}}
        if row["state"] == "USED" and row["user"] != params.get("user_id"):
            return {"error": {"code": "CODE_ALREADY_USED", "message": "used", "request_id": "r"}}
        row.update(state="USED", user=params.get("user_id"))
        return {"code": params["code"], "status": "USED"}

    def batch_code(self, params):
        if params["action"] in ("disable", "enable"):
            self.disabled = params["action"] == "disable"
        used = sum(1 for row in self.rows.values() if row["state"] == "USED")
        figures = {"unused": len(self.rows) - used, "used": used}
        state = "DISABLED" if self.disabled else "ACTIVE"
        return {"batch": params["batch"], "state": state, "count": 3, "figures": figures}

    def admin_code(self, params):
        row = self.rows[params["code"]]
        done = row["user"] == params["user_id"]
        if done:
            row.update(state="UNUSED", user=None)
        return {"code": params["code"], "rolled_back": done, "uses": 0}

    def del_code(self, params):
        self.rows.pop(params["code"], None)
        return {"code": params["code"], "deleted": True}


@pytest.fixture
def fake():
    fake = FakeCodes()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_callback(responses.POST, INVOKE_RE, callback=fake)
        fake.rsps = rsps
        yield fake


def run_main(capsys, env=ENV, argv=()):
    code = smoke.main(list(argv), env=dict(env))
    out, err = capsys.readouterr()
    return code, out, err


def step_lines(out):
    return [line for line in out.splitlines() if not line.startswith("smoke:")]


def test_a_healthy_deployment_passes_every_step_and_leaves_no_code_behind(fake, capsys):
    code, out, _ = run_main(capsys)
    assert code == 0, out
    assert [line.split(":")[0] for line in step_lines(out)] == [
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
    assert out.splitlines()[-1] == "smoke: passed"
    assert fake.rows == {}
    # Codes are secrets: only their masked form is printed.
    assert "ABCD-****-****-PQR0" in out
    assert not any(c in out or c.replace("-", "") in out for c in CODES)
    assert [f for f, _ in fake.calls] == [
        "gen_code",
        "query_code",
        "use_code",
        "use_code",
        "batch_code",
        "batch_code",
        "use_code",
        "batch_code",
        "admin_code",
        "use_code",
        "del_code",
        "query_code",
        "del_code",
        "del_code",
    ]
    # The second redemption is by another user: the same user would get a replay (success).
    assert fake.calls[2][1]["user_id"] != fake.calls[3][1]["user_id"]


def expected_signature(method, path, headers, secret):
    """FC's request signature, computed independently of the SDK (FC API reference)."""
    fc_headers = sorted((k.lower(), v) for k, v in headers.items() if k.lower().startswith("x-fc-"))
    canonical = "".join(f"{k}:{v}\n" for k, v in fc_headers)
    to_sign = "\n".join(
        [method, headers.get("content-md5", ""), headers["content-type"], headers["date"]]
    )
    to_sign += "\n" + canonical + path
    digest = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def test_the_request_on_the_wire_is_a_signed_sync_invocation(fake, capsys):
    env = dict(ENV, ALIBABA_CLOUD_SECURITY_TOKEN=TOKEN)
    code, out, _ = run_main(capsys, env=env)
    assert code == 0, out
    request = fake.rsps.calls[0].request
    assert request.method == "POST"
    path = "/2016-08-15/services/fc-codes/functions/gen_code/invocations"
    assert request.url == ENDPOINT + path
    headers = request.headers
    assert headers["content-type"] == "application/json"
    assert headers["x-fc-invocation-type"] == "Sync"
    assert headers["x-fc-security-token"] == TOKEN
    assert headers["host"] == f"{ACCOUNT}.{REGION}.fc.aliyuncs.com"
    assert email.utils.parsedate_to_datetime(headers["date"]) is not None
    sent = json.loads(request.body)
    assert sent["count"] == 3 and sent["batch"].startswith("smoke-")  # a new batch each run
    signature = expected_signature("POST", path, headers, SECRET)
    assert headers["authorization"] == f"FC {KEY_ID}:{signature}"
    # Every later step invokes with the code the generate step returned.
    later = [json.loads(c.request.body) for c in fake.rsps.calls[1:]]
    named = [p.get("code") or p.get("batch") for p in later]
    assert named[:3] == [CODES[0]] * 3  # query, redeem, redeem again
    assert named[3:5] == [sent["batch"]] * 2  # the batch's figures, then disable
    assert named[6:9] == [sent["batch"], CODES[0], CODES[0]]  # enable, rollback, redeem
    assert SECRET not in out and TOKEN not in out


def test_endpoint_flag_replaces_account_and_region(fake, capsys):
    env = {k: v for k, v in ENV.items() if "ACCOUNT" not in k and "REGION" not in k}
    code, out, _ = run_main(capsys, env=env, argv=["--endpoint", ENDPOINT])
    assert code == 0, out
    assert f"smoke: {ENDPOINT} service fc-codes" in out


def test_nothing_configured_names_both_parts(fake, capsys):
    code, _, err = run_main(capsys, env={"ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET})
    assert code == 2
    assert "FC_CODES_GATEWAY_URL" in err and "FC_ENDPOINT" in err
    assert fake.calls == []


def test_missing_credentials_are_named_and_nothing_is_invoked(fake, capsys):
    env = {"ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET}
    code, out, err = run_main(capsys, env=env, argv=["--via", "fc"])
    assert code == 2
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" in err
    assert "ALIBABA_CLOUD_ACCOUNT_ID" in err and "ALIBABA_CLOUD_REGION" in err
    assert SECRET not in out + err
    assert fake.calls == []


def test_an_fc_api_error_fails_the_first_step_without_leaking_secrets(fake, capsys, caplog):
    body = {"ErrorCode": "InvalidAccessKeyId", "ErrorMessage": "AccessKeyId not found"}
    fake.override[("gen_code", 1)] = (403, {"x-fc-request-id": "req-403"}, json.dumps(body))
    env = dict(ENV, ALIBABA_CLOUD_SECURITY_TOKEN=TOKEN)
    code, out, err = run_main(capsys, env=env)
    assert code == 1
    assert step_lines(out) == [
        "FAIL generate: FC API error 403 InvalidAccessKeyId: AccessKeyId not found "
        "(request req-403)"
    ]
    assert out.splitlines()[-1] == "smoke: FAILED"
    # aliyun-fc2 logs failed requests with their headers: none of that may come out.
    logged = " ".join(r.getMessage() for r in caplog.records)
    for secret in (SECRET, TOKEN):
        assert secret not in out + err + logged


def test_a_non_json_gateway_error_is_reported_not_raised(fake, capsys):
    fake.override[("gen_code", 1)] = (502, {}, "<html>Bad Gateway</html>")
    code, out, _ = run_main(capsys)
    assert code == 1
    assert step_lines(out)[0].startswith("FAIL generate: invoke failed: ")


def test_a_function_error_names_its_type_and_still_cleans_up(fake, capsys):
    body = {"errorMessage": "boom", "errorType": "KeyError", "stackTrace": []}
    headers = {"x-fc-error-type": "UnhandledInvocationError", "x-fc-request-id": "req-fn"}
    fake.override[("use_code", 1)] = (200, headers, json.dumps(body))
    code, out, _ = run_main(capsys)
    assert code == 1
    lines = step_lines(out)
    assert lines[2] == "FAIL redeem: function error KeyError: boom (request req-fn)"
    assert lines[3].startswith("ok   cleanup: 3 smoke codes gone")
    assert fake.rows == {}


def test_a_second_redemption_that_succeeds_is_a_mismatch(fake, capsys):
    fake.override[("use_code", 2)] = (200, {}, json.dumps({"code": CODES[0], "status": "USED"}))
    code, out, _ = run_main(capsys)
    assert code == 1
    assert "FAIL redeem again: expected error CODE_ALREADY_USED, got success" in out
    assert "ok   cleanup" in out and fake.rows == {}


def test_a_wrong_error_code_is_a_mismatch_and_codes_in_it_are_masked(fake, capsys):
    err = {"code": "CODE_EXPIRED", "message": f"{CODES[0]} expired", "request_id": "r"}
    fake.override[("use_code", 2)] = (200, {}, json.dumps({"error": err}))
    code, out, _ = run_main(capsys)
    assert code == 1
    assert (
        "FAIL redeem again: expected error CODE_ALREADY_USED, got CODE_EXPIRED: "
        "ABCD-****-****-PQR0 expired"
    ) in out


def test_a_code_still_found_after_delete_is_a_mismatch(fake, capsys):
    unused = {"code": CODES[0], "status": "UNUSED"}
    fake.override[("query_code", 2)] = (200, {}, json.dumps(unused))
    code, out, _ = run_main(capsys)
    assert code == 1
    assert "FAIL query deleted: expected error CODE_NOT_FOUND, got success" in out


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "result is not JSON: not json"),
        ("[1, 2, 3]", "result is not a JSON object: [1, 2, 3]"),
        (json.dumps({"batch": "smoke"}), "expected a list of codes, got keys ['batch']"),
        (json.dumps({"codes": CODES[:2]}), "expected 3 codes, got 2"),
    ],
)
def test_a_wrong_generate_body_fails_the_run(fake, capsys, body, message):
    fake.override[("gen_code", 1)] = (200, {}, body)
    code, out, _ = run_main(capsys)
    assert code == 1
    assert step_lines(out)[0] == f"FAIL generate: {message}"


def test_a_failed_cleanup_fails_the_run(fake, capsys):
    err = {"error": {"code": "STORE_UNAVAILABLE", "message": "try again", "request_id": "r"}}
    fake.override[("del_code", 2)] = (200, {}, json.dumps(err))
    code, out, _ = run_main(capsys)
    assert code == 1
    assert step_lines(out)[-1].startswith(
        "FAIL cleanup: could not delete ABCD-****-****-PQR1: expected success, got error "
        "STORE_UNAVAILABLE"
    )


def test_mask_keeps_only_the_outer_groups():
    assert smoke.mask("ABCD-EFGH-JKMN-PQRS") == "ABCD-****-****-PQRS"
    assert smoke.mask("BETA-ABCD-EFGH-JKMN-PQRS") == "BETA-****-****-****-PQRS"
    assert smoke.mask("ABCDEFGHJKMNPQRS") == "ABCD****"


def test_config_repr_hides_secrets():
    config = smoke.Config(ENDPOINT, "fc-codes", KEY_ID, SECRET, TOKEN)
    assert SECRET not in repr(config) and TOKEN not in repr(config)


def test_the_smoke_output_stream_is_one_line_per_step():
    invoked = []

    def invoke(function, params):
        invoked.append(function)
        return {"error": {"code": "INTERNAL", "message": "x", "request_id": "r"}}

    out = io.StringIO()
    assert smoke.run(invoke, out) is False
    assert out.getvalue() == "FAIL generate: expected success, got error INTERNAL: x\n"
    assert invoked == ["gen_code"]
