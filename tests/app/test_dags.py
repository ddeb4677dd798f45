"""DAG endpoints (pause, unpause, list_dags, list_tasks), answered in-process; every effect is read back
from the database."""

from __future__ import annotations

from contextlib import contextmanager


def is_paused(dag_id: str) -> bool:
    from airflow.models import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        return session.get(DagModel, dag_id).is_paused


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
            session.add(
                ParseImportError(filename="/dags/broken.py", stacktrace="SyntaxError", timestamp=timezone.utcnow())
            )
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
                session.add(
                    ParseImportError(filename=filename, stacktrace=f"Error in {filename}", timestamp=timezone.utcnow())
                )
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
            "task_id": "extract",
            "operator": "BashOperator",
            "upstream_task_ids": [],
            "downstream_task_ids": ["load"],
        }

    def test_list_tasks_tree(self, call):
        body = call("list_tasks", dag_id="sample_dag", tree="").get_json()
        assert body["output"]["stdout"] == "<Task(BashOperator): extract>\n    <Task(EmptyOperator): load>\n"

    def test_list_tasks_of_unknown_dag_is_404(self, call):
        assert call("list_tasks", dag_id="no_such_dag").status_code == 404
