"""DAG runs: trigger_dag, dag_state and task_state, answered in-process; every effect is read back from the
database; backfill, an airflow subprocess as a job."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.airflow_line import AIRFLOW_3, airflow2_only, airflow3_only
from tests.helpers import MARKER, dag_runs, streams


def run_logical_date(run):
    from rest_api_plugin.airflow_compat import run_logical_date as logical_date

    return logical_date(run)


def db_run(dag_id: str, run_id: str):
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter_by(dag_id=dag_id, run_id=run_id).one_or_none()
        if run is not None:
            session.expunge(run)
        return run


def runs_of(dag_id: str) -> set[str]:
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        return {run_id for (run_id,) in session.query(DagRun.run_id).filter_by(dag_id=dag_id)}


def hold_the_coming_seconds(call, seconds: int = 10) -> set[datetime]:
    """Runs of sample_dag at every whole second of the next ``seconds`` (run ids held_0...): a trigger made
    meanwhile finds its second taken."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    held = {now + timedelta(seconds=n) for n in range(seconds)}
    for n, date in enumerate(sorted(held)):
        answer = call("trigger_dag", dag_id="sample_dag", run_id=f"held_{n}", execution_date=date.isoformat())
        assert answer.status_code == 200, answer.get_json()
    return held


class TestTriggerDag:
    def test_original_readme_example(self, call):
        # http://HOST/admin/rest_api/api?api=trigger_dag&dag_id=test_id&run_id=run_id_2016_01_01&conf=%7B%22key%22%3A%22value%22%7D
        body = call("trigger_dag", dag_id="sample_dag", run_id="run_id_2016_01_01", conf='{"key":"value"}').get_json()
        assert body["status"] == "OK", body
        assert body["output"]["stdout"].startswith("Created <DagRun sample_dag @")
        assert "run_id_2016_01_01" in body["output"]["stdout"]
        assert body["data"]["run_id"] == "run_id_2016_01_01"
        run = db_run("sample_dag", "run_id_2016_01_01")
        assert run.conf == {"key": "value"}
        assert str(run.run_type) == "manual" and body["data"]["external_trigger"] is True
        assert body["data"]["logical_date"] == run_logical_date(run).isoformat()

    def test_without_run_id_generates_one(self, call):
        body = call("trigger_dag", dag_id="sample_dag").get_json()
        assert body["data"]["run_id"].startswith("manual__")
        assert db_run("sample_dag", body["data"]["run_id"]) is not None

    @pytest.mark.parametrize("spelling", ["exec_date", "execution_date", "logical_date"])
    def test_logical_date_spellings(self, call, spelling):
        body = call("trigger_dag", dag_id="sample_dag", **{spelling: "2024-02-03T04:05:06"}).get_json()
        assert body["status"] == "OK", body
        assert body["data"]["logical_date"] == "2024-02-03T04:05:06+00:00"
        assert run_logical_date(db_run("sample_dag", body["data"]["run_id"])).isoformat() == "2024-02-03T04:05:06+00:00"

    def test_post_form_arguments(self, call):
        answer = call("trigger_dag", method="POST", data={"dag_id": "sample_dag", "run_id": "from_form"})
        assert answer.status_code == 200
        assert db_run("sample_dag", "from_form") is not None

    def test_unknown_dag_is_404(self, call):
        body = call("trigger_dag", dag_id="no_such_dag").get_json()
        assert body["http_response_code"] == 404
        assert "no_such_dag" in body["output"]

    def test_duplicate_run_id_is_409_and_keeps_the_first(self, call):
        call("trigger_dag", dag_id="sample_dag", run_id="twice", conf='{"n": 1}')
        body = call("trigger_dag", dag_id="sample_dag", run_id="twice", conf='{"n": 2}').get_json()
        assert body["http_response_code"] == 409, body
        assert db_run("sample_dag", "twice").conf == {"n": 1}

    def test_a_second_run_at_the_same_logical_date_is_409(self, call):
        first = call("trigger_dag", dag_id="sample_dag", run_id="first", execution_date="2024-06-01T00:00:00")
        assert first.status_code == 200, first.get_json()
        body = call(
            "trigger_dag", dag_id="sample_dag", run_id="second", execution_date="2024-06-01T00:00:00"
        ).get_json()
        assert (body["status"], body["http_response_code"]) == ("ERROR", 409), body
        assert "run_id first" in body["output"], body  # the run holding the date is named
        assert db_run("sample_dag", "second") is None

    def test_several_triggers_in_a_row_all_land(self, call):
        """Old clients trigger again within the second, each call with its own run_id or none."""
        answers = [
            call("trigger_dag", dag_id="sample_dag", **({"run_id": f"row_{n}"} if n % 2 else {})) for n in range(4)
        ]
        assert [answer.status_code for answer in answers] == [200] * 4, [a.get_json() for a in answers]
        dates = {answer.get_json()["data"]["logical_date"] for answer in answers}
        assert len(dates) == 4 and len(runs_of("sample_dag")) == 4

    def test_a_trigger_in_a_taken_second_lands_with_microseconds(self, call):
        held = hold_the_coming_seconds(call)
        body = call("trigger_dag", dag_id="sample_dag", run_id="late").get_json()
        assert body["status"] == "OK", body
        date = datetime.fromisoformat(body["data"]["logical_date"])
        assert date.microsecond and date.replace(microsecond=0) in held, date
        assert run_logical_date(db_run("sample_dag", "late")) == date
        assert body["output"]["stdout"].startswith("Created <DagRun sample_dag @ ")

    def test_a_lone_trigger_keeps_whole_seconds(self, call):
        date = datetime.fromisoformat(call("trigger_dag", dag_id="sample_dag").get_json()["data"]["logical_date"])
        assert date.microsecond == 0

    def test_replace_microseconds_true_in_a_taken_second_is_409(self, call):
        """Asked for whole seconds, as `airflow dags trigger` makes them: the taken second is a conflict."""
        hold_the_coming_seconds(call)
        before = runs_of("sample_dag")
        body = call("trigger_dag", dag_id="sample_dag", run_id="whole", replace_microseconds="true").get_json()
        assert (body["status"], body["http_response_code"]) == ("ERROR", 409), body
        assert "run_id held_" in body["output"] and "replace_microseconds" in body["output"], body
        assert runs_of("sample_dag") == before

    def test_a_taken_run_id_stays_409_in_a_taken_second(self, call):
        hold_the_coming_seconds(call)
        body = call("trigger_dag", dag_id="sample_dag", run_id="held_0").get_json()
        assert body["http_response_code"] == 409 and "run_id held_0 already exists" in body["output"], body

    def test_the_database_decides_a_race_over_the_second(self, call, monkeypatch):
        """Another server inserts the run just after the look-ups (the plugin's and Airflow's): both find the
        second free, the database refuses the insert, and the trigger lands at the exact time."""
        from airflow.models import DagRun

        from rest_api_plugin.services import runs

        held = hold_the_coming_seconds(call)
        monkeypatch.setattr(runs, "second_looks_taken", lambda dag_id, second: False)
        monkeypatch.setattr(DagRun, "find_duplicate", classmethod(lambda cls, *a, **k: None))
        body = call("trigger_dag", dag_id="sample_dag").get_json()
        assert body["status"] == "OK", body
        date = datetime.fromisoformat(body["data"]["logical_date"])
        assert date.microsecond and date.replace(microsecond=0) in held

    def test_a_given_date_taken_in_a_race_is_409_naming_the_holder(self, call, monkeypatch):
        from airflow.models import DagRun

        assert call("trigger_dag", dag_id="sample_dag", run_id="first", execution_date="2024-06-01").status_code == 200
        monkeypatch.setattr(DagRun, "find_duplicate", classmethod(lambda cls, *a, **k: None))
        body = call("trigger_dag", dag_id="sample_dag", run_id="second", execution_date="2024-06-01").get_json()
        assert body["http_response_code"] == 409 and "run_id first" in body["output"], body
        assert db_run("sample_dag", "second") is None

    def test_a_write_that_finds_sqlite_locked_is_503(self, call):
        """SQLite lets one writer in at a time: a trigger that waits out the lock answers 503 with a hint to try
        again (never 500) and changes nothing."""
        import sqlite3

        from airflow.settings import engine

        if engine.dialect.name != "sqlite":
            pytest.skip("SQLite's lock")
        blocker = sqlite3.connect(engine.url.database)
        blocker.execute("BEGIN IMMEDIATE")  # another process's write in progress: reads go on, writes wait
        try:
            answer = call("trigger_dag", dag_id="sample_dag", run_id="locked_out")
        finally:
            blocker.rollback()
            blocker.close()
        body = answer.get_json()
        assert (answer.status_code, body["status"]) == (503, "ERROR"), body
        assert "Try again" in body["output"] and "nothing was done" in body["output"], body
        assert db_run("sample_dag", "locked_out") is None

    @pytest.mark.parametrize("conf", ["{not json", "[1, 2]", '"text"'])
    def test_bad_conf_is_400(self, call, conf):
        body = call("trigger_dag", dag_id="sample_dag", run_id="bad_conf", conf=conf).get_json()
        assert body["http_response_code"] == 400
        assert "conf" in body["data"]["errors"]
        assert db_run("sample_dag", "bad_conf") is None

    @pytest.mark.parametrize("date", ["yesterday", "2024-13-45", "2024-01-01Tnope"])
    def test_bad_date_is_400(self, call, date):
        body = call("trigger_dag", dag_id="sample_dag", execution_date=date).get_json()
        assert body["http_response_code"] == 400
        assert "execution_date" in body["data"]["errors"]

    def test_date_before_start_date_is_400(self, call):
        # Airflow refuses a logical date before a start_date given in default_args (other_dag's).
        body = call("trigger_dag", dag_id="other_dag", run_id="early", exec_date="2000-01-01").get_json()
        assert body["http_response_code"] == 400, body
        assert "start_date" in body["output"]
        assert db_run("other_dag", "early") is None

    @pytest.mark.parametrize("dag_id", ["../etc", "a b", "x;rm -rf /", "é" * 300])
    def test_malformed_dag_id_is_400(self, call, dag_id):
        assert call("trigger_dag", dag_id=dag_id).status_code == 400

    def test_conflicting_date_spellings_are_400(self, call):
        body = call("trigger_dag", dag_id="sample_dag", exec_date="2024-01-02", execution_date="2024-01-03").get_json()
        assert body["http_response_code"] == 400


