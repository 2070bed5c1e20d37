"""The HTTP layer: methods, unknown APIs, size limits, keep-alive, pipelining, malformed input."""

from __future__ import annotations

import socket
import urllib.parse

import pytest
from tablestore.protobuf import table_store_pb2 as pb

from .conftest import make_client
from .test_auth import error_of, send, signed_request
from .util import ots_error


def connect(ots):
    url = urllib.parse.urlsplit(ots.endpoint)
    return socket.create_connection((url.hostname, url.port), timeout=10)


def read_response(stream):
    """One HTTP response from a socket file: (status, headers, body), or None at EOF."""
    status_line = stream.readline()
    if not status_line:
        return None
    headers = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = stream.read(int(headers["content-length"]))
    return int(status_line.split(b" ")[1]), headers, body


def raw(headers, body, api="ListTable", extra=""):
    lines = [f"POST /{api} HTTP/1.1", "Host: x", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode() + body


def test_the_endpoint_path_prefix_is_ignored_like_the_service_does(local):
    client = make_client(local)
    client.connection.path = "/some/prefix"  # as if the endpoint were http://host:port/some/prefix
    assert client.list_table() == ()


def test_unknown_apis_get_a_tablestore_error_naming_them(local):
    headers, body = signed_request(local, api="Search", body=b"")
    status, response_headers, payload = send(local, "Search", headers, body)
    code, message = error_of(payload)
    assert (status, code) == (400, "OTSParameterInvalid")
    assert message.startswith("Unsupported operation: Search.")
    assert response_headers["authorization"]


def test_only_post_is_allowed(local):
    headers, body = signed_request(local)
    status, _, payload = send(local, "ListTable", headers, body, method="GET")
    assert (status, error_of(payload)) == (
        405,
        ("OTSMethodNotAllowed", "OTSMethodNotAllowedOnly POST method for requests is supported."),
    )


def test_a_body_over_5_mb_is_413(local):
    with connect(local) as sock:
        sock.sendall(b"POST /PutRow HTTP/1.1\r\nHost: x\r\nContent-Length: 5242881\r\n\r\n")
        status, _, payload = read_response(sock.makefile("rb"))
    assert (status, error_of(payload)) == (
        413,
        ("OTSRequestBodyTooLarge", "The size of POST data is too large."),
    )


def test_keep_alive_and_pipelined_requests_are_answered_in_order(local, tables):
    first, body = signed_request(local)
    describe = pb.DescribeTableRequest(table_name="missing").SerializeToString()
    second, body2 = signed_request(local, api="DescribeTable", body=describe)
    with connect(local) as sock:
        sock.sendall(raw(first, body) + raw(second, body2, api="DescribeTable") + raw(first, body))
        stream = sock.makefile("rb")
        statuses = [read_response(stream)[0] for _ in range(3)]
    assert statuses == [200, 404, 200]


def test_a_request_split_across_packets_is_reassembled(local):
    headers, body = signed_request(local)
    message = raw(headers, body)
    with connect(local) as sock:
        for i in range(0, len(message), 7):
            sock.sendall(message[i : i + 7])
        assert read_response(sock.makefile("rb"))[0] == 200


def test_connection_close_is_honoured(local):
    headers, body = signed_request(local)
    with connect(local) as sock:
        sock.sendall(raw(headers, body, extra="Connection: close\r\n"))
        stream = sock.makefile("rb")
        assert read_response(stream)[0] == 200
        assert read_response(stream) is None


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"NONSENSE\r\n\r\n",
        b"POST /ListTable HTTP/1.1\r\nbroken header line\r\n\r\n",
        b"POST /ListTable HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
        b"POST /ListTable HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ],
)
def test_malformed_http_gets_a_400_and_the_connection_closes(local, request_bytes):
    with connect(local) as sock:
        sock.sendall(request_bytes)
        stream = sock.makefile("rb")
        status, _, payload = read_response(stream)
        assert status == 400
        assert error_of(payload)[0] == "OTSParameterInvalid"
        assert read_response(stream) is None


