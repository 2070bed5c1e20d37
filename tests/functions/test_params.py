"""Parameter validation: every bad input is refused before the store, naming the field."""

import pytest

from fccodes import params
from fccodes.errors import InvalidCode, InvalidRequest
from fccodes.settings import Settings

SETTINGS = Settings("http://127.0.0.1:1", "inst", max_codes_per_request=10000)
NOW = 1796054400000  # 2026-12-01T00:00:00+08:00
CODE = "7K3M-Q9XD-2FHN-W4TX"


def generate(**fields):
    return params.parse_generate(fields, SETTINGS, NOW)


def test_generate_defaults():
    request = generate(count=5)
    assert (request.count, request.valid_from, request.valid_until) == (5, None, None)
    assert (request.max_uses, request.prefix, request.batch) == (1, "", None)


def test_generate_full():
    request = generate(
        count=3,
        valid_from="2026-12-01T00:00:00+08:00",
        valid_until=1798732800,
        max_uses=5,
        prefix="beta",
        batch=" launch ",
    )
    assert request.valid_from == NOW
    assert request.valid_until == 1798732800000
    assert (request.max_uses, request.prefix, request.batch) == (5, "BETA", "launch")


def test_generate_accepts_the_tutorial_names():
    request = params.parse_generate(
        {"num": 1000, "start period": "2017-12-22 00:00:00", "end period": "2017-12-28 00:00:00"},
        SETTINGS,
        NOW,
    )
    assert request.count == 1000
    assert request.valid_until - request.valid_from == 6 * 86400 * 1000


def test_null_means_not_given():
    assert generate(count=1, valid_until=None, prefix=None).valid_until is None


@pytest.mark.parametrize(
    "fields, message",
    [
        ({}, "count: is required"),
        ({"count": 0}, "count: must be an integer from 1 to 10000"),
        ({"count": -5}, "count: must be an integer from 1 to 10000"),
        ({"count": 10001}, "count: must be an integer from 1 to 10000"),
        ({"count": 10**30}, "count: must be an integer from 1 to 10000"),
        ({"count": "10"}, "count: must be an integer from 1 to 10000"),
        ({"count": 2.0}, "count: must be an integer from 1 to 10000"),
        ({"count": True}, "count: must be an integer from 1 to 10000"),
        ({"num": 0}, "num: must be an integer from 1 to 10000"),
        ({"count": 1, "num": 1}, "num: given twice (as 'count' and 'num')"),
        ({"count": None, "num": 1}, "num: given twice (as 'count' and 'num')"),
        ({"num": 1, "count": None}, "count: given twice (as 'num' and 'count')"),
        ({"count": 1, "valid_from": "soon"}, "valid_from: expected RFC 3339"),
        ({"count": 1, "start period": "2017-13-01 00:00:00"}, "start period: not a valid date"),
        (
            {"count": 1, "valid_from": 1796054400, "valid_until": 1796054400},
            "valid_until: must be after valid_from",
        ),
        ({"count": 1, "valid_until": 1000}, "valid_until: must be after now"),
        ({"count": 1, "max_uses": 0}, "max_uses: must be an integer from 1 to 1000000000"),
        ({"count": 1, "prefix": "TOOLONGXY"}, "prefix: must be 1-8 symbols"),
        ({"count": 1, "prefix": "B*"}, "prefix: must be 1-8 symbols"),
        ({"count": 1, "prefix": "GOLD"}, "prefix: must be 1-8 symbols of 0-9 and A-Z without I"),
        ({"count": 1, "prefix": 7}, "prefix: must be 1-8 symbols"),
        ({"count": 1, "batch": ""}, "batch: must be a string of 1-64 characters"),
        ({"count": 1, "batch": "x" * 65}, "batch: must be a string of 1-64 characters"),
        ({"count": 1, "batch": "a\nb"}, "batch: must not contain control characters"),
        ({"cuont": 1}, "cuont: unknown field; expected count, valid_from"),
        ({"count": 1, "valid_to": 5}, "did you mean 'valid_from'?"),
    ],
)
def test_generate_rejections_name_the_field(fields, message):
    with pytest.raises(InvalidRequest) as info:
        params.parse_generate(fields, SETTINGS, NOW)
    assert message in info.value.message


def test_generate_body_must_be_an_object():
    with pytest.raises(InvalidRequest) as info:
        params.parse_generate([1], SETTINGS, NOW)
    assert info.value.message == "body: must be a JSON object"


def test_redeem_from_body_or_path():
    request = params.parse_redeem({"code": CODE.lower(), "user_id": "p-1"})
    assert (request.key, request.user_id) == ("7K3MQ9XD2FHNW4TX", "p-1")
    assert params.parse_redeem({"uuid": CODE}).key == "7K3MQ9XD2FHNW4TX"
    assert params.parse_redeem({}, path_code=CODE).user_id is None


@pytest.mark.parametrize(
    "fields, path_code, message",
    [
        ({}, None, "code: is required"),
        ({"code": 123}, None, "code: must be a string"),
        ({"uuid": None}, None, "code: is required"),
        ({"code": CODE, "user_id": ""}, None, "user_id: must be a string of 1-128 characters"),
        ({"code": CODE, "user_id": "u" * 129}, None, "user_id: must be a string of 1-128"),
        ({"code": CODE, "user_id": 42}, None, "user_id: must be a string of 1-128 characters"),
        ({"code": CODE}, CODE, "code: unknown field; expected user_id"),
        ({"code": CODE, "user": "x"}, None, "did you mean 'user_id'?"),
    ],
)
def test_redeem_rejections_name_the_field(fields, path_code, message):
    with pytest.raises(InvalidRequest) as info:
        params.parse_redeem(fields, path_code)
    assert message in info.value.message


@pytest.mark.parametrize(
    "raw", ["7K3M-Q9XD-2FHN-W4TA", "hello", "", "7K3M-Q9XD-2FHN-W4TX" + " " * 60, "💥"]
)
def test_bad_codes_are_invalid_code(raw):
    with pytest.raises(InvalidCode):
        params.parse_lookup({"code": raw})


def test_lookup_takes_nothing_else():
    assert params.parse_lookup({}, path_code=CODE) == "7K3MQ9XD2FHNW4TX"
    with pytest.raises(InvalidRequest) as info:
        params.parse_lookup({"force": True}, path_code=CODE)
    assert info.value.message == (
        "force: unknown field; this operation takes no parameters in the body"
    )
