"""dag_test (``airflow dags test`` as a job, waited for by default, answered with the run it made) and
triggerer (``airflow triggerer``, a daemon job). Each real dag_test costs a few seconds: a few real ones, and
bad input that is refused before anything runs."""

from __future__ import annotations

import pytest

from tests.airflow_line import airflow2_only, airflow3_only, trigger
from tests.helpers import DAGS_FOLDER, FAILING_DAG, dag_source, forget_dag, write_dag_file

DATE = "2024-03-01T00:00:00+00:00"
MARKER = "/tmp/rest_api_plugin_pwned"


def runs_of(dag_id: str) -> dict:
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        return {run.run_id: str(run.state) for run in session.query(DagRun).filter_by(dag_id=dag_id)}


def states(data: dict) -> dict:
    return {ti["task_id"]: ti["state"] for ti in data["task_instances"]}


class TestDagTest:
    def test_runs_the_whole_dag_and_answers_with_the_runs_task_states(self, call):
        body = call("dag_test", method="POST", dag_id="sample_dag", execution_date=DATE).get_json()
        assert body["status"] == "OK", body
        data = body["data"]
        assert (data["api"], data["state"], data["exit_code"], data["dag_id"]) == (
            "dag_test",
            "success",
            0,
            "sample_dag",
        )
        assert data["dag_run_state"] == "success" and states(data) == {"extract": "success", "load": "success"}
        assert data["logical_date"].startswith("2024-03-01T00:00:00") and runs_of("sample_dag") == {
            data["run_id"]: "success"
        }
        assert all(ti["map_index"] == -1 and ti["try_number"] >= 1 and ti["end_date"] for ti in data["task_instances"])
        assert body["airflow_cmd"] == f"airflow dags test sample_dag {DATE}"
        assert data["command"].endswith(f"dags test sample_dag {DATE}")
        assert "Filling up the DagBag" not in body["output"]["stdout"]  # loading noise is filtered

    def test_without_a_date_the_run_is_now_and_conf_reaches_it(self, call):
        from airflow.models import DagRun
        from airflow.utils.session import create_session

        body = call("dag_test", method="POST", dag_id="sample_dag", conf='{"who": "tests"}').get_json()
        assert body["status"] == "OK", body
        assert body["airflow_cmd"] == """airflow dags test '--conf={"who": "tests"}' sample_dag"""
        assert states(body["data"]) == {"extract": "success", "load": "success"}
        with create_session() as session:
            run = session.query(DagRun).filter_by(dag_id="sample_dag", run_id=body["data"]["run_id"]).one()
            assert run.conf == {"who": "tests"} and str(run.run_type) == "manual"
        assert body["data"]["logical_date"][:4] >= "2026"

    def test_mark_success_pattern_runs_nothing_it_matches(self, call):
        body = call(
            "dag_test", method="POST", dag_id="sample_dag", execution_date=DATE, mark_success_pattern="extract|load"
        ).get_json()
        assert body["status"] == "OK", body
        assert states(body["data"]) == {"extract": "success", "load": "success"}
        assert "--mark-success-pattern=extract|load" in body["airflow_cmd"]
        assert "extract 20" not in body["output"]["stdout"]  # the BashOperator never echoed

    def test_a_failing_run_is_409_with_its_task_states(self, call):
        write_dag_file("failing_dag.py", dag_source(FAILING_DAG, dag_id="failing_dag"))
        try:
            body = call("dag_test", method="POST", dag_id="failing_dag", execution_date=DATE).get_json()
        finally:
            (DAGS_FOLDER / "failing_dag.py").unlink()
            forget_dag("failing_dag")
        assert (body["status"], body["http_response_code"]) == ("ERROR", 409), body
        assert body["data"]["dag_run_state"] == "failed" and states(body["data"]) == {"fails": "failed"}
        assert "about to fail" in body["output"]

    def test_without_waiting_it_is_a_job(self, call):
        from tests.helpers import poll

        body = call("dag_test", method="POST", dag_id="sample_dag", execution_date=DATE, wait="false").get_json()
        assert body["status"] == "OK" and body["data"]["state"] == "running", body
        assert "task_instances" not in body["data"]
        job_id = body["data"]["job_id"]
        ended = poll(
            lambda: (job := call("jobs", job_id=job_id).get_json()["data"])["state"] != "running" and job, seconds=120
        )
        assert ended["state"] == "success", ended

    def test_an_existing_run_at_the_date_is_replaced_only_for_who_may_delete_runs(self, call):
        """The command deletes a run that holds the date: user "limited" may trigger sample_dag, not delete its
        runs."""
        from rest_api_plugin.airflow_compat import timezone

        trigger("sample_dag", run_id="held", logical_date=timezone.parse(DATE))
        body = call("dag_test", who="limited", method="POST", dag_id="sample_dag", execution_date=DATE).get_json()
        assert body["http_response_code"] == 403, body
        assert "run held holds logical date" in body["output"] and runs_of("sample_dag") == {"held": "queued"}
        body = call("dag_test", method="POST", dag_id="sample_dag", execution_date=DATE).get_json()
        assert body["status"] == "OK", body
        assert runs_of("sample_dag") == {body["data"]["run_id"]: "success"}  # as the CLI: replaced

    @pytest.mark.parametrize(
        "args, status",
        [
            ({"dag_id": "no_such_dag"}, 404),
            ({}, 400),
            ({"dag_id": "-x"}, 400),
            ({"dag_id": "sample_dag", "conf": "[1, 2]"}, 400),
            ({"dag_id": "sample_dag", "conf": "{not json"}, 400),
            ({"dag_id": "sample_dag", "execution_date": "yesterday-ish"}, 400),
            ({"dag_id": "sample_dag", "mark_success_pattern": "(unclosed"}, 400),
            ({"dag_id": "sample_dag", "use_executor": "perhaps"}, 400),
            ({"dag_id": "sample_dag", "timeout": "0"}, 400),
            ({"dag_id": "sample_dag", "subdir": "/etc"}, 400),
        ],
    )
    def test_bad_input_runs_nothing(self, call, args, status):
        body = call("dag_test", method="POST", **args).get_json()
        assert body["http_response_code"] == status, body
        assert runs_of("sample_dag") == {}

    def test_hostile_values_are_data(self, call):
        """conf and the pattern are one argument each, glued to their flags: never a shell, never an option."""
        body = call(
            "dag_test",
            method="POST",
            dag_id="sample_dag",
            execution_date=DATE,
            conf='{"x": "$(touch %s)"}' % MARKER,
            mark_success_pattern=f"--help|`touch {MARKER}`",
        ).get_json()
        assert body["status"] == "OK", body
        import os

        assert not os.path.exists(MARKER)

    @airflow3_only
    def test_subdir_is_ignored_on_airflow_3(self, call):
        body = call("dag_test", method="POST", dag_id="sample_dag", execution_date=DATE, subdir=".").get_json()
        assert body["status"] == "OK" and "subdir" in body["warning"], body
        assert "--subdir" not in body["airflow_cmd"]

    @pytest.mark.parametrize(
        "who, dag_id, status",
        [
            ("viewer", "sample_dag", 403),  # read-only: not in read_roles
            ("user", "sample_dag", 403),
            ("limited", "other_dag", 403),  # may reach sample_dag only
        ],
    )
    def test_who_may_not(self, call, who, dag_id, status):
        body = call("dag_test", who=who, method="POST", dag_id=dag_id).get_json()
        assert body["http_response_code"] == status, body
        assert runs_of(dag_id) == {}

    def test_a_user_of_one_dag_may_test_it(self, call):
        body = call("dag_test", who="limited", method="POST", dag_id="sample_dag", execution_date=DATE).get_json()
        assert body["status"] == "OK", body
        assert body["data"]["requested_by"] == "limited" and body["data"]["dag_run_state"] == "success"

    def test_it_counts_against_max_jobs(self, call, python_job, monkeypatch):
        from rest_api_plugin.processes import jobs

        python_job("import time; time.sleep(30)")
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__MAX_JOBS", str(len(jobs.running_records())))
        body = call("dag_test", method="POST", dag_id="sample_dag").get_json()
        assert body["http_response_code"] == 429 and "max_jobs = " in body["output"], body
        assert runs_of("sample_dag") == {}


