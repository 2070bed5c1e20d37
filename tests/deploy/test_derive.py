"""How tools/checks.py derives the policy, the key and the environment from the code.

The template checks compare template.yml with what functions/ actually does: the Tablestore APIs
the store calls, its primary key column, the variables settings reads. These tests pin the
derivation on small sources, so a check cannot silently pass by deriving nothing.
"""

import textwrap

import pytest

from tools import checks
from tools.templates import TemplateError


def write(tmp_path, name, source):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def test_store_actions_are_the_sdk_methods_it_calls(tmp_path):
    store = write(
        tmp_path,
        "store.py",
        """
        PK = "code"

        class Store:
            def get(self, key):
                return self._client().get_row(self.table, key)

            def write(self, request):
                response = self._client().batch_write_row(request)
                return response.get_failed_rows()  # not an API: ignored

            def unused(self):
                "update_row is only mentioned here"
        """,
    )
    assert checks.store_actions(store) == {"ots:GetRow", "ots:BatchWriteRow"}
    assert checks.store_primary_key(store) == "code"


def test_the_api_list_comes_from_the_real_sdk():
    methods = checks.sdk_api_methods()
    assert {"get_row", "update_row", "batch_write_row", "batch_get_row"} <= methods
    assert checks.api_action("batch_get_row") == "ots:BatchGetRow"


def test_a_store_without_pk_is_an_error(tmp_path):
    with pytest.raises(TemplateError, match="no module-level PK"):
        checks.store_primary_key(write(tmp_path, "store.py", "KEY = 'code'\n"))


def test_settings_env_names_are_the_variables_from_env_reads(tmp_path):
    settings = write(
        tmp_path,
        "settings.py",
        """
        DEFAULT_TABLE = "codes"

        class Settings(object):
            @classmethod
            def from_env(cls, environ):
                values = {}
                for name, variable in (("table", "CODES_TABLE"), ("timeout", "OTS_TIMEOUT")):
                    values[name] = environ.get(variable, "")
                return cls(environ.get("OTS_ENDPOINT", ""), "X", **values)

        def credentials_from(environ):
            return environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID")
        """,
    )
    assert checks.settings_env_names(settings) == {"CODES_TABLE", "OTS_TIMEOUT", "OTS_ENDPOINT"}
    with pytest.raises(TemplateError, match=r"no Settings\.from_env"):
        checks.settings_env_names(write(tmp_path, "other.py", "x = 1\n"))
