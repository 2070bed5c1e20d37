"""Configuration and credentials: validated once, failing fast with the variable's name."""

from datetime import timedelta

import pytest

from fccodes.errors import ConfigurationError
from fccodes.settings import Credentials, Settings, credentials_from

from .helpers import Attributes

BASE = {"OTS_ENDPOINT": "https://inst.cn-hangzhou.ots.aliyuncs.example", "OTS_INSTANCE": "inst"}


def test_defaults():
    settings = Settings.from_env(BASE)
    assert settings.table == "codes"
    assert settings.timezone.utcoffset(None) == timedelta(hours=8)
    assert (settings.code_length, settings.max_codes_per_request) == (15, 10000)
    assert (settings.gen_concurrency, settings.ots_timeout) == (8, 5.0)


def test_every_variable():
    env = dict(
        BASE,
        CODES_TABLE="promo",
        CODE_TIMEZONE="-05:00",
        CODE_LENGTH="20",
        MAX_CODES_PER_REQUEST="500",
        GEN_CONCURRENCY="2",
        OTS_TIMEOUT="1.5",
    )
    settings = Settings.from_env(env)
    assert settings.table == "promo"
    assert settings.timezone.utcoffset(None) == timedelta(hours=-5)
    assert (settings.code_length, settings.max_codes_per_request) == (20, 500)
    assert (settings.gen_concurrency, settings.ots_timeout) == (2, 1.5)


def test_big_batches_need_the_worker_and_room_above_the_synchronous_limit():
    assert not Settings.from_env(BASE).asynchronous  # no GEN_WORKER: no big batches
    env = dict(
        BASE,
        GEN_WORKER="fc-codes/gen_chunk",
        INVOKE_ENDPOINT="http://127.0.0.1:8080/",
        MAX_CODES_PER_BATCH="200000",
        GEN_CHUNK_SIZE="500",
        GEN_DEADLINE="600",
    )
    settings = Settings.from_env(env)
    assert settings.asynchronous
    assert (settings.gen_worker, settings.invoke_endpoint) == (
        "fc-codes/gen_chunk",
        "http://127.0.0.1:8080",
    )
    assert (settings.max_codes_per_batch, settings.chunk_size, settings.gen_deadline) == (
        200000,
        500,
        600,
    )
    assert Settings.from_env(dict(env, GEN_WORKER="fc-codes-gen_chunk")).asynchronous  # FC 3.0
    assert not Settings.from_env(dict(env, MAX_CODES_PER_BATCH="10000")).asynchronous


def test_table_names_tablestore_accepts():
    for name in ("codes", "_codes_2024", "C" * 255):
        assert Settings.from_env(dict(BASE, CODES_TABLE=name)).table == name


def test_blank_values_mean_default():
    assert Settings.from_env(dict(BASE, CODE_LENGTH=" ", CODES_TABLE="")).code_length == 15


@pytest.mark.parametrize(
    "change, message",
    [
        ({"OTS_ENDPOINT": ""}, "OTS_ENDPOINT is required"),
        ({"OTS_ENDPOINT": "inst.ots.example"}, "OTS_ENDPOINT must start with http://"),
        ({"OTS_INSTANCE": " "}, "OTS_INSTANCE is required"),
        ({"CODES_TABLE": "codes-prod"}, "CODES_TABLE must be a Tablestore table name"),
        ({"CODES_TABLE": "2024codes"}, "CODES_TABLE must be a Tablestore table name"),
        ({"CODES_TABLE": "c" * 256}, "CODES_TABLE must be a Tablestore table name"),
        ({"CODE_TIMEZONE": "Asia/Shanghai"}, "CODE_TIMEZONE: expected a UTC offset"),
        ({"CODE_LENGTH": "9"}, "CODE_LENGTH must be in 10..22, got 9"),
        ({"CODE_LENGTH": "23"}, "CODE_LENGTH must be in 10..22, got 23"),
        ({"CODE_LENGTH": "ten"}, "CODE_LENGTH must be an integer, got 'ten'"),
        ({"MAX_CODES_PER_REQUEST": "0"}, "MAX_CODES_PER_REQUEST must be in 1..100000"),
        ({"GEN_CONCURRENCY": "100"}, "GEN_CONCURRENCY must be in 1..64"),
        ({"OTS_TIMEOUT": "fast"}, "OTS_TIMEOUT must be a number"),
        ({"GEN_WORKER": "svc/fn/extra"}, "GEN_WORKER must name a function as `service/function`"),
        ({"GEN_WORKER": "fc codes"}, "GEN_WORKER must name a function"),
        ({"INVOKE_ENDPOINT": "fc.example"}, "INVOKE_ENDPOINT must start with http://"),
        ({"MAX_CODES_PER_BATCH": "10000001"}, "MAX_CODES_PER_BATCH must be in 1..10000000"),
        ({"GEN_CHUNK_SIZE": "10001"}, "GEN_CHUNK_SIZE must be in 10..10000"),
        ({"GEN_DEADLINE": "5"}, "GEN_DEADLINE must be in 10..86400"),
    ],
)
def test_bad_values_fail_fast_naming_the_variable(change, message):
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env(dict(BASE, **change))
    assert message in str(info.value)


def test_credentials_from_the_fc_context_snake_or_camel_case_or_dict():
    snake = Attributes(access_key_id="AK", access_key_secret="SK", security_token="TOKEN")
    camel = Attributes(accessKeyId="AK", accessKeySecret="SK", securityToken="TOKEN")
    as_dict = {"accessKeyId": "AK", "accessKeySecret": "SK", "securityToken": "TOKEN"}
    for found in (snake, camel, as_dict):
        assert credentials_from(Attributes(credentials=found), {}) == Credentials(
            "AK", "SK", "TOKEN"
        )


def test_an_empty_token_is_no_token():
    found = Attributes(access_key_id="AK", access_key_secret="SK", security_token="")
    assert credentials_from(Attributes(credentials=found), {}).security_token is None


def test_credentials_from_the_environment_when_the_context_has_none():
    env = {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "AK",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "SK",
        "ALIBABA_CLOUD_SECURITY_TOKEN": "T",
    }
    assert credentials_from(Attributes(), env) == Credentials("AK", "SK", "T")
    empty = Attributes(credentials=Attributes(access_key_id="", access_key_secret=""))
    assert credentials_from(empty, env) == Credentials("AK", "SK", "T")


def test_no_credentials_at_all_is_a_clear_error():
    with pytest.raises(ConfigurationError) as info:
        credentials_from(Attributes(), {})
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" in str(info.value)


def test_credentials_never_show_their_secret():
    shown = repr(Credentials("AK", "very-secret", "token-value"))
    assert "very-secret" not in shown
    assert "token-value" not in shown
