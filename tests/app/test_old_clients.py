"""Real clients of the original plugin (0.0.2 to 1.0.10), replayed: their requests and their parsing.

Every released version answered an endpoint it ran as an `airflow` command with
``output = {"stdout", "stderr", "stdin"}``; clients index ``output["stdout"]``, strip it and compare it with
a state word, run regexes over its lines, and treat a non-empty ``stderr`` as a failure. The ``text`` format
(one string, as the original README describes ``output``) and ``streams_py3_bytes`` (lines framed as
``b'...\\n'``, as versions before 1.0.8 answered on Python 3) are kept for the clients written against them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from datetime import datetime

import pytest

from tests.airflow_line import AIRFLOW_3
from tests.helpers import auth_headers

ISO = "2024-05-06T07:08:09"
STREAMS_KEYS = {"stdout", "stderr", "stdin"}
# Answered with a string by every released version: the plugin's own endpoints, and those the original lacked.
STRING_ENDPOINTS = {
    "version",
    "rest_api_plugin_version",
    "deploy_dag",
    "refresh_dag",
    "refresh_all_dags",
    "jobs",
    "stop_job",
    "delete_dag",
}


@pytest.fixture
def triggered(call):
    body = call(
        "trigger_dag", dag_id="sample_dag", run_id="client_run", execution_date=ISO, conf='{"team": "sales"}'
    ).get_json()
    assert body["status"] == "OK", body
    return body


def stdout_of(response) -> str:
    """What a Python client of plugin 1.0.x does: ``requests.get(...).json()["output"]["stdout"]``."""
    return response.get_json()["output"]["stdout"]


class TestStreamsByDefault:
    def test_dag_state_stdout_is_the_bare_state(self, call, triggered):
        answer = call("dag_state", dag_id="sample_dag", execution_date=ISO)
        output = answer.get_json()["output"]
        assert output == {"stdout": "queued\n", "stderr": "", "stdin": ""}
        assert stdout_of(answer).strip() == "queued"  # a sensor's check: the state word, conf or not

    def test_success_means_an_empty_stderr(self, call, triggered):
        for api, args in [
            ("dag_state", {"dag_id": "sample_dag", "run_id": "client_run"}),
            ("list_dags", {}),
            ("pause", {"dag_id": "sample_dag"}),
            ("task_state", {"dag_id": "sample_dag", "task_id": "extract", "run_id": "client_run"}),
        ]:
            body = call(api, **args).get_json()
            assert body["status"] == "OK", body
            assert body["output"]["stderr"] == "", (api, body)  # clients treat stderr as a failure

    def test_a_regex_over_list_dags_finds_the_dag_ids(self, call):
        stdout = stdout_of(call("list_dags"))
        block = re.search(r"^DAGS\n-+\n(.*)", stdout, re.S | re.M).group(1)
        assert {"sample_dag", "other_dag"} <= set(block.split())

    def test_list_tasks_lines(self, call):
        assert stdout_of(call("list_tasks", dag_id="sample_dag")).splitlines() == ["extract", "load"]

    def test_trigger_then_state_by_the_date_it_printed(self, call):
        """A client takes the logical date from "Created <DagRun D @ DATE: ..." and asks dag_state for it: the
        generated date has no microseconds, as `airflow dags trigger` makes it."""
        stdout = stdout_of(call("trigger_dag", dag_id="sample_dag"))
        printed = re.match(r"Created <DagRun sample_dag @ (.+?): ", stdout).group(1)
        assert "." not in printed  # no microseconds
        state = call("dag_state", dag_id="sample_dag", execution_date=printed.replace(" ", "T"))
        assert state.status_code == 200, state.get_json()
        assert stdout_of(state).strip() == "queued"

    def test_replace_microseconds_false_keeps_them(self, call):
        for _ in range(3):  # a generated date's microseconds are zero once in a million: try again then
            data = call("trigger_dag", dag_id="sample_dag", replace_microseconds="false").get_json()["data"]
            if datetime.fromisoformat(data["logical_date"]).microsecond:
                return
        pytest.fail("the microseconds of every generated date were dropped")

    def test_a_given_date_keeps_its_microseconds(self, call):
        data = call("trigger_dag", dag_id="sample_dag", execution_date="2024-01-02T03:04:05.123456").get_json()["data"]
        assert data["logical_date"] == "2024-01-02T03:04:05.123456+00:00"

    def test_a_java_style_typed_envelope(self, call, triggered):
        """Clients that bind the envelope to a class (Gson, Jackson) need ``output`` to be an object."""
        body = call("dag_state", dag_id="sample_dag", run_id="client_run").get_json()
        envelope = TypedEnvelope.bind(body)
        assert envelope.output.stdout == "queued\n" and envelope.status == "OK"

    @pytest.mark.parametrize("api", sorted(STRING_ENDPOINTS & {"version", "rest_api_plugin_version", "jobs"}))
    def test_plugin_endpoints_answer_a_string(self, call, api):
        body = call(api).get_json()
        assert body["status"] == "OK" and isinstance(body["output"], str), body

    def test_errors_answer_a_string(self, call):
        for body in (
            call("dag_state", dag_id="no_such_dag", execution_date=ISO).get_json(),
            call("pause").get_json(),
            call("list_dags", who="wrong_token").get_json(),
        ):
            assert body["status"] == "ERROR" and isinstance(body["output"], str), body

    def test_every_endpoint_is_declared_one_way_or_the_other(self):
        from rest_api_plugin import registry

        strings = {endpoint.name for endpoint in registry.ENDPOINTS if not endpoint.cli_backed}
        assert strings == STRING_ENDPOINTS


class TestTextFormat:
    def test_configured(self, call, triggered, monkeypatch):
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__OUTPUT_FORMAT", "text")
        body = call("dag_state", dag_id="sample_dag", run_id="client_run").get_json()
        assert body["output"] == 'queued, {"team": "sales"}'  # what Airflow 2's `dags state` prints
        assert call("list_tasks", dag_id="sample_dag").get_json()["output"] == "extract\nload"

    def test_per_request(self, call, triggered):
        body = call("dag_state", dag_id="sample_dag", run_id="client_run", output_format="text").get_json()
        assert body["output"] == 'queued, {"team": "sales"}'
        assert body["data"]["conf"] == {"team": "sales"}  # data is the same in every format

    def test_per_request_wins_over_the_setting(self, call, monkeypatch):
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__OUTPUT_FORMAT", "text")
        body = call("list_tasks", dag_id="sample_dag", output_format="streams").get_json()
        assert body["output"] == {"stdout": "extract\nload\n", "stderr": "", "stdin": ""}

    def test_output_format_in_a_form_field(self, call):
        body = call("list_tasks", method="POST", data={"dag_id": "sample_dag", "output_format": "text"}).get_json()
        assert body["output"] == "extract\nload"

    def test_an_unknown_format_is_400(self, call):
        body = call("list_tasks", dag_id="sample_dag", output_format="xml").get_json()
        assert body["http_response_code"] == 400 and "output_format" in body["output"]

    def test_an_unknown_configured_format_falls_back_to_streams(self, call, monkeypatch):
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__OUTPUT_FORMAT", "xml")
        assert call("list_tasks", dag_id="sample_dag").get_json()["output"]["stdout"] == "extract\nload\n"


class TestPy3BytesFormat:
    def test_lines_framed_as_bytes(self, call):
        body = call("list_tasks", dag_id="sample_dag", output_format="streams_py3_bytes").get_json()
        assert body["output"] == {"stdout": "b'extract\\n'b'load\\n'", "stderr": "", "stdin": ""}
        # the regex such a client runs over it
        assert re.findall(r"b'(.*?)\\n'", body["output"]["stdout"]) == ["extract", "load"]

    def test_configured(self, call, triggered, monkeypatch):
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__OUTPUT_FORMAT", "streams_py3_bytes")
        output = call("dag_state", dag_id="sample_dag", run_id="client_run").get_json()["output"]
        assert output["stdout"] == "b'queued\\n'"

    def test_plugin_endpoints_still_answer_a_string(self, call):
        from airflow import __version__

        assert call("version", output_format="streams_py3_bytes").get_json()["output"] == __version__


class TestUnknownArguments:
    def test_clear_with_a_leftover_execution_date(self, call, triggered):
        body = call("clear", dag_id="sample_dag", task_regex="extract", execution_date=ISO, metadata="null").get_json()
        assert body["status"] == "OK", body
        assert body["warning"] == "Ignored unknown arguments: execution_date, metadata"

    def test_the_audit_record_names_them(self, call):
        from airflow.models.log import Log
        from airflow.utils.session import create_session

        call("pause", dag_id="sample_dag", metadata="null")
        with create_session() as session:
            row = session.query(Log).filter(Log.event == "rest_api_plugin.pause").one()
            assert json.loads(row.extra)["ignored_arguments"] == ["metadata"]

    def test_legacy_and_unknown_warnings_together(self, call):
        body = call("clear", dag_id="sample_dag", dry_run="true", exclude_subdags="true", nonsense="1").get_json()
        line = "3" if AIRFLOW_3 else "2"
        assert body["warning"] == (
            f"Ignored on Airflow {line} (no longer meaningful): exclude_subdags; Ignored unknown arguments: nonsense"
        )


class TestTimeFormat:
    def test_rfc1123_by_default(self, call):
        body = call("version").get_json()
        assert re.match(r"^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$", body["call_time"])

    def test_iso8601(self, call, monkeypatch):
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__TIME_FORMAT", "iso8601")
        body = call("version").get_json()
        call_time = datetime.fromisoformat(body["call_time"])
        assert call_time.utcoffset().total_seconds() == 0
        assert datetime.fromisoformat(body["response_time"]) >= call_time


class TestVersion0Urls:
    """Plugin 0.0.x served /admin/rest_api/api/v1.0/<api>; those URLs answer as ?api=<api>."""

    def open(self, app, path, who="token", **query):
        return app.test_client().get(f"/admin/rest_api/api/v1.0/{path}", query_string=query, headers=auth_headers(who))

    def test_version(self, app):
        from airflow import __version__

        body = self.open(app, "version").get_json()
        assert body["status"] == "OK" and body["output"] == __version__

    def test_with_arguments(self, app, triggered):
        body = self.open(app, "dag_state", dag_id="sample_dag", run_id="client_run").get_json()
        assert body["output"]["stdout"] == "queued\n"

    def test_same_authentication_and_permissions(self, app):
        assert self.open(app, "version", who="wrong_token").status_code == 403
        assert self.open(app, "pause", who="viewer", dag_id="sample_dag").status_code == 403

    def test_unknown_name_is_the_envelope(self, app):
        answer = self.open(app, "nothing_here")
        assert answer.status_code == 400 and "nothing_here" in answer.get_json()["output"]


@dataclass
class Streams:
    stdout: str
    stderr: str
    stdin: str


@dataclass
class TypedEnvelope:
    """A typed binding of the envelope, as a Java client declares it: a field of the wrong JSON type fails."""

    airflow_cmd: str
    arguments: dict
    call_time: str
    output: Streams
    response_time: str
    status: str

    @classmethod
    def bind(cls, body: dict) -> "TypedEnvelope":
        values = {}
        for field in fields(cls):
            value = body[field.name]
            if field.type == "Streams":
                if not isinstance(value, dict):
                    raise TypeError(f"Expected BEGIN_OBJECT but was {type(value).__name__} at $.output")
                value = Streams(**{key: value[key] for key in STREAMS_KEYS})
            elif not isinstance(value, {"str": str, "dict": dict}[field.type]):
                raise TypeError(f"{field.name} is {type(value).__name__}")
            values[field.name] = value
        return cls(**values)
