"""render, task_failed_deps, clear (in-process) and test, run (airflow subprocesses as jobs).

Subprocess calls cost ~2-3 s each: a few real ones, and hostile input that is refused before anything runs.
"""

from __future__ import annotations

import pytest

from tests.airflow_line import AIRFLOW_3, airflow2_only, airflow3_only, trigger
from tests.helpers import FAILING_DAG, MARKER, dag_runs, dag_source, forget_dag, streams, write_dag_file

pytestmark = pytest.mark.usefixtures("no_marker")

DATE = "2024-03-01T00:00:00+00:00"
HOSTILE = [f"; touch {MARKER}", f"$(touch {MARKER})", f"`touch {MARKER}`", f"| touch {MARKER}", "--help", "-x"]


@pytest.fixture
def sample_run(app):
    """A run of sample_dag at DATE, with its task instances."""
    from rest_api_plugin.airflow_compat import timezone

    return trigger("sample_dag", run_id="cmd_run", logical_date=timezone.parse(DATE))


def ti_states(dag_id: str, run_id: str) -> dict:
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        return {ti.task_id: ti.state for ti in session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=run_id)}


def set_states(dag_id: str, run_id: str, **states) -> None:
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        for ti in session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=run_id):
            ti.state = states.get(ti.task_id, ti.state)


def answer_to_a_failing_test(call, **args) -> dict:
    """The answer of ``test`` on a task that fails (a DAG file written for it, forgotten after)."""
    path = write_dag_file("failing_dag.py", dag_source(FAILING_DAG, dag_id="failing_dag"))
    try:
        return call("test", dag_id="failing_dag", task_id="fails", execution_date="2024-01-01", **args).get_json()
    finally:
        path.unlink()
        forget_dag("failing_dag")


# The BashOperator's output line, as each line logs it.
EXTRACT_LOGGED = "] extract 2024-01-01 " if AIRFLOW_3 else "INFO - extract 2024-01-01"


class TestRender:
    def test_renders_the_template_for_the_date_without_a_run(self, call):
        body = call("render", dag_id="sample_dag", task_id="extract", execution_date="2024-01-02").get_json()
        assert body["status"] == "OK", body
        assert "# property: bash_command" in body["output"]["stdout"]
        assert "echo extract 2024-01-02" in body["output"]["stdout"]
        assert body["data"]["rendered"]["bash_command"] == "echo extract 2024-01-02"
        assert body["airflow_cmd"] == "airflow tasks render sample_dag extract 2024-01-02T00:00:00+00:00"
        assert dag_runs("sample_dag") == []  # rendering leaves nothing behind

    def test_renders_for_an_existing_run_by_run_id(self, call, sample_run):
        body = call("render", dag_id="sample_dag", task_id="extract", run_id="cmd_run").get_json()
        assert body["data"]["rendered"]["bash_command"] == "echo extract 2024-03-01"

    @pytest.mark.parametrize(
        "args, status",
        [
            ({"dag_id": "no_such_dag", "task_id": "extract", "execution_date": DATE}, 404),
            ({"dag_id": "sample_dag", "task_id": "no_such_task", "execution_date": DATE}, 404),
            ({"dag_id": "sample_dag", "task_id": "extract", "run_id": "no_such_run"}, 404),
            ({"dag_id": "sample_dag", "task_id": "extract"}, 400),
            ({"dag_id": "sample_dag", "task_id": "extract", "execution_date": "soon"}, 400),
        ],
    )
    def test_failures(self, call, args, status):
        body = call("render", **args).get_json()
        assert (body["http_response_code"], body["status"]) == (status, "ERROR"), body

    @airflow3_only
    @pytest.mark.parametrize("map_index", ["0", "3"])
    def test_a_map_index_for_a_task_that_is_not_mapped_is_400(self, call, sample_run, map_index):
        """Airflow 3 renders in the DAG processor child, whose task SDK refuses it (the fuzzer found a 500)."""
        body = call("render", dag_id="sample_dag", task_id="extract", run_id="cmd_run", map_index=map_index).get_json()
        assert (body["http_response_code"], body["status"]) == (400, "ERROR"), body
        assert "not mapped" in body["output"]


