"""scripts/start-airflow stops everything it started: run in a temporary copy of the repository (its
virtualenv linked to the one running the tests, a fresh AIRFLOW_HOME, a free port), it is sent SIGINT as
Ctrl-C would once its server answers; every process below it (scheduler, DAG processor on Airflow 3, the
webserver / API server and their workers) must be gone within a few seconds. The same for SIGTERM. Before
the signal, its admin user signs in with a kept password that starts with a dash.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.airflow_line import AIRFLOW_3, AIRFLOW_VERSION
from tests.e2e.servers import STARTUP_DEADLINE, tail, wait_until_up
from tests.helpers import free_port

# start-airflow always makes its own SQLite database in its own AIRFLOW_HOME: a PostgreSQL pass would run it again
pytestmark = [pytest.mark.e2e, pytest.mark.same_on_every_database]

REPO = Path(__file__).resolve().parents[2]
GONE_WITHIN = 6  # seconds after the signal: the script's STOP_TIMEOUT (3) plus the time to reap


def repository_copy(root: Path) -> Path:
    """What start-airflow reads from the repository, with the line's virtualenv linked in (no install)."""
    copy = root / "repo"
    (copy / "scripts").mkdir(parents=True)
    for name in ("start-airflow", "bootstrap"):
        shutil.copy2(REPO / "scripts" / name, copy / "scripts" / name)
    shutil.copytree(REPO / "tests" / "dags", copy / "tests" / "dags")
    shutil.copytree(REPO / "constraints", copy / "constraints")
    shutil.copy2(REPO / "pyproject.toml", copy / "pyproject.toml")
    venv = copy / (f".venvs/airflow-{AIRFLOW_VERSION}" if AIRFLOW_3 else ".venv")
    venv.parent.mkdir(parents=True, exist_ok=True)
    venv.symlink_to(sys.prefix)
    return copy


def script_env(home: Path, port: int) -> dict:
    """The caller's environment without the tests' Airflow settings (start-airflow lets an exported
    AIRFLOW__... win), plus a small, quiet Airflow on a port of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__") and k != "AIRFLOW_HOME"}
    env.update(
        AIRFLOW_VERSION=AIRFLOW_VERSION,
        SKIP_INSTALL="1",
        START_AIRFLOW_HOME=str(home),
        PORT=str(port),
        HOST="127.0.0.1",
        PYTHONUNBUFFERED="1",
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),  # not 8793: other suites run beside
        AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_SERVER_PORT=str(free_port()),
        AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT=str(free_port()),
    )
    return env


def children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])  # the name, in brackets, may hold spaces
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def descendants(root: int) -> set[int]:
    children, found, queue = children_map(), set(), [root]
    while queue:
        for child in children.get(queue.pop(), []):
            if child not in found:
                found.add(child)
                queue.append(child)
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "(gone)"


def default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def assert_admin_signs_in(url: str, password: str) -> None:
    """The admin user start-airflow made signs in with the password it keeps: Basic credentials on Airflow
    2, a JWT from /auth/token on Airflow 3, as the script's printed examples do."""
    if AIRFLOW_3:
        answer = requests.post(f"{url}/auth/token", json={"username": "admin", "password": password}, timeout=30)
        assert answer.status_code in (200, 201), answer.text
        headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        answer = requests.get(f"{url}/admin/rest_api/api?api=version", headers=headers, timeout=30)
    else:
        answer = requests.get(f"{url}/admin/rest_api/api?api=version", auth=("admin", password), timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "OK"


# A kept password may start with a dash (secrets.token_urlsafe does, 1 time in 64): `airflow users create
# --password -x...` took it for an option and start-airflow failed. The tests keep one such password.
DASHED_PASSWORD = "-kept-password-with-a-leading-dash"

# Ctrl-C: SIGINT to the terminal's foreground process group (the script and whatever stayed in its group);
# SIGTERM: to the script alone, as kill, systemd or a container runtime send it.
STOPS = {"ctrl-c": (signal.SIGINT, True, 130), "sigterm": (signal.SIGTERM, False, 143)}


@pytest.mark.parametrize("stop", list(STOPS))
def test_a_signal_stops_everything_start_airflow_started(tmp_path, stop):
    signum, to_group, exit_status = STOPS[stop]
    copy, home, port = repository_copy(tmp_path), tmp_path / "home", free_port()
    log = tmp_path / "start-airflow.log"
    home.mkdir()
    (home / "admin-password").write_text(DASHED_PASSWORD + "\n")
    with open(log, "wb") as out:
        script = subprocess.Popen(
            ["bash", str(copy / "scripts" / "start-airflow")],
            cwd=copy,
            env=script_env(home, port),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # so the test can clean up after a failure
            # as a shell does for a job in the foreground: a SIGINT ignored by whoever runs the tests (a job put
            # in the background by a non-interactive shell) would stay ignored, and bash could not trap it
            preexec_fn=default_sigint,
        )
    started: set[int] = set()
    try:
        # db migrate and reserialize come first
        wait_until_up(script, f"http://127.0.0.1:{port}", log, "start-airflow", STARTUP_DEADLINE + 120)
        assert_admin_signs_in(f"http://127.0.0.1:{port}", DASHED_PASSWORD)
        time.sleep(3)  # the scheduler's and the server's own children (executor, workers, log server)
        started = descendants(script.pid)
        daemons = children_map().get(script.pid, [])  # their titles change (setproctitle): count them
        expected = 3 if AIRFLOW_3 else 2  # the scheduler, the webserver / API server; the DAG processor on 3
        assert len(daemons) == expected, {pid: command_line(pid) for pid in started}
        assert len(started) > expected  # and their children: workers, executors, log server

        signalled = time.monotonic()
        (os.killpg if to_group else os.kill)(script.pid, signum)
        while time.monotonic() - signalled < GONE_WITHIN and any(map(running, started | {script.pid})):
            time.sleep(0.1)
        took = time.monotonic() - signalled
        left = {pid: command_line(pid) for pid in started if running(pid)}
        assert not left, f"still running {took:.1f} s after {stop}: {left}\n{tail(log)}"
        assert script.wait(timeout=5) == exit_status, tail(log)
        print(f"\n{len(started)} processes gone {took:.1f} s after {stop}")
    finally:
        for pid in started | descendants(script.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.killpg(script.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        script.wait(timeout=10)
