"""Background jobs: rows in the plugin's tables, state from the runner's heartbeat and end record, stop_job;
and the daemons (scheduler, celery worker and flower with Redis, the log server, kerberos) started for real."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from rest_api_plugin.processes import commands, jobs
from tests.airflow_line import AIRFLOW_3, AIRFLOW_VERSION, airflow2_only, airflow3_only
from tests.helpers import poll

REDIS_URL = "redis://127.0.0.1:6379/0"
PG_SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432"
WORKERS_SECTION = "api" if AIRFLOW_3 else "webserver"
# one per Airflow version: a database migrated by one line cannot be migrated by another
CELERY_DB = f"rest_api_plugin_celery_tests_{AIRFLOW_VERSION.replace('.', '_')}"


def job_state(call, job_id: str) -> dict:
    return call("jobs", job_id=job_id).get_json()["data"]


def both_streams(job_id: str) -> str:
    """What the job wrote so far, stdout then stderr, unfiltered (daemons log to either)."""
    return jobs.tail(job_id, "stdout") + jobs.tail(job_id, "stderr")


def all_job_ids() -> set[str]:
    import sqlalchemy as sa

    from rest_api_plugin.processes.job_tables import job

    with jobs.engine().connect() as connection:
        return {job_id for (job_id,) in connection.execute(sa.select(job.c.job_id))}


def stored_output(job_id: str) -> dict[str, bytes]:
    """The job's output as stored in rest_api_plugin_job_output, per stream."""
    import sqlalchemy as sa

    from rest_api_plugin.processes.job_tables import job_output

    streams: dict[str, bytes] = {}
    query = (
        sa.select(job_output.c.stream, job_output.c.data).where(job_output.c.job_id == job_id).order_by(job_output.c.id)
    )
    with jobs.engine().connect() as connection:
        for stream, data in connection.execute(query):
            streams[stream] = streams.get(stream, b"") + bytes(data)
    return streams


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers_http(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2)
    except urllib.error.HTTPError:
        return True  # any HTTP answer means the server is up
    except OSError:
        return False
    return True


class TestJobRecords:
    def test_exit_code_is_recorded_without_anyone_waiting(self, call, python_job):
        job = python_job("import sys; print('hello from the job'); sys.exit(3)")
        done = poll(lambda: (s := job_state(call, job["job_id"]))["state"] != "running" and s)
        assert (done["state"], done["exit_code"], done["signal"]) == ("failed", 3, None)
        assert "hello from the job" in done["stdout"]
        record = jobs.load(job["job_id"])  # the row every server reads
        assert (record["exit_code"], record["host"], record["pid"]) == (3, socket.gethostname(), job["pid"])
        assert record["ended_at"] and record["heartbeat_at"]

    def test_a_job_killed_by_a_signal_is_reported_killed(self, call, python_job):
        job = python_job("import time; print('child', flush=True); time.sleep(60)")
        poll(lambda: "child" in jobs.tail(job["job_id"]))
        child = next(p for p in __import__("psutil").Process(job["pid"]).children())
        os.kill(child.pid, signal.SIGKILL)
        done = poll(lambda: (s := job_state(call, job["job_id"]))["state"] != "running" and s)
        assert (done["state"], done["signal"], done["exit_code"]) == ("killed", "SIGKILL", None)

    def test_a_runner_killed_outright_is_lost(self, call, python_job, monkeypatch):
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__JOB_HEARTBEAT", "1")
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__JOB_LOST_AFTER", "3")
        job = python_job("import time; time.sleep(60)")
        time.sleep(1.5)
        assert job_state(call, job["job_id"])["state"] == "running"  # its heartbeat is fresh
        os.killpg(job["pid"], signal.SIGKILL)
        killed = time.monotonic()
        assert poll(lambda: job_state(call, job["job_id"])["state"] == "lost")
        assert 1.5 < time.monotonic() - killed < 6  # once the last heartbeat is older than job_lost_after
        # a stop marks it lost for good, before job_lost_after goes back to its default and makes it running again
        stopped = call("stop_job", job_id=job["job_id"]).get_json()
        assert (stopped["status"], stopped["data"]["state"]) == ("OK", "lost"), stopped
        assert jobs.load(job["job_id"])["lost_at"]

    def test_stop_job_terminates_the_group_and_says_so(self, call, python_job):
        job = python_job("import time; time.sleep(60)")
        body = call("stop_job", job_id=job["job_id"]).get_json()
        assert body["status"] == "OK", body
        assert (body["data"]["state"], body["data"]["signal"]) == ("killed", "SIGTERM")
        assert body["data"]["stop_requested_by"] == "token"
        again = call("stop_job", job_id=job["job_id"]).get_json()
        assert again["http_response_code"] == 409

    def test_list_shows_jobs_newest_first(self, call, python_job):
        first, second = python_job("pass"), python_job("pass")
        listed = [job["job_id"] for job in call("jobs").get_json()["data"]["jobs"]]
        assert listed.index(second["job_id"]) < listed.index(first["job_id"])

    @pytest.mark.parametrize(
        "api, job_id, status",
        [
            ("jobs", "no_such_job", 404),
            ("jobs", "../../etc/passwd", 400),
            ("stop_job", "no_such_job", 404),
            ("stop_job", "; touch /tmp/x", 400),
            ("stop_job", None, 400),
        ],
    )
    def test_unknown_or_bad_job_id(self, call, api, job_id, status):
        body = call(api, **({"job_id": job_id} if job_id else {})).get_json()
        assert (body["status"], body["http_response_code"]) == ("ERROR", status)

    def test_stop_job_needs_its_own_permission(self, call, python_job):
        job = python_job("import time; time.sleep(60)", dag_id="sample_dag")
        assert call("jobs", who="viewer", job_id=job["job_id"]).status_code == 200
        assert call("stop_job", who="viewer", job_id=job["job_id"]).status_code == 403
        assert call("stop_job", who="op", job_id=job["job_id"]).get_json()["data"]["state"] == "killed"


