"""Secrets never leave: not in `data`, `output`, `arguments` or the audit log (issue 9, items 4 to 6).

Each case is a real request through Airflow's app, with the secret stored where Airflow keeps it.
"""

from __future__ import annotations

import json

import pytest

from tests.airflow_line import reread_sensitive_names
from tests.helpers import dag_source, forget_dag, write_dag_file

SECRET = "s3cr3t-value-81f2"

TEMPLATED_DAG = """
from datetime import datetime
from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG(dag_id="templated_secret", start_date=datetime(2024, 1, 1), schedule=None, catchup=False):
    BashOperator(task_id="uses_key", bash_command="curl -H 'key: {{{{ var.value.some_api_key }}}}' {{{{ ds }}}}",
                 env={{"password": "{{{{ var.value.plain_setting }}}}"}})
"""


def everything_shown(body: dict) -> str:
    return json.dumps(body)


def audit_rows(event: str) -> str:
    from airflow.models.log import Log
    from airflow.utils.session import create_session

    with create_session() as session:
        return json.dumps([row.extra for row in session.query(Log).filter(Log.event == f"rest_api_plugin.{event}")])


class TestRender:
    @pytest.fixture
    def templated_dag(self, app):
        path = write_dag_file("templated_secret.py", dag_source(TEMPLATED_DAG))
        yield
        path.unlink()
        forget_dag("templated_secret")

    def test_a_sensitive_variable_is_masked_in_rendered_fields(self, call, templated_dag):
        from airflow.models import Variable

        Variable.set("some_api_key", SECRET)
        Variable.set("plain_setting", "visible-value")
        body = call("render", dag_id="templated_secret", task_id="uses_key", execution_date="2024-01-02").get_json()
        assert body["status"] == "OK", body
        assert SECRET not in everything_shown(body)
        assert body["data"]["rendered"]["bash_command"] == "curl -H 'key: ***' 2024-01-02"
        # a field under a sensitive name is masked whole, as Airflow's Rendered Template view does
        assert body["data"]["rendered"]["env"] == {"password": "***"}


class TestConnectionSecrets:
    EXTRA = {
        "api_key": "k-" + SECRET,
        "token": "t-" + SECRET,
        "nested": {"password": "p-" + SECRET},
        "region": "eu-west-1",
    }

    def test_sensitive_extra_keys_are_masked_everywhere(self, call):
        body = call(
            "connections",
            add="",
            conn_id="svc",
            conn_type="http",
            conn_host="api.example.com",
            conn_extra=json.dumps(self.EXTRA),
        ).get_json()
        assert body["status"] == "OK", body
        deleted = call("connections", delete="", conn_id="svc").get_json()
        for shown in (everything_shown(body), everything_shown(deleted), audit_rows("connections")):
            assert SECRET not in shown
        assert "eu-west-1" in everything_shown(body)  # what is not secret stays readable
        assert json.loads(body["arguments"]["conn_extra"])["nested"] == {"password": "***"}
        assert body["data"]["extra"]["api_key"] == "***"

    def test_sensitive_uri_query_parameters_are_masked(self, call):
        uri = f"http://api.example.com/v1?token={SECRET}&region=eu&client_secret={SECRET}"
        body = call("connections", add="", conn_id="q", conn_uri=uri).get_json()
        assert body["status"] == "OK", body
        assert SECRET not in everything_shown(body) and SECRET not in audit_rows("connections")
        assert "region=eu" in body["data"]["uri"] and "token=***" in body["arguments"]["conn_uri"]
        from airflow.models import Connection

        assert Connection.get_connection_from_secrets("q").extra_dejson["token"] == SECRET  # stored as given

    def test_a_password_with_at_signs(self, call):
        body = call("connections", add="", conn_id="at", conn_uri=f"postgres://u:head@{SECRET}@db.example.com/db")
        body = body.get_json()
        assert body["status"] == "OK", body
        assert SECRET not in everything_shown(body) and "head" not in body["data"]["uri"]
        assert body["arguments"]["conn_uri"] == "postgres://u:***@db.example.com/db"
        from airflow.models import Connection

        assert Connection.get_connection_from_secrets("at").password == f"head@{SECRET}"

    def test_sensitive_var_conn_names(self, call, monkeypatch):
        monkeypatch.setenv("AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES", "license_code")
        reread_sensitive_names()  # Airflow keeps the list for the process
        try:
            body = call(
                "connections", add="", conn_id="lic", conn_type="http", conn_extra=json.dumps({"license_code": SECRET})
            ).get_json()
        finally:
            monkeypatch.delenv("AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES")
            reread_sensitive_names()
        assert body["status"] == "OK", body
        assert SECRET not in everything_shown(body)

    def test_an_extra_that_is_not_json_is_refused(self, call):
        body = call("connections", add="", conn_id="bad", conn_type="http", conn_extra=f"token {SECRET}").get_json()
        assert body["http_response_code"] == 400 and SECRET not in everything_shown(body)


def test_mask_uri_keeps_what_is_not_secret():
    from rest_api_plugin.masking import mask_uri

    assert mask_uri("postgres://u:p@h:5432/db?sslmode=require") == "postgres://u:***@h:5432/db?sslmode=require"
    assert mask_uri("http://h/path") == "http://h/path"
    assert mask_uri("http://user@h/") == "http://user@h/"
    assert mask_uri("http://h/?api_key=1&x=2#frag") == "http://h/?api_key=***&x=2#frag"
