"""The fixtures of every test: a real Airflow of the tests' own (AIRFLOW_HOME, a real metadata database, real
DAG files), Airflow's own app factory and real users in real roles; a fresh metadata state for every test.

The environment Airflow reads is prepared once when pytest starts (``pytest_configure``), before any test
module imports Airflow; what tests import lives in tests/helpers.py, never here.
"""

from __future__ import annotations

import re
import shutil

import pytest

from tests.airflow_line import AIRFLOW_3, sync_dag_files
from tests.helpers import (
    AIRFLOW_HOME,
    DAGS_FOLDER,
    MARKER,
    PASSWORD,
    auth_headers,
    create_users,
    kill_jobs_left_running,
    prepare_environment,
    python_program,
)


def pytest_configure(config):
    prepare_environment()


@pytest.fixture(scope="session")
def airflow_db():
    from airflow.utils import db

    db.resetdb()
    sync_dag_files(DAGS_FOLDER)
    yield
    kill_jobs_left_running()
    shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def app(airflow_db):
    """Airflow's own app: the webserver's Flask app on Airflow 2, the API server's FastAPI app on Airflow 3
    (tests.airflow3_client gives it Flask's test-client API)."""
    if AIRFLOW_3:
        from tests.airflow3_client import Airflow3App

        airflow_app = Airflow3App()
        with airflow_app.security_manager() as sm:
            create_users(sm)
        yield airflow_app
        airflow_app.close()
        return
    from airflow.www.app import create_app

    flask_app = create_app(testing=True)
    create_users(flask_app.appbuilder.sm)
    yield flask_app


@pytest.fixture
def call(app):
    """call(api, who="token", method="GET", data=None, headers=None, **query) -> response.

    Each call gets a fresh test client, so no cookie from an earlier call leaks into it.
    """

    def _call(api, who="token", method="GET", data=None, headers=None, **query):
        client = app.test_client()
        params = {"api": api, **query}
        return client.open(
            "/admin/rest_api/api",
            method=method,
            query_string=params,
            data=data,
            headers={**auth_headers(who), **(headers or {})},
        )

    return _call


@pytest.fixture
def browser_session(app):
    """A test client signed in through Airflow's login form, and the page's CSRF token (on Airflow 3, where
    the page proves itself with a header, a stand-in that makes the client send it)."""

    def _login(username: str):
        client = app.test_client()
        login = "/auth/login/" if AIRFLOW_3 else "/login/"
        page = client.get(login).get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        answer = client.post(login, data={"username": username, "password": PASSWORD, "csrf_token": token})
        assert answer.status_code in (302, 303, 200)
        if AIRFLOW_3:
            assert client.get_cookie("_token") is not None, "the Airflow 3 login set no _token cookie"
            return client, "from-the-page"
        page = client.get("/admin/rest_api/").get_data(as_text=True)
        csrf = re.search(r"var csrfToken = '([^']+)'", page)
        return client, csrf.group(1) if csrf else None

    return _login


@pytest.fixture(autouse=True)
def clean_db(request):
    """Every test starts from the same metadata: the sample DAGs, paused, and nothing else."""
    if "app" not in request.fixturenames and "airflow_db" not in request.fixturenames:
        yield
        return
    from airflow.models import Connection, DagModel, DagRun, Pool, TaskInstance, Variable
    from airflow.models.log import Log
    from airflow.utils.session import create_session

    with create_session() as session:
        if AIRFLOW_3:  # a backfill not marked completed would refuse the next one for its DAG
            from airflow.models.backfill import Backfill, BackfillDagRun

            session.query(BackfillDagRun).delete()
        session.query(TaskInstance).delete()
        session.query(DagRun).delete()
        if AIRFLOW_3:
            session.query(Backfill).delete()
        session.query(Variable).delete()
        session.query(Connection).delete()
        session.query(Log).delete()
        session.query(Pool).filter(Pool.pool != Pool.DEFAULT_POOL_NAME).delete()
        session.query(DagModel).update({DagModel.is_paused: True})
    yield


@pytest.fixture
def no_job_running(app):
    """For a test of ``max_jobs``, which counts every running job: none left by an earlier test, which could end
    during the test and make room for one more start (seen once in a full run: two started at a cap of one)."""
    from rest_api_plugin.processes import jobs

    kill_jobs_left_running()
    assert jobs.running_records() == []


@pytest.fixture
def python_job(app):
    """start(code, by="tests", dag_id=None) runs ``python -c code`` as a job started by user ``by`` (or by the
    token, ``by="token"``), about DAG ``dag_id``. Whatever the test does, none is left running."""
    from rest_api_plugin.errors import Conflict
    from rest_api_plugin.processes import jobs
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
            try:
                jobs.stop(record, requested_by="tests")
            except Conflict:  # it ended between the look and the stop
                pass


@pytest.fixture
def no_marker():
    """Fails the test if a hostile argument ran a command (it would create MARKER)."""
    import os

    if os.path.exists(MARKER):
        os.unlink(MARKER)
    yield
    assert not os.path.exists(MARKER), "a hostile argument ran a command"
