#!/usr/bin/env python3
"""Latency of each plugin endpoint next to the CLI command it replaces and Airflow's stable REST API.

One run, one app, one database: a temporary AIRFLOW_HOME with SQLite, the sample DAGs of tests/dags and
an admin user. The plugin and the stable API are called in this process with the same user, so both pay for
authentication, permission checks, the database and JSON: on Airflow 2 through the Flask test client of
``airflow.www.app.create_app(testing=True)`` (/api/v1, basic auth), on Airflow 3 through Starlette's test
client of the API server's ``create_app`` (/api/v2, the FAB auth manager, a JWT from /auth/token). The CLI
runs as ``airflow ...`` subprocesses against the same database (a new interpreter each time: that is what
the plugin replaces).

    .venv/bin/python scripts/benchmark.py                  # about 2-3 minutes (the CLI dominates)
    .venv/bin/python scripts/benchmark.py --runs 100 --cli-runs 5
    .venv/bin/python scripts/benchmark.py --no-cli         # in-process only, a few seconds
    .venv/bin/python scripts/benchmark.py --profile list_dags --profile-api   # cProfile one endpoint
    .venv/bin/python scripts/benchmark.py --concurrent     # trigger throughput under load (PostgreSQL)

``--concurrent`` measures something else: a real server (2 workers) on PostgreSQL (a fresh database, or
``--database URL``), 8 clients each triggering one DAG 25 times (own run_id, no logical date) through the
plugin and through the stable API in turn: runs landed and triggers per second (scripts/concurrent_load.py).

Not a test: it prints figures. Medians, in milliseconds.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.airflow_line, tests.airflow3_client: the same setup as the test suite
AIRFLOW_3 = int(version("apache-airflow").split(".", 1)[0]) >= 3
STABLE = "/api/v2" if AIRFLOW_3 else "/api/v1"
HOME = Path(tempfile.mkdtemp(prefix="rest-api-plugin-bench-"))
CONCURRENT = "--concurrent" in sys.argv
PG_SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432"
PG_DATABASE = f"rest_api_plugin_bench_{os.getpid()}"


def database_url() -> str:
    """--database URL if given; --concurrent: a fresh PostgreSQL database; else SQLite in HOME."""
    if "--database" in sys.argv:
        return sys.argv[sys.argv.index("--database") + 1]
    if CONCURRENT:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from pg_database import main as pg_database

        if pg_database("create", PG_SERVER, PG_DATABASE) != 0:
            raise SystemExit(f"--concurrent needs PostgreSQL at {PG_SERVER} (or --database URL)")
        return f"{PG_SERVER}/{PG_DATABASE}"
    return f"sqlite:///{HOME / 'airflow.db'}"


DATABASE = database_url()
DATABASE_NAME = {"postgresql": "PostgreSQL", "sqlite": "SQLite", "mysql": "MySQL"}.get(
    DATABASE.split(":", 1)[0].split("+")[0], DATABASE.split(":", 1)[0]
)
TOKEN = "bench-token"
PASSWORD = "bench-password"
RUN_ID = "bench_run"
RUN_DATE = "2024-03-04T05:06:07+00:00"

# Before Airflow is first imported: this process and the CLI subprocesses share these settings.
for name in [n for n in os.environ if n.startswith("AIRFLOW")]:
    del os.environ[name]
os.environ.update(
    {
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": DATABASE,
        "AIRFLOW__CORE__DAGS_FOLDER": str(HOME / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__FERNET_KEY": "x5cZ6Yx0ALzTZ9GT4LqXJvQ9E0hQ1Lxp3OZQ_3gtBXg=",
        "AIRFLOW__WEBSERVER__SECRET_KEY": "rest-api-plugin-benchmark",
        "AIRFLOW__WEBSERVER__AUTH_RATE_LIMITED": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",  # no per-call warnings in the figures' output
        "AIRFLOW__REST_API_PLUGIN__REST_API_PLUGIN_EXPECTED_HTTP_TOKEN": TOKEN,
        "AIRFLOW__API__AUTH_BACKENDS": "airflow.providers.fab.auth_manager.api.auth.backend.basic_auth,"
        "airflow.providers.fab.auth_manager.api.auth.backend.session",
    }
)
if AIRFLOW_3:  # the FAB auth manager (the plugin's per-endpoint permissions) and its JWTs
    os.environ.update(
        {
            "AIRFLOW__CORE__AUTH_MANAGER": "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager",
            "AIRFLOW__API_AUTH__JWT_SECRET": "rest-api-plugin-benchmark-jwt-secret-" + "0123456789abcdef" * 4,
            "AIRFLOW__API__SECRET_KEY": "rest-api-plugin-benchmark",
            "AIRFLOW__FAB__AUTH_RATE_LIMITED": "False",
        }
    )
shutil.copytree(ROOT / "tests" / "dags", HOME / "dags")
AIRFLOW_CLI = [str(Path(sys.executable).with_name("airflow"))]
if not Path(AIRFLOW_CLI[0]).exists():
    AIRFLOW_CLI = [sys.executable, "-m", "airflow"]

REAL_HASH = "--real-hash" in sys.argv
USER_AUTH = {"Authorization": "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()}  # Airflow 3: a JWT


class Counter:
    n = 0

    @classmethod
    def next(cls, prefix: str) -> str:
        cls.n += 1
        return f"{prefix}_{cls.n}"


@dataclass
class Case:
    """One operation three ways. Each callable builds its request afresh (write calls need unique ids)."""

    name: str
    plugin: Callable[[], dict]  # query-string arguments for /admin/rest_api/api
    stable: Callable[[], tuple]  # (method, path, json body or None)
    cli: Callable[[], list]  # argv after "airflow"
    stable_authenticates: bool = True  # False: the stable endpoint skips authentication (no fair comparison)
    stable_pages: bool = False  # the stable API answers a page at a time: call it until every item is listed
    results: dict = field(default_factory=dict)


CASES = [
    Case(
        "version",
        lambda: {"api": "version"},
        lambda: ("GET", f"{STABLE}/version", None),
        lambda: ["version"],
        stable_authenticates=False,
    ),
    Case(
        "list_dags",
        lambda: {"api": "list_dags"},
        lambda: ("GET", f"{STABLE}/dags", None),
        lambda: ["dags", "list"],
        stable_pages=True,
    ),
    Case(
        "list_tasks",
        lambda: {"api": "list_tasks", "dag_id": "sample_dag"},
        lambda: ("GET", f"{STABLE}/dags/sample_dag/tasks", None),
        lambda: ["tasks", "list", "sample_dag"],
    ),
    Case(
        "dag_state",
        lambda: {"api": "dag_state", "dag_id": "sample_dag", "execution_date": RUN_DATE},
        lambda: ("GET", f"{STABLE}/dags/sample_dag/dagRuns/{RUN_ID}", None),
        lambda: ["dags", "state", "sample_dag", RUN_DATE],
    ),
    Case(
        "task_state",
        lambda: {"api": "task_state", "dag_id": "sample_dag", "task_id": "extract", "execution_date": RUN_DATE},
        lambda: ("GET", f"{STABLE}/dags/sample_dag/dagRuns/{RUN_ID}/taskInstances/extract", None),
        lambda: ["tasks", "state", "sample_dag", "extract", RUN_DATE],
    ),
    # several a second: the first of each second gets the whole second, the others the exact time
    Case(
        "trigger_dag",
        lambda: {"api": "trigger_dag", "dag_id": "sample_dag", "run_id": Counter.next("plugin")},
        lambda: (
            "POST",
            f"{STABLE}/dags/sample_dag/dagRuns",
            {"dag_run_id": Counter.next("stable"), **({"logical_date": None} if AIRFLOW_3 else {})},
        ),
        lambda: ["dags", "trigger", "--run-id", Counter.next("cli"), "sample_dag"],
    ),
    Case(
        "pause",
        lambda: {"api": "pause", "dag_id": "other_dag"},
        lambda: ("PATCH", f"{STABLE}/dags/other_dag?update_mask=is_paused", {"is_paused": True}),
        lambda: ["dags", "pause", "other_dag"],
    ),
    Case(
        "unpause",
        lambda: {"api": "unpause", "dag_id": "other_dag"},
        lambda: ("PATCH", f"{STABLE}/dags/other_dag?update_mask=is_paused", {"is_paused": False}),
        lambda: ["dags", "unpause", "other_dag"],
    ),
    Case(
        "pool get",
        lambda: {"api": "pool", "get": "default_pool"},
        lambda: ("GET", f"{STABLE}/pools/default_pool", None),
        lambda: ["pools", "get", "default_pool"],
    ),
    Case("pool list", lambda: {"api": "pool"}, lambda: ("GET", f"{STABLE}/pools", None), lambda: ["pools", "list"]),
    Case(
        "variables get",
        lambda: {"api": "variables", "get": "bench_var"},
        lambda: ("GET", f"{STABLE}/variables/bench_var", None),
        lambda: ["variables", "get", "bench_var"],
    ),
    Case(
        "variables set",
        lambda: {"api": "variables", "cmd": "set", "key": "bench_var", "value": "v2"},
        lambda: (
            ("PATCH", f"{STABLE}/variables/bench_var", {"key": "bench_var", "value": "v2"})
            if AIRFLOW_3
            else ("POST", f"{STABLE}/variables", {"key": "bench_var", "value": "v2"})
        ),
        lambda: ["variables", "set", "bench_var", "v2"],
    ),
    Case(
        "connections list",
        lambda: {"api": "connections"},
        lambda: ("GET", f"{STABLE}/connections", None),
        lambda: ["connections", "list"],
    ),
]


SCALED_DAGS = """
from datetime import datetime
from airflow import DAG
from airflow.operators.empty import EmptyOperator

