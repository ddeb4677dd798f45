"""A real ``airflow webserver`` with 2 gunicorn workers: two calls that wait on long jobs at the same time never
hold both workers. One waits (the one wait slot that ``max(1, workers - 1)`` allows); the other answers at once
with 202 and its job, and ``/health`` answers all along.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests

from tests.airflow_line import airflow2_only
from tests.e2e.servers import running_webserver
from tests.helpers import dag_source, forget_dag, poll, write_dag_file

# Airflow 2's gunicorn workers each answer one request at a time; Airflow 3's uvicorn workers answer on threads
# (tests/app/test_processes.py::TestWaitSlots covers its count)
pytestmark = [pytest.mark.e2e, airflow2_only]

SLEEP_SECONDS = 8
SLEEPY_DAG = """
from datetime import datetime
from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG(dag_id="{dag_id}", start_date=datetime(2024, 1, 1), schedule=None, catchup=False):
    BashOperator(task_id="sleeps", bash_command="sleep {seconds}; echo slept")
"""


@pytest.fixture(scope="module")
def two_workers(app, tmp_path_factory):
    with running_webserver(tmp_path_factory.mktemp("webserver_2_workers"), AIRFLOW__WEBSERVER__WORKERS="2") as server:
        yield server


@pytest.fixture
def sleepy_dag(app):
    path = write_dag_file("e2e_sleepy.py", dag_source(SLEEPY_DAG, dag_id="e2e_sleepy", seconds=SLEEP_SECONDS))
    yield "e2e_sleepy"
    path.unlink(missing_ok=True)
    forget_dag("e2e_sleepy")


def test_two_long_waits_leave_a_worker_free_for_health(two_workers, sleepy_dag):
    answers: dict[int, tuple[float, requests.Response]] = {}

    def wait_on_a_test(number: int) -> None:
        began = time.monotonic()
        # two dates: Airflow's `tasks test` of one task instance twice at once trips over its temporary runs
        answer = two_workers.get("test", dag_id=sleepy_dag, task_id="sleeps", execution_date=f"2024-01-0{number}")
        answers[number] = (time.monotonic() - began, answer)

    callers = [threading.Thread(target=wait_on_a_test, args=(number,)) for number in (1, 2)]
    for caller in callers:
        caller.start()
    health = []
    while any(caller.is_alive() for caller in callers):  # /health keeps answering while a call waits
        began = time.monotonic()
        status = requests.get(f"{two_workers.url}/health", timeout=10).status_code
        health.append((status, time.monotonic() - began))
        time.sleep(0.5)
    for caller in callers:
        caller.join()

    by_status = {answer.status_code: (seconds, answer.json()) for seconds, answer in answers.values()}
    assert sorted(by_status) == [200, 202], by_status  # one waited, the other did not
    (waited_for, waited), (answered_in, at_once) = by_status[200], by_status[202]
    assert (waited["status"], waited["http_response_code"], waited["data"]["state"]) == ("OK", 200, "success"), waited
    assert "slept" in waited["output"]["stdout"] and waited["output"]["stderr"] == "" and waited_for >= SLEEP_SECONDS
    assert (at_once["status"], at_once["http_response_code"]) == ("OK", 202), at_once
    assert "Not waiting for it: 1 request(s) already wait on jobs" in at_once["output"]["stdout"]
    assert "[webserver] workers = 2" in at_once["output"]["stdout"]
    assert at_once["data"]["state"] == "running" and answered_in < waited_for

    assert len(health) >= 3 and all(status == 200 for status, _ in health), health
    assert max(seconds for _, seconds in health) < 5, health
    # the job the 202 answered with runs on in the background and ends by itself
    job_id = at_once["data"]["job_id"]
    poll(lambda: two_workers.get("jobs", job_id=job_id).json()["data"]["state"] != "running", seconds=120)
    ended = two_workers.get("jobs", job_id=job_id).json()
    assert ended["data"]["state"] == "success", ended["output"]
