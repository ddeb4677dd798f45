"""End to end, the rest of the original plugin's endpoints through a real ``airflow webserver``: task
commands, backfill and clear, background jobs, DAG files, pools, variables and connections, called as the
original README calls them; effects are read back from the database and the DAGs folder.
"""

from __future__ import annotations

import shutil
import time

import pytest

from tests.airflow_line import airflow2_only, airflow3_only, trigger
from tests.helpers import DAGS_FOLDER, SIMPLE_DAG, dag_model, dag_source, forget_dag, hanging_source, poll

pytestmark = pytest.mark.e2e

DATE = "2024-03-01T00:00:00"


@pytest.fixture
def sample_run(webserver):
    """A run of sample_dag at DATE with its task instances (conftest's clean_db empties runs per test)."""
    from rest_api_plugin.airflow_compat import timezone

    return trigger("sample_dag", run_id="e2e_cmd_run", logical_date=timezone.parse(DATE))


def ok(answer) -> dict:
    body = answer.json()
    assert answer.status_code == 200 and body["status"] == "OK", body
    return body


def ti_states(run_id: str) -> dict:
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        return {
            ti.task_id: ti.state for ti in session.query(TaskInstance).filter_by(dag_id="sample_dag", run_id=run_id)
        }


def finished_job(webserver, job_id: str) -> dict:
    def ended():
        job = ok(webserver.get("jobs", job_id=job_id))["data"]
        return job if job["state"] != "running" else None

    return poll(ended, seconds=120, every=0.5)


def test_render(webserver, sample_run):
    body = ok(webserver.get("render", dag_id="sample_dag", task_id="extract", execution_date=DATE))
    assert "echo extract 2024-03-01" in body["output"]["stdout"]
    assert body["data"]["rendered"]["bash_command"] == "echo extract 2024-03-01"


def test_task_failed_deps(webserver, sample_run):
    body = ok(webserver.get("task_failed_deps", dag_id="sample_dag", task_id="load", execution_date=DATE))
    names = {dep["dep_name"] for dep in body["data"]["failed_dependencies"]}
    assert "Trigger Rule" in names, body  # load waits for extract


def test_list_tasks_tree_and_list_dags_report(webserver):
    tree = ok(webserver.get("list_tasks", dag_id="sample_dag", tree=""))
    assert tree["output"]["stdout"].splitlines() == ["<Task(BashOperator): extract>", "    <Task(EmptyOperator): load>"]
    report = ok(webserver.get("list_dags", report="true"))
    assert report["data"]["import_errors"] == []


def test_test_waits_and_answers_with_the_task_log(webserver):
    body = ok(webserver.get("test", dag_id="sample_dag", task_id="extract", execution_date="2017-01-02T03:04:05"))
    assert "extract 2017-01-02" in body["output"]["stdout"]
    assert body["airflow_cmd"] == "airflow tasks test sample_dag extract 2017-01-02T03:04:05+00:00"
    assert body["data"]["exit_code"] == 0


@airflow2_only
def test_run_records_the_task_state(webserver, sample_run):
    ok(webserver.get("run", dag_id="sample_dag", task_id="extract", execution_date=DATE, local="true"))
    assert ti_states("e2e_cmd_run")["extract"] == "success"


@airflow3_only
def test_run_is_501_on_airflow_3_and_changes_nothing(webserver, sample_run):
    before = ti_states("e2e_cmd_run")
    answer = webserver.get("run", dag_id="sample_dag", task_id="extract", execution_date=DATE, local="true")
    body = answer.json()
    assert (answer.status_code, body["status"], body["http_response_code"]) == (501, "ERROR", 501), body
    assert "no `airflow tasks run`" in body["output"] and "api=trigger_dag" in body["output"]
    assert ti_states("e2e_cmd_run") == before


def test_clear_resets_the_task_instances(webserver, sample_run):
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(TaskInstance).filter_by(dag_id="sample_dag").update({TaskInstance.state: "failed"})
    body = ok(webserver.get("clear", dag_id="sample_dag", task_regex="^extract$", only_failed="", no_confirm=""))
    assert body["data"]["count"] == 1
    assert ti_states("e2e_cmd_run") == {"extract": None, "load": "failed"}


@airflow2_only
def test_backfill_is_a_job_that_creates_its_runs(webserver):
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    body = ok(webserver.get("backfill", dag_id="other_dag", start_date="2024-01-01", end_date="2024-01-02"))
    job = body["data"]
    assert job["state"] == "running" and job["pid"] > 0
    assert body["airflow_cmd"].startswith("airflow dags backfill")
    assert finished_job(webserver, job["job_id"])["state"] == "success"
    with create_session() as session:
        runs = session.query(DagRun).filter_by(dag_id="other_dag").order_by(DagRun.execution_date).all()
        assert [(run.execution_date.date().isoformat(), run.state) for run in runs] == [
            ("2024-01-01", "success"),
            ("2024-01-02", "success"),
        ]
    listed = ok(webserver.get("jobs"))["data"]["jobs"]
    assert job["job_id"] in [j["job_id"] for j in listed]


