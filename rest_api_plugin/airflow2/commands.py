"""Airflow 2's side of the commands that differ by line: ``tasks test`` and ``tasks run``, ``dags backfill``,
and the standalone DAG processor's requirements. The argv lists (after ``airflow``) are what runs, and what the
envelope's ``airflow_cmd`` shows."""

from __future__ import annotations

import json

from rest_api_plugin.errors import Conflict
from rest_api_plugin.processes.argv import map_index_option, option, positional, run_argument

# Airflow 2's own task and run commands the plugin may run
ALLOWED_COMMANDS = (("tasks", "run"), ("dags", "backfill"))
# Airflow 2 has `airflow tasks run`: nothing to say instead
RUN_UNAVAILABLE = None

STANDALONE_DAG_PROCESSOR_OFF = (
    "airflow dag-processor needs [scheduler] standalone_dag_processor = True on Airflow 2; with it off, the "
    "scheduler parses the DAG files itself and a second DAG processor would parse them again."
)
STANDALONE_DAG_PROCESSOR_SQLITE = "Airflow 2's standalone DAG processor does not support SQLite as metadata database."


def test_argv(args: dict) -> list[str]:
    params = json.dumps(args["task_params"]) if args.get("task_params") else None
    return [
        "tasks",
        "test",
        *option("--dry-run", args.get("dry_run")),
        *option("--task-params", params),
        *map_index_option(args),
        *option("--subdir", args.get("subdir")),
        positional(args["dag_id"]),
        positional(args["task_id"]),
        *run_argument(args),
    ]


def backfill_argv(args: dict) -> list[str]:
    conf = json.dumps(args["conf"]) if args.get("conf") else None
    return [
        "dags",
        "backfill",
        "--yes",
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


def backfill_note(args: dict) -> str | None:
    """What the answer of a backfill adds to the command's own output: nothing, it runs the backfill."""
    return None


def check_dag_processor() -> None:
    """Airflow 2's ``dag-processor`` is the standalone DAG processor: 409 unless it is switched on, and never
    on SQLite."""
    from airflow.configuration import conf

    if not conf.getboolean("scheduler", "standalone_dag_processor", fallback=False):
        raise Conflict(STANDALONE_DAG_PROCESSOR_OFF)
    if conf.get("database", "sql_alchemy_conn").startswith("sqlite"):
        raise Conflict(STANDALONE_DAG_PROCESSOR_SQLITE)


def dag_processor_in_use() -> bool:
    """Whether DAG processor jobs are expected: on Airflow 2 only with the standalone DAG processor on (else the
    scheduler parses the DAG files itself, and no DagProcessorJob heartbeats)."""
    from airflow.configuration import conf

    return conf.getboolean("scheduler", "standalone_dag_processor", fallback=False)


def describe_ended_test(described: dict, output) -> None:
    """An ended ``test`` job's description: nothing to add, ``tasks test``'s exit code says how it went."""
