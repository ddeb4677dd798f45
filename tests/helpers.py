"""Shared by the task-command, job and DAG-file tests: temporary DAG files, database reads, polling."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import DAGS_FOLDER

FAILING_DAG = """
from datetime import datetime
from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG(dag_id="{dag_id}", start_date=datetime(2024, 1, 1), schedule=None, catchup=False):
    BashOperator(task_id="fails", bash_command="echo about to fail; exit 3")
"""

SIMPLE_DAG = """
from datetime import datetime
from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG(dag_id="{dag_id}", start_date=datetime(2024, 1, 1), schedule=None, catchup=False,
         description="{description}"):
    EmptyOperator(task_id="only")
"""


def dag_source(template: str, **values) -> str:
    return textwrap.dedent(template.format(**values))


def write_dag_file(name: str, source: str, sync: bool = True) -> Path:
    from airflow.models import DagBag

    path = DAGS_FOLDER / name
    path.write_text(source)
    if sync:
        DagBag(str(path), include_examples=False).sync_to_db()
    return path


def forget_dag(*dag_ids: str) -> None:
    """Remove DAGs a test created, file records and all."""
    from airflow.api.common.delete_dag import delete_dag
    from airflow.exceptions import DagNotFound

    for dag_id in dag_ids:
        try:
            delete_dag(dag_id)
        except DagNotFound:
            pass


def dag_model(dag_id: str):
    from airflow.models import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        model = session.get(DagModel, dag_id)
        if model is not None:
            session.expunge(model)
        return model


def poll(check, seconds: float = 60, every: float = 0.2):
    """``check()``'s first truthy answer, polling until the deadline; fails the test after it."""
    deadline = time.monotonic() + seconds
    while True:
        answer = check()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {seconds}s waiting for {check}")
        time.sleep(every)


def python_program(code: str):
    """``python -c code`` as a job's program: the job machinery under test, without the airflow allowlist."""
    from rest_api_plugin import cli

    return cli.Program(argv=[sys.executable, "-c", code], display=f"python -c {code!r}")


@pytest.fixture
def python_job(app):
    """start(code, by="tests", dag_id=None) runs ``python -c code`` as a job started by user ``by`` (or by the
    token, ``by="token"``), about DAG ``dag_id``. Whatever the test does, none is left running."""
    from rest_api_plugin import jobs
    from rest_api_plugin.security import Identity

    started = []

    def start(code: str, by: str = "tests", dag_id: str | None = None) -> dict:
        identity = Identity(kind="token", name="token") if by == "token" else Identity(kind="header", name=by)
        job = jobs.start("probe", python_program(code), identity, dag_id=dag_id)
        started.append(job["job_id"])
        return job

    yield start
    for job_id in started:
        record = jobs.load(job_id)
        if jobs.describe(record)["state"] == "running":
            jobs.stop(record, requested_by="tests")
