"""Smoke-test a deployed fc-codes: through its front door (API Gateway), then FC's invoke API.

    python -m tools.smoke [--via auto|gateway|fc|both] [--gateway URL] [--endpoint URL ...]

Through the front door (FC_CODES_GATEWAY_URL, with the smoke App's FC_CODES_APP_KEY and
FC_CODES_APP_SECRET): an admin call without the App's signature is refused with 401, generate
(signed) answers within the gateway timeout, query and redeem anonymously, redeem again as
another user (CODE_ALREADY_USED), delete (signed) and without the signature (401), query the
deleted code (CODE_NOT_FOUND), delete the spare codes, then a burst of signed calls is
throttled (429) by the App's quota (frontdoor.yml gives the smoke App a small one of its own),
and last a burst of anonymous queries is throttled by the budget of one client address (what
trips first on an anonymous API: its ceiling is for every client together), which throttles
this machine's address only.

Through FC's invoke API: generate 3 codes (a batch of its own) -> query -> redeem -> redeem
again -> the batch's figures -> disable the batch (a redeem gets CODE_DISABLED) and enable it ->
roll back the redemption and redeem again -> delete -> query deleted; `--fc-api 2016-08-15`
(the default: aliyun-fc2, FC 2.0 services, i.e. template.yml or the local stack) or
`--fc-api 2023-03-30` (FC 3.0 functions by s.yaml's names, V3-signed by tools/fc3_client.py;
the local stack serves it too).

Each part prints one line per step, codes masked, and the exit status is 0 only if every step
of every part run matched (1 on a mismatch, 2 on a usage or configuration error). Codes a part
generated are deleted even when a step fails. `--via auto` (the default) runs each part that is
configured, the front door first.

Credentials for the FC part come from ALIBABA_CLOUD_ACCESS_KEY_ID /
ALIBABA_CLOUD_ACCESS_KEY_SECRET (and ALIBABA_CLOUD_SECURITY_TOKEN for STS), the account and
region from ALIBABA_CLOUD_ACCOUNT_ID / ALIBABA_CLOUD_REGION; FC_ENDPOINT (or --endpoint)
overrides the endpoint, e.g. the local stack's FC invoke API. Secrets come from the environment
only (never flags: they would show in the process list) and are never printed; the SDK's own
error logging (which includes request headers) is silenced while it runs.

"""

import argparse
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

import fc2

from fccodes import api
from tools import frontdoor
from tools.fc3_client import API_VERSION as FC3_API_VERSION
from tools.fc3_client import FC3Client
from tools.gateway_client import Answer, GatewayClient
from tools.templates import FRONTDOOR_TEMPLATE, FUN_TEMPLATE, S_YAML, load_fun_template, load_s_yaml

ENV_KEY_ID = "ALIBABA_CLOUD_ACCESS_KEY_ID"
ENV_KEY_SECRET = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"  # noqa: S105 (a variable name)
ENV_TOKEN = "ALIBABA_CLOUD_SECURITY_TOKEN"  # noqa: S105 (a variable name)
ENV_ACCOUNT = "ALIBABA_CLOUD_ACCOUNT_ID"
ENV_REGION = "ALIBABA_CLOUD_REGION"
ENV_ENDPOINT = "FC_ENDPOINT"
ENV_GATEWAY = "FC_CODES_GATEWAY_URL"
ENV_APP_KEY = "FC_CODES_APP_KEY"
ENV_APP_SECRET = "FC_CODES_APP_SECRET"  # noqa: S105 (a variable name)
# A code with a wrong check symbol: the function refuses it before any store access, so the
# throttling burst costs Tablestore nothing.
BURST_CODE = "AAAA-AAAA-AAAA-AAAA"

# Which function does what, and its route: the API's declaration (functions/fccodes/api.py).
OPERATIONS = {op.name: op.function for op in api.OPERATIONS}
GENERATE_ROUTE = (api.GENERATE.method, api.GENERATE.path)


