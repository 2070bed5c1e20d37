"""The sample events shipped for users (events/) and the recorded ones (tests/events/) decode.

Every file must be a valid invocation of the function its name says: right shape, method, path
and parameters. (The handler tests run the recorded events against the store.)
"""

import os

import pytest

from fccodes import app, events, importing, params
from fccodes.settings import Settings

from .helpers import EVENTS_DIR

ROOT = os.path.dirname(os.path.dirname(EVENTS_DIR))
SAMPLES_DIR = os.path.join(ROOT, "events")
OPERATIONS = {
    "gen_code": app.GENERATE,
    "use_code": app.REDEEM,
    "query_code": app.QUERY,
    "del_code": app.DELETE,
    "batch_code": app.BATCH,
    "admin_code": app.CODE_ADMIN,
    "import_code": app.IMPORT,
}
CAMPAIGNS = (app.BATCH, app.CODE_ADMIN)
SETTINGS = Settings("http://127.0.0.1:1", "inst")
NOW = 1796054400000


def event_files():
    found = []
    for directory in (SAMPLES_DIR, EVENTS_DIR):
        for folder, _, names in os.walk(directory):
            found.extend(os.path.join(folder, n) for n in sorted(names) if n.endswith(".json"))
    return found


def operation_of(path):
    name = os.path.basename(path)
    for prefix, operation in OPERATIONS.items():
        if prefix in name:
            return operation
    raise AssertionError("no function named in " + path)


def test_there_are_samples_for_every_function_and_shape():
    names = [os.path.relpath(p, SAMPLES_DIR) for p in event_files() if p.startswith(SAMPLES_DIR)]
    for function, operation in OPERATIONS.items():
        variants = ["%s.json", "apigw/%s.json", "http/%s.json"]
        if operation not in (*CAMPAIGNS, app.IMPORT):  # the tutorial knew the four only
            variants.append("%s.tutorial.json")
        for variant in variants:
            assert variant % function in names


@pytest.mark.parametrize("path", event_files(), ids=lambda p: os.path.relpath(p, ROOT))
def test_every_event_decodes_and_validates(path):
    operation = operation_of(path)
    with open(path, "rb") as f:
        incoming = events.decode_any(f.read(), [op.route for op in operation.operations])
    if operation in CAMPAIGNS:
        operation = app.pick(operation, incoming)
    if operation is app.GENERATE:
        assert params.parse_generate(incoming.params, SETTINGS, NOW).count >= 1
    elif operation is app.IMPORT:
        if incoming.body is not None:
            entries, _ = importing.parse_body(incoming.body, incoming.content_type)
            assert incoming.path_batch == "summer-mailing"
        else:
            entries = importing.parse_json_list(incoming.params["codes"])
        assert entries
    elif operation is app.REDEEM:
        assert params.parse_redeem(incoming.params, incoming.path_code).key
    elif operation.route.template.startswith("/batches/"):
        listing = operation.name == "batch_codes"
        assert params.parse_batch(incoming.params, incoming.path_batch, listing).batch
    elif operation.name == "rollback":
        assert params.parse_rollback(incoming.params, incoming.path_code).key
    elif operation.name == "redemptions":
        assert params.parse_redemptions(incoming.params, incoming.path_code).key
    else:
        assert params.parse_lookup(incoming.params, incoming.path_code)
