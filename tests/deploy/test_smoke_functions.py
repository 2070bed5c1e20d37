"""tools.smoke against the real functions, as deployed by template.yml, on the local Tablestore.

`responses` stands in for FC's invoke API only: each invocation runs the handler that
template.yml names for that function (its initializer first, once, as FC does), with
template.yml's environment (endpoint and instance aimed at ots_local) and an FC-like context, on
a table created with template.yml's primary key. So the smoke test's expectations are checked
against the real handlers, not a fake. The run over real HTTP against the local stack's FC
invoke API is tests/localdev/test_stack.py.
"""

import importlib
import json
import re

import pytest
import responses

from fccodes import app
from harness import ots_server, tables
from harness.fc import FCContext, server_credentials
from tools import smoke
from tools.templates import load_fun_template

ENDPOINT = "https://1234567890123456.cn-hangzhou.fc.aliyuncs.com"
INVOKE_RE = re.compile(re.escape(ENDPOINT) + r"/2016-08-15/services/([\w-]+)/functions/(\w+)/")


@pytest.fixture(scope="module")
def ots():
    server = ots_server.start(use_real=False, extra_args=["--quiet"])
    yield server
    server.stop()


@pytest.fixture
def deployed(ots, monkeypatch):
    """template.yml's functions on the local server: {function: (module, initialized?)}."""
    tpl = load_fun_template()
    ots.reset()
    for table in tpl.tables:  # as make run creates them (the codes table with its index)
        tables.create_declared(tables.client_for(ots), table.name, table.primary_key)
    env = tpl.functions["gen_code"].env
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OTS_ENDPOINT", ots.endpoint)
    monkeypatch.setenv("OTS_INSTANCE", ots.instance)
    app.configure(None)  # the runtime is built from this environment on first use
    yield tpl, ots
    app.configure(None)


def test_the_smoke_test_passes_against_the_real_functions(deployed, capsys):
    tpl, ots = deployed
    invoked, initialized = [], set()

    def invoke(request):
        service, function = INVOKE_RE.match(request.url).groups()
        assert service == tpl.service
        fn = tpl.functions[function]
        context = FCContext(
            request_id=f"req-{len(invoked)}",
            credentials=server_credentials(ots),
            timeout=fn.timeout_s,
            name=function,
        )
        if function not in initialized:
            module, attr = fn.initializer.rsplit(".", 1)
            getattr(importlib.import_module(module), attr)(context)
            initialized.add(function)
        module, attr = fn.handler.rsplit(".", 1)
        result = getattr(importlib.import_module(module), attr)(request.body, context)
        invoked.append((function, json.loads(result)))
        return 200, {"x-fc-request-id": context.request_id}, result

    env = {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI-local",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "local-secret",
        "FC_ENDPOINT": ENDPOINT,
    }
    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.POST, INVOKE_RE, callback=invoke)
        status = smoke.main([], env=env)
    out = capsys.readouterr().out
    assert status == 0, out
    assert out.splitlines()[-1] == "smoke: passed"
    assert [f for f, _ in invoked] == [
        "gen_code", "query_code", "use_code", "use_code", "batch_code", "batch_code", "use_code",
        "batch_code", "admin_code", "use_code", "del_code", "query_code", "del_code", "del_code",
    ]  # fmt: skip
    assert invoked[3][1]["error"]["code"] == "CODE_ALREADY_USED"
    assert invoked[6][1]["error"]["code"] == "CODE_DISABLED"
    assert invoked[11][1]["error"]["code"] == "CODE_NOT_FOUND"
    # Nothing left behind in the table.
    assert tables.scan(tables.client_for(ots), tpl.tables[0].name) == {}