class TestTriggerer:
    def test_starts_as_a_daemon_job_ignoring_the_daemon_options(self, call):
        body = call(
            "triggerer", method="POST", capacity="5", skip_serve_logs="true", daemon="", pid="/tmp/x.pid"
        ).get_json()
        assert body["status"] == "OK", body
        job = body["data"]
        try:
            assert (job["api"], job["state"], job["dag_id"]) == ("triggerer", "running", None)
            assert body["airflow_cmd"] == "airflow triggerer --capacity=5 --skip-serve-logs"
            assert "daemon" in body["warning"] and "pid" in body["warning"]
        finally:
            stopped = call("stop_job", method="POST", job_id=job["job_id"]).get_json()
        assert stopped["data"]["state"] != "running", stopped

    @pytest.mark.parametrize("args", [{"capacity": "0"}, {"capacity": "many"}, {"timeout": "0"}, {"queues": "a,,b"}])
    def test_bad_input_starts_nothing(self, call, args):
        assert call("triggerer", method="POST", **args).get_json()["http_response_code"] == 400

    @airflow2_only
    def test_queues_exist_on_airflow_3_only(self, call):
        body = call("triggerer", method="POST", queues="default").get_json()
        assert body["http_response_code"] == 400 and "Airflow 3 only" in body["output"], body

    @pytest.mark.parametrize("who", ["viewer", "user"])
    def test_read_only_callers_may_not(self, call, who):
        """(A token limited to some DAGs may not either: tests/app/test_named_tokens.py, every_dag endpoints.)"""
        body = call("triggerer", who=who, method="POST").get_json()
        assert body["http_response_code"] == 403 and "can_triggerer" in body["output"], body