@airflow3_only
def test_backfill_is_a_job_that_queues_its_runs_for_the_scheduler(webserver):
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    body = ok(webserver.get("backfill", dag_id="other_dag", start_date="2024-01-01", end_date="2024-01-02"))
    job = body["data"]
    assert job["state"] == "running" and job["pid"] > 0
    assert body["airflow_cmd"].startswith("airflow backfill create --dag-id=other_dag")
    assert "the scheduler runs them" in body["output"]["stdout"]
    ended = finished_job(webserver, job["job_id"])
    assert ended["state"] == "success", ok(webserver.get("jobs", job_id=ended["job_id"], lines="60"))["output"]
    with create_session() as session:
        runs = session.query(DagRun).filter_by(dag_id="other_dag").order_by(DagRun.logical_date).all()
        assert [(run.run_type, run.logical_date.date().isoformat(), run.state) for run in runs] == [
            ("backfill", "2024-01-01", "queued"),
            ("backfill", "2024-01-02", "queued"),
        ]
    listed = ok(webserver.get("jobs"))["data"]["jobs"]
    assert job["job_id"] in [j["job_id"] for j in listed]


@airflow3_only
def test_dag_processor_job_parses_once_and_exits(webserver):
    body = ok(webserver.get("dag_processor", num_runs="1"))
    ended = finished_job(webserver, body["data"]["job_id"])
    assert ended["state"] == "success", ok(webserver.get("jobs", job_id=ended["job_id"], lines="60"))["output"]


def test_scheduler_job_runs_once_and_exits(webserver):
    body = ok(webserver.get("scheduler", num_runs="1", daemon="", pid="/tmp/x.pid"))
    assert "daemon" in body["warning"] and "pid" in body["warning"]
    ended = finished_job(webserver, body["data"]["job_id"])
    assert ended["state"] == "success", ok(webserver.get("jobs", job_id=ended["job_id"], lines="60"))["output"]


def test_serve_logs_starts_and_stop_job_stops_it(webserver):
    job = ok(webserver.get("serve_logs"))["data"]
    try:
        assert ok(webserver.get("jobs", job_id=job["job_id"]))["data"]["state"] == "running"
    finally:
        stopped = ok(webserver.get("stop_job", job_id=job["job_id"]))
    assert stopped["data"]["state"] in ("killed", "success", "failed")
    assert ok(webserver.get("jobs", job_id=job["job_id"]))["data"]["state"] != "running"


@pytest.mark.parametrize("api", ["worker", "kerberos"])
def test_daemons_that_need_more_say_what_to_install(webserver, api):
    body = webserver.get(api).json()
    assert body["http_response_code"] == 409 and body["status"] == "ERROR"
    assert "CeleryExecutor" in body["output"] if api == "worker" else "apache-airflow[kerberos]" in body["output"]


def test_deploy_refresh_and_delete_a_dag_as_old_clients_do(webserver):
    """curl -X POST -F 'dag_file=@/path/to/dag.py' -F 'force=on' .../api?api=deploy_dag, then refresh, delete."""
    path = DAGS_FOLDER / "e2e_deployed.py"
    source = dag_source(SIMPLE_DAG, dag_id="e2e_deployed", description="first")
    try:
        answer = webserver.call(
            "POST", "deploy_dag", files={"dag_file": ("e2e_deployed.py", source)}, data={"force": "on", "unpause": "on"}
        )
        body = ok(answer)
        assert body["output"] == "DAG File [e2e_deployed.py] has been uploaded"
        assert path.read_text() == source
        assert dag_model("e2e_deployed").is_paused is False
        listed = ok(webserver.get("list_dags"))["data"]["dags"]
        assert "e2e_deployed" in [dag["dag_id"] for dag in listed]

        again = webserver.call("POST", "deploy_dag", files={"dag_file": ("e2e_deployed.py", "x = 1\n")})
        assert again.status_code == 409 and path.read_text() == source  # no force: nothing replaced

        path.write_text(
            source.replace(
                'EmptyOperator(task_id="only")', 'EmptyOperator(task_id="only") >> EmptyOperator(task_id="added")'
            )
        )
        ok(webserver.get("refresh_dag", dag_id="e2e_deployed"))
        tasks = ok(webserver.get("list_tasks", dag_id="e2e_deployed"))["output"]["stdout"].splitlines()
        assert tasks == ["added", "only"]

        deleted = ok(webserver.get("delete_dag", dag_id="e2e_deployed", delete_file="true"))
        assert deleted["data"]["file_removed"] is True and not path.exists()
        assert dag_model("e2e_deployed") is None
    finally:
        path.unlink(missing_ok=True)
        forget_dag("e2e_deployed")