# What `airflow tasks test` and `airflow dags backfill` print on Airflow 2.11.2 while loading (captured from
# real runs of tests/dags/sample_dags.py), then lines of the task's own.
AIRFLOW = os.path.dirname(__import__("airflow").__file__)  # where Airflow is installed here
LOADING_STDOUT = [
    "[2026-11-26T04:44:03.901+0000] {plugins.py:37} INFO - setup plugin alembic.autogenerate.schemas",
    "[2026-11-26T04:43:42.461+0000] {dagbag.py:588} INFO - Filling up the DagBag from /opt/airflow/dags",
    "[2026-11-26T04:44:04.157+0000] {executor_loader.py:258} INFO - Loaded executor: SequentialExecutor",
    "[2026-11-26T04:49:02.368+0000] {settings.py:63} INFO - Configured default timezone UTC",
]
TASK_STDOUT = [
    "[2026-11-26T04:43:42.586+0000] {taskinstance.py:2885} INFO - Starting attempt 0 of 1",
    "[2026-11-26T04:43:42.670+0000] {subprocess.py:106} INFO - extract 2024-01-01",
    "printed by the task",
]
LOADING_STDERR = [
    f"{AIRFLOW}/metrics/base_stats_logger.py:22 RemovedInAirflow3Warning: Timer and timing metrics publish in "
    "seconds were deprecated. It is enabled by default from Airflow 3 onwards.",
    f"{AIRFLOW}/cli/commands/dag_command.py:48 UserWarning: Could not import graphviz. Rendering graph to the "
    "graphical format will not be possible.",
    # Python's own format (before Airflow replaces warnings.showwarning), with the source line under it
    "/venv/lib/python3.11/site-packages/somelib/compat.py:12: DeprecationWarning: pkg_resources is deprecated",
    "  warnings.warn(",
    "/opt/airflow/dags/old_style.py:9 RemovedInAirflow3Warning: Param `schedule_interval` is deprecated",
    "/venv/lib/python3.11/site-packages/pandas/core/x.py:3: FutureWarning: this will change",
    "  from pandas.core import y",
]
TASK_STDERR = [
    "to stderr by the task",
    "/opt/airflow/dags/failing.py:11 UserWarning: a task's own warning",
    "Traceback (most recent call last):",
    '  File "/opt/airflow/dags/failing.py", line 11, in talk',
    "airflow.exceptions.AirflowException: Bash command failed. The command returned a non-zero exit code 3.",
]