def test_a_protobuf_body_that_does_not_parse_is_400(local):
    headers, body = signed_request(local, api="GetRow", body=b"\xff\xff\xff")
    status, _, payload = send(local, "GetRow", headers, body)
    assert status == 400
    assert error_of(payload)[0] == "OTSParameterInvalid"


def test_a_corrupted_plainbuffer_checksum_is_400(local, client, tables):
    from tablestore.plainbuffer.plain_buffer_builder import PlainBufferBuilder

    name = tables.create()
    row = bytearray(PlainBufferBuilder.serialize_for_put_row([("pk", "a")], [("v", 1)]))
    row[-1] ^= 0xFF  # the row checksum
    request = pb.PutRowRequest(table_name=name, row=bytes(row))
    request.condition.row_existence = pb.IGNORE
    headers, body = signed_request(local, api="PutRow", body=request.SerializeToString())
    status, _, payload = send(local, "PutRow", headers, body)
    code, message = error_of(payload)
    assert (status, code) == (400, "OTSParameterInvalid")
    assert "checksum is mismatch" in message
    with ots_error(400, "OTSInvalidPK"):  # the table is still fine; the SDK path still works
        client.get_row(name, [("x", "a")], max_version=1)


def test_zero_padding_after_the_row_checksum_is_ignored(local, client, tables):
    # Another official SDK sends its whole allocated buffer: zero bytes after the checksum.
    from tablestore import INF_MAX, INF_MIN, Row
    from tablestore.plainbuffer.plain_buffer_builder import PlainBufferBuilder

    name = tables.create()
    client.put_row(name, Row([("pk", "a")], [("v", 1)]))
    request = pb.GetRangeRequest(table_name=name, direction=pb.FORWARD, max_versions=1)
    request.inclusive_start_primary_key = (
        bytes(PlainBufferBuilder.serialize_primary_key([("pk", INF_MIN)])) + b"\x00" * 7
    )
    request.exclusive_end_primary_key = (
        bytes(PlainBufferBuilder.serialize_primary_key([("pk", INF_MAX)])) + b"\x00"
    )
    headers, body = signed_request(local, api="GetRange", body=request.SerializeToString())
    status, _, payload = send(local, "GetRange", headers, body)
    assert status == 200
    response = pb.GetRangeResponse()
    response.ParseFromString(payload)
    assert b"pk" in response.rows and not response.HasField("next_start_primary_key")
    # Anything else after the checksum is still refused.
    request.exclusive_end_primary_key = request.exclusive_end_primary_key + b"\x01"
    headers, body = signed_request(local, api="GetRange", body=request.SerializeToString())
    status, _, payload = send(local, "GetRange", headers, body)
    assert (status, error_of(payload)[0]) == (400, "OTSParameterInvalid")


def test_answers_larger_than_the_socket_buffer_arrive_whole(local, client, tables):
    from tablestore import Row

    name = tables.create()
    big = {"a": "a" * 1_900_000, "b": bytearray(b"\x01" * 1_900_000)}
    client.put_row(name, Row([("pk", "big")], list(big.items())))
    for _ in range(3):  # and the connection stays usable for the next request
        row = client.get_row(name, [("pk", "big")], max_version=1)[1]
        assert {n: v for n, v, _ in row.attribute_columns} == big


def test_expect_100_continue_is_answered_before_the_body(local):
    headers, _ = signed_request(local)
    with connect(local) as sock:
        head = raw(headers, b"", extra="Expect: 100-continue\r\n").replace(
            b"Content-Length: 0", b"Content-Length: 2"
        )
        sock.sendall(head)
        stream = sock.makefile("rb")
        assert stream.readline() == b"HTTP/1.1 100 Continue\r\n"
        assert stream.readline() == b"\r\n"
        sock.sendall(b"\x00\x00")  # a body that does not match the signed md5
        status, _, payload = read_response(stream)
    assert (status, error_of(payload)[0]) == (403, "OTSAuthFailed")
