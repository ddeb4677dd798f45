"""Airflow 3's side of the commands that differ by line: ``tasks test`` (no ``--dry-run``, no ``--subdir``:
the schema refuses and ignores them), no ``tasks run`` (501), ``backfill create`` for ``dags backfill`` (it
queues the runs, the scheduler runs them), and a ``dag-processor`` with nothing to check. The argv lists (after
``airflow``) are what runs, and what the envelope's ``airflow_cmd`` shows."""

from __future__ import annotations

import json
import re

from rest_api_plugin.processes.argv import map_index_option, option, positional, run_argument

# Airflow 3's own run command the plugin may run
ALLOWED_COMMANDS = (("backfill", "create"),)
RUN_UNAVAILABLE = (
    "api=run is not available on Airflow 3: it has no `airflow tasks run` (the scheduler and its "
    "executor run task instances). To run tasks, trigger a DAG run (api=trigger_dag), or clear "
    "task instances so that the scheduler runs them again (api=clear); to try a task without "
    "the scheduler, use api=test."
)
# `tasks test` exits 0 whatever becomes of the task: its end shows in the log of the in-process execution API
# (the last state it was set to), or in the task runner's error line.
TASK_STATE_SET = re.compile(r"\bTask instance state updated\b.* new_state=(?P<state>\w+)")
TASK_FAILED = re.compile(r"^\S+ \[error\s*\] Task failed with exception\b.*\[task\]", re.MULTILINE)
TASK_FAILED_STATES = ("failed", "up_for_retry", "upstream_failed")
BACKFILL_RUNS_LATER = (
    "On Airflow 3 `backfill create` only creates the backfill's runs, queued: the scheduler runs "
    "them (follow them with api=dag_state)."
)


def test_argv(args: dict) -> list[str]:
    params = json.dumps(args["task_params"]) if args.get("task_params") else None
    return [
        "tasks",
        "test",
        *option("--task-params", params),
        *map_index_option(args),
        positional(args["dag_id"]),
        positional(args["task_id"]),
        *run_argument(args),
    ]


def backfill_argv(args: dict) -> list[str]:
    """``backfill create``: both ends of the range are required, one date given is both (as ``dags backfill``
    took it). The Airflow 2 options it has no equivalent of are refused or ignored by the schema before this
    runs."""
    conf = json.dumps(args["conf"]) if args.get("conf") else None
    start, end = args.get("start_date") or args.get("end_date"), args.get("end_date") or args.get("start_date")
    return [
        "backfill",
        "create",
        *option("--dag-id", positional(args["dag_id"])),
        *option("--from-date", start),
        *option("--to-date", end),
        *option("--dag-run-conf", conf),
        *option("--dry-run", args.get("dry_run")),
        *option("--max-active-runs", args.get("max_active_runs")),
        *option("--reprocess-behavior", args.get("reprocess_behavior")),
        *option("--run-backwards", args.get("run_backwards")),
    ]


def backfill_note(args: dict) -> str | None:
    """What the answer of a backfill adds to the command's own output: the scheduler runs the runs it made."""
    return None if args.get("dry_run") else BACKFILL_RUNS_LATER


def check_dag_processor() -> None:
    """Airflow 3's ``dag-processor`` is the only one there is: nothing to check."""


def dag_processor_in_use() -> bool:
    """Airflow 3 always parses the DAG files in ``airflow dag-processor``: its jobs are expected."""
    return True


def describe_ended_test(described: dict, output) -> None:
    """An ended ``test`` job's description: the task's last state read in its log (``output()``: its stdout),
    as ``task_state``, and a job whose task failed has failed (``tasks test`` exits 0 whatever it is)."""
    described["task_state"] = _task_state_in_log(output())
    if described["task_state"] in TASK_FAILED_STATES and described["state"] == "success":
        described["state"] = "failed"


def _task_state_in_log(text: str) -> str | None:
    """The task's last state in the output of ``tasks test`` ("failed" when only its error line says so);
    None when the output does not say."""
    states = TASK_STATE_SET.findall(text)
    if states:
        return states[-1]
    return "failed" if TASK_FAILED.search(text) else None
