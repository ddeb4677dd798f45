#!/usr/bin/env python3
"""Latency of the DAG-file endpoints: deploy_dag (a new file, a forced replacement), refresh_dag,
refresh_all_dags, delete_dag with delete_file and, on Airflow 3, render, called with the legacy token through
Airflow's own app.

Same setup as scripts/benchmark.py (a temporary AIRFLOW_HOME on SQLite with the sample DAGs of tests/dags),
which this script imports for it; ``--database`` puts the metadata database elsewhere (an empty database:
it is reset). Each DAG-file call parses DAG files in DAG processor children, timed both ways they run: forked
by the parse server, and each in a fresh process (the setting dag_parsing_server off), which pays for an
Airflow import every time; a run takes a few minutes, most of them the fresh processes'.

    .venv/bin/python scripts/benchmark_dag_files.py            # 5 timed calls each
    .venv/bin/python scripts/benchmark_dag_files.py --runs 10
    .venvs/airflow-3.3.2/bin/python scripts/benchmark_dag_files.py
    .venv/bin/python scripts/pg_database.py create postgresql+psycopg2://postgres@127.0.0.1:5432 bench_dag_files
    .venv/bin/python scripts/benchmark_dag_files.py --database postgresql+psycopg2://postgres@127.0.0.1:5432/bench_dag_files

Not a test: it prints figures. Medians and the slowest calls, in milliseconds, and the parse server's start.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import sys
import time
from contextlib import contextmanager

import benchmark  # sets the environment up before Airflow is imported

SIMPLE_DAG = """
from datetime import datetime
from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG(dag_id="{dag_id}", start_date=datetime(2024, 1, 1), schedule=None, catchup=False):
    EmptyOperator(task_id="only")
"""
TOKEN_HEADER = {"rest_api_plugin_http_token": benchmark.TOKEN}


def call(client, args: dict, data=None) -> None:
    answer = client.post("/admin/rest_api/api", query_string=args, data=data, headers=TOKEN_HEADER)
    body = answer.get_json()
    if answer.status_code != 200:
        raise SystemExit(f"{args}: HTTP {answer.status_code}: {body}")


def deploy(client, dag_id: str, force: bool = False) -> None:
    upload = {"dag_file": (io.BytesIO(SIMPLE_DAG.format(dag_id=dag_id).encode()), f"{dag_id}.py")}
    call(client, {"api": "deploy_dag", **({"force": "on"} if force else {})}, data=upload)


MODES = ("fresh process", "parse server")


@contextmanager
def parsing_in(mode: str):
    """DAG files parsed by the parse server's children, or each phase in a fresh process (the setting
    dag_parsing_server, read at each parse: patched here so that the server's environment stays the same)."""
    from rest_api_plugin import config

    original = config.dag_parsing_server
    config.dag_parsing_server = lambda: mode == "parse server"
    try:
        yield
    finally:
        config.dag_parsing_server = original


def timed(runs: int, prepare, action) -> dict[str, list[float]]:
    """``action(i, mode)`` timed ``runs`` times in each mode, the modes in turn (so that drift weighs on both
    alike), each after an untimed ``prepare(i, mode)``."""
    samples: dict[str, list[float]] = {mode: [] for mode in MODES}
    for i in range(runs):
        for mode in MODES:
            with parsing_in(mode):
                prepare(i, mode)
                start = time.perf_counter()
                action(i, mode)
                samples[mode].append((time.perf_counter() - start) * 1000)
    return samples


def name(prefix: str, i: int, mode: str) -> str:
    return f"{prefix}_{mode.split()[0]}_{i}"


def server_start(client) -> tuple[float, float]:
    """(ms until a new server accepts, ms of a deploy_dag that has to start it): the server is stopped first,
    as after its idle period."""
    from rest_api_plugin.dag_files import parse_server_client, parsing
    from rest_api_plugin.processes import commands

    kill_parse_server()
    start = time.perf_counter()
    parsing.warm_up()
    place = parse_server_client.place_of(commands.child_environment_without_secrets(parsing.CHILD_SETTINGS))
    while not os.path.exists(place.socket):
        if time.perf_counter() - start > 60:
            raise SystemExit(f"the parse server did not start; its log: {place.log}")
        time.sleep(0.01)
    ready = (time.perf_counter() - start) * 1000
    kill_parse_server()
    with parsing_in("parse server"):
        start = time.perf_counter()
        deploy(client, "bench_cold_start")
        cold = (time.perf_counter() - start) * 1000
    return ready, cold


