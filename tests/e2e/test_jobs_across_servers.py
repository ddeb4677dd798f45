"""Two real servers on one PostgreSQL database, as two hosts behind a load balancer have them (each its own
AIRFLOW_HOME and log folder; one DAGs folder): a job started through one is listed, described, read and
stopped through the other; it runs on when its server is SIGKILLed; a SIGKILLed runner is ``lost`` on both
within ``job_lost_after``; the caps count the jobs of both; ended jobs past ``job_retention_days`` are pruned
by the servers; a job printing 50 MB keeps its output bounded and the servers responsive. Driven over HTTP
only, round robin; the database is read only to check what the answers cannot show (the stored bytes).

The jobs are ``test`` calls (``airflow tasks test``) of this module's DAG: ``sleeps`` echoes a line and
sleeps, ``floods`` writes FLOOD_BYTES to its stdout and says on stderr how long that took.
"""

from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from tests.e2e.servers import running_webserver
from tests.helpers import forget_dag, poll, write_dag_file

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "").startswith("postgresql"),
        reason="jobs seen by several servers need one database they all reach: PostgreSQL here "
        "(a single server on SQLite is covered by the rest of the suite)",
    ),
]

DAG_ID = "e2e_jobs_across_servers"
FLOOD_BYTES = 50 * 1024 * 1024
HEARTBEAT, LOST_AFTER = 1, 5  # seconds: job_heartbeat, job_lost_after
OUTPUT_MAX_BYTES = 1024 * 1024
PER_USER, OVERALL = 2, 3
SECOND_TOKEN = "second-client-token-0123456789abcdef"
SETTINGS = {
    "AIRFLOW__REST_API_PLUGIN__JOB_HEARTBEAT": str(HEARTBEAT),
    "AIRFLOW__REST_API_PLUGIN__JOB_LOST_AFTER": str(LOST_AFTER),
    "AIRFLOW__REST_API_PLUGIN__JOB_OUTPUT_MAX_BYTES": str(OUTPUT_MAX_BYTES),
    "AIRFLOW__REST_API_PLUGIN__MAX_JOBS_PER_USER": str(PER_USER),
    "AIRFLOW__REST_API_PLUGIN__MAX_JOBS": str(OVERALL),
    "AIRFLOW__REST_API_PLUGIN__JOB_STOP_GRACE": "3",
    "AIRFLOW__REST_API_PLUGIN__TOKENS": json.dumps({"second": {"token": SECOND_TOKEN, "grants": "all"}}),
}

DAG_SOURCE = f'''
import os
import time
from datetime import datetime

from airflow import DAG
from airflow.operators.bash import BashOperator
try:
    from airflow.providers.standard.operators.python import PythonOperator
except ImportError:
    from airflow.operators.python import PythonOperator


def flood():
    block = (b"x" * 99 + b"\\n") * 10486  # about 1 MiB of lines
    written, began = 0, time.perf_counter()
    while written < {FLOOD_BYTES}:
        view = memoryview(block)
        while view:
            view = view[os.write(1, view):]
        written += len(block)
    os.write(2, f"flooded {{written}} bytes in {{time.perf_counter() - began:.3f}} s\\n".encode())


with DAG(dag_id="{DAG_ID}", start_date=datetime(2024, 1, 1), schedule=None, catchup=False):
    BashOperator(task_id="sleeps", bash_command="echo sleep''ing now; sleep 600")  # its command line does not say it
    PythonOperator(task_id="floods", python_callable=flood)
'''

# `airflow tasks test` catches SIGTERM and exits 1 (failed) once the task has started; before, the signal ends it
ENDED_BY_STOP = ("killed", "failed")

_dates = iter(datetime(2024, 1, 1) + timedelta(days=n) for n in range(1000))  # one task instance per job


# --- the servers and what the tests share ---


def retention_rows(now: datetime) -> dict[str, dict]:
    """Two ended jobs written before the servers start: one past the 30 days kept by default, one within."""

    def row(job_id: str, ended: datetime) -> dict:
        return {
            "job_id": job_id,
            "api": "probe",
            "command": "python -c pass",
            "argv": "[]",
            "requested_by": "tests",
            "requested_with_token": True,
            "host": "a-host-long-gone",
            "started_at": (ended - timedelta(minutes=1)).isoformat(timespec="microseconds"),
            "heartbeat_at": ended.timestamp(),
            "ended_at": ended.isoformat(timespec="microseconds"),
            "exit_code": 0,
            "stdout_cut_bytes": 0,
            "stderr_cut_bytes": 0,
            "merged_output": False,
        }

    return {
        "ancient": row("e2e_retention_ancient", now - timedelta(days=40)),
        "recent": row("e2e_retention_recent", now - timedelta(days=2)),
    }


def database_engine():
    from rest_api_plugin.processes import jobs

    return jobs.engine()


