"""Background jobs: records on disk, state from the pid and the runner's exit record, stop_job; and the
daemons (scheduler, celery worker and flower with Redis, the log server, kerberos) started for real."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from rest_api_plugin import cli, jobs
from tests.helpers import poll

REDIS_URL = "redis://127.0.0.1:6379/0"
PG_SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432"
CELERY_DB = "rest_api_plugin_celery_tests"


@pytest.fixture
def python_job(app, monkeypatch):
    """start(code) runs ``python -c code`` as a job, bypassing the airflow allowlist (the machinery under test)."""

    def start(code: str) -> dict:
        monkeypatch.setattr(cli, "program", lambda command: [sys.executable, "-c", code])
        return jobs.start("probe", ["scheduler"], requested_by="tests")

    return start


def job_state(call, job_id: str) -> dict:
    return call("jobs", job_id=job_id).get_json()["data"]


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
        assert "hello from the job" in done["log_tail"]
        record = jobs.folder() / f"{job['job_id']}.json"
        assert record.exists() and (jobs.folder() / f"{job['job_id']}.exit").exists()

    def test_a_job_killed_by_a_signal_is_reported_killed(self, call, python_job):
        job = python_job("import time; print('child', flush=True); time.sleep(60)")
        poll(lambda: "child" in jobs.log_tail(job["job_id"], 5))
        child = next(p for p in __import__("psutil").Process(job["pid"]).children())
        os.kill(child.pid, signal.SIGKILL)
        done = poll(lambda: (s := job_state(call, job["job_id"]))["state"] != "running" and s)
        assert (done["state"], done["signal"], done["exit_code"]) == ("killed", "SIGKILL", None)

    def test_a_runner_killed_outright_is_lost(self, call, python_job):
        job = python_job("import time; time.sleep(60)")
        os.killpg(job["pid"], signal.SIGKILL)
        assert poll(lambda: job_state(call, job["job_id"])["state"] == "lost")

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

    @pytest.mark.parametrize("api, job_id, status", [
        ("jobs", "no_such_job", 404), ("jobs", "../../etc/passwd", 400), ("stop_job", "no_such_job", 404),
        ("stop_job", "; touch /tmp/x", 400), ("stop_job", None, 400),
    ])
    def test_unknown_or_bad_job_id(self, call, api, job_id, status):
        body = call(api, **({"job_id": job_id} if job_id else {})).get_json()
        assert (body["status"], body["http_response_code"]) == ("ERROR", status)

    def test_stop_job_needs_its_own_permission(self, call, python_job):
        job = python_job("import time; time.sleep(60)")
        assert call("jobs", who="viewer", job_id=job["job_id"]).status_code == 200
        assert call("stop_job", who="viewer", job_id=job["job_id"]).status_code == 403
        assert call("stop_job", who="op", job_id=job["job_id"]).get_json()["data"]["state"] == "killed"


class TestDaemons:
    def test_scheduler_with_num_runs_runs_and_exits(self, call):
        from airflow.jobs.job import Job
        from airflow.utils.session import create_session

        body = call("scheduler", num_runs="1", skip_serve_logs="", wait="true", timeout="100",
                    pid="/tmp/x.pid", daemon="", stdout="/tmp/o", stderr="/tmp/e", **{"log-file": "/tmp/l",
                    "run-duration": "10"}).get_json()
        assert body["status"] == "OK", body
        assert body["data"]["state"] == "success" and body["data"]["exit_code"] == 0
        for legacy in ("pid", "daemon", "stdout", "stderr", "log-file", "run-duration"):
            assert legacy in body["warning"]
        assert body["airflow_cmd"] == "airflow scheduler --num-runs=1 --skip-serve-logs"
        with create_session() as session:
            job = session.query(Job).filter_by(job_type="SchedulerJob").order_by(Job.id.desc()).first()
            assert job is not None and job.state == "success"

    def test_scheduler_refuses_bad_arguments(self, call):
        assert call("scheduler", num_runs="many").get_json()["http_response_code"] == 400
        assert call("scheduler", subdir="/etc").get_json()["http_response_code"] == 400

    @pytest.mark.parametrize("subdir, refused", [(".", False), ("{dags}", False), ("{dags}/", False),
                                                 ("part", True), ("sample_dags.py", True), ("{dags}/part", True)])
    def test_scheduler_subdir_may_only_be_the_whole_dags_folder(self, call, subdir, refused):
        """A scheduler given a part of the DAGs folder deactivates every DAG outside that part. (num_runs is
        invalid too, so that no scheduler starts either way.)"""
        from tests.conftest import DAGS_FOLDER

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
        exists = connection.execute(sqlalchemy.text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                    {"name": CELERY_DB}).scalar()
        if not exists:
            connection.execute(sqlalchemy.text(f'CREATE DATABASE "{CELERY_DB}"'))
    engine.dispose()
    env = {**os.environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url}
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)


class TestCelery:
    def test_worker_starts_with_redis_and_stops(self, call, celery_environment):
        body = call("worker", queues="default,extra", concurrency="1", hostname="restapitest@%h",
                    do_pickle="", daemon="").get_json()
        assert body["status"] == "OK", body
        assert body["airflow_cmd"] == ("airflow celery worker --queues=default,extra --concurrency=1 "
                                       "--celery-hostname=restapitest@%h")
        assert "do_pickle" in body["warning"] and "daemon" in body["warning"]
        job_id = body["data"]["job_id"]
        try:
            poll(lambda: " ready." in jobs.log_tail(job_id, 200) or job_state(call, job_id)["state"] != "running",
                 seconds=90)
            # the banner masks credentials, even an empty password: redis://:**@127.0.0.1:6379/0
            assert re.search(r"transport: +redis://(:\*\*@)?127\.0\.0\.1:6379/0", jobs.log_tail(job_id, 500))
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
            poll(lambda: answers_http(f"http://127.0.0.1:{port}/") or job_state(call, job_id)["state"] != "running",
                 seconds=90)
            assert job_state(call, job_id)["state"] == "running", jobs.log_tail(job_id, 50)
        finally:
            stopped = call("stop_job", job_id=job_id).get_json()
        assert stopped["data"]["state"] != "running"

    def test_worker_without_a_celery_executor_is_409(self, call, monkeypatch):
        monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "SequentialExecutor")
        body = call("worker").get_json()
        assert body["http_response_code"] == 409 and "CeleryExecutor" in body["output"]

    @pytest.mark.parametrize("api, args", [
        ("worker", {"queues": "a;touch /tmp/x"}), ("worker", {"concurrency": "0"}),
        ("flower", {"port": "99999"}), ("flower", {"hostname": "$(touch /tmp/x)"}),
    ])
    def test_bad_arguments(self, call, api, args):
        assert call(api, **args).get_json()["http_response_code"] == 400