def route(operation: str, code: str) -> tuple[str, str]:
    """(method, path) of a declared operation on `code`, e.g. ("POST", "/codes/X/redeem")."""
    op = api.BY_NAME[operation]
    return op.method, op.path.replace("{code}", code)


SMOKE_USER = "fc-codes-smoke"
OTHER_USER = "fc-codes-smoke-other"


class ConfigError(ValueError):
    """The smoke test cannot start: a setting is missing or wrong (the message says which)."""


class StepFailed(RuntimeError):
    """A step's result did not match what it expects."""


@dataclass(frozen=True)
class Config:
    """Where and as whom to invoke. `__repr__` hides the secrets."""

    endpoint: str
    service: str
    access_key_id: str
    access_key_secret: str
    security_token: str = ""
    timeout_s: int = 60

    def __repr__(self) -> str:
        return f"Config(endpoint={self.endpoint!r}, service={self.service!r}, keys=<hidden>)"


def fc_configured(args: argparse.Namespace, env: dict[str, str]) -> bool:
    """Whether anything says where FC's invoke API is (an endpoint, or account and region)."""
    return bool(
        args.endpoint
        or env.get(ENV_ENDPOINT)
        or ((args.account_id or env.get(ENV_ACCOUNT)) and (args.region or env.get(ENV_REGION)))
    )


def config_from(args: argparse.Namespace, env: dict[str, str]) -> Config:
    """Combine flags and environment (flags win). Raises ConfigError naming what is missing."""
    key_id = args.access_key_id or env.get(ENV_KEY_ID, "")
    secret = env.get(ENV_KEY_SECRET, "")
    missing = [n for n, v in ((ENV_KEY_ID, key_id), (ENV_KEY_SECRET, secret)) if not v]
    endpoint = args.endpoint or env.get(ENV_ENDPOINT, "")
    if not endpoint:
        account = args.account_id or env.get(ENV_ACCOUNT, "")
        region = args.region or env.get(ENV_REGION, "")
        missing += [n for n, v in ((ENV_ACCOUNT, account), (ENV_REGION, region)) if not v]
        endpoint = f"https://{account}.{region}.fc.aliyuncs.com"
    if missing:
        raise ConfigError(
            "missing " + ", ".join(missing) + " (set the environment variables or pass the "
            "flags; --endpoint replaces account and region)"
        )
    return Config(
        endpoint=endpoint,
        service=args.service,
        access_key_id=key_id,
        access_key_secret=secret,
        security_token=args.security_token or env.get(ENV_TOKEN, ""),
        timeout_s=args.timeout,
    )


def mask(code: str) -> str:
    """`ABCD-EFGH-JKMN-PQRS` -> `ABCD-****-****-PQRS`: codes are secrets, even in CI logs."""
    groups = code.split("-")
    if len(groups) < 3:
        return code[:4] + "****" if len(code) > 4 else "****"
    return "-".join([groups[0]] + ["****"] * (len(groups) - 2) + [groups[-1]])


class Invoker:
    """Invokes the deployed functions synchronously and returns their JSON bodies."""

    def __init__(self, config: Config, client: Any = None):
        self.config = config
        self.client = client or fc2.Client(
            endpoint=config.endpoint,
            accessKeyID=config.access_key_id,
            accessKeySecret=config.access_key_secret,
            securityToken=config.security_token,
            Timeout=config.timeout_s,
        )

    def __call__(self, function: str, params: dict[str, Any]) -> dict[str, Any]:
        """The function's result body. Raises StepFailed on an FC error or a non-object body."""
        payload = json.dumps(params).encode("utf-8")
        try:
            resp = self.client.invoke_function(
                self.config.service,
                function,
                payload=payload,
                headers={"x-fc-invocation-type": "Sync"},
            )
        except fc2.FcError as e:
            raise StepFailed(_describe_fc_error(e)) from e
        except Exception as e:  # network errors, or the SDK choking on a non-JSON error body
            raise StepFailed(f"invoke failed: {type(e).__name__}: {e}") from e
        try:
            body = json.loads(resp.data)
        except ValueError:
            raise StepFailed(f"result is not JSON: {_snippet(resp.data)}") from None
        if not isinstance(body, dict):
            raise StepFailed(f"result is not a JSON object: {_snippet(resp.data)}")
        return body