for number in range({count}):
    with DAG(dag_id=f"scaled_{{number:05d}}", start_date=datetime(2024, 1, 1), schedule=None, catchup=False,
             tags=["scaled", f"group_{{number % 10}}"]) as dag:
        EmptyOperator(task_id="only")
    globals()[dag.dag_id] = dag
"""


def setup(scale: int = 0):
    """Database, DAGs (``scale`` more, from one generated file), the admin user, one DAG run with its task
    instances, a variable, a connection."""
    from airflow.models import Connection, Variable
    from airflow.utils import db
    from airflow.utils.session import create_session

    from tests.airflow_line import sync_dag_files, trigger

    db.resetdb()
    if scale:
        (HOME / "dags" / "scaled_dags.py").write_text(SCALED_DAGS.format(count=scale))
    sync_dag_files(HOME / "dags")
    if AIRFLOW_3:
        from tests.airflow3_client import Airflow3App

        app = Airflow3App()
        with app.security_manager() as sm:
            add_admin(sm)
    else:
        from airflow.www.app import create_app

        app = create_app(testing=True)
        add_admin(app.appbuilder.sm)
    from rest_api_plugin.airflow_compat import timezone

    trigger("sample_dag", run_id=RUN_ID, logical_date=timezone.parse(RUN_DATE))
    Variable.set("bench_var", "v1")
    with create_session() as session:
        session.add(Connection(conn_id="bench_conn", conn_type="http", host="example.com", password="secret"))
    if AIRFLOW_3:  # scripts call Airflow 3 with a JWT: the plugin and /api/v2 alike
        answer = app.test_client().client.post("/auth/token", json={"username": "admin", "password": PASSWORD})
        USER_AUTH["Authorization"] = f"Bearer {answer.json()['access_token']}"
    return app


def add_admin(sm) -> None:
    sm.sync_roles()
    user = sm.add_user("admin", "Admin", "User", "admin@example.com", sm.find_role("Admin"), PASSWORD)
    if not REAL_HASH:
        # Werkzeug's default password hash costs ~100 ms to check, on every basic-auth request, plugin and
        # stable API alike: a one-iteration hash keeps that constant out of the comparison (--real-hash keeps it).
        from werkzeug.security import generate_password_hash

        user.password = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1")
        sm.update_user(user)


def plugin_call(client, args: dict, headers=USER_AUTH):
    answer = client.get("/admin/rest_api/api", query_string=args, headers=headers)
    if answer.status_code != 200:
        raise SystemExit(f"plugin {args}: HTTP {answer.status_code}: {answer.get_data(as_text=True)[:500]}")


# [api] maximum_page_limit: the largest page the stable API gives
STABLE_PAGE = 100


def stable_listing(client, request: tuple):
    """Every page of a stable API list (``limit``/``offset`` until ``total_entries``), as a client listing
    them all must call it."""
    method, path, body = request
    offset, total = 0, None
    while total is None or offset < total:
        total = stable_call(client, (method, f"{path}?limit={STABLE_PAGE}&offset={offset}", body))["total_entries"]
        offset += STABLE_PAGE


def stable_call(client, request: tuple):
    method, path, body = request
    if AIRFLOW_3:
        answer = client.open(
            path,
            method=method,
            data=None if body is None else json.dumps(body),
            headers=USER_AUTH,
            content_type="application/json",
        )
    else:
        answer = client.open(path, method=method, json=body, headers=USER_AUTH)
    if answer.status_code not in (200, 201):
        raise SystemExit(
            f"stable API {method} {path}: HTTP {answer.status_code}: {answer.get_data(as_text=True)[:500]}"
        )
    return answer.get_json()


def cli_call(argv: list):
    done = subprocess.run([*AIRFLOW_CLI, *argv], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"airflow {' '.join(argv)}: exit {done.returncode}: {done.stderr[-1500:]}")


def timed(fn: Callable[[], None], runs: int, warmup: int) -> float:
    return timed_together({"only": fn}, runs, warmup)["only"]


def timed_together(fns: dict[str, Callable[[], None]], runs: int, warmup: int) -> dict[str, float]:
    """Median ms of each callable, called round-robin so that drift (the database growing with each call,
    caches warming, other load) weighs on all of them alike rather than on whichever would run first."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