# What Airflow 3.3.2 processes print on stdout through structlog (captured from `tasks test`, `backfill create`
# and the scheduler on tests/dags/sample_dags.py), then lines of the task's own, which stay.
LOADING_STRUCTLOG = [
    "2026-11-26T09:09:36.170755Z [info     ] DAG bundles loaded: dags-folder [airflow.dag_processing.bundles.manager"
    ".DagBundlesManager] loc=manager.py:304",
    "2026-11-26T09:09:36.323130Z [info     ] Filling up the DagBag from /opt/airflow/dags [airflow.dag_processing."
    "dagbag.BundleDagBag] loc=dagbag.py:460",
    "2026-11-26T09:09:36.331221Z [warning  ] The `airflow.operators.bash.BashOperator` attribute is deprecated. "
    "Please use `'airflow.providers.standard.operators.bash.BashOperator'`. [py.warnings] category=UserWarning "
    "filename=/opt/airflow/dags/sample_dags.py lineno=6",
    "2026-11-26T09:09:36.343994Z [info     ] Bulk-writing dags to db        [airflow.serialization.definitions.dag] "
    "count=2 loc=dag.py:218",
    "2026-11-26T09:09:36.619483Z [warning  ] Plugin 'rest_api_plugin' already registered, skipping "
    "[airflow.plugins_manager] loc=plugins_manager.py:105",
    "2026-11-26T09:09:36.621446Z [info     ] setting next dagrun info       [airflow.models.dag] loc=dag.py:848 "
    "next_dagrun=None next_dagrun_create_after=None",
    "2026-11-26T09:09:37.144358Z [warning  ] Using `httpx` with `starlette.testclient` is deprecated; install `httpx2`"
    " instead. [py.warnings] category=StarletteDeprecationWarning filename=/venv/lib/python3.11/site-packages/fastapi"
    "/testclient.py lineno=1",
    f"2026-11-26T09:09:37.144358Z [warning  ] something Airflow says while loading [py.warnings] "
    f"category=UserWarning filename={AIRFLOW}/models/dag.py lineno=3",
]
TASK_STRUCTLOG = [
    "2026-11-26T09:09:37.305215Z [info     ] Created dag run.               [airflow.models.dagrun] dagrun=<DagRun "
    "sample_dag @ 2024-01-01 00:00:00+00:00: manual__x, state:running> loc=dagrun.py:2464",
    "2026-11-26T09:09:37.316525Z [info     ] [DAG TEST] running task <TaskInstance: sample_dag.extract x [None] "
    "ti_id=01a2> [airflow.sdk.definitions.dag] loc=dag.py:1504",
    "2026-11-26T09:09:42.402318Z [info     ] extract 2024-01-01             [airflow.task.hooks.airflow.providers."
    "standard.hooks.subprocess.SubprocessHook] loc=subprocess.py:106",
    "2026-11-26T09:16:07.496765Z [error    ] Task failed with exception     [task] loc=task_runner.py:1651",
    "Traceback (most recent call last):",
    "2026-11-26T09:09:36.331221Z [warning  ] a task's own warning [py.warnings] category=UserWarning "
    "filename=/opt/airflow/dags/sample_dags.py lineno=12",
    "2026-11-26T09:09:42.446220Z [info     ] Task instance state updated    [airflow.api_fastapi.execution_api.routes."
    "task_instances] loc=task_instances.py:485 new_state=success rows_affected=1",
]


class TestNoiseFilter:
    def test_airflow_3_structlog_loading_lines_go_and_the_task_lines_stay(self, app):
        noisy = "\n".join([*LOADING_STRUCTLOG[:3], TASK_STRUCTLOG[0], *LOADING_STRUCTLOG[3:], *TASK_STRUCTLOG[1:]])
        assert commands.filter_noise(noisy) == "\n".join(TASK_STRUCTLOG)
        assert commands.filter_noise("\n".join(LOADING_STRUCTLOG)) == ""

    def test_loading_lines_go_from_stdout_and_the_task_lines_stay(self, app):
        assert commands.filter_noise(
            "\n".join([*LOADING_STDOUT[:2], TASK_STDOUT[0], *LOADING_STDOUT[2:], *TASK_STDOUT[1:]])
        ) == "\n".join(TASK_STDOUT)

    def test_loading_warnings_go_from_stderr_and_the_task_lines_stay(self, app):
        noisy = "\n".join([*LOADING_STDERR[:4], TASK_STDERR[0], *LOADING_STDERR[4:], *TASK_STDERR[1:]])
        assert commands.filter_noise(noisy) == "\n".join(TASK_STDERR)
        assert commands.filter_noise("\n".join(LOADING_STDERR)) == ""

    def test_the_filter_can_be_switched_off(self, app, monkeypatch):
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__FILTER_LOADING_MESSAGES_IN_CLI_RESPONSE", "False")
        assert commands.filter_noise("\n".join(LOADING_STDERR)) == "\n".join(LOADING_STDERR)