class FC3Invoker:
    """Invokes s.yaml's FC 3.0 functions (by their `functionName`) and returns their bodies."""

    def __init__(self, config: Config, names: dict[str, str]):
        self.names = names  # template function name -> s.yaml functionName
        self.client = FC3Client(
            config.endpoint,
            config.access_key_id,
            config.access_key_secret,
            config.security_token,
            config.timeout_s,
        )

    def __call__(self, function: str, params: dict[str, Any]) -> dict[str, Any]:
        """The function's result body. Raises StepFailed on an FC error or a non-object body."""
        try:
            result = self.client.invoke(self.names[function], json.dumps(params).encode())
        except OSError as e:
            raise StepFailed(f"invoke failed: {type(e).__name__}: {e}") from e
        request_id = result.headers.get("x-fc-request-id", "")
        if result.status != 200 or "x-fc-error-type" in result.headers:
            try:
                detail = json.loads(result.body)
            except ValueError:
                detail = {}
            detail = detail if isinstance(detail, dict) else {}
            kind = detail.get("Code") or detail.get("errorType") or "error"
            message = detail.get("Message") or detail.get("errorMessage") or _snippet(result.body)
            where = "function error" if result.status == 200 else f"FC API error {result.status}"
            raise StepFailed(f"{where} {kind}: {message} (request {request_id})")
        try:
            body = json.loads(result.body)
        except ValueError:
            raise StepFailed(f"result is not JSON: {_snippet(result.body)}") from None
        if not isinstance(body, dict):
            raise StepFailed(f"result is not a JSON object: {_snippet(result.body)}")
        return body


def s_function_names(s_yaml: Any = S_YAML) -> dict[str, str]:
    """The s.yaml resource key (= template.yml's function name) -> its FC 3.0 functionName."""
    _, resources = load_s_yaml(s_yaml)
    return {key: str(r.props["functionName"]) for key, r in resources.items()}


def _describe_fc_error(e: Any) -> str:
    """One line from an fc2.FcError: HTTP status, FC error code or type, message, request id."""
    try:
        detail = json.loads(e.message)
    except (TypeError, ValueError):
        detail = {}
    kind = detail.get("ErrorCode") or detail.get("errorType") or e.err_code or "error"
    message = detail.get("ErrorMessage") or detail.get("errorMessage") or str(e.message)
    if e.status_code == 200:  # the function itself raised: FC reports it with x-fc-error-type
        return f"function error {kind}: {message} (request {e.request_id})"
    return f"FC API error {e.status_code} {kind}: {message} (request {e.request_id})"


def _snippet(data: Any, limit: int = 200) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
    return text[:limit] + ("..." if len(text) > limit else "")


def expect_success(body: dict[str, Any]) -> dict[str, Any]:
    if "error" in body:
        err = body["error"] if isinstance(body["error"], dict) else {}
        raise StepFailed(f"expected success, got error {err.get('code')}: {err.get('message')}")
    return body


def expect_error(body: dict[str, Any], code: str) -> dict[str, Any]:
    err = body.get("error")
    if not isinstance(err, dict):
        raise StepFailed(f"expected error {code}, got success")
    if err.get("code") != code:
        raise StepFailed(f"expected error {code}, got {err.get('code')}: {err.get('message')}")
    return err


@contextlib.contextmanager
def quiet_sdk_logging() -> Iterator[None]:
    """aliyun-fc2 logs failed requests at ERROR with their headers (signature, STS token)."""
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(previous)


