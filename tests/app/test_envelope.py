"""The envelope every answer has, and the errors old clients rely on."""

from __future__ import annotations

import re

import pytest

# what no metadata database changes: one pass (SQLite) runs it, the PostgreSQL passes leave it out
pytestmark = pytest.mark.same_on_every_database

HTTP_DATE = re.compile(r"^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$")


def test_version_envelope(call):
    answer = call("version")
    body = answer.get_json()
    from airflow import __version__

    assert answer.status_code == 200
    assert answer.mimetype == "application/json"
    assert body["status"] == "OK"
    assert body["output"] == __version__
    assert body["airflow_cmd"] == "airflow version"
    assert body["arguments"] == {"api": "version"}
    assert body["http_response_code"] == 200
    assert HTTP_DATE.match(body["call_time"]) and HTTP_DATE.match(body["response_time"])
    assert body["data"] == {"version": __version__}


def test_plugin_version(call):
    from rest_api_plugin import __version__

    assert call("rest_api_plugin_version").get_json()["output"] == __version__


def test_missing_api_is_400(call):
    answer = call(None)
    assert answer.status_code == 400
    assert answer.get_json()["output"] == "API should be provided"


def test_unknown_api_is_400_naming_it(call):
    body = call("no_such_api").get_json()
    assert body["http_response_code"] == 400 and body["status"] == "ERROR"
    assert "no_such_api" in body["output"]


def test_api_name_is_case_and_space_insensitive(call):
    assert call(" Version ").get_json()["status"] == "OK"


def test_unknown_argument_is_ignored_with_a_warning(call):
    """The original plugin ignored arguments it did not know; clients still send leftovers."""
    body = call("pause", dag_id="sample_dag", dagid="typo", metadata="null").get_json()
    assert body["status"] == "OK", body
    assert body["warning"] == "Ignored unknown arguments: dagid, metadata"
    assert body["arguments"]["dagid"] == "typo"  # still shown as received


def test_unknown_argument_is_400_with_field_messages_when_strict(call, monkeypatch):
    monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__STRICT_ARGUMENTS", "True")
    body = call("pause", dag_id="sample_dag", dagid="typo").get_json()
    assert body["http_response_code"] == 400
    assert "dagid" in body["data"]["errors"]
    from tests.helpers import dag_model

    assert dag_model("sample_dag").is_paused  # nothing changed


def test_a_bad_value_of_a_known_argument_is_still_400(call):
    body = call("pause", dag_id="not a dag id!", dagid="typo").get_json()
    assert body["http_response_code"] == 400 and "dag_id" in body["data"]["errors"]


def test_form_arguments_count_like_query_arguments(call):
    answer = call("pause", method="POST", data={"dag_id": "sample_dag"})
    body = answer.get_json()
    assert answer.status_code == 200, body
    assert body["post_arguments"] == {"dag_id": "sample_dag"}
    assert body["arguments"]["dag_id"] == "sample_dag"


def test_get_with_a_form_body_names_the_api_there(call):
    """Old clients send GET requests with form bodies, the api name included."""
    answer = call(None, method="GET", data={"api": "pause", "dag_id": "sample_dag"})
    body = answer.get_json()
    assert answer.status_code == 200, body
    assert body["post_arguments"] == {"api": "pause", "dag_id": "sample_dag"}


def test_other_methods_get_an_envelope(call):
    answer = call("version", method="PUT")
    assert answer.status_code == 405
    assert answer.get_json()["status"] == "ERROR"


@pytest.mark.parametrize("api", ["pause", "trigger_dag", "list_tasks"])
def test_missing_dag_id_is_400(call, api):
    body = call(api).get_json()
    assert body["http_response_code"] == 400
    assert body["data"]["errors"]["dag_id"] == ["dag_id is required."]


def test_unexpected_error_is_500_envelope_without_traceback(call, monkeypatch):
    from rest_api_plugin.services import about

    def broken(args, ctx):
        raise RuntimeError("boom in /secret/path")

    monkeypatch.setattr(about, "airflow_version", broken)
    from rest_api_plugin import registry

    endpoint = registry.BY_NAME["version"]
    monkeypatch.setitem(registry.BY_NAME, "version", type(endpoint)(**{**endpoint.__dict__, "handler": broken}))
    body = call("version").get_json()
    assert body["http_response_code"] == 500 and body["status"] == "ERROR"
    assert "Traceback" not in body["output"] and "/secret/path" not in body["output"]


# Every endpoint that takes subdir, with arguments that would fail after validation (so nothing runs).
SUBDIR_CALLS = {
    "list_dags": {},
    "list_tasks": {"dag_id": "no_such_dag"},
    "pause": {"dag_id": "no_such_dag"},
    "unpause": {"dag_id": "no_such_dag"},
    "trigger_dag": {"dag_id": "no_such_dag"},
    "dag_state": {"dag_id": "no_such_dag", "execution_date": "2024-01-01"},
    "task_state": {"dag_id": "no_such_dag", "task_id": "t", "execution_date": "2024-01-01"},
    "render": {"dag_id": "no_such_dag", "task_id": "t", "execution_date": "2024-01-01"},
    "task_failed_deps": {"dag_id": "no_such_dag", "task_id": "t", "execution_date": "2024-01-01"},
    "test": {"dag_id": "no_such_dag", "task_id": "t"},
    "run": {"dag_id": "no_such_dag", "task_id": "t"},
    "clear": {"dag_id": "no_such_dag", "dry_run": "true"},
    "backfill": {"dag_id": "no_such_dag", "start_date": "2024-01-01"},
    "scheduler": {"num_runs": "many"},
    "dag_processor": {"num_runs": "many"},
    "dag_details": {"dag_id": "no_such_dag"},
    "next_execution": {"dag_id": "no_such_dag"},
    "show_dag": {"dag_id": "no_such_dag"},
    "list_import_errors": {},
    "states_for_dag_run": {"dag_id": "no_such_dag", "execution_date": "2024-01-01"},
    "dag_test": {"dag_id": "no_such_dag"},
}


def test_subdir_calls_cover_every_endpoint_with_subdir():
    from rest_api_plugin import registry

    with_subdir = {e.name for e in registry.ENDPOINTS if "subdir" in e.schema().fields}
    assert set(SUBDIR_CALLS) == with_subdir


@pytest.mark.parametrize("subdir", ["a\x00b", "dags\x01", "line\nbreak", "del\x7f"])
@pytest.mark.parametrize("api", sorted(SUBDIR_CALLS))
def test_control_characters_in_a_path_are_refused(call, api, subdir):
    """A NUL byte made Python's path functions raise (a 500); no control character belongs in a path."""
    body = call(api, subdir=subdir, **SUBDIR_CALLS[api]).get_json()
    assert body["http_response_code"] == 400 and "subdir" in body["data"]["errors"], body
