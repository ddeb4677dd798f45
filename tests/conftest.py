"""A real Airflow for the tests: its own AIRFLOW_HOME, a real metadata database, real DAG files,
Airflow's own app factory and real users in real roles.

The database is SQLite in a temporary folder unless AIRFLOW__DATABASE__SQL_ALCHEMY_CONN is set
(scripts/run-tests sets it to a fresh PostgreSQL database for the second pass).
Environment variables are set here, before Airflow is first imported.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import socket
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.airflow_line import AIRFLOW_3, sync_dag_files

TESTS = Path(__file__).parent
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="rest-api-plugin-tests-"))
DAGS_FOLDER = AIRFLOW_HOME / "dags"
shutil.copytree(TESTS / "dags", DAGS_FOLDER)

TOKEN = "test-token-3f9a"
PASSWORD = "password-for-tests"

os.environ.update(
    {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__FERNET_KEY": "x5cZ6Yx0ALzTZ9GT4LqXJvQ9E0hQ1Lxp3OZQ_3gtBXg=",
        "AIRFLOW__WEBSERVER__SECRET_KEY": "rest-api-plugin-tests",
        "AIRFLOW__WEBSERVER__AUTH_RATE_LIMITED": "False",
        "AIRFLOW__REST_API_PLUGIN__REST_API_PLUGIN_EXPECTED_HTTP_TOKEN": TOKEN,
        "AIRFLOW__REST_API_PLUGIN__READ_ROLES": "Viewer,User",
        "AIRFLOW__REST_API_PLUGIN__WRITE_ROLES": "Op",
        "AIRFLOW__API__AUTH_BACKENDS": "airflow.providers.fab.auth_manager.api.auth.backend.basic_auth,"
        "airflow.providers.fab.auth_manager.api.auth.backend.session",
    }
)
if AIRFLOW_3:  # the FAB auth manager (roles and per-endpoint permissions), its JWTs, no login rate limit
    os.environ.update(
        {
            "AIRFLOW__CORE__AUTH_MANAGER": "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager",
            "AIRFLOW__API_AUTH__JWT_SECRET": "rest-api-plugin-tests-jwt-secret-" + "0123456789abcdef" * 4,
            "AIRFLOW__API__SECRET_KEY": "rest-api-plugin-tests",
            "AIRFLOW__FAB__AUTH_RATE_LIMITED": "False",
        }
    )
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# A log server the tests start (serve_logs, a scheduler, a DAG processor) binds a port of its own, not 8793:
# scripts/run-tests runs two Airflow lines side by side.
os.environ["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(_free_port())

# username -> role; "noperm" has a role with no permission at all, "limited" reaches sample_dag only.
USERS = {"admin": "Admin", "op": "Op", "user": "User", "viewer": "Viewer", "noperm": "NoPerm", "limited": "Limited"}


@pytest.fixture(scope="session")
def airflow_db():
    from airflow.utils import db

    db.resetdb()
    sync_dag_files(DAGS_FOLDER)
    yield
    shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def app(airflow_db):
    """Airflow's own app: the webserver's Flask app on Airflow 2, the API server's FastAPI app on Airflow 3
    (tests.airflow3_client gives it Flask's test-client API)."""
    if AIRFLOW_3:
        from tests.airflow3_client import Airflow3App

        airflow_app = Airflow3App()
        with airflow_app.security_manager() as sm:
            _create_users(sm)
        yield airflow_app
        airflow_app.close()
        return
    from airflow.www.app import create_app

    flask_app = create_app(testing=True)
    _create_users(flask_app.appbuilder.sm)
    yield flask_app


@contextmanager
def security_manager(app):
    """FAB's security manager (roles, users, permissions), where each line lets it be used."""
    if AIRFLOW_3:
        with app.security_manager() as sm:
            yield sm
    else:
        with app.app_context():
            yield app.appbuilder.sm


@contextmanager
def identity_of(app, headers: dict):
    """Who ``security.authenticate`` finds behind these headers, the request built as this line's front end
    builds it (kept open: Airflow 2's auth manager reads the request context)."""
    from rest_api_plugin import security

    if AIRFLOW_3:
        import asyncio
        from concurrent.futures import ThreadPoolExecutor

        from starlette.requests import Request

        from rest_api_plugin.fastapi_adapter import api_request

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        scope = {"type": "http", "method": "GET", "path": "/admin/rest_api/api", "query_string": b"",
                 "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()]}
        with ThreadPoolExecutor(1) as thread:  # a loop of its own: the tests' thread may run one already
            request = thread.submit(asyncio.run, api_request(Request(scope, receive))).result()
        with security_manager(app):
            yield security.authenticate(request)
        return
    from flask import request

    from rest_api_plugin.flask_adapter import api_request

    with app.test_request_context("/admin/rest_api/api", headers=headers):
        yield security.authenticate(api_request(request))


def _create_users(sm) -> None:
    from rest_api_plugin import registry

    sm.sync_roles()
    sm.add_role("NoPerm")
    limited = sm.add_role("Limited")
    for action, resource in [
        ("can_read", "DAG:sample_dag"), ("can_edit", "DAG:sample_dag"), ("can_create", "DAG Runs"),
        ("can_read", "DAG Runs"), ("can_read", "Task Instances"), ("can_read", "Website"),
        *((endpoint.permission, registry.RESOURCE) for endpoint in registry.ENDPOINTS),
    ]:
        sm.add_permission_to_role(limited, sm.create_permission(action, resource))
    for username, role in USERS.items():
        if sm.find_user(username=username) is None:
            sm.add_user(username, username, "Test", f"{username}@example.com", sm.find_role(role), PASSWORD)


def basic_auth(username: str) -> dict:
    raw = base64.b64encode(f"{username}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def auth_headers(who: str) -> dict:
    """Headers for one caller: "token", "wrong_token", "anonymous" or a username (basic auth)."""
    if who == "token":
        return {"rest_api_plugin_http_token": TOKEN}
    if who == "wrong_token":
        return {"rest_api_plugin_http_token": "not-the-token"}
    if who == "anonymous":
        return {}
    return basic_auth(who)


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


# Modules whose tests exercise what no database changes: one pass (SQLite) runs them, the PostgreSQL passes
# leave them out (scripts/run-tests: -m "not same_on_every_database").
SAME_ON_EVERY_DATABASE = {
    "tests/e2e/test_browser.py", "tests/e2e/test_fuzzing.py", "tests/e2e/test_request_limits.py",
    "tests/e2e/test_token_header_gunicorn.py", "tests/test_hostile_requests.py", "tests/test_page.py",
    "tests/test_docs.py", "tests/test_packaging.py", "tests/test_gunicorn_headers.py", "tests/test_envelope.py",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid.split("::", 1)[0] in SAME_ON_EVERY_DATABASE:
            item.add_marker(pytest.mark.same_on_every_database)
