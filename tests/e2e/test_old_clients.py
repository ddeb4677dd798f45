"""Old clients against a real ``airflow webserver``: the answer shapes they parse, in every output format.

The session's webserver runs with the defaults (``streams``, RFC 1123 times, unknown arguments ignored);
a second one, started for this module's last tests, is configured the other way (``text``, ISO 8601,
strict arguments) to show the settings reach a real server.
"""

from __future__ import annotations

import re
from datetime import datetime

import pytest
import requests

from tests.e2e.servers import API, running_webserver
from tests.helpers import TOKEN

pytestmark = pytest.mark.e2e

DATE = "2024-05-06T07:08:09"


@pytest.fixture
def client_run(webserver):
    body = webserver.get(
        "trigger_dag", dag_id="sample_dag", run_id="client_run", execution_date=DATE, conf='{"team": "sales"}'
    ).json()
    assert body["status"] == "OK", body
    return body


def test_a_sensor_polling_dag_state(webserver, client_run):
    """``requests.get(url, params=...).json()["output"]["stdout"].strip()`` is the state; stderr empty."""
    answer = requests.get(
        f"{webserver.url}{API}",
        params={"api": "dag_state", "dag_id": "sample_dag", "execution_date": DATE},
        headers={"rest_api_plugin_http_token": TOKEN},
        timeout=60,
    )
    output = answer.json()["output"]
    assert output["stdout"].strip() == "queued" and output["stderr"] == "" and output["stdin"] == ""


@pytest.mark.parametrize(
    "output_format, expected",
    [
        ("streams", {"stdout": "extract\nload\n", "stderr": "", "stdin": ""}),
        ("text", "extract\nload"),
        ("streams_py3_bytes", {"stdout": "b'extract\\n'b'load\\n'", "stderr": "", "stdin": ""}),
    ],
)
def test_every_output_format_per_request(webserver, output_format, expected):
    body = webserver.get("list_tasks", dag_id="sample_dag", output_format=output_format).json()
    assert body["output"] == expected
    assert [task["task_id"] for task in body["data"]["tasks"]] == ["extract", "load"]  # data: the same


def test_dag_state_in_text_is_what_airflow_2_prints(webserver, client_run):
    body = webserver.get("dag_state", dag_id="sample_dag", run_id="client_run", output_format="text").json()
    assert body["output"] == 'queued, {"team": "sales"}'


def test_trigger_then_state_by_the_printed_date(webserver):
    stdout = webserver.get("trigger_dag", dag_id="sample_dag").json()["output"]["stdout"]
    printed = re.match(r"Created <DagRun sample_dag @ (.+?): ", stdout).group(1)
    state = webserver.get("dag_state", dag_id="sample_dag", execution_date=printed)
    assert state.status_code == 200, state.json()


def test_leftover_arguments_are_ignored(webserver, client_run):
    body = webserver.get(
        "clear", dag_id="sample_dag", task_regex="extract", execution_date=DATE, metadata="null"
    ).json()
    assert body["status"] == "OK" and "execution_date, metadata" in body["warning"], body


def test_version_0_url(webserver, client_run):
    answer = webserver.call(
        "GET",
        "dag_state",
        url=f"{webserver.url}{API}/v1.0/dag_state",
        params={"dag_id": "sample_dag", "run_id": "client_run"},
    )
    assert answer.status_code == 200 and answer.json()["output"]["stdout"] == "queued\n", answer.text
    refused = webserver.call("GET", "version", url=f"{webserver.url}{API}/v1.0/version", token="wrong")
    assert refused.status_code == 403 and refused.json()["output"] == "Token Authentication Failed"


def test_answers_are_not_cached_or_sniffed(webserver):
    answer = webserver.get("version")
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


@pytest.fixture(scope="module")
def configured_webserver(app, tmp_path_factory):
    settings = {
        "AIRFLOW__REST_API_PLUGIN__OUTPUT_FORMAT": "text",
        "AIRFLOW__REST_API_PLUGIN__TIME_FORMAT": "iso8601",
        "AIRFLOW__REST_API_PLUGIN__STRICT_ARGUMENTS": "True",
    }
    with running_webserver(tmp_path_factory.mktemp("configured"), **settings) as server:
        yield server


def test_settings_reach_a_real_webserver(configured_webserver):
    body = configured_webserver.get("list_tasks", dag_id="sample_dag").json()
    assert body["output"] == "extract\nload"
    assert datetime.fromisoformat(body["call_time"]).utcoffset().total_seconds() == 0
    overridden = configured_webserver.get("list_tasks", dag_id="sample_dag", output_format="streams").json()
    assert overridden["output"]["stdout"] == "extract\nload\n"
    strict = configured_webserver.get("list_tasks", dag_id="sample_dag", metadata="null")
    assert strict.status_code == 400 and "metadata" in strict.json()["data"]["errors"]
