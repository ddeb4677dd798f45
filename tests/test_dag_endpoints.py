"""DAG, run and task endpoints, answered in-process; every effect is read back from the database."""

from __future__ import annotations

from contextlib import contextmanager

import pytest


def run_logical_date(run):
    from rest_api_plugin.airflow_compat import run_logical_date as logical_date

    return logical_date(run)


@contextmanager
def statements_counted():
    """Counts the SQL statements sent to the database meanwhile: ``counted()``."""
    from airflow.settings import engine
    from sqlalchemy import event

    statements = []

    def count(*_):
        statements.append(1)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield lambda: len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)


def db_run(dag_id: str, run_id: str):
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter_by(dag_id=dag_id, run_id=run_id).one_or_none()
        if run is not None:
            session.expunge(run)
        return run


def is_paused(dag_id: str) -> bool:
    from airflow.models import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        return session.get(DagModel, dag_id).is_paused


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
        body = call("trigger_dag", dag_id="sample_dag", run_id="second", execution_date="2024-06-01T00:00:00").get_json()
        assert (body["status"], body["http_response_code"]) == ("ERROR", 409), body
        assert db_run("sample_dag", "second") is None

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


class TestPause:
    def test_unpause_then_pause(self, call):
        body = call("unpause", dag_id="sample_dag").get_json()
        assert body["output"] == {"stdout": "Dag: sample_dag, paused: False\n", "stderr": "", "stdin": ""}
        assert body["airflow_cmd"] == "airflow dags unpause sample_dag"
        assert is_paused("sample_dag") is False
        assert call("pause", dag_id="sample_dag").get_json()["data"] == {"dag_id": "sample_dag", "is_paused": True}
        assert is_paused("sample_dag") is True

    def test_subdir_of_old_clients_is_accepted(self, call):
        assert call("unpause", dag_id="sample_dag", subdir="/somewhere").status_code == 200

    def test_unknown_dag_is_404(self, call):
        assert call("pause", dag_id="no_such_dag").status_code == 404


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
        body = call("task_state", dag_id="sample_dag", task_id="extract", execution_date="2024-05-06T07:08:09").get_json()
        assert body["output"]["stdout"] == "success\n", body
        assert body["data"]["state"] == "success"
        load = call("task_state", dag_id="sample_dag", task_id="load", execution_date="2024-05-06T07:08:09")
        assert load.get_json()["output"]["stdout"] == "None\n"

    def test_task_state_of_unknown_task_is_404(self, call, run):
        answer = call("task_state", dag_id="sample_dag", task_id="nope", execution_date="2024-05-06T07:08:09")
        assert answer.status_code == 404


class TestLists:
    def test_list_dags_from_the_database(self, call):
        body = call("list_dags").get_json()
        assert body["airflow_cmd"] == "airflow dags list"
        ids = [dag["dag_id"] for dag in body["data"]["dags"]]
        assert ids == ["other_dag", "sample_dag"]
        assert "sample_dag" in body["output"]["stdout"].splitlines()
        sample = body["data"]["dags"][1]
        assert sample["is_paused"] is True and sample["tags"] == ["rest_api_plugin"]

    def test_list_dags_pages_with_limit_and_offset(self, call):
        body = call("list_dags", limit="1", offset="1").get_json()
        assert [dag["dag_id"] for dag in body["data"]["dags"]] == ["sample_dag"]
        assert body["data"]["total_entries"] == 2  # all of them, as the stable API counts
        assert call("list_dags", limit="0").get_json()["http_response_code"] == 400

    def test_list_dags_reads_a_constant_number_of_queries(self, call):
        """However many DAGs (each with tags), the same few queries: no query per DAG."""
        from airflow.models import DagModel
        from airflow.models.dag import DagTag
        from airflow.utils.session import create_session

        from rest_api_plugin.airflow_compat import set_dag_active

        def queries_of_one_call(**args) -> tuple[int, int]:
            with statements_counted() as counted:
                body = call("list_dags", **args).get_json()
            return counted(), len(body["data"]["dags"])

        few = queries_of_one_call(report="true")
        with create_session() as session:
            for number in range(30):
                model = DagModel(dag_id=f"many_{number:02d}", fileloc="/dags/many.py", is_paused=True)
                set_dag_active(model, True)
                if hasattr(model, "bundle_name"):  # Airflow 3
                    model.bundle_name = "dags-folder"
                session.add(model)
                session.add_all([DagTag(name="a", dag_id=model.dag_id), DagTag(name="b", dag_id=model.dag_id)])
        try:
            many = queries_of_one_call(report="true")
            assert many[1] == few[1] + 30 and many[0] == few[0], (few, many)
            assert queries_of_one_call(limit="5")[0] <= few[0] + 1  # paging adds the count
        finally:
            with create_session() as session:
                session.query(DagTag).filter(DagTag.dag_id.like("many_%")).delete(synchronize_session=False)
                session.query(DagModel).filter(DagModel.dag_id.like("many_%")).delete(synchronize_session=False)

    def test_list_dags_report_includes_import_errors(self, call):
        from airflow.models.errors import ParseImportError
        from airflow.utils.session import create_session

        from rest_api_plugin.airflow_compat import timezone

        with create_session() as session:
            session.add(ParseImportError(filename="/dags/broken.py", stacktrace="SyntaxError", timestamp=timezone.utcnow()))
        body = call("list_dags", report="true").get_json()
        assert body["data"]["import_errors"][0]["filename"] == "/dags/broken.py"
        with create_session() as session:
            session.query(ParseImportError).delete()

    def test_list_dags_report_shows_only_the_import_errors_of_readable_files(self, call):
        """User "limited" reads sample_dag only: the import error of its file, not another file's."""
        from airflow.models import DagModel
        from airflow.models.errors import ParseImportError
        from airflow.utils.session import create_session

        from rest_api_plugin.airflow_compat import AIRFLOW_3, timezone

        with create_session() as session:
            model = session.get(DagModel, "sample_dag")
            sample_file = model.relative_fileloc if AIRFLOW_3 else model.fileloc
            for filename in (sample_file, "elsewhere/secret_dag.py"):
                session.add(ParseImportError(filename=filename, stacktrace=f"Error in {filename}",
                                             timestamp=timezone.utcnow()))
        try:
            limited = call("list_dags", who="limited", report="true").get_json()["data"]["import_errors"]
            admin = call("list_dags", who="admin", report="true").get_json()["data"]["import_errors"]
        finally:
            with create_session() as session:
                session.query(ParseImportError).delete()
        assert [error["filename"] for error in limited] == [sample_file]
        assert sorted(error["filename"] for error in admin) == sorted([sample_file, "elsewhere/secret_dag.py"])

    def test_list_tasks(self, call):
        body = call("list_tasks", dag_id="sample_dag").get_json()
        assert body["output"]["stdout"] == "extract\nload\n"
        assert body["data"]["tasks"][0] == {
            "task_id": "extract", "operator": "BashOperator", "upstream_task_ids": [], "downstream_task_ids": ["load"]
        }

    def test_list_tasks_tree(self, call):
        body = call("list_tasks", dag_id="sample_dag", tree="").get_json()
        assert body["output"]["stdout"] == "<Task(BashOperator): extract>\n    <Task(EmptyOperator): load>\n"

    def test_list_tasks_of_unknown_dag_is_404(self, call):
        assert call("list_tasks", dag_id="no_such_dag").status_code == 404