class TestStates:
    @pytest.fixture
    def run(self, call):
        call("trigger_dag", dag_id="sample_dag", run_id="state_run", execution_date="2024-05-06T07:08:09")
        return db_run("sample_dag", "state_run")

    def test_dag_state_by_execution_date(self, call, run):
        body = call("dag_state", dag_id="sample_dag", execution_date="2024-05-06T07:08:09").get_json()
        assert body["status"] == "OK", body
        assert body["output"] == {"stdout": "queued\n", "stderr": "", "stdin": ""}
        assert body["data"]["run_id"] == "state_run"

    def test_dag_state_by_run_id(self, call, run):
        assert call("dag_state", dag_id="sample_dag", run_id="state_run").get_json()["output"]["stdout"] == "queued\n"

    def test_states_by_a_generated_run_id(self, call):
        """Airflow's own run ids (manual__2024-...T...+00:00) name runs, as real clients pass them back."""
        run_id = call("trigger_dag", dag_id="sample_dag").get_json()["data"]["run_id"]
        assert run_id.startswith("manual__") and ":" in run_id and "+" in run_id
        body = call("dag_state", dag_id="sample_dag", run_id=run_id).get_json()
        assert (body["status"], body["data"]["run_id"]) == ("OK", run_id), body
        body = call("task_state", dag_id="sample_dag", task_id="extract", run_id=run_id).get_json()
        assert body["status"] == "OK", body
        body = call("render", dag_id="sample_dag", task_id="extract", run_id=run_id).get_json()
        assert body["status"] == "OK", body

    @pytest.mark.parametrize("run_id", ["a b", "x;y", "$(id)", "r" * 251, "a/b"])
    def test_run_id_outside_airflows_pattern_is_400(self, call, run_id):
        body = call("dag_state", dag_id="sample_dag", run_id=run_id).get_json()
        assert body["http_response_code"] == 400 and "run_id" in body["data"]["errors"], body
        assert call("trigger_dag", dag_id="sample_dag", run_id=run_id).status_code == 400

    def test_dag_state_needs_a_date(self, call):
        body = call("dag_state", dag_id="sample_dag").get_json()
        assert body["http_response_code"] == 400 and "execution_date" in body["data"]["errors"]

    def test_dag_state_of_missing_run_is_404(self, call, run):
        assert call("dag_state", dag_id="sample_dag", execution_date="2024-05-07").status_code == 404

    def test_task_state_reads_the_task_instance(self, call, run):
        from airflow.models import TaskInstance
        from airflow.utils.session import create_session
        from airflow.utils.state import TaskInstanceState

        with create_session() as session:
            session.query(TaskInstance).filter_by(run_id="state_run", task_id="extract").update(
                {TaskInstance.state: TaskInstanceState.SUCCESS}
            )
        body = call(
            "task_state", dag_id="sample_dag", task_id="extract", execution_date="2024-05-06T07:08:09"
        ).get_json()
        assert body["output"]["stdout"] == "success\n", body
        assert body["data"]["state"] == "success"
        load = call("task_state", dag_id="sample_dag", task_id="load", execution_date="2024-05-06T07:08:09")
        assert load.get_json()["output"]["stdout"] == "None\n"

    def test_task_state_of_unknown_task_is_404(self, call, run):
        answer = call("task_state", dag_id="sample_dag", task_id="nope", execution_date="2024-05-06T07:08:09")
        assert answer.status_code == 404