def profile(app, case: Case, runs: int, stable: bool) -> None:
    import cProfile
    import pstats

    client = new_client(app)
    for who, fn in [("plugin", lambda: plugin_call(client, case.plugin()))] + (
        [("stable API", lambda: stable_call(client, case.stable()))] if stable else []
    ):
        fn()
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(runs):
            fn()
        profiler.disable()
        print(f"\n==== {who}: {case.name}, {runs} calls, cumulative time (top 35)")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)


def new_client(app):
    """Like curl: no cookie carried from call to call."""
    return app.test_client() if AIRFLOW_3 else app.test_client(use_cookies=False)


def hash_cost() -> float:
    from werkzeug.security import check_password_hash, generate_password_hash

    hashed = generate_password_hash(PASSWORD)
    return timed(lambda: check_password_hash(hashed, PASSWORD), 5, 1)


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.1f}x" if a and b else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=50, help="timed in-process calls per endpoint (default 50)")
    parser.add_argument("--cli-runs", type=int, default=3, help="timed CLI runs per endpoint (default 3)")
    parser.add_argument("--no-cli", action="store_true", help="skip the CLI column")
    parser.add_argument("--only", action="append", help="benchmark only this endpoint (repeatable)")
    parser.add_argument(
        "--scale",
        type=int,
        default=0,
        metavar="N",
        help="N more DAGs (one generated file), e.g. --scale 500 --only list_dags",
    )
    parser.add_argument(
        "--real-hash",
        action="store_true",
        help="keep the admin's real password hash (its ~100 ms check then dominates basic auth)",
    )
    parser.add_argument("--profile", metavar="ENDPOINT", help="cProfile the plugin on one endpoint and exit")
    parser.add_argument("--profile-api", action="store_true", help="with --profile: the stable API too")
    parser.add_argument(
        "--concurrent",
        action="store_true",
        help="trigger throughput of a real server under 8 concurrent clients (PostgreSQL)",
    )
    parser.add_argument(
        "--database",
        metavar="URL",
        help="the metadata database (default: SQLite; --concurrent: a fresh PostgreSQL database)",
    )
    opts = parser.parse_args()
    if opts.concurrent:
        import concurrent_load

        try:
            return concurrent_load.main(sys.modules[__name__])
        finally:
            shutil.rmtree(HOME, ignore_errors=True)
            if DATABASE.endswith(f"/{PG_DATABASE}"):
                from pg_database import main as pg_database

                pg_database("drop", PG_SERVER, PG_DATABASE)

    cases = [c for c in CASES if not opts.only or c.name in opts.only]
    print(f"setting up {HOME} ({DATABASE_NAME}, tests/dags, user admin) ...", flush=True)
    try:
        app = setup(opts.scale)
        if opts.profile:
            case = next(c for c in CASES if c.name == opts.profile)
            profile(app, case, opts.runs, opts.profile_api)
            return 0
        client = new_client(app)
        for case in cases:
            case.results.update(
                timed_together(
                    {
                        "plugin": lambda: plugin_call(client, case.plugin()),
                        "token": lambda: plugin_call(client, case.plugin(), {"rest_api_plugin_http_token": TOKEN}),
                        "stable": lambda: (stable_listing if case.stable_pages else stable_call)(client, case.stable()),
                    },
                    opts.runs,
                    3,
                )
            )
            if not opts.no_cli:
                case.results["cli"] = timed(lambda: cli_call(case.cli()), opts.cli_runs, 0)
            print(f"  {case.name:<17} done", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(HOME, ignore_errors=True)

    from airflow import __version__

    if opts.scale:
        print(f"\n{opts.scale + 2} DAGs: the 2 sample DAGs and {opts.scale} generated ones (tags, one task each).")
    print(
        f"\nAirflow {__version__}, Python {sys.version.split()[0]}, {DATABASE_NAME}, {os.cpu_count()} CPUs; "
        "medians in ms "
        f"(in-process: {opts.runs} calls; CLI: {0 if opts.no_cli else opts.cli_runs} runs)."
    )
    if AIRFLOW_3:
        print(
            "plugin = a JWT of admin (POST /auth/token; token = the legacy token header), stable = /api/v2 with "
            "the same JWT."
        )
    else:
        print("plugin = basic auth as admin (token = the legacy token header), stable = /api/v1 with the same user.")
        print(
            f"password check per basic-auth request: {hash_cost():.0f} ms with Werkzeug's default hash, "
            + (
                "included below (--real-hash)."
                if REAL_HASH
                else "left out below (a 1-iteration hash; --real-hash keeps it)."
            )
        )
    print()
    head = (
        f"{'endpoint':<17} {'plugin':>8} {'token':>8} {'stable':>8} {'CLI':>9} {'CLI/plugin':>11} {'stable/plugin':>14}"
    )
    print(head)
    print("-" * len(head))
    for c in cases:
        r = c.results
        cli = f"{r['cli']:9.0f}" if "cli" in r else f"{'-':>9}"
        print(
            f"{c.name:<17} {r['plugin']:8.1f} {r['token']:8.1f} {r['stable']:8.1f} {cli} "
            f"{ratio(r.get('cli'), r['plugin']):>11} {ratio(r['stable'], r['plugin']):>14}"
        )
    print("-" * len(head))
    plugin = [c.results["plugin"] for c in cases]
    compared = [c for c in cases if c.stable_authenticates]
    stable_ratios = [c.results["stable"] / c.results["plugin"] for c in compared]
    slower = [c.name for c in compared if c.results["plugin"] > c.results["stable"]]
    skipped = [c.name for c in cases if not c.stable_authenticates]
    summary = (
        f"summary: plugin median of medians {statistics.median(plugin):.1f} ms; "
        f"stable/plugin geometric mean {statistics.geometric_mean(stable_ratios):.2f}x "
        f"(plugin slower on: {', '.join(slower) or 'none'}"
        + (f"; not compared: {', '.join(skipped)}, whose stable endpoint skips authentication" if skipped else "")
        + ")"
    )
    if not opts.no_cli:
        cli_ratios = [c.results["cli"] / c.results["plugin"] for c in cases]
        summary += (
            f"; CLI/plugin geometric mean {statistics.geometric_mean(cli_ratios):.0f}x, "
            f"lowest {min(cli_ratios):.0f}x ({cases[cli_ratios.index(min(cli_ratios))].name})"
        )
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
