"""Variables: every action read back from the database, secrets never shown."""

from __future__ import annotations

import json

import pytest


class TestVariables:
    def test_original_readme_set_example(self, call):
        from airflow.models import Variable

        body = call("variables", cmd="set", key="myVar1", value="myValue1").get_json()
        assert body["status"] == "OK", body
        assert Variable.get("myVar1") == "myValue1"

    def test_get_with_json_and_default(self, call):
        call("variables", cmd="set", key="cfg", value='{"a": [1, 2]}')
        assert call("variables", get="cfg").get_json()["output"]["stdout"] == '{"a": [1, 2]}\n'
        body = call("variables", get="cfg", json="").get_json()
        assert body["data"]["value"] == {"a": [1, 2]}
        assert call("variables", get="absent", default="fallback").get_json()["output"]["stdout"] == "fallback\n"

    def test_missing_variable_is_404(self, call):
        assert call("variables", get="absent").status_code == 404
        assert call("variables", delete="absent").status_code == 404

    def test_delete_and_list(self, call):
        from airflow.models import Variable

        call("variables", cmd="set", key="a", value="1")
        call("variables", cmd="set", key="b", value="2")
        assert call("variables").get_json()["data"]["keys"] == ["a", "b"]
        call("variables", delete="a")
        assert Variable.get("a", default_var=None) is None

    def test_import_and_export_as_json(self, call):
        from airflow.models import Variable

        answer = call("variables", method="POST", data={"import": json.dumps({"x": "1", "y": {"deep": True}})})
        assert answer.status_code == 200, answer.get_json()
        assert Variable.get("y", deserialize_json=True) == {"deep": True}
        exported = call("variables", export="").get_json()
        assert exported["data"] == {"x": 1, "y": {"deep": True}}

    def test_import_from_a_json_body_or_a_file(self, call):
        import io

        from airflow.models import Variable

        answer = call(
            "variables",
            method="POST",
            cmd="import",
            data=json.dumps({"from_body": "b"}),
            headers={"Content-Type": "application/json"},
        )
        assert answer.status_code == 200, answer.get_json()
        answer = call(
            "variables", method="POST", cmd="import", data={"import": (io.BytesIO(b'{"from_file": 7}'), "vars.json")}
        )
        assert answer.status_code == 200, answer.get_json()
        assert (Variable.get("from_body"), Variable.get("from_file")) == ("b", "7")

    @pytest.mark.parametrize("payload", ["{broken", "[1, 2]"])
    def test_bad_import_is_400(self, call, payload):
        assert call("variables", method="POST", data={"import": payload}).status_code == 400

    def test_set_with_json_flag_needs_json(self, call):
        assert call("variables", cmd="set", key="k", value="{nope", json="").status_code == 400

    def test_sensitive_values_are_masked_everywhere(self, call):
        from airflow.models import Variable

        body = call("variables", cmd="set", key="db_password", value="hunter2").get_json()
        assert Variable.get("db_password") == "hunter2"
        assert "hunter2" not in json.dumps(body)
        for args in ({"get": "db_password"}, {"export": ""}, {}):
            assert "hunter2" not in call("variables", **args).get_data(as_text=True)
