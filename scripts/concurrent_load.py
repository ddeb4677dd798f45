"""``scripts/benchmark.py --concurrent``: trigger throughput of a real server under concurrent clients.

A real ``airflow webserver`` (Airflow 3: ``airflow api-server``) with 2 workers on benchmark.py's database
(PostgreSQL by default), the sample DAGs and the admin user. 8 clients (threads, each with its own HTTP
connection) each trigger sample_dag 25 times, each call with its own run_id and no logical date, in three
rounds one after the other: the plugin with the admin's credentials, Airflow's stable API with the same
credentials (Airflow 2: basic auth, 1-iteration hash; Airflow 3: a JWT), and the plugin with the legacy token.
Each round prints the runs that landed (counted in the database), the refusals and triggers per second.

Not a test: it prints figures (tests/e2e/test_concurrent_triggers.py asserts that every trigger lands).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests

CLIENTS, TRIGGERS_EACH = 8, 25
benchmark = None  # the running scripts/benchmark.py, given to main()
STARTUP_SECONDS = 180


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    """The real server, its own process group (stopped as a whole), its log in benchmark.HOME."""
    if benchmark.AIRFLOW_3:
        command = ["api-server", "--port", str(port), "--host", "127.0.0.1", "--workers", "2"]
    else:
        command = [
            "webserver",
            "--port",
            str(port),
            "--hostname",
            "127.0.0.1",
            "--workers",
            "2",
            "--pid",
            str(benchmark.HOME / "webserver.pid"),
        ]
    env = {**os.environ, "AIRFLOW__WEBSERVER__WORKER_REFRESH_INTERVAL": "0", "AIRFLOW__API__WORKERS": "2"}
    with open(benchmark.HOME / "server.log", "wb") as log:
        server = subprocess.Popen(
            [*benchmark.AIRFLOW_CLI, *command],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    health = f"http://127.0.0.1:{port}" + ("/api/v2/monitor/health" if benchmark.AIRFLOW_3 else "/health")
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}: see {benchmark.HOME / 'server.log'}")
        try:
            if requests.get(health, timeout=5).status_code == 200:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.5)
    stop_server(server)
    raise SystemExit(f"the server did not answer within {STARTUP_SECONDS} s")


def stop_server(server: subprocess.Popen) -> None:
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def plugin_trigger(base: str, headers: dict):
    def trigger(http: requests.Session, run_id: str) -> requests.Response:
        return http.get(
            f"{base}/admin/rest_api/api",
            headers=headers,
            params={"api": "trigger_dag", "dag_id": "sample_dag", "run_id": run_id},
            timeout=120,
        )

    return trigger


def stable_trigger(base: str):
    def trigger(http: requests.Session, run_id: str) -> requests.Response:
        body = {"dag_run_id": run_id, **({"logical_date": None} if benchmark.AIRFLOW_3 else {})}
        return http.post(
            f"{base}{benchmark.STABLE}/dags/sample_dag/dagRuns", json=body, headers=benchmark.USER_AUTH, timeout=120
        )

    return trigger


def load(trigger, prefix: str) -> tuple[float, Counter]:
    """Every client's triggers; the wall time and the HTTP statuses answered."""

    def client(number: int) -> list[int]:
        with requests.Session() as http:
            return [trigger(http, f"{prefix}_{number}_{n}").status_code for n in range(TRIGGERS_EACH)]

    began = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        statuses = [status for batch in pool.map(client, range(CLIENTS)) for status in batch]
    return time.perf_counter() - began, Counter(statuses)


def landed(prefix: str) -> int:
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        return (
            session.query(DagRun)
            .filter(DagRun.dag_id == "sample_dag", DagRun.run_id.like(f"{prefix}\\_%", escape="\\"))
            .count()
        )


def main(bench) -> int:
    """``bench``: the running benchmark.py module (its settings, set before Airflow was imported, and setup)."""
    global benchmark
    benchmark = bench
    print(f"setting up {benchmark.HOME} ({benchmark.DATABASE_NAME}, tests/dags, user admin) ...", flush=True)
    benchmark.setup()
    port = free_port()
    print("starting the server (2 workers) ...", flush=True)
    server = start_server(port)
    base = f"http://127.0.0.1:{port}"
    rounds = [
        ("plugin", "plugin", plugin_trigger(base, benchmark.USER_AUTH)),
        ("stable API", "stable", stable_trigger(base)),
        ("plugin, token", "token", plugin_trigger(base, {"rest_api_plugin_http_token": benchmark.TOKEN})),
    ]
    results = {}
    try:
        for name, prefix, trigger in rounds:  # warm every worker first: not timed, not counted
            with requests.Session() as http:
                for n in range(2 * CLIENTS):
                    trigger(http, f"warm_{prefix}_{n}")
        for name, prefix, trigger in rounds:
            seconds, statuses = load(trigger, prefix)
            results[name] = (seconds, statuses, landed(prefix))
            print(f"  {name:<14} done", file=sys.stderr, flush=True)
    finally:
        stop_server(server)

    from airflow import __version__

    total = CLIENTS * TRIGGERS_EACH
    auth = "a JWT of admin" if benchmark.AIRFLOW_3 else "basic auth as admin (1-iteration hash)"
    print(
        f"\nAirflow {__version__}, {benchmark.DATABASE_NAME}, a real server with 2 workers, {os.cpu_count()} CPUs: "
        f"{CLIENTS} clients x {TRIGGERS_EACH} triggers of sample_dag (own run_id, no logical date); "
        f"plugin and stable API with {auth}.\n"
    )
    head = f"{'through':<15} {'landed':>9} {'answers':<28} {'seconds':>8} {'triggers/s':>11}"
    print(head)
    print("-" * len(head))
    for name, (seconds, statuses, count) in results.items():
        answers = ", ".join(f"{n}x {status}" for status, n in sorted(statuses.items()))
        print(f"{name:<15} {count:>5}/{total} {answers:<28} {seconds:8.1f} {count / seconds:11.1f}")
    print("-" * len(head))
    plugin, stable = (results[name][2] / results[name][0] for name in ("plugin", "stable API"))
    print(f"plugin/stable throughput (same user): {plugin / stable:.2f}x")
    return 0