@pytest.mark.usefixtures("no_marker")
class TestBackfill:
    @airflow2_only
    def test_creates_the_runs_of_the_date_range(self, call):
        body = call(
            "backfill",
            dag_id="other_dag",
            start_date="2024-01-01",
            end_date="2024-01-02",
            donot_pickle="",
            include_adhoc="",
            wait="true",
            timeout="100",
        ).get_json()
        assert body["status"] == "OK", body
        assert "donot_pickle" in body["warning"]
        stdout, stderr = streams(call, body)
        assert stderr == "" and "Backfill done for DAG <DAG: other_dag>" in stdout
        assert "Filling up the DagBag" not in stdout
        runs = dag_runs("other_dag")
        assert [(kind, date[:10], state) for kind, date, state in runs] == [
            ("backfill", "2024-01-01", "success"),
            ("backfill", "2024-01-02", "success"),
        ]

    @airflow3_only
    def test_creates_queued_backfill_runs_that_the_scheduler_runs(self, call):
        body = call(
            "backfill",
            dag_id="other_dag",
            start_date="2024-01-01",
            end_date="2024-01-02",
            donot_pickle="",
            local="on",
            continue_on_failures="",
            wait="true",
            timeout="100",
        ).get_json()
        assert body["status"] == "OK", body
        for ignored in ("donot_pickle", "local", "continue_on_failures"):
            assert ignored in body["warning"]
        assert body["airflow_cmd"] == (
            "airflow backfill create --dag-id=other_dag --from-date=2024-01-01T00:00:00+00:00"
            " --to-date=2024-01-02T00:00:00+00:00"
        )
        assert "the scheduler runs them" in body["output"]["stdout"]
        stdout, stderr = streams(call, body)
        assert stderr == "" and "Created backfill Dag run." in stdout
        assert "already registered" not in stdout and "[py.warnings]" not in stdout
        runs = dag_runs("other_dag")
        assert [(kind, date[:10], state) for kind, date, state in runs] == [
            ("backfill", "2024-01-01", "queued"),
            ("backfill", "2024-01-02", "queued"),
        ]

    @airflow3_only
    def test_one_date_is_both_ends_and_options_map(self, call):
        body = call(
            "backfill",
            dag_id="other_dag",
            end_date="2024-01-03",
            conf='{"k": "v"}',
            max_active_runs="2",
            reprocess_behavior="failed",
            run_backwards="",
            dry_run="",
            wait="true",
        ).get_json()
        assert body["status"] == "OK", body
        assert body["airflow_cmd"] == (
            "airflow backfill create --dag-id=other_dag --from-date=2024-01-03T00:00:00+00:00 "
            '--to-date=2024-01-03T00:00:00+00:00 \'--dag-run-conf={"k": "v"}\' --dry-run --max-active-runs=2 '
            "--reprocess-behavior=failed --run-backwards"
        )
        assert "Performing dry run of backfill." in body["output"]["stdout"]
        assert "the scheduler runs them" not in body["output"]["stdout"]  # a dry run creates nothing
        assert dag_runs("other_dag") == []

    @airflow2_only
    def test_returns_a_job_at_once_by_default(self, call):
        body = call(
            "backfill", dag_id="sample_dag", start_date="2024-01-01", task_regex="; touch " + MARKER, dry_run=""
        ).get_json()
        assert body["status"] == "OK", body
        assert body["data"]["job_id"].startswith("backfill_") and body["data"]["pid"] > 0
        from tests.helpers import poll

        poll(lambda: call("jobs", job_id=body["data"]["job_id"]).get_json()["data"]["state"] != "running")

    @airflow3_only
    def test_returns_a_job_at_once_by_default_on_airflow_3(self, call):
        body = call("backfill", dag_id="other_dag", start_date="2024-01-01", dry_run="").get_json()
        assert body["status"] == "OK", body
        assert body["data"]["job_id"].startswith("backfill_") and body["data"]["pid"] > 0
        from tests.helpers import poll

        done = poll(
            lambda: (
                (job := call("jobs", job_id=body["data"]["job_id"]).get_json()["data"])["state"] != "running" and job
            )
        )
        assert done["state"] == "success", done

    @airflow3_only
    @pytest.mark.parametrize(
        "name, value",
        [
            ("task_regex", "; touch " + MARKER),
            ("mark_success", "true"),
            ("ignore_dependencies", "on"),
            ("ignore_first_depends_on_past", ""),
            ("pool", "default_pool"),
            ("rerun_failed_tasks", ""),
            ("reset_dagruns", ""),
            ("disable_retry", "true"),
        ],
    )
    def test_airflow_2_options_that_would_change_what_runs_are_refused(self, call, name, value):
        body = call("backfill", dag_id="other_dag", start_date="2024-01-01", **{name: value}).get_json()
        assert (body["status"], body["http_response_code"]) == ("ERROR", 400), body
        assert f"{name} is not supported on Airflow 3" in body["output"] and name in body["data"]["errors"]
        assert dag_runs("other_dag") == []

    @pytest.mark.parametrize(
        "args, status",
        [
            ({"dag_id": "sample_dag"}, 400),  # neither start_date nor end_date
            ({"dag_id": "no_such_dag", "start_date": "2024-01-01"}, 404),
            ({"dag_id": "--help", "start_date": "2024-01-01"}, 400),
            ({"dag_id": "sample_dag", "start_date": "2024-01-01", "conf": "[1]"}, 400),
            ({"dag_id": "sample_dag", "start_date": "2024-01-01", "subdir": "/etc"}, 400),
            *(
                [
                    ({"dag_id": "other_dag", "start_date": "2024-01-01", "reprocess_behavior": "sometimes"}, 400),
                    ({"dag_id": "other_dag", "start_date": "2024-01-01", "max_active_runs": "0"}, 400),
                    ({"dag_id": "sample_dag", "start_date": "2024-01-01", "wait": "true"}, 409),
                ]  # no schedule: no backfill
                if AIRFLOW_3
                else [
                    (
                        {"dag_id": "other_dag", "start_date": "2024-01-01", "max_active_runs": "2"},
                        400,
                    ),  # Airflow 3 only
                    ({"dag_id": "other_dag", "start_date": "2024-01-01", "reprocess_behavior": "failed"}, 400),
                ]
            ),
        ],
    )
    def test_failures(self, call, args, status):
        assert call("backfill", **args).get_json()["http_response_code"] == status
