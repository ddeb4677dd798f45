"""test, run and backfill: ``airflow tasks test|run`` and ``airflow dags backfill`` as background jobs, waited for
when the caller asks (test and run by default). The argv builders here are what runs, and what airflow_cmd
shows."""

from __future__ import annotations

import json

from rest_api_plugin.cli import map_index_option, option, positional
from rest_api_plugin.jobs import run_job
from rest_api_plugin.result import CallContext, Result
from rest_api_plugin.services.dags import get_dag_model, get_serialized_dag, get_task


# --- argv (after `airflow`) of what runs ---

def _run_argument(args: dict) -> list[str]:
    """The run as the CLI names it, as one positional argument: its logical date, else its run_id."""
    if args.get("logical_date"):
        return [positional(args["logical_date"].isoformat())]
    return [positional(args["run_id"])] if args.get("run_id") else []


def test_argv(args: dict) -> list[str]:
    params = json.dumps(args["task_params"]) if args.get("task_params") else None
    return [
        "tasks", "test",
        *option("--dry-run", args.get("dry_run")),
        *option("--task-params", params),
        *map_index_option(args),
        *option("--subdir", args.get("subdir")),
        positional(args["dag_id"]), positional(args["task_id"]), *_run_argument(args),
    ]


def run_argv(args: dict) -> list[str]:
    return [
        "tasks", "run",
        *option("--mark-success", args.get("mark_success")),
        *option("--force", args.get("force")),
        *option("--pool", args.get("pool")),
        *option("--local", args.get("local")),
        *option("--ignore-all-dependencies", args.get("ignore_all_dependencies")),
        *option("--ignore-dependencies", args.get("ignore_dependencies")),
        *option("--depends-on-past", "ignore" if args.get("ignore_depends_on_past") else None),
        *map_index_option(args),
        *option("--subdir", args.get("subdir")),
        positional(args["dag_id"]), positional(args["task_id"]), *_run_argument(args),
    ]


def backfill_argv(args: dict) -> list[str]:
    conf = json.dumps(args["conf"]) if args.get("conf") else None
    return [
        "dags", "backfill", "--yes",
        *option("--start-date", args.get("start_date")),
        *option("--end-date", args.get("end_date")),
        *option("--task-regex", args.get("task_regex")),
        *option("--mark-success", args.get("mark_success")),
        *option("--local", args.get("local")),
        *option("--ignore-dependencies", args.get("ignore_dependencies")),
        *option("--ignore-first-depends-on-past", args.get("ignore_first_depends_on_past")),
        *option("--pool", args.get("pool")),
        *option("--dry-run", args.get("dry_run")),
        *option("--conf", conf),
        *option("--rerun-failed-tasks", args.get("rerun_failed_tasks")),
        *option("--reset-dagruns", args.get("reset_dagruns")),
        *option("--run-backwards", args.get("run_backwards")),
        *option("--continue-on-failures", args.get("continue_on_failures")),
        *option("--disable-retry", args.get("disable_retry")),
        *option("--subdir", args.get("subdir")),
        positional(args["dag_id"]),
    ]


# --- endpoints ---

def _require_task(args: dict) -> None:
    from airflow.utils.session import create_session

    with create_session() as session:
        get_dag_model(args["dag_id"], session)
    get_task(get_serialized_dag(args["dag_id"]), args["task_id"])


def test(args: dict, ctx: CallContext) -> Result:
    _require_task(args)
    return run_job("test", test_argv(args), args, ctx, dag_id=args["dag_id"])


def run(args: dict, ctx: CallContext) -> Result:
    _require_task(args)
    return run_job("run", run_argv(args), args, ctx, dag_id=args["dag_id"])


def backfill(args: dict, ctx: CallContext) -> Result:
    from airflow.utils.session import create_session

    with create_session() as session:
        get_dag_model(args["dag_id"], session)
    return run_job("backfill", backfill_argv(args), args, ctx, dag_id=args["dag_id"])
