"""Real servers for the end-to-end tests: ``running_webserver(folder, **settings)`` starts an ``airflow
webserver`` (Airflow 3: ``airflow api-server``) on a free port with the tests' environment (tests/helpers.py:
AIRFLOW_HOME, database, token, basic-auth backend) plus ``settings``, and stops its whole process group after.

The database is SQLite in the tests' AIRFLOW_HOME, or AIRFLOW__DATABASE__SQL_ALCHEMY_CONN when the caller sets it
(scripts/run-tests does, for its PostgreSQL passes); the ``app`` fixture has migrated it, stored the sample
DAGs and created the users first. Tests read effects back from that database.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import requests

from tests.airflow_line import AIRFLOW_3
from tests.helpers import TOKEN, free_port

API = "/admin/rest_api/api"
STARTUP_DEADLINE = 180  # seconds; a cold start with --preload takes 15-40 s on two cores
AIRFLOW = [sys.executable, "-m", "airflow"]


def webserver_env() -> dict:
    env = dict(os.environ)  # carries conftest's AIRFLOW_HOME, database, token, auth backends
    # A stock gunicorn (header_map=drop): the plugin itself keeps the legacy underscore token header.
    env.pop("GUNICORN_CMD_ARGS", None)
    env.update(
        {
            "AIRFLOW__WEBSERVER__WORKERS": "1",
            "AIRFLOW__WEBSERVER__WORKER_REFRESH_INTERVAL": "0",  # no worker rotation during the tests
            "AIRFLOW__WEBSERVER__WEB_SERVER_MASTER_TIMEOUT": "180",
            "AIRFLOW__WEBSERVER__WEB_SERVER_WORKER_TIMEOUT": "180",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "10",  # a DAG file that hangs is stopped in seconds
            # a log server the tests start (serve_logs, a scheduler) binds a port of its own, not 8793: two
            # Airflow lines run their suites side by side (scripts/run-tests)
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def tail(path: Path, lines: int = 200) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as err:
        return f"(no log: {err})"


class Webserver:
    def __init__(self, port: int, env: dict, log: Path, pid: int | None = None):
        self.url = f"http://127.0.0.1:{port}"
        self.env = env
        self.log = log
        self.pid = pid  # the server's first process, leader of its process group

    def get(self, api: str, headers: dict | None = None, token: str | None = TOKEN, **params):
        return self.call("GET", api, headers, token, params=params)

    def call(self, method: str, api: str, headers=None, token: str | None = TOKEN, url=None, **kwargs):
        headers = dict(headers or {})
        if token is not None:
            headers["rest_api_plugin_http_token"] = token  # exactly as old clients spell it
        if url is None:
            url = f"{self.url}{API}"
            kwargs["params"] = {"api": api, **(kwargs.get("params") or {})}
        return requests.request(method, url, headers=headers, timeout=60, **kwargs)


# Airflow 2's webserver (gunicorn), or Airflow 3's API server (uvicorn): the same tests, the same URLs
SERVER = "api-server" if AIRFLOW_3 else "webserver"
HEALTH = "/api/v2/monitor/health" if AIRFLOW_3 else "/health"


def raw_get(server: Webserver, header_lines: list[tuple[str, str]]) -> tuple[int, str]:
    """GET ?api=version with the header lines on the wire exactly as given (names and repetitions): the
    status and the body's text."""
    url = urlsplit(server.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        conn.putrequest("GET", f"{API}?api=version")
        for name, value in header_lines:
            conn.putheader(name, value)
        conn.endheaders()
        answer = conn.getresponse()
        return answer.status, answer.read().decode()
    finally:
        conn.close()


def server_command(port: int, folder: Path) -> list[str]:
    if AIRFLOW_3:
        return [*AIRFLOW, "api-server", "--port", str(port), "--host", "127.0.0.1"]
    return [
        *AIRFLOW,
        "webserver",
        "--port",
        str(port),
        "--hostname",
        "127.0.0.1",
        "--pid",
        str(folder / "webserver.pid"),
    ]


def wait_until_up(
    proc: subprocess.Popen, url: str, log: Path, what: str = "", seconds: float = STARTUP_DEADLINE
) -> None:
    """Until ``url`` answers its health check; fails with the log's end if ``proc`` (``what``: the Airflow
    server by default) exits first or is not up within ``seconds``."""
    what = what or f"airflow {SERVER}"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{tail(log)}")
        try:
            if requests.get(f"{url}{HEALTH}", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{what} not up at {url} within {seconds} s:\n{tail(log)}")


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the whole process group (airflow webserver, gunicorn master and workers), then SIGKILL."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


@contextmanager
def running_webserver(folder: Path, **settings: str):
    """A real ``airflow webserver`` (``airflow api-server`` on Airflow 3) on a free port, with conftest's
    environment plus ``settings`` (environment variables, e.g.
    ``AIRFLOW__REST_API_PLUGIN__OUTPUT_FORMAT="text"``); stopped on exit."""
    env = {**webserver_env(), **settings}
    log = folder / "webserver.log"
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            server_command(port, folder),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, so stop() reaches gunicorn's workers too
        )
    try:
        wait_until_up(proc, f"http://127.0.0.1:{port}", log)
        yield Webserver(port, env, log, proc.pid)
    finally:
        stop(proc)