@pytest.fixture(scope="module")
def rows(app):
    from rest_api_plugin.processes.job_tables import job

    made = retention_rows(datetime.now(timezone.utc))
    with database_engine().begin() as connection:
        connection.execute(job.delete().where(job.c.job_id.like("e2e_retention_%")))
        for row in made.values():
            connection.execute(job.insert().values(**row))
    yield made
    with database_engine().begin() as connection:
        connection.execute(job.delete().where(job.c.job_id.like("e2e_retention_%")))


@pytest.fixture(scope="module")
def servers(app, rows, tmp_path_factory):
    """Servers A and B: their own AIRFLOW_HOME and log folder, one database, one DAGs folder."""
    path = write_dag_file(f"{DAG_ID}.py", DAG_SOURCE)
    folders = [tmp_path_factory.mktemp(f"server_{name}") for name in "ab"]
    own = [
        {"AIRFLOW_HOME": str(folder / "home"), "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(folder / "logs")}
        for folder in folders
    ]
    try:
        with (
            running_webserver(folders[0], **SETTINGS, **own[0]) as a,
            running_webserver(folders[1], **SETTINGS, **own[1]) as b,
        ):
            yield a, b
    finally:
        path.unlink(missing_ok=True)
        forget_dag(DAG_ID)


@pytest.fixture
def jobs_started(servers):
    """Job ids a test started; whichever still runs at its end is stopped through whichever server answers."""
    started: list[str] = []
    yield started
    for job_id in started:
        for server in reversed(servers):
            try:
                if server.get("jobs", job_id=job_id).json()["data"]["state"] == "running":
                    server.get("stop_job", job_id=job_id)
                break
            except requests.RequestException:
                continue


def ok(answer: requests.Response, status: int = 200) -> dict:
    body = answer.json()
    assert answer.status_code == status and body["status"] == "OK", body
    return body


def start(server, task_id: str, started: list[str], token: str | None = None) -> requests.Response:
    """A ``test`` job of ``task_id``, not waited for."""
    extra = {"token": token} if token else {}
    answer = server.get(
        "test", dag_id=DAG_ID, task_id=task_id, execution_date=next(_dates).date().isoformat(), wait="false", **extra
    )
    if answer.status_code == 200:
        started.append(answer.json()["data"]["job_id"])
    return answer


def described(server, job_id: str, lines: int = 50) -> dict:
    return ok(server.get("jobs", job_id=job_id, lines=str(lines)))["data"]


def same_story(servers, job_id: str) -> dict:
    """The job as every live server tells it: the same state, pid and end."""
    told = [described(server, job_id) for server in servers]
    keys = ("job_id", "state", "pid", "exit_code", "signal", "ended_at", "stop_requested_at")
    assert all({k: t[k] for k in keys} == {k: told[0][k] for k in keys} for t in told), told
    return told[0]


def output(job: dict) -> str:
    return (job.get("stdout") or "") + (job.get("stderr") or "")


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def process_groups_below(pid: int) -> set[int]:
    """The process groups of ``pid``'s children (a job's command leads one): to clean up after a test."""
    groups = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                groups.add(int(fields[2]))
    return groups


def kill_groups(groups: set[int]) -> None:
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


# --- the tests (in this order: the last one kills server A) ---


def test_ended_jobs_past_the_retention_are_pruned_by_the_servers(servers, rows):
    a, b = servers
    for server in (a, b):
        ok(server.get("jobs"))  # a server prunes on its first listing or start (then every few minutes)
    for server in (a, b):
        gone = server.get("jobs", job_id=rows["ancient"]["job_id"])
        assert gone.status_code == 404, gone.json()
        assert described(server, rows["recent"]["job_id"])["state"] == "success"


def test_a_job_started_on_a_is_listed_described_read_and_stopped_through_b(servers, jobs_started):
    a, b = servers
    job = ok(start(a, "sleeps", jobs_started))["data"]
    assert job["state"] == "running"
    listed = ok(b.get("jobs"))["data"]
    assert job["job_id"] in [entry["job_id"] for entry in listed["jobs"]]
    seen = poll(lambda: (lambda j: j if "sleeping now" in output(j) else None)(described(b, job["job_id"])), 90)
    assert seen["state"] == "running" and seen["pid"] == job["pid"]
    same_story(servers, job["job_id"])

    began = time.monotonic()
    stopped = ok(b.get("stop_job", job_id=job["job_id"]))
    took = time.monotonic() - began
    assert stopped["data"]["state"] in ENDED_BY_STOP and stopped["data"]["stop_requested_at"], stopped
    told = same_story(servers, job["job_id"])
    assert told["state"] in ENDED_BY_STOP and told["ended_at"]
    poll(lambda: not running(job["pid"]), 10)  # the runner leaves once it recorded the end
    print(f"\nstop_job through the other server: {took:.2f} s until the job had ended")


def test_the_caps_count_the_jobs_of_both_servers(servers, jobs_started):
    a, b = servers
    # six starts at once, three on each server: the caller may run PER_USER jobs, on both servers together
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda server: start(server, "sleeps", jobs_started), [a, b] * 3))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] * PER_USER + [429] * (6 - PER_USER), [answer.json()["output"] for answer in answers]
    refused = next(answer.json() for answer in answers if answer.status_code == 429)
    assert f"max_jobs_per_user = {PER_USER}" in refused["output"] and refused["status"] == "ERROR"

    # another caller fills the deployment up to OVERALL jobs; then nobody may start one, on either server
    for _ in range(OVERALL - PER_USER):
        ok(start(b, "sleeps", jobs_started, token=SECOND_TOKEN))
    full = start(a, "sleeps", jobs_started, token=SECOND_TOKEN)
    assert full.status_code == 429 and f"max_jobs = {OVERALL}" in full.json()["output"], full.json()

    ok(a.get("stop_job", job_id=jobs_started[0]))  # through A, a job B or A started: one may start again
    ok(start(b, "sleeps", jobs_started, token=SECOND_TOKEN))