class TestStreams:
    def test_stdout_and_stderr_are_kept_apart(self, call, python_job):
        job = python_job("import sys; print('to stdout'); print('to stderr', file=sys.stderr); sys.exit(2)")
        poll(lambda: job_state(call, job["job_id"])["state"] != "running")
        body = call("jobs", job_id=job["job_id"]).get_json()
        assert (body["data"]["stdout"], body["data"]["stderr"]) == ("to stdout", "to stderr")
        assert "\n--- stdout ---\nto stdout\n--- stderr ---\nto stderr" in body["output"]
        assert stored_output(job["job_id"]) == {"stdout": b"to stdout\n", "stderr": b"to stderr\n"}

    def test_lines_bounds_each_stream_and_the_list_stays_light(self, call, python_job):
        job = python_job("import sys\nfor n in range(5): print('out', n); print('err', n, file=sys.stderr)")
        poll(lambda: job_state(call, job["job_id"])["state"] != "running")
        data = call("jobs", job_id=job["job_id"], lines="2").get_json()["data"]
        assert (data["stdout"], data["stderr"]) == ("out 3\nout 4", "err 3\nerr 4")
        listed = next(j for j in call("jobs").get_json()["data"]["jobs"] if j["job_id"] == job["job_id"])
        assert not {"stdout", "stderr", "argv", "pid_create_time"} & set(listed)
        assert listed["dag_id"] is None and listed["requested_by"] == "tests"

    def test_loading_noise_is_filtered_from_both_streams(self, call, python_job, monkeypatch):
        code = "import sys; print(%r); print(%r, file=sys.stderr)" % (
            "\n".join([LOADING_STDOUT[1], TASK_STDOUT[2]]),
            "\n".join([LOADING_STDERR[4], TASK_STDERR[0]]),
        )
        job = python_job(code)
        poll(lambda: job_state(call, job["job_id"])["state"] != "running")
        data = job_state(call, job["job_id"])
        assert (data["stdout"], data["stderr"]) == (TASK_STDOUT[2], TASK_STDERR[0])
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__FILTER_LOADING_MESSAGES_IN_CLI_RESPONSE", "False")
        assert LOADING_STDERR[4] in job_state(call, job["job_id"])["stderr"]

    def test_a_job_of_the_previous_version_still_displays(self, call, tmp_path):
        """One <job_id>.log with stdout and stderr together, as the plugin wrote before they were kept apart,
        moved into the tables as the first server finds it."""
        from rest_api_plugin.processes import job_files

        job_id = f"backfill_20260101T000000_{os.urandom(3).hex()}"
        folder = tmp_path / "jobs"
        folder.mkdir()
        record = {
            "job_id": job_id,
            "api": "backfill",
            "command": "airflow dags backfill sample_dag",
            "argv": ["python", "-m", "airflow", "dags", "backfill", "sample_dag"],
            "pid": 999999999,
            "pid_create_time": 1.0,
            "started_at": "2026-01-01T00:00:00+00:00",
            "requested_by": "token",
            "log_file": str(folder / f"{job_id}.log"),
        }
        (folder / f"{job_id}.json").write_text(__import__("json").dumps(record))
        (folder / f"{job_id}.log").write_text(f"{LOADING_STDOUT[1]}\nbackfill said this\n{LOADING_STDERR[4]}\n")
        (folder / f"{job_id}.exit").write_text(
            '{"exit_code": 0, "signal": null, "signal_name": null, "ended_at": "2026-01-01T00:01:00+00:00"}'
        )
        assert job_files.migrate(jobs.engine(), folder) == 1
        body = call("jobs", job_id=job_id).get_json()
        assert body["status"] == "OK", body
        assert (body["data"]["state"], body["data"]["stdout"], body["data"]["stderr"]) == (
            "success",
            "backfill said this",
            None,
        )
        assert "--- stdout and stderr (one log" in body["output"] and "backfill said this" in body["output"]
        assert job_id in [j["job_id"] for j in call("jobs").get_json()["data"]["jobs"]]

    def test_waiting_answers_with_stdout_as_output_and_stderr_apart(self, app, monkeypatch):
        from rest_api_plugin.errors import Conflict
        from rest_api_plugin.result import CallContext
        from rest_api_plugin.security import Identity
        from tests.helpers import python_program

        ctx = CallContext(identity=Identity(kind="token", name="token"))
        code = "import sys; print('the answer'); print(%r, file=sys.stderr); print('a complaint', file=sys.stderr)"
        monkeypatch.setattr(commands, "program", lambda command: python_program(code % LOADING_STDERR[4]))
        result = jobs.run_job("probe", ["scheduler"], {"wait": True}, ctx)
        assert (result.output, result.stderr, result.http_status) == ("the answer", "a complaint", 200)
        assert result.data["state"] == "success" and "stdout" not in result.data

        monkeypatch.setattr(commands, "program", lambda command: python_program(code % "x" + "; sys.exit(4)"))
        with pytest.raises(Conflict) as failed:
            jobs.run_job("probe", ["scheduler"], {"wait": True}, ctx)
        assert failed.value.message.endswith("exit code 4\nthe answer\n--- stderr ---\nx\na complaint")
        assert (failed.value.data["stdout"], failed.value.data["stderr"]) == ("the answer", "x\na complaint")