class TestTaskFailedDeps:
    def test_unmet_trigger_rule(self, call, sample_run):
        body = call("task_failed_deps", dag_id="sample_dag", task_id="load", execution_date=DATE).get_json()
        assert body["status"] == "OK", body
        assert body["output"]["stdout"].startswith("Task instance dependencies not met:")
        names = {dep["dep_name"] for dep in body["data"]["failed_dependencies"]}
        assert "Trigger Rule" in names

    def test_without_a_run_is_404(self, call):
        body = call("task_failed_deps", dag_id="sample_dag", task_id="load", execution_date=DATE).get_json()
        assert body["http_response_code"] == 404
        assert "not found" in body["output"]


class TestClear:
    def test_task_regex_clears_only_matching_tasks(self, call, sample_run):
        set_states("sample_dag", "cmd_run", extract="success", load="success")
        body = call("clear", dag_id="sample_dag", task_regex="^extract$", no_confirm="").get_json()
        assert body["status"] == "OK", body
        assert body["data"]["count"] == 1
        assert ti_states("sample_dag", "cmd_run") == {"extract": None, "load": "success"}

    def test_downstream_and_only_failed(self, call, sample_run):
        set_states("sample_dag", "cmd_run", extract="success", load="failed")
        call("clear", dag_id="sample_dag", task_regex="^extract$", downstream="true", only_failed="on")
        assert ti_states("sample_dag", "cmd_run") == {"extract": "success", "load": None}

    def test_date_range_excludes_other_runs(self, call, sample_run):
        set_states("sample_dag", "cmd_run", extract="success", load="success")
        body = call("clear", dag_id="sample_dag", start_date="2024-04-01", end_date="2024-05-01").get_json()
        assert body["data"]["count"] == 0
        assert ti_states("sample_dag", "cmd_run") == {"extract": "success", "load": "success"}

    def test_dry_run_changes_nothing(self, call, sample_run):
        set_states("sample_dag", "cmd_run", extract="success", load="success")
        body = call("clear", dag_id="sample_dag", dry_run="true").get_json()
        assert body["data"]["count"] == 2 and "dry run" in body["output"]["stdout"]
        assert ti_states("sample_dag", "cmd_run") == {"extract": "success", "load": "success"}

    def test_legacy_exclude_subdags_is_ignored_with_a_warning(self, call, sample_run):
        body = call("clear", dag_id="sample_dag", exclude_subdags="").get_json()
        assert body["status"] == "OK" and "exclude_subdags" in body["warning"]

    @pytest.mark.parametrize(
        "args, status",
        [
            ({"dag_id": "no_such_dag"}, 404),
            ({"dag_id": "sample_dag", "task_regex": "(unclosed"}, 400),
            ({"dag_id": "sample_dag", "start_date": "2024-02-01", "end_date": "2024-01-01"}, 400),
            ({"dag_id": "sample_dag", "only_failed": "perhaps"}, 400),
        ],
    )
    def test_failures(self, call, args, status):
        assert call("clear", **args).get_json()["http_response_code"] == status


