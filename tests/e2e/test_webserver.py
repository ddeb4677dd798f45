"""End to end: the core endpoints through a real ``airflow webserver`` (tests/e2e/conftest.py starts it),
driven over HTTP as old clients call them; effects are read back from the database.

    .venv/bin/python -m pytest tests/e2e -m e2e        (or just this file; deselect with -m "not e2e")
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.e2e.servers import AIRFLOW, API
from tests.helpers import PASSWORD, TOKEN

pytestmark = [pytest.mark.e2e, pytest.mark.smoke]


def db_run(dag_id: str, run_id: str):
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter_by(dag_id=dag_id, run_id=run_id).one_or_none()
        return None if run is None else {"conf": run.conf, "state": run.state, "run_type": str(run.run_type)}


def db_is_paused(dag_id: str) -> bool:
    from airflow.models import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        return session.get(DagModel, dag_id).is_paused


def test_plugin_comes_from_the_installed_package(webserver):
    """`airflow plugins` finds rest_api_plugin through the package's entry point, not a plugins folder."""
    out = subprocess.run(
        [*AIRFLOW, "plugins", "--output", "json"],
        env=webserver.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    listing = next(line for line in out.splitlines() if line.startswith("[{"))  # log lines may come first
    plugins = {p["name"]: p for p in json.loads(listing)}
    source = plugins["rest_api_plugin"]["source"]
    assert source.startswith("airflow-rest-api-plugin=="), source
    assert "EntryPoint(name='rest_api_plugin', value='rest_api_plugin.plugin:RestApiPlugin'" in source
    assert "group='airflow.plugins'" in source


def test_version_with_the_legacy_underscore_token_header(webserver):
    from airflow import __version__

    answer = webserver.get("version")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "OK"
    assert body["output"] == __version__
    assert body["http_response_code"] == 200
    assert body["airflow_cmd"] == "airflow version"
    assert body["arguments"] == {"api": "version"}
    assert set(body) >= {
        "airflow_cmd",
        "arguments",
        "post_arguments",
        "call_time",
        "response_time",
        "output",
        "status",
        "http_response_code",
        "data",
    }


def test_version_with_the_hyphenated_token_header(webserver):
    answer = webserver.get("version", token=None, headers={"rest-api-plugin-http-token": TOKEN})
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("headers", [{"rest_api_plugin_http_token": "not-the-token"}, {}])
def test_wrong_or_missing_token_is_403(webserver, headers):
    answer = webserver.get("version", token=None, headers=headers)
    assert answer.status_code == 403
    body = answer.json()
    assert body["status"] == "ERROR"
    assert body["output"] == "Token Authentication Failed"
    assert body["http_response_code"] == 403


def test_list_dags(webserver):
    body = webserver.get("list_dags").json()
    assert body["status"] == "OK", body
    dag_ids = [dag["dag_id"] for dag in body["data"]["dags"]]
    assert {"sample_dag", "other_dag"} <= set(dag_ids)
    assert "sample_dag" in body["output"]["stdout"].splitlines()


def test_trigger_dag_with_conf_then_its_state(webserver):
    # The original README's URL, conf URL-encoded by hand: requests must not re-encode it.
    url = f"{webserver.url}{API}?api=trigger_dag&dag_id=sample_dag&run_id=e2e_run&conf=%7B%22key%22%3A%22value%22%7D"
    answer = webserver.call("GET", "trigger_dag", url=url)
    body = answer.json()
    assert answer.status_code == 200 and body["status"] == "OK", body
    assert body["output"]["stdout"].startswith("Created <DagRun sample_dag @")
    assert body["data"]["run_id"] == "e2e_run"
    assert body["arguments"]["conf"] == '{"key":"value"}'

    state = webserver.get("dag_state", dag_id="sample_dag", run_id="e2e_run").json()
    assert state["status"] == "OK", state
    assert state["data"]["conf"] == {"key": "value"}
    assert state["data"]["state"] in ("queued", "running")  # no scheduler here: it stays queued

    by_date = webserver.get("dag_state", dag_id="sample_dag", execution_date=body["data"]["logical_date"]).json()
    assert by_date["data"]["run_id"] == "e2e_run", by_date

    assert db_run("sample_dag", "e2e_run") == {
        "conf": {"key": "value"},
        "state": state["data"]["state"],
        "run_type": "manual",
    }


def test_pause_and_unpause(webserver):
    assert db_is_paused("sample_dag") is True  # conftest's clean_db pauses every DAG
    body = webserver.get("unpause", dag_id="sample_dag").json()
    assert body["status"] == "OK", body
    assert db_is_paused("sample_dag") is False
    body = webserver.get("pause", dag_id="sample_dag").json()
    assert body["status"] == "OK", body
    assert db_is_paused("sample_dag") is True


def test_basic_auth_as_admin(webserver):
    answer = webserver.call("GET", "version", token=None, auth=("admin", PASSWORD))
    assert answer.status_code == 200, answer.text
    assert "Set-Cookie" not in answer.headers  # a script's call leaves no session behind
    answer = webserver.call("GET", "unpause", token=None, auth=("admin", PASSWORD), params={"dag_id": "other_dag"})
    assert answer.status_code == 200, answer.text
    assert db_is_paused("other_dag") is False


def test_basic_auth_with_a_wrong_password_is_refused(webserver):
    answer = webserver.call("GET", "version", token=None, auth=("admin", "wrong-password"))
    assert answer.status_code == 403
    assert answer.json()["output"] == "Token Authentication Failed"


def test_form_post(webserver):
    """A form POST: the api name and the arguments in the body, as HTML forms and old clients send them."""
    answer = webserver.call(
        "POST",
        "trigger_dag",
        url=f"{webserver.url}{API}",
        data={"api": "trigger_dag", "dag_id": "sample_dag", "run_id": "from_form", "conf": '{"source": "form"}'},
    )
    body = answer.json()
    assert answer.status_code == 200 and body["status"] == "OK", body
    assert body["post_arguments"]["run_id"] == "from_form"
    assert db_run("sample_dag", "from_form")["conf"] == {"source": "form"}


def test_post_with_basic_auth_needs_no_csrf_token(webserver):
    answer = webserver.call("POST", "pause", token=None, auth=("op", PASSWORD), data={"dag_id": "sample_dag"})
    assert answer.status_code == 200, answer.text


def test_viewer_may_read_but_not_write(webserver):
    assert webserver.call("GET", "list_dags", token=None, auth=("viewer", PASSWORD)).status_code == 200
    answer = webserver.call(
        "GET", "trigger_dag", token=None, auth=("viewer", PASSWORD), params={"dag_id": "sample_dag"}
    )
    assert answer.status_code == 403, answer.text