SLEEPS = "import time; time.sleep(60)"


class TestCaps:
    def test_a_caller_at_max_jobs_per_user_gets_429_and_nothing_starts(self, call, python_job, monkeypatch):
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__MAX_JOBS_PER_USER", "2")
        first, _ = python_job(SLEEPS, by="token"), python_job(SLEEPS, by="token")
        records = len(all_job_ids())
        body = call("scheduler", num_runs="1").get_json()
        assert (body["status"], body["http_response_code"]) == ("ERROR", 429), body
        assert "max_jobs_per_user = 2" in body["output"] and "Nothing was started" in body["output"]
        assert body["data"] == {"running": 2, "max_jobs_per_user": 2}
        assert len(all_job_ids()) == records
        python_job(SLEEPS, by="op")  # another caller is not held back
        call("stop_job", job_id=first["job_id"])
        python_job(SLEEPS, by="token")  # a job that ended no longer counts

    @pytest.mark.usefixtures("no_job_running")
    def test_max_jobs_counts_everyone(self, call, python_job, monkeypatch):
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__MAX_JOBS", "2")
        python_job(SLEEPS, by="op"), python_job(SLEEPS, by="tests")
        body = call("backfill", who="admin", dag_id="sample_dag", start_date="2024-01-01").get_json()
        assert (body["status"], body["http_response_code"]) == ("ERROR", 429), body
        assert "max_jobs = " in body["output"]

    def test_zero_means_no_limit(self, python_job, monkeypatch):
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__MAX_JOBS_PER_USER", "0")
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__MAX_JOBS", "0")
        assert all(python_job(SLEEPS)["state"] == "running" for _ in range(5))

    def test_a_bad_setting_falls_back_to_the_default(self, app, monkeypatch):
        from rest_api_plugin import config

        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__MAX_JOBS_PER_USER", "many")
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__MAX_JOBS", "-3")
        assert (config.max_jobs_per_user(), config.max_jobs()) == (4, 16)


