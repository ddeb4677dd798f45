"""What the tests share and import: the tests' Airflow (its home, token, users and their roles), callers'
credentials, and helpers for DAG files, database reads and polling. Importing it changes nothing: the
environment is prepared once by tests/conftest.py (prepare_environment) when pytest starts.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import sys
import tempfile
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path

from tests.airflow_line import AIRFLOW_3, sync_dag_files

TESTS = Path(__file__).parent
# The tests' own Airflow: a home of this test process (made by prepare_environment, at pytest's start).
AIRFLOW_HOME = Path(tempfile.gettempdir()) / f"rest-api-plugin-tests-{os.getpid()}"
DAGS_FOLDER = AIRFLOW_HOME / "dags"

TOKEN = "test-token-3f9a"
PASSWORD = "password-for-tests"
# username -> role; "noperm" has a role with no permission at all, "limited" reaches sample_dag only.
USERS = {"admin": "Admin", "op": "Op", "user": "User", "viewer": "Viewer", "noperm": "NoPerm", "limited": "Limited"}


def prepare_environment() -> None:
    """The tests' AIRFLOW_HOME with the sample DAGs, and the environment Airflow reads: set once by
    tests/conftest.py when pytest starts, before any test module imports Airflow.

    The database is SQLite in AIRFLOW_HOME unless AIRFLOW__DATABASE__SQL_ALCHEMY_CONN is set (scripts/run-tests
    sets it to a fresh PostgreSQL database for the PostgreSQL passes)."""
    shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)
    shutil.copytree(TESTS / "dags", DAGS_FOLDER)
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
            # A log server the tests start (serve_logs, a scheduler, a DAG processor) binds a port of its own,
            # not 8793: scripts/run-tests runs two Airflow lines side by side.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


ORIGINAL_DAGS = ("sample_dag", "other_dag")  # what tests/dags/sample_dags.py defines
SAMPLE_FILE = DAGS_FOLDER / "sample_dags.py"

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


DEAF_TO_THE_IMPORT_TIMEOUT = """
import os, signal, subprocess, time
PIDS
signal.signal(signal.SIGALRM, signal.SIG_IGN)  # deaf to Airflow's own import timeout
deadline = time.monotonic() + SECONDS
while time.monotonic() < deadline:
    try:
        time.sleep(1)
    except BaseException:
        pass
"""


def hanging_source(seconds: int, pid_file: Path | None = None) -> str:
    """DAG-file code that ignores Airflow's import timeout and takes ``seconds`` to import; with ``pid_file``, it
    first writes there its own pid and that of a ``sleep 600`` it starts."""
    pids = (
        (
            f"with open({str(pid_file)!r}, 'w') as out:\n"
            "    out.write(f\"{os.getpid()} {subprocess.Popen(['sleep', '600']).pid}\")"
        )
        if pid_file
        else ""
    )
    return DEAF_TO_THE_IMPORT_TIMEOUT.replace("PIDS", pids).replace("SECONDS", str(seconds))


def dag_source(template: str, **values) -> str:
    return textwrap.dedent(template.format(**values))


def write_dag_file(name: str, source: str, sync: bool = True) -> Path:
    path = DAGS_FOLDER / name
    path.write_text(source)
    if sync:
        sync_dag_files(path)
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


def is_running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, killed and waiting to be reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat_file:
            return stat_file.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def parse_servers(marker: str | None = None) -> dict[int, list[str]]:
    """The running parse servers of the tests' AIRFLOW_HOME (pid -> argv), those whose environment holds
    ``marker`` (``NAME=VALUE``) when given."""
    wanted = [f"AIRFLOW_HOME={AIRFLOW_HOME}".encode(), *([marker.encode()] if marker else [])]
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            if b"rest_api_plugin.dag_files.parse_server" not in argv:
                continue
            environment = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
        except OSError:  # ended meanwhile
            continue
        if all(item in environment for item in wanted) and is_running(int(entry)):
            found[int(entry)] = [part.decode() for part in argv if part]
    return found


# --- the DAGs folder and the database, read back and restored (DAG-file tests) ---


def folder_files() -> dict[str, bytes]:
    """Every file in the DAGs folder but compiled bytecode, with its content."""
    return {
        str(path.relative_to(DAGS_FOLDER)): path.read_bytes()
        for path in DAGS_FOLDER.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def upload_leftovers() -> list[str]:
    """Anything an upload left in the DAGs folder, compiled bytecode included."""
    from rest_api_plugin.dag_files.uploads import UPLOAD_PREFIX

    marker = UPLOAD_PREFIX.strip("._")
    return [str(path) for path in DAGS_FOLDER.rglob("*") if marker in path.name]


def db_state() -> dict:
    from airflow.models import DagModel, DagRun, TaskInstance
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session

    from rest_api_plugin.airflow_compat import dag_is_active

    with create_session() as session:
        return {
            "dags": {
                m.dag_id: (m.fileloc, dag_is_active(m), m.is_paused, m.description) for m in session.query(DagModel)
            },
            # Airflow 3 keeps a serialized DAG per DAG version: the latest one wins
            "serialized": {
                s.dag_id: s.dag_hash
                for s in session.query(SerializedDagModel).order_by(SerializedDagModel.last_updated)
            },
            "runs": sorted((r.dag_id, r.run_id, r.state) for r in session.query(DagRun)),
            "tis": sorted((t.dag_id, t.run_id, t.task_id, t.state) for t in session.query(TaskInstance)),
        }


def backups() -> set[Path]:
    from rest_api_plugin.dag_files.dag_folder import backup_folder

    return set(backup_folder().iterdir())


def sample_dags_state() -> dict:
    """The sample DAGs' rows and their serialized versions."""
    state = db_state()
    return {dag_id: (state["dags"].get(dag_id), state["serialized"].get(dag_id)) for dag_id in ORIGINAL_DAGS}


