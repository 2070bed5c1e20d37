"""The API's declaration (fccodes.api) is what the handlers really serve.

Runs on FC's runtimes too: the declaration must import on Python 3.6.
"""

import importlib
import inspect
import json

import pytest

from fccodes import api, app, errors, params
from fccodes.settings import DEFAULT_MAX_CODES, MAX_CODES_PER_BATCH_LIMIT


def service_errors():
    found = []
    for _, cls in inspect.getmembers(errors, inspect.isclass):
        if issubclass(cls, errors.ServiceError):
            found.append(cls)
    return found


def test_every_error_the_service_raises_is_declared_with_its_status():
    for cls in service_errors():
        assert cls.code in api.ERRORS, cls.__name__
        assert api.ERRORS[cls.code].status == cls.status, cls.code


def test_every_operation_declares_only_known_errors_and_each_error_is_answered_somewhere():
    used = set(api.ALWAYS)
    for op in api.OPERATIONS:
        assert set(op.errors) <= set(api.ERRORS), op.name
        assert op.response in api.RESPONSES, op.name
        used |= set(op.errors)
    # Answered by the gateway for a method the path does not serve, not by an operation.
    assert set(api.ERRORS) - used == {"METHOD_NOT_ALLOWED"}


def test_names_and_functions_are_unique_and_routes_distinct():
    assert len(api.BY_NAME) == len(api.OPERATIONS)
    actions = [(op.function, op.action) for op in api.OPERATIONS]
    assert len(set(actions)) == len(actions), "two operations of a function share an action"
    assert len({(op.method, op.path) for op in api.OPERATIONS}) == len(api.OPERATIONS)
    for op in api.OPERATIONS:
        assert op.auth in (api.ADMIN, api.PUBLIC)
        assert op.gateway_path.count("[") == len(op.path_parameters)


def test_the_count_limits_are_the_settings_defaults():
    assert api.MAX_CODES_PER_REQUEST == DEFAULT_MAX_CODES
    # Above it, asynchronously (fccodes.asyncgen), up to the declared maximum.
    assert api.GENERATE.field("count").maximum == api.MAX_CODES_PER_BATCH
    assert api.MAX_CODES_PER_BATCH == MAX_CODES_PER_BATCH_LIMIT


def test_each_worker_is_a_handler_module_no_route_serves():
    routed = {op.function for op in api.OPERATIONS}
    for worker in api.WORKERS:
        assert worker.name not in routed
        module = importlib.import_module(worker.name)
        assert module.handler.__module__ == worker.name
        assert set(worker.invoked_by) <= set(api.ALL_FUNCTIONS)


def test_params_take_their_names_and_limits_from_the_declaration():
    assert [name for name, _ in params.GENERATE_FIELDS] == [f.name for f in api.GENERATE.body]
    assert dict(params.GENERATE_FIELDS)["count"] == ("num",)
    assert params.MAX_USES_LIMIT == api.MAX_USES
    assert params.MAX_USER_ID_LENGTH == api.MAX_USER_ID_LENGTH


@pytest.mark.parametrize("op", api.OPERATIONS, ids=lambda op: op.name)
def test_each_handler_module_serves_its_declared_route(op):
    """The module named by the declaration answers its method and refuses any other with the
    declared one in Allow: its route is the declaration's."""
    module = importlib.import_module(op.function)
    assert module.handler.__module__ == op.function
    operation = [o for o in vars(app).values() if isinstance(o, app.Operation)]
    for function in vars(app).values():  # handlers serving several operations (campaigns)
        if isinstance(function, app.Function):
            operation.extend(function.operations)
    assert [o.route.template for o in operation if o.declared is op] == [op.path]
    other = "PUT"
    path = op.path.replace("{code}", "7K3M-Q9XD-2FHN-W4TX").replace("{batch}", "spring")
    event = {"httpMethod": other, "path": path, "headers": {}, "body": ""}
    answer = json.loads(module.handler(json.dumps(event).encode("utf-8"), None))
    assert answer["statusCode"] == 405
    assert op.method in answer["headers"]["Allow"]
    assert json.loads(answer["body"])["error"]["code"] == "METHOD_NOT_ALLOWED"