class TestWaitSlots:
    @airflow2_only
    @pytest.mark.parametrize("workers, slots", [("1", 1), ("2", 1), ("4", 3)])
    def test_one_gunicorn_worker_stays_free(self, app, monkeypatch, workers, slots):
        from rest_api_plugin.processes import wait_slots

        monkeypatch.setenv("AIRFLOW__WEBSERVER__WORKERS", workers)
        assert wait_slots.count() == slots

    @airflow3_only
    @pytest.mark.parametrize("workers, slots", [("1", 20), ("2", 40)])
    def test_half_the_uvicorn_threads_may_wait(self, app, monkeypatch, workers, slots):
        from rest_api_plugin.processes import wait_slots

        monkeypatch.setenv("AIRFLOW__API__WORKERS", workers)
        assert wait_slots.count() == slots

    def test_with_every_slot_taken_a_waiting_call_answers_at_once_with_202(self, call, monkeypatch):
        from rest_api_plugin.processes import wait_slots
        from rest_api_plugin.processes.wait_slots import wait_slot

        monkeypatch.setenv(f"AIRFLOW__{WORKERS_SECTION.upper()}__WORKERS", "2" if not AIRFLOW_3 else "1")
        if AIRFLOW_3:  # one slot: one uvicorn worker with one waiting thread
            monkeypatch.setattr(wait_slots.web_server, "WAITING_THREADS_PER_WORKER", 1)
        with wait_slot() as held:  # the one slot, as another worker waiting on a job holds it
            assert held
            body = call("test", dag_id="sample_dag", task_id="extract", execution_date="2024-01-01").get_json()
        job = body["data"]
        try:
            assert (body["status"], body["http_response_code"]) == ("OK", 202), body
            said = body["output"]["stdout"]
            assert "Not waiting for it: 1 request(s) already wait on jobs" in said
            workers = f"[{WORKERS_SECTION}] workers = {1 if AIRFLOW_3 else 2}"
            assert workers in said and f"api=jobs&job_id={job['job_id']}" in said
            assert job["state"] == "running" and job["command"].startswith("airflow tasks test sample_dag extract")
        finally:
            if job_state(call, job["job_id"])["state"] == "running":
                call("stop_job", job_id=job["job_id"])

    def test_a_slot_held_by_a_process_that_died_is_free_again(self, app, monkeypatch):
        from rest_api_plugin.processes import wait_slots
        from rest_api_plugin.processes.wait_slots import wait_slot

        monkeypatch.setenv(f"AIRFLOW__{WORKERS_SECTION.upper()}__WORKERS", "2" if not AIRFLOW_3 else "1")
        if AIRFLOW_3:  # one slot: one uvicorn worker with one waiting thread
            monkeypatch.setattr(wait_slots.web_server, "WAITING_THREADS_PER_WORKER", 1)
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                (
                    "import fcntl, sys, time; f = open(sys.argv[1], 'ab'); fcntl.flock(f, fcntl.LOCK_EX); "
                    "print('held', flush=True); time.sleep(60)"
                ),
                str(wait_slots.folder() / ".wait-slot-0"),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout.readline().strip() == "held"
            with wait_slot() as free:
                assert not free
            holder.kill()  # a gunicorn worker killed while waiting
            holder.wait()
            with wait_slot() as free:
                assert free
        finally:
            holder.kill()
            holder.wait()


class TestOwnership:
    def test_a_user_named_token_does_not_own_the_tokens_jobs(self, python_job):
        from rest_api_plugin.security import Identity

        record = jobs.load(python_job("pass", by="token")["job_id"])
        assert jobs.started_by(record, Identity(kind="token", name="token"))
        assert not jobs.started_by(record, Identity(kind="header", name="token"))


@pytest.fixture
def nothing_to_schedule(app):
    """Every DAG paused while the test runs, then as it was: a scheduler's loop finds no task to run. (Earlier
    tests leave unpaused DAGs with runs; on Airflow 3 a scheduler that sends their tasks to its executor then
    waits, as it ends, for tasks whose supervisor retries an execution API that no server answers here.)"""
    from airflow.models import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        unpaused = [dag_id for (dag_id,) in session.query(DagModel.dag_id).filter(DagModel.is_paused.is_(False))]
        session.query(DagModel).filter(DagModel.dag_id.in_(unpaused)).update(
            {DagModel.is_paused: True}, synchronize_session=False
        )
    yield
    with create_session() as session:
        session.query(DagModel).filter(DagModel.dag_id.in_(unpaused)).update(
            {DagModel.is_paused: False}, synchronize_session=False
        )