@contextmanager
def dag_files_restored():
    """Afterwards, the DAGs folder, the database and the backup folder are as they were before."""
    files_before = folder_files()
    bytecode_before = set(DAGS_FOLDER.rglob("__pycache__/*"))
    originals_before = sample_dags_state()
    backups_before = backups()
    try:
        yield
    finally:
        restore(files_before, bytecode_before, originals_before, backups_before)


def restore(files_before, bytecode_before, originals_before, backups_before) -> None:
    """Remove the files and DAGs created since, put changed files and the sample DAGs back."""
    from airflow.models import DagModel, DagRun, TaskInstance
    from airflow.utils.session import create_session

    from rest_api_plugin.airflow_compat import active_column_update

    for path in sorted(DAGS_FOLDER.rglob("*"), reverse=True):
        relative = str(path.relative_to(DAGS_FOLDER))
        if "__pycache__" in path.parts:
            continue
        if path.is_file() and relative not in files_before:
            path.unlink()
        elif path.is_dir() and not any(key.startswith(relative + os.sep) for key in files_before):
            shutil.rmtree(path)  # with the bytecode cache parsing left in it
    for path in set(DAGS_FOLDER.rglob("__pycache__/*")) - bytecode_before:
        path.unlink()
    for relative, content in files_before.items():
        path = DAGS_FOLDER / relative
        if not path.is_file() or path.read_bytes() != content:
            path.write_bytes(content)
    with create_session() as session:
        created = [m.dag_id for m in session.query(DagModel).filter(DagModel.dag_id.notin_(ORIGINAL_DAGS))]
        session.query(TaskInstance).filter(TaskInstance.dag_id.in_(created)).delete(synchronize_session=False)
        session.query(DagRun).filter(DagRun.dag_id.in_(created)).delete(synchronize_session=False)
    forget_dag(*created)
    if sample_dags_state() != originals_before:
        store_sample_dags_again()
        with create_session() as session:
            for dag_id, ((_, is_active, is_paused, _), _) in originals_before.items():
                session.query(DagModel).filter(DagModel.dag_id == dag_id).update(
                    {**active_column_update(DagModel, is_active), DagModel.is_paused: is_paused},
                    synchronize_session=False,
                )
        assert sample_dags_state() == originals_before, "the sample DAGs could not be put back"
    for backup in backups() - backups_before:
        backup.unlink()


def store_sample_dags_again() -> None:
    """sample_dags.py parsed and stored again, its serialized DAGs written even if stored less than
    [core] min_serialized_dag_update_interval ago."""
    from airflow.utils.session import create_session

    if AIRFLOW_3:  # sync_bag_to_db reads the interval from the configuration
        previous = os.environ.get(MIN_UPDATE_INTERVAL)
        os.environ[MIN_UPDATE_INTERVAL] = "0"
        try:
            sync_dag_files(SAMPLE_FILE)
        finally:
            if previous is None:
                del os.environ[MIN_UPDATE_INTERVAL]
            else:
                os.environ[MIN_UPDATE_INTERVAL] = previous
        return
    from airflow.models import DagBag
    from airflow.models.serialized_dag import SerializedDagModel

    bag = DagBag(str(SAMPLE_FILE), include_examples=False)
    with create_session() as session:
        for dag in bag.dags.values():
            SerializedDagModel.write_dag(dag, min_update_interval=None, session=session)
    bag.sync_to_db()


MIN_UPDATE_INTERVAL = "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL"