def kill_parse_server() -> None:
    import signal

    from rest_api_plugin.dag_files import parse_server_client

    for process in list(parse_server_client.SERVERS.started.values()):
        process.send_signal(signal.SIGKILL)
        process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed calls per case and mode (default 5)")
    parser.add_argument(
        "--database",
        metavar="URL",
        help="the metadata database (default: SQLite in the temporary "
        "AIRFLOW_HOME); an existing database, which is reset",
    )
    opts = parser.parse_args()
    if opts.database:  # before Airflow is first imported (benchmark.setup imports it)
        os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = opts.database
    database = "SQLite" if not opts.database else "PostgreSQL" if opts.database.startswith("postgres") else "--database"
    print(f"setting up {benchmark.HOME} ({database}, tests/dags) ...", flush=True)
    try:
        app = benchmark.setup()  # builds the web app: the parse server starts (parsing.warm_up)
        client = benchmark.new_client(app)
        with parsing_in("parse server"):
            start = time.perf_counter()
            deploy(client, "bench_first")
            first = (time.perf_counter() - start) * 1000
        nothing = lambda i, mode: None  # noqa: E731
        results = {
            "deploy_dag (new file)": timed(opts.runs, nothing, lambda i, mode: deploy(client, name("new", i, mode))),
            "deploy_dag force=on": timed(
                opts.runs, nothing, lambda i, mode: deploy(client, name("new", 0, mode), force=True)
            ),
            "refresh_dag": timed(
                opts.runs, nothing, lambda i, mode: call(client, {"api": "refresh_dag", "dag_id": name("new", 0, mode)})
            ),
            "refresh_all_dags": timed(opts.runs, nothing, lambda i, mode: call(client, {"api": "refresh_all_dags"})),
            "delete_dag delete_file": timed(
                opts.runs,
                lambda i, mode: deploy(client, name("gone", i, mode)),
                lambda i, mode: call(
                    client, {"api": "delete_dag", "dag_id": name("gone", i, mode), "delete_file": "true"}
                ),
            ),
        }
        if benchmark.AIRFLOW_3:  # Airflow 2 renders in-process
            results["render (Airflow 3)"] = timed(
                opts.runs,
                nothing,
                lambda i, mode: call(
                    client,
                    {"api": "render", "dag_id": "sample_dag", "task_id": "extract", "execution_date": "2024-01-02"},
                ),
            )
        ready, cold = server_start(client)
    finally:
        shutil.rmtree(benchmark.HOME, ignore_errors=True)
    from airflow import __version__

    print(
        f"\nAirflow {__version__}, Python {sys.version.split()[0]}, {database}, {os.cpu_count()} CPUs, token; "
        f"{opts.runs} calls each per mode, in turn, in ms (median / slowest); the DAGs folder holds the sample "
        "DAGs and the files deployed so far.\n"
    )
    print(f"{'case':<24} {'fresh process':>15} {'parse server':>15} {'fresh/server':>13}   child runs")
    runs = {
        "deploy_dag (new file)": 2,
        "deploy_dag force=on": 2,
        "refresh_dag": 1,
        "refresh_all_dags": 1,
        "delete_dag delete_file": 1,
        "render (Airflow 3)": 1,
    }
    for case, samples in results.items():
        fresh, server = (samples[mode] for mode in MODES)
        print(
            f"{case:<24} {statistics.median(fresh):7.0f} / {max(fresh):5.0f} "
            f"{statistics.median(server):7.0f} / {max(server):5.0f} "
            f"{statistics.median(fresh) / statistics.median(server):12.1f}x   {runs[case]}"
        )
    print(f"\nfirst deploy_dag after the web app was built (the server started then): {first:.0f} ms")
    print(
        f"parse server start, until it accepts: {ready:.0f} ms; a deploy_dag that has to start it "
        f"(no warm-up, or after its idle exit): {cold:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