class TestDaemons:
    @pytest.mark.usefixtures("nothing_to_schedule")
    def test_scheduler_with_num_runs_runs_and_exits(self, call):
        from airflow.jobs.job import Job
        from airflow.utils.session import create_session

        body = call(
            "scheduler",
            num_runs="1",
            skip_serve_logs="",
            wait="true",
            timeout="100",
            pid="/tmp/x.pid",
            daemon="",
            stdout="/tmp/o",
            stderr="/tmp/e",
            **{"log-file": "/tmp/l", "run-duration": "10"},
        ).get_json()
        assert body["status"] == "OK", body
        data = body["data"]
        if data["state"] != "success":  # what the scheduler printed, and its job stopped
            data = call("jobs", job_id=data["job_id"], lines="80").get_json()["data"]
            call("stop_job", job_id=data["job_id"])
        assert data["state"] == "success" and data["exit_code"] == 0, data
        for legacy in ("pid", "daemon", "stdout", "stderr", "log-file", "run-duration"):
            assert legacy in body["warning"]
        assert body["airflow_cmd"] == "airflow scheduler --num-runs=1 --skip-serve-logs"
        with create_session() as session:
            job = session.query(Job).filter_by(job_type="SchedulerJob").order_by(Job.id.desc()).first()
            assert job is not None and job.state == "success"

    @airflow3_only
    def test_scheduler_ignores_subdir_and_do_pickle_on_airflow_3(self, call):
        """Airflow 3's scheduler parses no DAG file and pickles nothing. (num_runs is invalid, so that no
        scheduler starts: the warning is not given then, the arguments' check is.)"""
        from tests.helpers import DAGS_FOLDER

        body = call("scheduler", subdir=str(DAGS_FOLDER), do_pickle="", num_runs="1", wait="false").get_json()
        try:
            assert body["status"] == "OK", body
            assert "subdir" in body["warning"] and "do_pickle" in body["warning"]
            assert body["airflow_cmd"] == "airflow scheduler --num-runs=1"
        finally:
            if body.get("data") and job_state(call, body["data"]["job_id"])["state"] == "running":
                call("stop_job", job_id=body["data"]["job_id"])

    @airflow3_only
    def test_dag_processor_parses_the_dags_into_the_database(self, call):
        from airflow.models import DagModel
        from airflow.utils.session import create_session

        with create_session() as session:
            session.query(DagModel).filter_by(dag_id="other_dag").update({DagModel.description: "stale"})
        body = call(
            "dag_processor", num_runs="1", bundle_name="dags-folder", daemon="", wait="true", timeout="100"
        ).get_json()
        assert body["status"] == "OK", body
        assert body["data"]["state"] == "success" and body["data"]["exit_code"] == 0
        assert body["airflow_cmd"] == "airflow dag-processor --num-runs=1 --bundle-name=dags-folder"
        assert "daemon" in body["warning"]
        assert body["data"]["job_id"].startswith("dag_processor_") and body["data"]["dag_id"] is None
        with create_session() as session:
            assert session.query(DagModel).filter_by(dag_id="other_dag").one().description is None

    @airflow2_only
    def test_dag_processor_needs_the_standalone_setting_on_airflow_2(self, call, monkeypatch):
        monkeypatch.setenv("AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR", "False")
        body = call("dag_processor", num_runs="1").get_json()
        assert (body["status"], body["http_response_code"]) == ("ERROR", 409), body
        assert "standalone_dag_processor = True" in body["output"]

    @airflow2_only
    def test_dag_processor_runs_standalone_on_airflow_2(self, call, monkeypatch):
        monkeypatch.setenv("AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR", "True")
        body = call("dag_processor", num_runs="1", wait="true", timeout="100").get_json()
        if os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("sqlite"):
            assert (body["status"], body["http_response_code"]) == ("ERROR", 409), body
            assert "does not support SQLite" in body["output"]
            return
        assert body["status"] == "OK", body
        assert body["data"]["state"] == "success" and body["data"]["exit_code"] == 0
        assert body["airflow_cmd"] == "airflow dag-processor --num-runs=1"

    @pytest.mark.parametrize(
        "args",
        [
            {"num_runs": "many"},
            {"num_runs": "-5"},
            {"subdir": "/etc"},
            {"bundle_name": "a b"},
            *([] if AIRFLOW_3 else [{"bundle_name": "dags-folder"}]),
        ],
    )
    def test_dag_processor_refuses_bad_arguments(self, call, args):
        body = call("dag_processor", **args).get_json()
        assert (body["status"], body["http_response_code"]) == ("ERROR", 400), body
        if not AIRFLOW_3 and args.get("bundle_name") == "dags-folder":
            assert "bundle_name exists on Airflow 3 only" in body["output"]

    def test_scheduler_refuses_bad_arguments(self, call):
        assert call("scheduler", num_runs="many").get_json()["http_response_code"] == 400
        assert call("scheduler", subdir="/etc").get_json()["http_response_code"] == 400

    @pytest.mark.parametrize(
        "subdir, refused",
        [
            (".", False),
            ("{dags}", False),
            ("{dags}/", False),
            ("part", True),
            ("sample_dags.py", True),
            ("{dags}/part", True),
        ],
    )
    def test_scheduler_subdir_may_only_be_the_whole_dags_folder(self, call, subdir, refused):
        """A scheduler given a part of the DAGs folder deactivates every DAG outside that part. (num_runs is
        invalid too, so that no scheduler starts either way.)"""
        from tests.helpers import DAGS_FOLDER

        (DAGS_FOLDER / "part").mkdir()
        try:
            body = call("scheduler", num_runs="many", subdir=subdir.format(dags=DAGS_FOLDER)).get_json()
        finally:
            (DAGS_FOLDER / "part").rmdir()
        assert body["http_response_code"] == 400 and "num_runs" in body["data"]["errors"], body
        assert ("subdir" in body["data"]["errors"]) is refused, body
        if refused:
            assert "DAGs folder itself" in body["output"]

    def test_serve_logs_starts_the_log_server_and_stops(self, call, monkeypatch):
        port = free_port()
        monkeypatch.setenv("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", str(port))
        body = call("serve_logs").get_json()
        assert body["status"] == "OK", body
        job_id = body["data"]["job_id"]
        try:
            poll(lambda: answers_http(f"http://127.0.0.1:{port}/log/nothing.log"))
        finally:
            stopped = call("stop_job", job_id=job_id).get_json()
        assert stopped["data"]["state"] != "running"

    def test_kerberos_says_what_to_install(self, call):
        body = call("kerberos", principal="airflow@EXAMPLE.COM").get_json()
        assert (body["status"], body["http_response_code"]) == ("ERROR", 409)
        assert "pip install 'apache-airflow[kerberos]'" in body["output"]