class TestTestCommand:
    def test_runs_the_task_and_answers_with_its_log(self, call):
        body = call("test", dag_id="sample_dag", task_id="extract", execution_date="2024-01-01").get_json()
        assert body["status"] == "OK", body
        assert EXTRACT_LOGGED in body["output"]["stdout"]  # the BashOperator's output
        assert "Filling up the DagBag" not in body["output"]["stdout"]  # loading noise is filtered
        assert body["data"]["state"] == "success" and body["data"]["exit_code"] == 0
        assert body["airflow_cmd"] == "airflow tasks test sample_dag extract 2024-01-01T00:00:00+00:00"
        stdout, stderr = streams(call, body)
        assert stderr == "" and body["output"]["stderr"] == ""  # a success leaves nothing on stderr but noise
        assert body["output"]["stdout"] == stdout + "\n"

    @airflow2_only
    def test_failing_task_is_an_error_with_its_exit_code(self, call):
        body = answer_to_a_failing_test(call)
        assert (body["status"], body["http_response_code"]) == ("ERROR", 409), body
        assert "exit code 1" in body["output"] and "about to fail" in body["output"]
        stderr = body["output"].split("\n--- stderr ---\n")[1]  # the command's traceback, labelled
        assert stderr.startswith("Traceback") and "RemovedInAirflow3Warning" not in stderr
        assert body["data"]["stderr"] == stderr and "about to fail" in body["data"]["stdout"]

    @airflow3_only
    def test_failing_task_is_an_error_though_airflow_3_exits_0(self, call):
        """Airflow 3's `tasks test` exits 0 when the task fails, and logs its traceback on stdout."""
        body = answer_to_a_failing_test(call)
        assert (body["status"], body["http_response_code"]) == ("ERROR", 409), body
        assert "exit code 0, but the task ended failed" in body["output"] and "about to fail" in body["output"]
        assert "Traceback" in body["output"] and "Bash command failed" in body["output"]
        assert body["data"]["task_state"] == "failed" and body["data"]["exit_code"] == 0
        assert "about to fail" in body["data"]["stdout"] and "[py.warnings]" not in body["data"]["stdout"]

    @airflow3_only
    def test_a_test_job_shows_the_tasks_state_on_airflow_3(self, call):
        """Without waiting: api=jobs shows the task's state, and the job failed with it (the command's exit code
        says nothing)."""
        from tests.helpers import poll

        write_dag_file("failing_dag.py", dag_source(FAILING_DAG, dag_id="failing_dag"))
        try:
            started = call(
                "test", dag_id="failing_dag", task_id="fails", execution_date="2024-01-01", wait="false"
            ).get_json()
            assert started["status"] == "OK", started
            job_id = started["data"]["job_id"]
            ended = poll(
                lambda: (job := call("jobs", job_id=job_id).get_json()["data"])["state"] != "running" and job,
                seconds=90,
            )
        finally:
            (__import__("tests.helpers").helpers.DAGS_FOLDER / "failing_dag.py").unlink()
            forget_dag("failing_dag")
        assert (ended["state"], ended["exit_code"], ended["task_state"]) == ("failed", 0, "failed"), ended
        body = call("test", dag_id="sample_dag", task_id="extract", execution_date="2024-01-01").get_json()
        assert call("jobs", job_id=body["data"]["job_id"]).get_json()["data"]["task_state"] == "success"

    @airflow2_only
    def test_hostile_task_params_are_data(self, call):
        params = '{"x": "$(touch %s); `touch %s`"}' % (MARKER, MARKER)
        body = call("test", dag_id="sample_dag", task_id="extract", dry_run="", task_params=params).get_json()
        assert body["status"] == "OK", body
        assert "--dry-run" in body["airflow_cmd"] and "--task-params=" in body["airflow_cmd"]

    @airflow3_only
    def test_hostile_task_params_are_data_on_airflow_3(self, call):
        """No --dry-run on Airflow 3: the task runs, with the params as its data."""
        params = '{"x": "$(touch %s); `touch %s`"}' % (MARKER, MARKER)
        body = call(
            "test", dag_id="sample_dag", task_id="extract", execution_date="2024-01-01", task_params=params
        ).get_json()
        assert body["status"] == "OK", body
        assert "--task-params=" in body["airflow_cmd"] and "--dry-run" not in body["airflow_cmd"]

    @airflow3_only
    @pytest.mark.parametrize("spelling", ["dry_run", "dryrun"])
    def test_dry_run_is_refused_on_airflow_3(self, call, spelling):
        """Airflow 3's `tasks test` has no --dry-run: ignoring it would run the task."""
        body = call("test", dag_id="sample_dag", task_id="extract", **{spelling: "true"}).get_json()
        assert (body["status"], body["http_response_code"]) == ("ERROR", 400), body
        assert "no --dry-run on Airflow 3" in body["output"] and "api=render" in body["output"]
        assert spelling in body["data"]["errors"]
        # false changes nothing: the call passes the arguments' check (and stops at the unknown DAG)
        assert (
            call("test", dag_id="no_such_dag", task_id="extract", **{spelling: "false"}).get_json()[
                "http_response_code"
            ]
            == 404
        )

    @airflow3_only
    def test_subdir_is_ignored_on_airflow_3(self, call):
        from tests.helpers import DAGS_FOLDER

        body = call(
            "test", dag_id="sample_dag", task_id="extract", execution_date="2024-01-01", subdir=str(DAGS_FOLDER)
        ).get_json()
        assert body["status"] == "OK", body
        assert "subdir" in body["warning"] and "--subdir" not in body["airflow_cmd"]

    @pytest.mark.parametrize("value", HOSTILE)
    @pytest.mark.parametrize("field", ["dag_id", "task_id", "run_id"])
    def test_hostile_values_run_nothing(self, call, field, value):
        args = {"dag_id": "sample_dag", "task_id": "extract", "run_id": "r1", field: value}
        body = call("test", **args).get_json()
        assert body["status"] == "ERROR" and body["http_response_code"] in (400, 404), body

    def test_option_like_run_id_is_refused_as_positional(self, call):
        body = call("test", dag_id="sample_dag", task_id="extract", run_id="--help").get_json()
        assert body["http_response_code"] == 400
        assert "may not start with '-'" in body["output"]

    def test_subdir_must_stay_in_the_dags_folder(self, call):
        body = call("test", dag_id="sample_dag", task_id="extract", subdir="../../etc").get_json()
        assert body["http_response_code"] == 400 and "subdir" in body["data"]["errors"]


