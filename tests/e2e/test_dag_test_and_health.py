"""End to end through a real server (Airflow 2's webserver, Airflow 3's API server): dag_test runs a two-task
DAG to success in its own process; health sees a real scheduler, started with api=scheduler, alive, and then,
once it is stopped, gone. The server gets a short scheduler health-check threshold (Airflow reads it once per
process) and the scheduler a short heartbeat, so that a scheduler that dies without saying so is seen dead
within seconds too.
"""

from __future__ import annotations

import pytest

from tests.e2e.servers import running_webserver
from tests.helpers import poll

pytestmark = pytest.mark.e2e

THRESHOLD = 10  # seconds, [scheduler] scheduler_health_check_threshold
HEARTBEAT = 1  # seconds, [scheduler] scheduler_heartbeat_sec


@pytest.fixture(scope="module")
def server(app, tmp_path_factory):
    with running_webserver(
        tmp_path_factory.mktemp("health_server"),
        AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD=str(THRESHOLD),
        AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC=str(HEARTBEAT),
    ) as running:
        yield running


def ok(answer) -> dict:
    body = answer.json()
    assert answer.status_code == 200 and body["status"] == "OK", body
    return body


@pytest.fixture
def no_scheduler_jobs(app):
    """No scheduler in Airflow's job table: what an earlier test's scheduler left is removed."""
    from airflow.jobs.job import Job
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(Job).filter(Job.job_type == "SchedulerJob").delete()


def test_dag_test_runs_a_two_task_dag_to_success(server):
    body = ok(server.call("POST", "dag_test", params={"dag_id": "sample_dag", "execution_date": "2024-05-01"}))
    data = body["data"]
    assert (data["state"], data["exit_code"], data["dag_run_state"]) == ("success", 0, "success"), body
    assert {ti["task_id"]: ti["state"] for ti in data["task_instances"]} == {"extract": "success", "load": "success"}
    assert data["pid"] and body["airflow_cmd"] == "airflow dags test sample_dag 2024-05-01T00:00:00+00:00"


def test_health_sees_a_running_scheduler_and_then_its_absence(server, no_scheduler_jobs):
    before = ok(server.get("health"))["data"]
    assert before["metadatabase"]["status"] == "healthy"
    assert (before["scheduler"]["status"], before["scheduler"]["alive_jobs"]) == ("unhealthy", 0)
    job = ok(server.call("POST", "scheduler", params={"skip_serve_logs": "true"}))["data"]
    try:
        alive = poll(
            lambda: (health := ok(server.get("health")))["data"]["scheduler"]["status"] == "healthy" and health,
            seconds=120,
            every=1,
        )
    finally:
        stopped = ok(server.call("POST", "stop_job", params={"job_id": job["job_id"]}))["data"]
    scheduler = alive["data"]["scheduler"]
    assert scheduler["alive_jobs"] == 1 and scheduler["health_check_threshold"] == THRESHOLD, alive
    assert "scheduler: Found one alive job." in alive["output"]["stdout"]
    assert stopped["state"] != "running"
    gone = poll(
        lambda: (health := ok(server.get("health")))["data"]["scheduler"]["status"] == "unhealthy" and health,
        seconds=THRESHOLD * 3,
        every=1,
    )
    assert gone["data"]["scheduler"]["alive_jobs"] == 0
    assert gone["data"]["scheduler"]["job_id"] == scheduler["job_id"]  # the same job, no longer alive
    assert "scheduler: No alive jobs found." in gone["output"]["stdout"]
