"""Requests an attacker would send (issue 9, items 10 and 11, and the informational findings): each gets a
clear ERROR envelope with the right status and changes nothing."""

from __future__ import annotations

import io
import json

import pytest

from tests.airflow_line import airflow2_only
from tests.helpers import dag_model

# what no metadata database changes: one pass (SQLite) runs it, the PostgreSQL passes leave it out
pytestmark = pytest.mark.same_on_every_database


def paused(dag_id: str = "sample_dag") -> bool:
    return dag_model(dag_id).is_paused


class TestCrossSite:
    """Basic credentials are sent by a browser on its own (a proxy's login, user:pass@ in a URL): a
    state change from another site must be refused, as a session's is."""

    @pytest.mark.parametrize(
        "headers",
        [
            {"Origin": "https://evil.example"},
            {"Origin": "null"},
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "cross-site", "Origin": "http://localhost"},
        ],
    )
    def test_basic_auth_state_change_from_another_site(self, call, headers):
        answer = call("unpause", who="admin", dag_id="sample_dag", headers=headers)
        assert answer.status_code == 403, answer.get_json()
        assert "another site" in answer.get_json()["output"]
        assert paused()

    @pytest.mark.parametrize("headers", [{}, {"Origin": "http://localhost"}, {"Sec-Fetch-Site": "same-origin"}])
    def test_basic_auth_state_change_from_this_site_or_a_script(self, call, headers):
        answer = call("unpause", who="admin", dag_id="sample_dag", headers=headers)
        assert answer.status_code == 200, answer.get_json()
        assert not paused()

    def test_a_read_from_another_site_is_answered(self, call):
        assert call("list_dags", who="admin", headers={"Origin": "https://evil.example"}).status_code == 200

    def test_the_token_is_not_a_browser_credential(self, call):
        answer = call("unpause", dag_id="sample_dag", headers={"Sec-Fetch-Site": "cross-site"})
        assert answer.status_code == 200, answer.get_json()

    def test_a_session_state_change_from_another_site(self, browser_session):
        client, csrf = browser_session("admin")
        answer = client.post(
            "/admin/rest_api/api",
            data={"api": "unpause", "dag_id": "sample_dag", "csrf_token": csrf},
            headers={"Origin": "https://evil.example"},
        )
        assert answer.status_code == 403 and paused()

    def test_a_text_plain_import_body_is_refused(self, call):
        """A cross-site form can post text/plain without a preflight; the raw body must be JSON."""
        from airflow.models import Variable

        answer = call(
            "variables",
            who="admin",
            method="POST",
            cmd="import",
            data='{"planted": "1"}',
            headers={"Content-Type": "text/plain"},
        )
        assert answer.status_code == 415, answer.get_json()
        assert Variable.get("planted", default_var=None) is None


class TestDeepJson:
    DEEP = "[" * 5000 + "]" * 5000
    DEEP_OBJECT = '{"a": ' * 5000 + "1" + "}" * 5000

    @pytest.mark.parametrize(
        "api, args",
        [
            ("trigger_dag", {"dag_id": "sample_dag", "conf": DEEP_OBJECT}),
            ("test", {"dag_id": "sample_dag", "task_id": "extract", "task_params": DEEP_OBJECT}),
            ("variables", {"cmd": "set", "key": "deep", "value": DEEP, "json": ""}),
            ("variables", {"import": DEEP_OBJECT}),
            ("connections", {"add": "", "conn_id": "deep", "conn_type": "http", "conn_extra": DEEP_OBJECT}),
        ],
    )
    def test_refused_with_400(self, call, api, args):
        answer = call(api, method="POST", data=args)
        body = answer.get_json()
        assert answer.status_code == 400, body
        assert "nested more than" in body["output"]

    def test_reasonable_nesting_is_fine(self, call):
        conf = json.dumps({"a": {"b": {"c": [1, [2, [3]]]}}})
        assert call("trigger_dag", dag_id="sample_dag", conf=conf).status_code == 200

    def test_a_string_full_of_brackets_is_not_nesting(self, call):
        conf = json.dumps({"text": "[" * 1000})
        assert call("trigger_dag", dag_id="sample_dag", conf=conf).status_code == 200


class TestLimits:
    def test_more_form_parts_than_the_webserver_reads(self, call):
        parts = {f"field{i}": (io.BytesIO(b"x"), f"f{i}.txt") for i in range(1100)}
        answer = call("version", method="POST", data=parts)
        assert answer.status_code == 413 and answer.mimetype == "application/json"
        body = answer.get_json()
        assert body["status"] == "ERROR" and "form fields" in body["output"]

    def test_a_body_over_the_payload_limit(self, call):
        answer = call("variables", method="POST", data={"cmd": "set", "key": "big", "value": "x" * 1_200_000})
        assert answer.status_code == 413 and answer.get_json()["status"] == "ERROR"
        assert "allowed_payload_size" in answer.get_json()["output"]

    @airflow2_only  # Flask's MAX_CONTENT_LENGTH; on Airflow 3 the FastAPI adapter counts the bytes itself
    def test_the_limit_is_a_whole_number_of_bytes(self, app):
        assert isinstance(app.config["MAX_CONTENT_LENGTH"], int)


class TestUnauthenticated:
    def test_fields_are_not_echoed(self, call):
        answer = call("variables", who="wrong_token", method="POST", data={"value": "x" * 400_000})
        body = answer.get_json()
        assert answer.status_code == 403 and body["output"] == "Token Authentication Failed"
        assert "arguments" not in body and "post_arguments" not in body
        assert len(answer.get_data()) < 2000

    def test_no_echo_without_any_credential(self, call):
        body = call("list_dags", who="anonymous", secret_probe="x").get_json()
        assert "arguments" not in body


def test_api_answers_are_not_cached_or_sniffed(call):
    for answer in (call("version"), call("version", who="wrong_token"), call("no_such_api")):
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Cache-Control"] == "no-store"


def test_a_multipart_part_without_a_name(call):
    """Found by fuzzing: a form part with no name reached dispatch as the argument None (a 500)."""
    body = (
        b"--b\r\nContent-Disposition: form-data\r\n\r\nvalue\r\n"
        b'--b\r\nContent-Disposition: form-data; name="list"\r\n\r\non\r\n--b--\r\n'
    )
    answer = call("connections", method="POST", data=body, headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert answer.status_code == 200, answer.get_json()