class Steps:
    """Runs named steps, one line each; remembers the codes to mask and whether all passed."""

    def __init__(self, out: TextIO):
        self.out = out
        self.ok = True
        self.codes: list[str] = []

    def __call__(self, name: str, action: Callable[[], str]) -> bool:
        started = time.monotonic()
        try:
            detail = action()
        except StepFailed as e:
            self.ok = False
            print(f"FAIL {name}: {_mask_all(str(e), self.codes)}", file=self.out)
            return False
        ms = (time.monotonic() - started) * 1000
        print(f"ok   {name}: {detail} ({ms:.0f} ms)", file=self.out)
        return True


def run(invoke: Callable[[str, dict[str, Any]], dict[str, Any]], out: TextIO) -> bool:
    """Run every step through FC's invoke API, print one line each; True if all matched.
    Cleans up its codes."""
    step = Steps(out)
    created = step.codes
    deleted: set[str] = set()
    # A batch label is taken once: each run makes its own batch.
    batch = "smoke-" + time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + os.urandom(3).hex()

    def generate() -> str:
        body = expect_success(invoke(OPERATIONS["generate"], {"count": 3, "batch": batch}))
        codes = body.get("codes")
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise StepFailed(f"expected a list of codes, got keys {sorted(body)}")
        created.extend(codes)
        if len(codes) != 3:
            raise StepFailed(f"expected 3 codes, got {len(codes)}")
        return "3 codes " + ", ".join(mask(c) for c in codes)

    def query_unused() -> str:
        body = expect_success(invoke(OPERATIONS["query"], {"code": created[0]}))
        if body.get("status") != "UNUSED":
            raise StepFailed(f"expected status UNUSED, got {body.get('status')!r}")
        return f"{mask(created[0])} is UNUSED"

    def redeem() -> str:
        expect_success(invoke(OPERATIONS["redeem"], {"code": created[0], "user_id": SMOKE_USER}))
        return f"{mask(created[0])} redeemed"

    def redeem_again() -> str:
        # Another user: the same user retrying a redemption that succeeded is a replay (success).
        body = invoke(OPERATIONS["redeem"], {"code": created[0], "user_id": OTHER_USER})
        expect_error(body, "CODE_ALREADY_USED")
        return "CODE_ALREADY_USED as expected"

    def figures() -> str:
        params = {"action": "show", "batch": batch}
        body = expect_success(invoke(OPERATIONS["batch_show"], params))
        shown = body.get("figures") or {}
        # The figures read an eventually consistent index: a redemption may not be in yet.
        if body.get("count") != 3 or sum(shown.get(k, 0) for k in ("unused", "used")) != 3:
            raise StepFailed(f"expected 3 codes in the figures, got {body}")
        return f"batch {body.get('state')}, {shown.get('used')} used of 3"

    def disable() -> str:
        params = {"action": "disable", "batch": batch}
        if expect_success(invoke(OPERATIONS["batch_disable"], params)).get("state") != "DISABLED":
            raise StepFailed("the batch is not DISABLED")
        body = invoke(OPERATIONS["redeem"], {"code": created[1], "user_id": SMOKE_USER})
        expect_error(body, "CODE_DISABLED")
        expect_success(invoke(OPERATIONS["batch_enable"], {"action": "enable", "batch": batch}))
        return "CODE_DISABLED while disabled, enabled again"

    def rollback() -> str:
        params = {"action": "rollback", "code": created[0], "user_id": SMOKE_USER}
        body = expect_success(invoke(OPERATIONS["rollback"], params))
        if body.get("rolled_back") is not True or body.get("uses") != 0:
            raise StepFailed(f"expected rolled_back and 0 uses, got {body}")
        expect_success(invoke(OPERATIONS["redeem"], {"code": created[0], "user_id": SMOKE_USER}))
        return f"{mask(created[0])} rolled back and redeemed again"

    def delete() -> str:
        expect_success(invoke(OPERATIONS["delete"], {"code": created[0]}))
        deleted.add(created[0])
        return f"{mask(created[0])} deleted"

    def query_deleted() -> str:
        expect_error(invoke(OPERATIONS["query"], {"code": created[0]}), "CODE_NOT_FOUND")
        return "CODE_NOT_FOUND as expected"

    def cleanup() -> str:
        failures = []
        for code in created:
            if code in deleted:
                continue
            try:
                expect_success(invoke(OPERATIONS["delete"], {"code": code}))
                deleted.add(code)
            except StepFailed as e:
                failures.append(f"{mask(code)}: {e}")
        if failures:
            raise StepFailed("could not delete " + "; ".join(failures))
        return f"{len(created)} smoke codes gone"

    for name, action in (
        ("generate", generate),
        ("query", query_unused),
        ("redeem", redeem),
        ("redeem again", redeem_again),
        ("batch figures", figures),
        ("disable batch", disable),
        ("rollback", rollback),
        ("delete", delete),
        ("query deleted", query_deleted),
    ):
        if not step(name, action):
            break
    if created:
        step("cleanup", cleanup)
    return step.ok