# --- callers and the app (tests/conftest.py's fixtures use these too) ---


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
    """Who ``tokens.authenticate`` finds behind these headers, the request built as this line's front end
    builds it (kept open: Airflow 2's auth manager reads the request context)."""
    from rest_api_plugin import tokens

    if AIRFLOW_3:
        import asyncio
        from concurrent.futures import ThreadPoolExecutor

        from starlette.requests import Request

        from rest_api_plugin.airflow3.fastapi_adapter import api_request

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        scope = {
            "type": "http",
            "method": "GET",
            "path": "/admin/rest_api/api",
            "query_string": b"",
            "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()],
        }
        with ThreadPoolExecutor(1) as thread:  # a loop of its own: the tests' thread may run one already
            request = thread.submit(asyncio.run, api_request(Request(scope, receive))).result()
        with security_manager(app):
            yield tokens.authenticate(request)
        return
    from flask import request

    from rest_api_plugin.airflow2.flask_adapter import api_request

    with app.test_request_context("/admin/rest_api/api", headers=headers):
        yield tokens.authenticate(api_request(request))


def create_users(sm) -> None:
    from rest_api_plugin import registry

    sm.sync_roles()
    sm.add_role("NoPerm")
    limited = sm.add_role("Limited")
    for action, resource in [
        ("can_read", "DAG:sample_dag"),
        ("can_edit", "DAG:sample_dag"),
        ("can_create", "DAG Runs"),
        ("can_read", "DAG Runs"),
        ("can_read", "Task Instances"),
        ("can_read", "Website"),
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


def python_program(code: str):
    """``python -c code`` as a job's program: the job machinery under test, without the airflow allowlist."""
    from rest_api_plugin.processes import commands

    return commands.Program(argv=[sys.executable, "-c", code], display=f"python -c {code!r}")


# A file that a hostile argument would create if it ever reached a shell (the no_marker fixture checks).
MARKER = "/tmp/rest_api_plugin_pwned"


def dag_runs(dag_id: str) -> list:
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    from rest_api_plugin.airflow_compat import logical_date_column, run_logical_date

    with create_session() as session:
        return [
            (run.run_type, run_logical_date(run).isoformat(), run.state)
            for run in session.query(DagRun).filter_by(dag_id=dag_id).order_by(logical_date_column(DagRun))
        ]


def streams(call, body: dict) -> tuple[str, str]:
    """The job's stdout and stderr as api=jobs shows them, after checking Airflow's start-up noise really was
    written (so an empty stderr means the filter removed it, not that nothing was written): on stderr on
    Airflow 2; on Airflow 3, where every line goes through structlog to stdout, lines the filter removed."""
    from rest_api_plugin.processes import jobs

    job_id = body["data"]["job_id"]
    data = call("jobs", job_id=job_id).get_json()["data"]
    from tests.airflow_line import AIRFLOW_3

    if AIRFLOW_3:
        assert len(jobs.tail(job_id, "stdout").splitlines()) > len(data["stdout"].splitlines())
    else:
        assert "RemovedInAirflow3Warning" in jobs.tail(job_id, "stderr")
    return data["stdout"], data["stderr"]


def kill_jobs_left_running() -> None:
    """Stop every job of this host that the database still shows running, so that a test session leaves no
    daemon behind, whatever a test or the fuzzer started: SIGTERM to each runner, which passes it on to its
    command's process group, SIGKILLs that group after ``job_stop_grace`` and records the end; SIGKILL to the
    runners still there after that grace and a margin. (With no margin, a runner killed as its grace ended left
    behind the command's children that outlive SIGTERM: an Airflow 3 scheduler's LocalExecutor worker stayed.)"""
    import signal
    import socket

    from rest_api_plugin import config
    from rest_api_plugin.processes import jobs

    try:
        records = jobs.running_records()
    except Exception:  # the tables were never made: no job ran
        return
    records = [record for record in records if record["host"] == socket.gethostname()]
    pids = [record["pid"] for record in records if record["pid"]]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + config.job_stop_grace() + jobs.STOP_MARGIN_SECONDS
    while time.monotonic() < deadline and any(is_running(pid) for pid in pids):
        time.sleep(0.2)
    for pid in pids:
        if is_running(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    _mark_lost_if_gone(records)


def _mark_lost_if_gone(records: list[dict]) -> None:
    """A runner killed before it could record its end (SIGKILL, or a signal while it was still starting) leaves
    a fresh heartbeat behind, seen running for ``job_lost_after`` seconds: mark its job lost, as a stop of a lost
    job does, once its runner is gone."""
    from rest_api_plugin.processes import jobs
    from rest_api_plugin.processes.job_tables import job, now_text

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(is_running(record["pid"]) for record in records if record["pid"]):
        time.sleep(0.1)
    gone = [record["job_id"] for record in records if not (record["pid"] and is_running(record["pid"]))]
    if gone:
        with jobs.engine().begin() as connection:
            connection.execute(
                job.update().where(job.c.job_id.in_(gone), job.c.ended_at.is_(None)).values(lost_at=now_text())
            )