@pytest.fixture
def celery_environment(app, monkeypatch):
    """CeleryExecutor with Redis as broker. Celery cannot use SQLite: under SQLite the daemons get a
    PostgreSQL database of their own (created and migrated once, kept between runs)."""
    if not answers_tcp(6379):
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    monkeypatch.setenv("AIRFLOW__CELERY__BROKER_URL", REDIS_URL)
    if os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("sqlite"):
        if not answers_tcp(5432):
            pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
        url = f"{PG_SERVER}/{CELERY_DB}"
        _create_database(url)
        monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", url)
        monkeypatch.setenv("AIRFLOW__CELERY__RESULT_BACKEND", f"db+{url}")


def answers_tcp(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _create_database(url: str) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        exists = connection.execute(
            sqlalchemy.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": CELERY_DB}
        ).scalar()
        if not exists:
            connection.execute(sqlalchemy.text(f'CREATE DATABASE "{CELERY_DB}"'))
    engine.dispose()
    env = {**os.environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url}
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=300,
    )


class TestCelery:
    def test_worker_starts_with_redis_and_stops(self, call, celery_environment):
        body = call(
            "worker", queues="default,extra", concurrency="1", hostname="restapitest@%h", do_pickle="", daemon=""
        ).get_json()
        assert body["status"] == "OK", body
        assert body["airflow_cmd"] == (
            "airflow celery worker --queues=default,extra --concurrency=1 --celery-hostname=restapitest@%h"
        )
        assert "do_pickle" in body["warning"] and "daemon" in body["warning"]
        job_id = body["data"]["job_id"]
        try:
            poll(lambda: " ready." in both_streams(job_id) or job_state(call, job_id)["state"] != "running", seconds=90)
            # the banner masks credentials, even an empty password: redis://:**@127.0.0.1:6379/0
            assert re.search(r"transport: +redis://(:\*\*@)?127\.0\.0\.1:6379/0", both_streams(job_id))
            assert job_state(call, job_id)["state"] == "running"
        finally:
            stopped = call("stop_job", job_id=job_id).get_json()
        assert stopped["data"]["state"] in ("killed", "success"), stopped

    def test_flower_serves_and_stops(self, call, celery_environment):
        port = free_port()
        body = call("flower", hostname="127.0.0.1", port=str(port), flower_conf="/etc/passwd").get_json()
        assert body["status"] == "OK", body
        assert "flower_conf" in body["warning"] and "/etc/passwd" not in body["airflow_cmd"]
        job_id = body["data"]["job_id"]
        try:
            poll(
                lambda: answers_http(f"http://127.0.0.1:{port}/") or job_state(call, job_id)["state"] != "running",
                seconds=90,
            )
            assert job_state(call, job_id)["state"] == "running", both_streams(job_id)
        finally:
            stopped = call("stop_job", job_id=job_id).get_json()
        assert stopped["data"]["state"] != "running"

    def test_worker_without_a_celery_executor_is_409(self, call, monkeypatch):
        monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "SequentialExecutor")
        body = call("worker").get_json()
        assert body["http_response_code"] == 409 and "CeleryExecutor" in body["output"]

    @pytest.mark.parametrize(
        "api, args",
        [
            ("worker", {"queues": "a;touch /tmp/x"}),
            ("worker", {"concurrency": "0"}),
            ("flower", {"port": "99999"}),
            ("flower", {"hostname": "$(touch /tmp/x)"}),
        ],
    )
    def test_bad_arguments(self, call, api, args):
        assert call(api, **args).get_json()["http_response_code"] == 400