def gateway_timeout_ms(infra: Any = FRONTDOOR_TEMPLATE) -> int:
    """The generate route's gateway timeout, as frontdoor.yml declares it (API Gateway answers 504
    after it): a generate call that takes longer fails the smoke test."""
    for props in frontdoor.aliyun_resources(frontdoor.load_infra(infra)).values():
        p = props.get("Properties") or {}
        config = p.get("RequestConfig") or {}
        if (config.get("RequestHttpMethod"), config.get("RequestPath")) == GENERATE_ROUTE:
            return int((p.get("ServiceConfig") or {}).get("ServiceTimeOut", 0))
    raise ConfigError("frontdoor.yml declares no POST /codes API")


def client_burst_default(infra: Any = FRONTDOOR_TEMPLATE) -> int:
    """One call more than the budget frontdoor.yml gives one client address on the query API
    (its trafficControl plug-in, with the template's parameter defaults)."""
    query = api.BY_NAME["query"]
    raw = frontdoor.load_infra(infra)
    plugins, bound = frontdoor.traffic_plugins(raw)
    for key, res in frontdoor.aliyun_resources(raw).items():
        config = (res.get("Properties") or {}).get("RequestConfig") or {}
        route_ = (config.get("RequestHttpMethod"), config.get("RequestPath"))
        if route_ == (query.method, query.gateway_path) and key in bound:
            rules = plugins[bound[key]].client_rules
            if rules:
                return min(rule.limit for rule in rules) + 1
    raise ConfigError("frontdoor.yml gives the query API no budget per client address")


def expect_status(answer: Answer, status: int, code: str | None = None) -> Answer:
    """The answer has this HTTP status (and, if given, this product error code)."""
    if answer.status != status or (code and answer.error_code() != code):
        got = answer.error_code() or answer.headers.get("x-ca-error-message", "")
        raise StepFailed(
            f"expected {status} {code or ''}".rstrip() + f", got {answer.status} {got}"
        )
    return answer