def test_a_dag_file_that_hangs_is_stopped_and_the_webserver_keeps_answering(webserver):
    """The webserver runs with [core] dagbag_import_timeout = 10 (conftest): the parsing process is killed
    after 10 s plus its margin, and the worker that waited for it answers the next call."""
    from rest_api_plugin.dag_files.parsing import MARGIN_SECONDS

    started = time.monotonic()
    answer = webserver.call("POST", "deploy_dag", files={"dag_file": ("e2e_hangs.py", hanging_source(600))})
    body = answer.json()
    assert answer.status_code == 400 and body["status"] == "ERROR", body
    assert "[core] dagbag_import_timeout of 10 s" in body["output"] and list(body["data"]["import_errors"]) == [
        "e2e_hangs.py"
    ]
    assert time.monotonic() - started < 10 + MARGIN_SECONDS + 20
    assert not (DAGS_FOLDER / "e2e_hangs.py").exists()
    assert ok(webserver.get("version"))["output"]


def test_a_dag_file_runs_without_the_webservers_secrets(webserver, tmp_path):
    marker = tmp_path / "seen"
    source = (
        "from airflow.configuration import conf\n"
        f"open({str(marker)!r}, 'w').write(conf.get('webserver', 'secret_key'))\n"
        + dag_source(SIMPLE_DAG, dag_id="e2e_curious", description="curious")
    )
    try:
        ok(webserver.call("POST", "deploy_dag", files={"dag_file": ("e2e_curious.py", source)}))
        assert marker.read_text() and marker.read_text() != webserver.env["AIRFLOW__WEBSERVER__SECRET_KEY"]
    finally:
        (DAGS_FOLDER / "e2e_curious.py").unlink(missing_ok=True)
        forget_dag("e2e_curious")


def test_refresh_all_dags_picks_up_a_new_file(webserver):
    path = DAGS_FOLDER / "e2e_dropped_in.py"
    path.write_text(dag_source(SIMPLE_DAG, dag_id="e2e_dropped_in", description="dropped in"))
    try:
        assert dag_model("e2e_dropped_in") is None
        body = ok(webserver.get("refresh_all_dags"))
        assert "e2e_dropped_in" in body["data"]["dag_ids"]
        assert dag_model("e2e_dropped_in").description == "dropped in"
    finally:
        path.unlink(missing_ok=True)
        forget_dag("e2e_dropped_in")


def test_pool_variables_connections_as_the_original_readme(webserver):
    from airflow.models import Connection, Pool, Variable
    from airflow.utils.session import create_session

    ok(webserver.get("pool", cmd="set", pool_name="myTestpool", slot_count="10", description="myTestpoolDescription"))
    ok(webserver.get("variables", cmd="set", key="myVar1", value="myValue1"))
    added = ok(
        webserver.get(
            "connections", add="on", conn_id="e2e_db", conn_uri="postgres://someone:s3cret@db.example.com:5432/sales"
        )
    )
    assert "s3cret" not in str(added["output"]) and "s3cret" not in str(added["arguments"])
    with create_session() as session:
        pool = session.query(Pool).filter_by(pool="myTestpool").one()
        assert (pool.slots, pool.description) == (10, "myTestpoolDescription")
        conn = session.query(Connection).filter_by(conn_id="e2e_db").one()
        assert conn.password == "s3cret"
    assert Variable.get("myVar1") == "myValue1"
    assert ok(webserver.get("variables", get="myVar1"))["output"]["stdout"] == "myValue1\n"
    listed = ok(webserver.get("connections", list="on"))
    assert "s3cret" not in str(listed["output"]) and "e2e_db" in listed["output"]["stdout"]


# --- reading DAGs and runs (issue 19) ---


def test_the_dag_and_run_reading_endpoints(webserver, sample_run):
    runs = ok(webserver.get("list_runs", dag_id="sample_dag"))
    assert [run["run_id"] for run in runs["data"]["runs"]] == ["e2e_cmd_run"]
    states = ok(webserver.get("states_for_dag_run", dag_id="sample_dag", execution_date=DATE))
    assert [ti["task_id"] for ti in states["data"]["task_instances"]] == ["extract", "load"]
    details = ok(webserver.get("dag_details", dag_id="sample_dag"))
    assert details["data"]["attributes"]["dag_id"] == "sample_dag"
    upcoming = ok(webserver.get("next_execution", dag_id="other_dag", num_executions="2"))
    assert len(upcoming["data"]["next_executions"]) == 2
    assert ok(webserver.get("list_import_errors"))["data"]["total_entries"] == 0


@pytest.mark.skipif(
    not shutil.which("dot"), reason="show_dag format=svg needs Graphviz's dot: apt-get install graphviz"
)
def test_show_dag_svg_is_drawn_by_graphviz(webserver):
    body = ok(webserver.get("show_dag", dag_id="sample_dag", format="svg"))
    assert body["output"]["stdout"].startswith("digraph sample_dag {")
    svg = body["data"]["svg"]
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and ">extract</text>" in svg
    assert {(edge["source"], edge["target"]) for edge in body["data"]["edges"]} == {("extract", "load")}
