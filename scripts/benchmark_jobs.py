#!/usr/bin/env python3
"""Jobs across two servers, over HTTP: two real web servers (Airflow 3: API servers) on one fresh PostgreSQL
database, each with its own AIRFLOW_HOME and log folder, the plugin's job settings at their defaults.

- ``api=jobs`` with 10,000 job records in the database (inserted directly, ended, with a little output):
  a page of 50 (first and middle), the whole list, and one job described with its output; round robin over
  both servers;
- ``stop_job`` through the server that did not start the job: seconds from the call until the job's end is
  recorded (the call answers then), for a ``test`` job of a task that sleeps;
- a job printing 50 MB (``test`` of a task writing to its stdout): how fast the task wrote, against the same
  code writing into a pipe this script drains (nothing stored), and how much of the output was kept.

    .venv/bin/python scripts/benchmark_jobs.py                      # a fresh database, dropped at the end
    .venvs/airflow-3.3.2/bin/python scripts/benchmark_jobs.py --runs 50
    .venv/bin/python scripts/benchmark_jobs.py --database postgresql+psycopg2://postgres@127.0.0.1:5432/NAME

Not a test: it prints figures (milliseconds unless said otherwise). Takes a minute or two.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
PG_SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432"
RECORDS = 10_000


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="an empty PostgreSQL database (it is reset); default: a fresh one")
    parser.add_argument("--runs", type=int, default=30, help="timed api=jobs calls per case")
    parser.add_argument("--stops", type=int, default=5, help="jobs stopped through the other server")
    return parser.parse_args()


def median_p95(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return f"{statistics.median(ordered) * 1000:8.1f} / {p95 * 1000:8.1f}"


def insert_records(count: int) -> None:
    """``count`` ended jobs, each with a few lines of stdout, as the runners would have left them."""
    from rest_api_plugin.processes import jobs
    from rest_api_plugin.processes.job_tables import job, job_output

    now = datetime.now(timezone.utc)
    rows, outputs = [], []
    for n in range(count):
        ended = now - timedelta(minutes=n)
        job_id = f"bench_{n:05d}"
        rows.append(
            {
                "job_id": job_id,
                "api": "backfill",
                "command": "airflow dags backfill sample_dag",
                "argv": "[]",
                "dag_id": "sample_dag",
                "requested_by": "token",
                "requested_with_token": True,
                "host": "bench-host",
                "pid": 1000 + n,
                "started_at": (ended - timedelta(seconds=30)).isoformat(timespec="microseconds"),
                "heartbeat_at": ended.timestamp(),
                "ended_at": ended.isoformat(timespec="microseconds"),
                "exit_code": 0,
                "stdout_cut_bytes": 0,
                "stderr_cut_bytes": 0,
                "merged_output": False,
            }
        )
        outputs.append(
            {
                "job_id": job_id,
                "stream": "stdout",
                "part": "head",
                "data": b"".join(b"line %d of job %d\n" % (i, n) for i in range(20)),
            }
        )
    with jobs.engine().begin() as connection:
        for start in range(0, count, 1000):
            connection.execute(job.insert(), rows[start : start + 1000])
            connection.execute(job_output.insert(), outputs[start : start + 1000])


def ok(answer) -> dict:
    body = answer.json()
    if answer.status_code != 200 or body["status"] != "OK":
        raise SystemExit(f"HTTP {answer.status_code}: {body}")
    return body


def time_calls(servers, runs: int, **params) -> list[float]:
    samples = []
    for n in range(runs + 2):
        server = servers[n % 2]
        began = time.perf_counter()
        ok(server.get("jobs", **params))
        if n >= 2:  # two warm-up calls, one per server
            samples.append(time.perf_counter() - began)
    return samples


_dates = iter(datetime(2024, 1, 1) + timedelta(days=n) for n in range(1000))


def start_test(server, dag_id: str, task_id: str) -> dict:
    return ok(
        server.get("test", dag_id=dag_id, task_id=task_id, execution_date=next(_dates).date().isoformat(), wait="false")
    )["data"]


def wait_for(check, seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answer = check()
        if answer:
            return answer
        time.sleep(0.2)
    raise SystemExit(f"gave up after {seconds} s waiting for {check}")


def described(server, job_id: str, lines: int = 20) -> dict:
    return ok(server.get("jobs", job_id=job_id, lines=str(lines)))["data"]


def direct_flood_rate(flood_bytes: int) -> float:
    """MB/s of the task's flood loop writing into a pipe this process drains (nothing kept)."""
    code = (
        "import os, time\nblock = (b'x' * 99 + b'\\n') * 10486\nwritten, began = 0, time.perf_counter()\n"
        f"while written < {flood_bytes}:\n    view = memoryview(block)\n    while view:\n"
        "        view = view[os.write(1, view):]\n    written += len(block)\n"
        "os.write(2, f'{written} {time.perf_counter() - began}'.encode())\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    while child.stdout.read(1 << 20):
        pass
    written, seconds = child.stderr.read().split()
    child.wait()
    return int(written) / 1024 / 1024 / float(seconds)


def main() -> int:
    args = arguments()
    from pg_database import main as pg_database

    database = args.database
    made = None
    if not database:
        made = f"rest_api_plugin_bench_jobs_{os.getpid()}"
        if pg_database("create", PG_SERVER, made) != 0:
            raise SystemExit(f"needs PostgreSQL at {PG_SERVER} (or --database URL)")
        database = f"{PG_SERVER}/{made}"
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = database
    from tests.helpers import prepare_environment

    prepare_environment()  # the test suite's AIRFLOW_HOME, token and settings, before Airflow is imported
    try:
        return run(args)
    finally:
        if made:
            pg_database("drop", PG_SERVER, made)


def run(args) -> int:
    from airflow.utils import db

    from tests.airflow_line import AIRFLOW_VERSION, sync_dag_files
    from tests.e2e.servers import running_webserver
    from tests.e2e.test_jobs_across_servers import DAG_ID, DAG_SOURCE, FLOOD_BYTES
    from tests.helpers import DAGS_FOLDER, write_dag_file

    print(f"Airflow {AIRFLOW_VERSION}, two servers on PostgreSQL, job settings at their defaults")
    db.resetdb()
    sync_dag_files(DAGS_FOLDER)
    write_dag_file(f"{DAG_ID}.py", DAG_SOURCE)
    began = time.perf_counter()
    insert_records(RECORDS)
    print(f"{RECORDS} job records inserted in {time.perf_counter() - began:.1f} s")

    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as folder:
        homes = [Path(folder) / name for name in "ab"]
        for home in homes:
            home.mkdir()
        own = [
            {"AIRFLOW_HOME": str(home / "home"), "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs")}
            for home in homes
        ]
        with running_webserver(homes[0], **own[0]) as a, running_webserver(homes[1], **own[1]) as b:
            servers = (a, b)
            total = ok(a.get("jobs", limit="1"))["data"]["total_entries"]
            print(
                f"\napi=jobs with {total} job records, round robin over both servers (median / p95 of {args.runs}, ms)"
            )
            cases = {
                "limit=50 (first page)": {"limit": "50"},
                "limit=50&offset=5000": {"limit": "50", "offset": "5000"},
                "job_id=... (described, 100 lines)": {"job_id": "bench_05000"},
                "every job, unpaged": {},
            }
            for label, params in cases.items():
                runs = args.runs if params else max(3, args.runs // 10)
                print(f"  {label:36} {median_p95(time_calls(servers, runs, **params))}")

            print(
                f"\nstop_job through the other server: a `test` job sleeping, started on A, stopped through B "
                f"({args.stops} jobs)"
            )
            seconds = []
            for _ in range(args.stops):
                job = start_test(a, DAG_ID, "sleeps")
                wait_for(lambda job=job: "sleeping now" in (described(b, job["job_id"])["stdout"] or ""), 120)
                began = time.perf_counter()
                stopped = ok(b.get("stop_job", job_id=job["job_id"]))["data"]
                seconds.append(time.perf_counter() - began)
                if not stopped["ended_at"]:
                    raise SystemExit(f"not ended: {stopped}")
            print(
                f"  seconds until ended: median {statistics.median(seconds):.2f}, slowest {max(seconds):.2f} "
                f"(state {stopped['state']})"
            )

            print(f"\na job printing {FLOOD_BYTES // 1024 // 1024} MB (started on A, polled through B)")
            began = time.perf_counter()
            job = start_test(a, DAG_ID, "floods")
            latencies = []
            while True:
                call_began = time.perf_counter()
                told = described(b, job["job_id"], lines=5)
                latencies.append(time.perf_counter() - call_began)
                if told["state"] != "running":
                    break
                time.sleep(0.5)
            whole = time.perf_counter() - began
            told = described(b, job["job_id"], lines=50)
            line = next(line for line in (told["stderr"] or "").splitlines() if line.startswith("flooded"))
            in_job = FLOOD_BYTES / 1024 / 1024 / float(line.split(" in ")[1].split()[0])
            direct = statistics.median(direct_flood_rate(FLOOD_BYTES) for _ in range(3))
            print(f"  in the job: {in_job:8.0f} MB/s   ({line}; the job took {whole:.1f} s with Airflow's start)")
            print(f"  direct:     {direct:8.0f} MB/s   (the same loop into a pipe drained by this script)")
            print(f"  api=jobs through B while it ran: slowest {max(latencies) * 1000:.0f} ms; state {told['state']}")
            kept = stored_bytes(job["job_id"])
            print(
                f"  stored: stdout {kept['stdout']} bytes, {kept['cut']} cut "
                f"(job_output_max_bytes, default 4 MiB: a quarter at each end of each stream)"
            )
    return 0


def stored_bytes(job_id: str) -> dict:
    import sqlalchemy as sa

    from rest_api_plugin.processes import jobs
    from rest_api_plugin.processes.job_tables import job, job_output

    with jobs.engine().connect() as connection:
        stdout = connection.execute(
            sa.select(sa.func.sum(sa.func.length(job_output.c.data))).where(
                job_output.c.job_id == job_id, job_output.c.stream == "stdout"
            )
        ).scalar()
        cut = connection.execute(sa.select(job.c.stdout_cut_bytes).where(job.c.job_id == job_id)).scalar()
    return {"stdout": stdout, "cut": cut}


if __name__ == "__main__":
    sys.exit(main())