def run_gateway(
    client: GatewayClient, out: TextIO, timeout_ms: int, burst: int, client_burst: int
) -> bool:
    """Every step through the front door, one line each; True if all matched."""
    step = Steps(out)
    created = step.codes
    deleted: set[str] = set()

    def admin_unsigned() -> str:
        expect_status(client.call(*GENERATE_ROUTE, {"count": 1}), 401)
        return "POST /codes without the App's signature: 401"

    def generate() -> str:
        answer = expect_status(client.call(*GENERATE_ROUTE, {"count": 3}, signed=True), 201)
        codes = (answer.body or {}).get("codes")
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise StepFailed("expected a list of codes")
        created.extend(codes)
        if len(codes) != 3:
            raise StepFailed(f"expected 3 codes, got {len(codes)}")
        if answer.ms >= timeout_ms:
            raise StepFailed(f"took {answer.ms:.0f} ms, the gateway timeout is {timeout_ms} ms")
        return f"3 codes in {answer.ms:.0f} ms (gateway timeout {timeout_ms} ms)"

    def query_unused() -> str:
        answer = expect_status(client.call(*route("query", created[0])), 200)
        if (answer.body or {}).get("status") != "UNUSED":
            raise StepFailed(f"expected status UNUSED, got {(answer.body or {}).get('status')!r}")
        return f"{mask(created[0])} is UNUSED (anonymous)"

    def redeem() -> str:
        expect_status(client.call(*route("redeem", created[0]), {"user_id": SMOKE_USER}), 200)
        return f"{mask(created[0])} redeemed (anonymous)"

    def redeem_again() -> str:
        again = client.call(*route("redeem", created[0]), {"user_id": OTHER_USER})
        expect_status(again, 409, "CODE_ALREADY_USED")
        return "409 CODE_ALREADY_USED as expected"

    def delete_unsigned() -> str:
        expect_status(client.call(*route("delete", created[0])), 401)
        return "DELETE without the App's signature: 401"

    def delete() -> str:
        expect_status(client.call(*route("delete", created[0]), signed=True), 200)
        deleted.add(created[0])
        return f"{mask(created[0])} deleted"

    def query_deleted() -> str:
        expect_status(client.call(*route("query", created[0])), 404, "CODE_NOT_FOUND")
        return "404 CODE_NOT_FOUND as expected"

    def cleanup() -> str:
        failures = []
        for code in created:
            if code not in deleted:
                answer = client.call(*route("delete", code), signed=True)
                if answer.status == 200:
                    deleted.add(code)
                else:
                    failures.append(f"{mask(code)}: {answer.status}")
        if failures:
            raise StepFailed("could not delete " + "; ".join(failures))
        return f"{len(created)} smoke codes gone"

    def throttled() -> str:
        # Last: once the smoke App is throttled, its calls fail until the window ends.
        for n in range(1, burst + 1):
            answer = client.call(*route("delete", BURST_CODE), signed=True)
            if answer.status == 429:
                return (
                    f"429 after {n} signed calls ({answer.headers.get('x-ca-error-message', '')})"
                )
            if answer.status not in (400, 404):
                raise StepFailed(f"call {n} of the burst answered {answer.status}")
        raise StepFailed(f"{burst} signed calls were never throttled (429)")

    def anonymous_burst() -> str:
        # Last: once this address is throttled, its anonymous queries fail until the window ends.
        # The query API's ceiling is for all clients together; one address's budget trips first.
        for n in range(1, client_burst + 1):
            answer = client.call(*route("query", BURST_CODE))
            if answer.status == 429:
                message = answer.headers.get("x-ca-error-message", "")
                return f"429 after {n} anonymous calls ({message})"
            if answer.status not in (400, 404):
                raise StepFailed(f"call {n} of the anonymous burst answered {answer.status}")
        raise StepFailed(f"{client_burst} anonymous calls were never throttled (429)")

    for name, action in (
        ("admin without signature", admin_unsigned),
        ("generate", generate),
        ("query", query_unused),
        ("redeem", redeem),
        ("redeem again", redeem_again),
        ("delete without signature", delete_unsigned),
        ("delete", delete),
        ("query deleted", query_deleted),
    ):
        if not step(name, action):
            break
    if created:
        step("cleanup", cleanup)
    step("throttled burst", throttled)
    step("anonymous burst", anonymous_burst)
    return step.ok


