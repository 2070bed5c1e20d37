"""Request authentication (V2 and V4 signatures, md5, date, key, instance) and response signing."""

from __future__ import annotations

import datetime
import hmac
import http.client
import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tablestore import OTSClient
from tablestore.auth import RequestContext, SignV2
from tablestore.credentials import Credentials
from tablestore.error import OTSServiceError
from tablestore.protobuf import table_store_pb2 as pb
from tablestore.retry import NoRetryPolicy

from ots_local.auth import KeyedHmac

from .util import content_md5, ots_error


def client_with(ots, **changes):
    values = {
        "end_point": ots.endpoint,
        "access_key_id": ots.access_key_id,
        "access_key_secret": ots.access_key_secret,
        "instance_name": ots.instance,
    }
    values.update(changes)
    return OTSClient(**values, retry_policy=NoRetryPolicy(), socket_timeout=10)


def test_a_wrong_secret_is_a_signature_mismatch(ots):
    with ots_error(403, "OTSAuthFailed", "Signature mismatch."):
        client_with(ots, access_key_secret="not-the-secret").list_table()


def test_an_unknown_access_key_id_is_rejected(ots):
    with ots_error(403, "OTSAuthFailed", "The AccessKeyID does not exist."):
        client_with(ots, access_key_id="someone-else").list_table()


def test_an_unknown_instance_is_rejected(ots):
    with ots_error(403, "OTSAuthFailed"):
        client_with(ots, instance_name="other-instance").list_table()


def test_an_sts_token_is_accepted(local):
    client = client_with(local, sts_token="CAIS-session-token")
    assert client.list_table() == ()


def test_v4_signatures_are_verified_and_used_for_the_response(local):
    assert client_with(local, region="cn-hangzhou").list_table() == ()
    with ots_error(403, "OTSAuthFailed", "Signature mismatch."):
        client_with(local, region="cn-hangzhou", access_key_secret="wrong").list_table()


# --- raw HTTP: what the SDK would never send -----------------------------------------------------
def signed_request(ots, api="ListTable", body=None, date=None):
    """Headers and body exactly as the SDK builds them (optionally with another x-ots-date)."""
    body = pb.ListTableRequest().SerializeToString() if body is None else body
    headers = {
        "x-ots-date": date
        or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "x-ots-apiversion": "2015-12-31",
        "x-ots-accesskeyid": ots.access_key_id,
        "x-ots-instancename": ots.instance,
        "x-ots-contentmd5": content_md5(body),
    }
    context = RequestContext(Credentials(ots.access_key_id, ots.access_key_secret))
    SignV2("utf8").make_request_signature_and_add_headers("/" + api, headers, context)
    return headers, body


def send(ots, api, headers, body, method="POST"):
    url = urllib.parse.urlsplit(ots.endpoint)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        connection.request(method, "/" + api, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def error_of(body):
    error = pb.Error()
    error.ParseFromString(body)
    return error.code, error.message


def test_a_tampered_body_fails_the_md5_check(local):
    headers, body = signed_request(local)
    status, response_headers, payload = send(local, "ListTable", headers, body + b"\x08\x01")
    assert status == 403
    assert error_of(payload) == (
        "OTSAuthFailed",
        "Mismatch between MD5 value of request body and x-ots-contentmd5 in header.",
    )
    assert "authorization" not in response_headers


def test_a_tampered_body_with_a_fixed_md5_fails_the_signature(local):
    headers, _ = signed_request(local)
    tampered = pb.DeleteTableRequest(table_name="victim").SerializeToString()
    headers["x-ots-contentmd5"] = content_md5(tampered)
    status, _, payload = send(local, "ListTable", headers, tampered)
    assert (status, error_of(payload)) == (403, ("OTSAuthFailed", "Signature mismatch."))


def test_a_request_signed_for_another_api_fails(local):
    headers, body = signed_request(local, api="ListTable")
    status, _, payload = send(local, "DeleteTable", headers, body)
    assert (status, error_of(payload)) == (403, ("OTSAuthFailed", "Signature mismatch."))


def test_a_date_more_than_15_minutes_off_is_rejected(local):
    stale = (
        datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=16)
    ).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    headers, body = signed_request(local, date=stale)
    status, _, payload = send(local, "ListTable", headers, body)
    assert (status, error_of(payload)) == (
        403,
        ("OTSAuthFailed", f"Mismatch between system time and x-ots-date: {stale}."),
    )


def test_a_malformed_date_is_rejected(local):
    headers, body = signed_request(local, date="Sun, 29 Nov 2026 02:05:05 GMT")
    status, _, payload = send(local, "ListTable", headers, body)
    assert (status, error_of(payload)) == (
        400,
        ("OTSParameterInvalid", "Invalid date format: Sun, 29 Nov 2026 02:05:05 GMT."),
    )


@pytest.mark.parametrize("missing", ["x-ots-date", "x-ots-contentmd5", "x-ots-signature"])
def test_a_missing_header_is_named(local, missing):
    headers, body = signed_request(local)
    del headers[missing]
    status, _, payload = send(local, "ListTable", headers, body)
    assert (status, error_of(payload)) == (
        400,
        ("OTSParameterInvalid", f"Missing header: {missing}."),
    )


def test_responses_carry_the_headers_and_signature_the_sdk_checks(local):
    headers, body = signed_request(local)
    status, response_headers, payload = send(local, "ListTable", headers, body)
    assert status == 200
    assert response_headers["x-ots-contentmd5"] == content_md5(payload)
    assert response_headers["x-ots-contenttype"]
    assert response_headers["x-ots-requestid"]
    datetime.datetime.strptime(response_headers["x-ots-date"], "%Y-%m-%dT%H:%M:%S.%fZ")
    canonical = "\n".join(
        sorted(f"{k}:{v.strip()}" for k, v in response_headers.items() if k.startswith("x-ots-"))
    )
    expected = SignV2("utf8").make_response_signature(
        "/ListTable", response_headers, local.access_key_secret
    )
    assert canonical  # the signature covers every x-ots-* header sent
    assert response_headers["authorization"] == f"OTS {local.access_key_id}:{expected}"


def test_error_responses_other_than_auth_failures_are_signed(local, client):
    try:
        client.describe_table("missing")
    except OTSServiceError as error:
        assert error.get_request_id()  # the SDK verified the signature before raising this
    headers, body = signed_request(
        local,
        api="DescribeTable",
        body=pb.DescribeTableRequest(table_name="missing").SerializeToString(),
    )
    status, response_headers, _ = send(local, "DescribeTable", headers, body)
    assert status == 404
    assert response_headers["authorization"].startswith(f"OTS {local.access_key_id}:")


@given(st.binary(max_size=200), st.binary(max_size=300), st.sampled_from(["sha1", "sha256"]))
def test_the_keyed_hmac_is_the_hmac_modules(key, message, digest):
    # Keys longer than a block (64 bytes) are hashed first, as RFC 2104 says.
    assert KeyedHmac(key, digest).digest(message) == hmac.new(key, message, digest).digest()
