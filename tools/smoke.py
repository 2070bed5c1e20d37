"""Smoke-test a deployed fc-codes through Function Compute's invoke API (aliyun-fc2).

    python -m tools.smoke [--service fc-codes] [--endpoint URL | --account-id ID --region R]

Walks one code through its life: generate 3 codes (a batch of its own) -> query -> redeem ->
redeem again (expects CODE_ALREADY_USED) -> the batch's figures -> disable the batch (a redeem
expects CODE_DISABLED) and enable it -> roll back the redemption and redeem again -> delete ->
query (expects CODE_NOT_FOUND), then deletes the two spare codes. Prints one line per step,
codes masked, and exits 0 only if every step matched (1 on a mismatch, 2 on a usage or
configuration error). Codes it generated are deleted even when a
step fails, so a failed run leaves nothing behind.

Credentials come from ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET (and
ALIBABA_CLOUD_SECURITY_TOKEN for STS), the account and region from ALIBABA_CLOUD_ACCOUNT_ID /
ALIBABA_CLOUD_REGION, or the flags of the same meaning. FC_ENDPOINT (or --endpoint) overrides
the endpoint, e.g. to aim at the local stack's FC invoke API. Secrets are never printed, and
the SDK's own error logging (which includes request headers) is silenced while it runs.

This talks to the FC 2.0 API (services/functions), so it tests a template.yml (Funcraft)
deployment. Functions created by s.yaml (FC 3.0) belong to no service and are not reachable
through it; see docs/deploy.md.
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
from tools.templates import FUN_TEMPLATE, load_fun_template

ENV_KEY_ID = "ALIBABA_CLOUD_ACCESS_KEY_ID"
ENV_KEY_SECRET = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"  # noqa: S105 (a variable name)
ENV_TOKEN = "ALIBABA_CLOUD_SECURITY_TOKEN"  # noqa: S105 (a variable name)
ENV_ACCOUNT = "ALIBABA_CLOUD_ACCOUNT_ID"
ENV_REGION = "ALIBABA_CLOUD_REGION"
ENV_ENDPOINT = "FC_ENDPOINT"

# Which function does what: the API's declaration (functions/fccodes/api.py).
OPERATIONS = {op.name: op.function for op in api.OPERATIONS}
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


def config_from(args: argparse.Namespace, env: dict[str, str]) -> Config:
    """Combine flags and environment (flags win). Raises ConfigError naming what is missing."""
    key_id = args.access_key_id or env.get(ENV_KEY_ID, "")
    secret = args.access_key_secret or env.get(ENV_KEY_SECRET, "")
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


def run(invoke: Callable[[str, dict[str, Any]], dict[str, Any]], out: TextIO) -> bool:
    """Run every step, print one line each; True if all matched. Cleans up its codes."""
    created: list[str] = []
    deleted: set[str] = set()
    ok = True
    # A batch label is taken once: each run makes its own batch.
    batch = "smoke-" + time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + os.urandom(3).hex()

    def step(name: str, action: Callable[[], str]) -> bool:
        nonlocal ok
        started = time.monotonic()
        try:
            detail = action()
        except StepFailed as e:
            ok = False
            print(f"FAIL {name}: {_mask_all(str(e), created)}", file=out)
            return False
        ms = (time.monotonic() - started) * 1000
        print(f"ok   {name}: {detail} ({ms:.0f} ms)", file=out)
        return True

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
    return ok


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
    p.add_argument("--access-key-id", help=f"prefer env {ENV_KEY_ID}")
    p.add_argument("--access-key-secret", help=f"prefer env {ENV_KEY_SECRET}: flags show in `ps`")
    p.add_argument("--security-token", help=f"STS token (env {ENV_TOKEN})")
    p.add_argument("--timeout", type=int, default=60, help="seconds per invocation")
    return p


def main(argv: list[str] | None = None, env: dict[str, str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        config = config_from(args, dict(os.environ) if env is None else env)
    except ConfigError as e:
        print(f"smoke: {e}", file=sys.stderr)
        return 2
    print(f"smoke: {config.endpoint} service {config.service}", file=sys.stdout)
    with quiet_sdk_logging():
        ok = run(Invoker(config), sys.stdout)
    print("smoke: passed" if ok else "smoke: FAILED", file=sys.stdout)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
