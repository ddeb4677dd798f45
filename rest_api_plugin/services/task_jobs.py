"""test, run and backfill: ``airflow tasks test|run`` and ``airflow dags backfill`` as background jobs, waited for
when the caller asks (test and run by default). The argv builders here are what runs, and what airflow_cmd
shows.

On Airflow 3: ``tasks test`` has no --dry-run (refused by the schema) and no --subdir (ignored); ``tasks run``
is gone, so ``run`` answers 501; ``dags backfill`` is ``backfill create``, which makes the backfill's runs,
queued, and leaves running them to the scheduler.
"""

from __future__ import annotations

import json

from rest_api_plugin.airflow_compat import AIRFLOW_3
from rest_api_plugin.cli import map_index_option, option, positional
from rest_api_plugin.errors import NotImplementedOnThisAirflow
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
        *([] if AIRFLOW_3 else option("--dry-run", args.get("dry_run"))),  # refused on Airflow 3 (the schema)
        *option("--task-params", params),
        *map_index_option(args),
        *([] if AIRFLOW_3 else option("--subdir", args.get("subdir"))),  # ignored on Airflow 3 (the schema)
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
    if AIRFLOW_3:
        return backfill_create_argv(args, conf)
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


def backfill_create_argv(args: dict, conf: str | None) -> list[str]:
    """Airflow 3's ``backfill create``: both ends of the range are required, one date given is both (as
    ``dags backfill`` took it). The Airflow 2 options it has no equivalent of are refused or ignored by the
    schema before this runs."""
    start, end = args.get("start_date") or args.get("end_date"), args.get("end_date") or args.get("start_date")
    return [
        "backfill", "create",
        *option("--dag-id", positional(args["dag_id"])),
        *option("--from-date", start),
        *option("--to-date", end),
        *option("--dag-run-conf", conf),
        *option("--dry-run", args.get("dry_run")),
        *option("--max-active-runs", args.get("max_active_runs")),
        *option("--reprocess-behavior", args.get("reprocess_behavior")),
        *option("--run-backwards", args.get("run_backwards")),
    ]


# --- endpoints ---

def _require_task(args: dict) -> None:
    from airflow.utils.session import create_session

    with create_session() as session:
        get_dag_model(args["dag_id"], session)
    get_task(get_serialized_dag(args["dag_id"]), args["task_id"])


def test(args: dict, ctx: CallContext) -> Result:
    """Airflow 3's ``tasks test`` exits 0 whatever becomes of the task: its job fails when the task did (its
    state read from the command's log: ``jobs.describe``), so a task that failed is a 409 all the same."""
    _require_task(args)
    return run_job("test", test_argv(args), args, ctx, dag_id=args["dag_id"])


RUN_ON_AIRFLOW_3 = ("api=run is not available on Airflow 3: it has no `airflow tasks run` (the scheduler and its "
                    "executor run task instances). To run tasks, trigger a DAG run (api=trigger_dag), or clear "
                    "task instances so that the scheduler runs them again (api=clear); to try a task without "
                    "the scheduler, use api=test.")
BACKFILL_RUNS_ON_AIRFLOW_3 = ("On Airflow 3 `backfill create` only creates the backfill's runs, queued: the "
                              "scheduler runs them (follow them with api=dag_state).")


def run(args: dict, ctx: CallContext) -> Result:
    if AIRFLOW_3:
        raise NotImplementedOnThisAirflow(RUN_ON_AIRFLOW_3)
    _require_task(args)
    return run_job("run", run_argv(args), args, ctx, dag_id=args["dag_id"])


def backfill(args: dict, ctx: CallContext) -> Result:
    from airflow.utils.session import create_session

    with create_session() as session:
        get_dag_model(args["dag_id"], session)
    result = run_job("backfill", backfill_argv(args), args, ctx, dag_id=args["dag_id"])
    if AIRFLOW_3 and not args.get("dry_run"):
        result.output = "\n".join(part for part in (result.output, BACKFILL_RUNS_ON_AIRFLOW_3) if part)
    return result