def test_a_killed_runner_is_lost_on_both_servers(servers, jobs_started):
    a, b = servers
    job = ok(start(a, "sleeps", jobs_started))["data"]
    poll(lambda: "sleeping now" in output(described(b, job["job_id"])), 90)
    commands = process_groups_below(job["pid"])
    try:
        os.kill(job["pid"], signal.SIGKILL)
        killed = time.monotonic()
        poll(lambda: described(b, job["job_id"])["state"] == "lost", LOST_AFTER + 10, every=0.25)
        took = time.monotonic() - killed
        assert took <= LOST_AFTER + HEARTBEAT + 2, took
        told = same_story(servers, job["job_id"])
        assert told["exit_code"] is None and told["ended_at"] is None
        stopped = ok(b.get("stop_job", job_id=job["job_id"]))
        assert "is lost" in json.dumps(stopped["output"]), stopped
        print(f"\nrunner SIGKILLed: lost on the other server after {took:.1f} s (job_lost_after = {LOST_AFTER})")
    finally:
        kill_groups(commands)


def test_a_job_printing_50_mb_is_bounded_and_the_servers_stay_responsive(servers, jobs_started):
    from rest_api_plugin.processes.job_tables import job as job_table
    from rest_api_plugin.processes.job_tables import job_output

    a, b = servers
    job = ok(start(a, "floods", jobs_started))["data"]
    latencies = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        for server in (a, b):
            began = time.monotonic()
            state = described(server, job["job_id"], lines=5)["state"]
            latencies.append(time.monotonic() - began)
        if state != "running":
            break
        time.sleep(0.5)
    told = same_story(servers, job["job_id"])
    assert told["state"] == "success", told
    assert max(latencies) < 5, latencies

    query = (
        sa.select(job_output.c.stream, sa.func.sum(sa.func.length(job_output.c.data)))
        .where(job_output.c.job_id == job["job_id"])
        .group_by(job_output.c.stream)
    )
    with database_engine().connect() as connection:
        kept = dict(connection.execute(query).all())
        cut = connection.execute(
            sa.select(job_table.c.stdout_cut_bytes).where(job_table.c.job_id == job["job_id"])
        ).scalar()
    assert kept["stdout"] <= OUTPUT_MAX_BYTES, kept
    assert kept["stdout"] + cut >= FLOOD_BYTES, (kept, cut)
    assert f"... {cut} bytes cut ..." in told["stdout"] or cut == 0 or "x" * 99 in told["stdout"]
    flooded = next(line for line in told["stderr"].splitlines() if line.startswith("flooded"))
    seconds = float(flooded.split(" in ")[1].split()[0])
    print(
        f"\n50 MB job: {flooded} ({FLOOD_BYTES / 1024 / 1024 / seconds:.0f} MB/s), {kept['stdout']} bytes of stdout "
        f"kept, {cut} cut; slowest api=jobs while it ran: {max(latencies) * 1000:.0f} ms"
    )


def test_a_job_runs_on_when_its_server_is_killed_and_b_still_stops_it(servers, jobs_started):
    a, b = servers
    job = ok(start(a, "sleeps", jobs_started))["data"]
    poll(lambda: "sleeping now" in output(described(b, job["job_id"])), 90)
    os.killpg(a.pid, signal.SIGKILL)  # A's server and its workers; the runner lives in a session of its own
    poll(lambda: not _answers(a), 30)
    time.sleep(LOST_AFTER + 2)  # past job_lost_after: still running, because its runner still beats
    seen = described(b, job["job_id"])
    assert seen["state"] == "running" and running(job["pid"]), seen
    assert "sleeping now" in output(seen)
    stopped = ok(b.get("stop_job", job_id=job["job_id"]))
    assert stopped["data"]["state"] in ENDED_BY_STOP and stopped["data"]["ended_at"], stopped
    poll(lambda: not running(job["pid"]), 10)


def _answers(server) -> bool:
    try:
        server.get("version", token=None)
        return True
    except requests.RequestException:
        return False
