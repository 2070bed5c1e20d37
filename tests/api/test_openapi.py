"""docs/openapi.json: current, valid OpenAPI 3.1, complete, and its examples are real answers."""

import json

import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from fccodes import api
from tools import openapi


@pytest.fixture(scope="module")
def generated():
    return openapi.build(openapi.record())


@pytest.fixture(scope="module")
def committed():
    return json.loads(openapi.DOCUMENT.read_text(encoding="utf-8"))


def test_the_committed_document_is_what_make_openapi_writes(generated):
    text = openapi.DOCUMENT.read_text(encoding="utf-8")
    assert text == openapi.render(generated), "docs/openapi.json is stale: run make openapi"


def test_it_is_valid_openapi_3_1(committed):
    assert committed["openapi"].startswith("3.1")
    validate(committed)


def test_every_declared_route_is_there_with_its_auth(committed):
    documented = {
        (method.upper(), path): spec
        for path, methods in committed["paths"].items()
        for method, spec in methods.items()
    }
    assert set(documented) == {(op.method, op.path) for op in api.OPERATIONS}
    for op in api.OPERATIONS:
        spec = documented[(op.method, op.path)]
        assert spec["operationId"] == op.name
        expected = [{openapi.SECURITY: []}] if op.auth == api.ADMIN else []
        assert spec["security"] == expected, op.name


def _resolve(document, schema):
    ref = schema.get("$ref")
    return document["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else schema


def test_every_operation_has_a_success_example_and_every_error_code_a_real_answer(committed):
    codes_with_examples = set()
    for op in api.OPERATIONS:
        spec = committed["paths"][op.path][op.method.lower()]
        success = spec["responses"][str(op.status)]["content"]["application/json"]
        assert success.get("examples"), "%s: no recorded %d answer in tools/openapi.py's walk" % (
            op.name,
            op.status,
        )
        for code in (*op.errors, *api.ALWAYS):
            error = api.ERRORS[code]
            content = spec["responses"][str(error.status)]["content"]["application/json"]
            if code in content.get("examples", {}):
                codes_with_examples.add(code)
    declared = {c for op in api.OPERATIONS for c in op.errors} | set(api.ALWAYS)
    missing = declared - codes_with_examples
    assert not missing, "no recorded answer for %s: add it to tools/openapi.py's walk" % missing


def test_every_example_conforms_to_its_schema(committed):
    checked = 0
    for methods in committed["paths"].values():
        for spec in methods.values():
            for status, response in spec["responses"].items():
                content = response["content"]["application/json"]
                schema = _resolve(committed, content["schema"])
                validator = OAS31Validator({**schema, "components": committed["components"]})
                for name, example in content.get("examples", {}).items():
                    errors = [e.message for e in validator.iter_errors(example["value"])]
                    assert not errors, (spec["operationId"], status, name, errors)
                    if "error" in example["value"]:
                        assert example["value"]["error"]["code"] == name
                        assert api.ERRORS[name].status == int(status)
                    checked += 1
    assert checked >= 25


def test_query_and_header_parameters_csv_answers_and_other_successes_are_described():
    """What later routes declare (paged listings, CSV, idempotent replays) becomes valid OpenAPI."""
    listing = api.Operation(
        "list_things",
        "thing_code",
        "GET",
        "/codes/{code}/things",
        api.ADMIN,
        "List things",
        "A page of things.",
        (),
        200,
        "CodeInfo",
        ("INVALID_CODE",),
        action="things",
        query=(api.Field("limit", api.INTEGER, "page size", minimum=1, maximum=1000),),
        headers=(api.Field("Idempotency-Key", api.STRING, "a retry key", max_length=64),),
        media=(api.JSON, api.CSV),
        other_statuses=((202, "Deleted", "accepted"),),
    )
    document = openapi.build({}, (*api.OPERATIONS, listing))
    validate(document)
    spec = document["paths"]["/codes/{code}/things"]["get"]
    params = {(p["in"], p["name"]): p for p in spec["parameters"]}
    assert params[("query", "limit")]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 1000,
    }
    assert params[("query", "limit")]["required"] is False
    assert params[("header", "Idempotency-Key")]["schema"]["maxLength"] == 64
    assert set(spec["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    assert spec["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Deleted"
    }
    # A generated batch's first code leads to the new operation too, and its answer (a code's
    # info) back to the others.
    generated = document["paths"]["/codes"]["post"]["responses"]["201"]["links"]
    assert generated["list_things"]["parameters"] == {"code": "$response.body#/codes/0"}
    assert spec["responses"]["200"]["links"]["redeem"]["parameters"] == {
        "code": "$response.body#/code"
    }