@airflow2_only
class TestRunCommand:
    def test_local_run_records_success(self, call, sample_run):
        body = call(
            "run",
            dag_id="sample_dag",
            task_id="extract",
            execution_date=DATE,
            local="on",
            ship_dag="",
            cfg_path="/etc/airflow.cfg",
        ).get_json()
        assert body["status"] == "OK", body
        assert ti_states("sample_dag", "cmd_run")["extract"] == "success"
        assert "cfg_path" in body["warning"] and "ship_dag" in body["warning"]
        assert "/etc/airflow.cfg" not in body["airflow_cmd"]
        stdout, stderr = streams(call, body)
        assert stderr == "" and "Running <TaskInstance: sample_dag.extract cmd_run" in stdout

    def test_flags_become_options(self, call, sample_run):
        body = call(
            "run",
            dag_id="sample_dag",
            task_id="load",
            execution_date=DATE,
            wait="false",
            mark_success="",
            force="true",
            pool="-x",
            ignore_all_dependencies="on",
            ignore_dependencies="",
            ignore_depends_on_past="",
        ).get_json()
        assert body["status"] == "OK", body
        for expected in (
            "--mark-success",
            "--force",
            "--pool=-x",
            "--ignore-all-dependencies",
            "--ignore-dependencies",
            "--depends-on-past=ignore",
        ):
            assert expected in body["airflow_cmd"]
        call("stop_job", job_id=body["data"]["job_id"]) if body["data"]["state"] == "running" else None

    @pytest.mark.parametrize(
        "args, status",
        [
            ({"dag_id": "sample_dag", "task_id": "extract"}, 400),  # no date
            ({"dag_id": "no_such_dag", "task_id": "extract", "execution_date": DATE}, 404),
            ({"dag_id": "sample_dag", "task_id": "nope", "execution_date": DATE}, 404),
            ({"dag_id": "sample_dag", "task_id": "extract", "execution_date": DATE, "pool": "a b; ls"}, 400),
        ],
    )
    def test_failures(self, call, args, status):
        assert call("run", **args).get_json()["http_response_code"] == status


@airflow3_only
class TestRunCommandOnAirflow3:
    """Airflow 3 has no `airflow tasks run`: run answers 501, saying what to use instead."""

    @pytest.mark.parametrize(
        "args",
        [
            {"dag_id": "sample_dag", "task_id": "extract", "execution_date": DATE, "local": "on"},
            {"dag_id": "no_such_dag", "task_id": "extract", "execution_date": DATE},
        ],
    )
    def test_is_501_with_what_to_use_instead(self, call, args):
        from rest_api_plugin.processes import jobs
        from rest_api_plugin.security import Identity

        every_job = Identity(kind="token", name="token")  # the token for every DAG sees all jobs
        before = len(jobs.list_for(every_job))
        body = call("run", **args).get_json()
        assert (body["status"], body["http_response_code"]) == ("ERROR", 501), body
        for said in ("no `airflow tasks run`", "api=trigger_dag", "api=clear", "api=test"):
            assert said in body["output"]
        assert len(jobs.list_for(every_job)) == before  # nothing was started

    @pytest.mark.parametrize(
        "args",
        [
            {"dag_id": "sample_dag", "task_id": "extract"},  # no date
            {"dag_id": "sample_dag", "task_id": "extract", "execution_date": DATE, "pool": "a b; ls"},
        ],
    )
    def test_invalid_arguments_are_still_400(self, call, args):
        assert call("run", **args).get_json()["http_response_code"] == 400