def _mask_all(text: str, codes: list[str]) -> str:
    for code in codes:
        text = text.replace(code, mask(code)).replace(code.replace("-", ""), mask(code))
    return text


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tools.smoke", description="Smoke-test a deployed fc-codes."
    )
    default_service = load_fun_template(FUN_TEMPLATE).service
    p.add_argument("--service", default=default_service, help="FC service (template.yml's)")
    p.add_argument("--endpoint", help=f"FC endpoint URL (env {ENV_ENDPOINT})")
    p.add_argument("--account-id", help=f"account id (env {ENV_ACCOUNT})")
    p.add_argument("--region", help=f"region, e.g. cn-hangzhou (env {ENV_REGION})")
    p.add_argument("--access-key-id", help=f"prefer env {ENV_KEY_ID} (the secret: env only)")
    p.add_argument("--security-token", help=f"STS token (env {ENV_TOKEN})")
    p.add_argument("--timeout", type=int, default=60, help="seconds per invocation")
    p.add_argument(
        "--via",
        choices=("auto", "gateway", "fc", "both"),
        default="auto",
        help="which parts to run (auto: each one configured, the front door first)",
    )
    p.add_argument("--gateway", help=f"the API group's URL (env {ENV_GATEWAY})")
    p.add_argument(
        "--fc-api",
        choices=("2016-08-15", FC3_API_VERSION),
        default="2016-08-15",
        help="FC's invoke API: 2016-08-15 (FC 2.0 services: template.yml, the local stack) or "
        f"{FC3_API_VERSION} (FC 3.0 functions: s.yaml)",
    )
    p.add_argument(
        "--burst",
        type=int,
        default=60,
        help="at most this many signed calls to see the smoke App throttled",
    )
    p.add_argument(
        "--client-burst",
        type=int,
        help="at most this many anonymous queries to see this address throttled (default: one "
        "more than frontdoor.yml's budget per client address)",
    )
    return p


def main(argv: list[str] | None = None, env: dict[str, str] | None = None) -> int:
    args = parser().parse_args(argv)
    env = dict(os.environ) if env is None else env
    gateway_url = args.gateway or env.get(ENV_GATEWAY, "")
    want_gateway = args.via in ("gateway", "both") or (args.via == "auto" and bool(gateway_url))
    want_fc = args.via in ("fc", "both") or (args.via == "auto" and fc_configured(args, env))
    try:
        if not (want_gateway or want_fc):
            raise ConfigError(
                f"nothing to smoke-test: set {ENV_GATEWAY} (the front door) and/or "
                f"{ENV_ENDPOINT} or {ENV_ACCOUNT} + {ENV_REGION} (FC's invoke API)"
            )
        client, client_burst = None, 0
        if want_gateway:
            missing = [
                n
                for n in (ENV_GATEWAY, ENV_APP_KEY, ENV_APP_SECRET)
                if not (gateway_url if n == ENV_GATEWAY else env.get(n))
            ]
            if missing:
                raise ConfigError("missing " + ", ".join(missing) + " for the front door")
            client = GatewayClient(gateway_url, env[ENV_APP_KEY], env[ENV_APP_SECRET])
            client_burst = args.client_burst or client_burst_default()
        config = config_from(args, env) if want_fc else None
    except ConfigError as e:
        print(f"smoke: {e}", file=sys.stderr)
        return 2
    ok = True
    if client is not None:
        print(f"smoke: front door {client.base_url}", file=sys.stdout)
        timeout_ms = gateway_timeout_ms()
        ok = run_gateway(client, sys.stdout, timeout_ms, args.burst, client_burst) and ok
    if config is not None and args.fc_api == FC3_API_VERSION:
        names = s_function_names()
        print(
            f"smoke: {config.endpoint} FC 3.0 functions {sorted(names.values())}", file=sys.stdout
        )
        ok = run(FC3Invoker(config, names), sys.stdout) and ok
    elif config is not None:
        print(f"smoke: {config.endpoint} service {config.service}", file=sys.stdout)
        with quiet_sdk_logging():
            ok = run(Invoker(config), sys.stdout) and ok
    print("smoke: passed" if ok else "smoke: FAILED", file=sys.stdout)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
