#!/usr/bin/env python3
"""Latency of the DAG-file endpoints: deploy_dag (a new file, a forced replacement), refresh_dag,
refresh_all_dags and delete_dag with delete_file, called with the legacy token through Airflow's own app.

Same setup as scripts/benchmark.py (a temporary AIRFLOW_HOME on SQLite with the sample DAGs of tests/dags),
which this script imports for it. Each DAG-file call parses DAG files, in child processes since the DAG
processor moved out of the webserver, so a run takes a minute or two.

    .venv/bin/python scripts/benchmark_dag_files.py            # 5 timed calls each
    .venv/bin/python scripts/benchmark_dag_files.py --runs 10

Not a test: it prints figures. Medians and extremes, in milliseconds.
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import sys
import time

import benchmark  # sets the environment up before Airflow is imported

SIMPLE_DAG = '''
from datetime import datetime
from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG(dag_id="{dag_id}", start_date=datetime(2024, 1, 1), schedule=None, catchup=False):
    EmptyOperator(task_id="only")
'''
TOKEN_HEADER = {"rest_api_plugin_http_token": benchmark.TOKEN}


def call(client, args: dict, data=None) -> None:
    answer = client.post("/admin/rest_api/api", query_string=args, data=data, headers=TOKEN_HEADER)
    body = answer.get_json()
    if answer.status_code != 200:
        raise SystemExit(f"{args}: HTTP {answer.status_code}: {body}")


def deploy(client, dag_id: str, force: bool = False) -> None:
    upload = {"dag_file": (io.BytesIO(SIMPLE_DAG.format(dag_id=dag_id).encode()), f"{dag_id}.py")}
    call(client, {"api": "deploy_dag", **({"force": "on"} if force else {})}, data=upload)


def timed(runs: int, prepare, action) -> list[float]:
    """``action(i)`` timed ``runs`` times, each after an untimed ``prepare(i)``."""
    samples = []
    for i in range(runs):
        prepare(i)
        start = time.perf_counter()
        action(i)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed calls per case (default 5)")
    opts = parser.parse_args()
    print(f"setting up {benchmark.HOME} (SQLite, tests/dags) ...", flush=True)
    try:
        client = benchmark.setup().test_client(use_cookies=False)
        nothing = lambda i: None  # noqa: E731
        results = {
            "deploy_dag (new file)": timed(opts.runs, nothing, lambda i: deploy(client, f"bench_new_{i}")),
            "deploy_dag force=on": timed(opts.runs, nothing, lambda i: deploy(client, "bench_new_0", force=True)),
            "refresh_dag": timed(opts.runs, nothing,
                                 lambda i: call(client, {"api": "refresh_dag", "dag_id": "bench_new_0"})),
            "refresh_all_dags": timed(opts.runs, nothing, lambda i: call(client, {"api": "refresh_all_dags"})),
            "delete_dag delete_file": timed(
                opts.runs, lambda i: deploy(client, f"bench_gone_{i}"),
                lambda i: call(client, {"api": "delete_dag", "dag_id": f"bench_gone_{i}", "delete_file": "true"})),
        }
    finally:
        shutil.rmtree(benchmark.HOME, ignore_errors=True)
    from airflow import __version__

    print(f"\nAirflow {__version__}, Python {sys.version.split()[0]}, SQLite, token; {opts.runs} calls each, in ms; "
          f"the DAGs folder holds the sample DAGs and the files deployed so far.\n")
    print(f"{'case':<24} {'median':>8} {'min':>8} {'max':>8}")
    for name, samples in results.items():
        print(f"{name:<24} {statistics.median(samples):8.0f} {min(samples):8.0f} {max(samples):8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
