"""Arguments of render, task_failed_deps, test, run, clear and backfill, named as the original README."""

from __future__ import annotations

import re

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from rest_api_plugin.airflow_compat import AIRFLOW_3
from rest_api_plugin.schemas.base import ArgumentsSchema, IgnoresLegacyArguments, Waits, WithLogicalDate
from rest_api_plugin.schemas.dags import REQUIRED_DAG_ID, TaskSchema
from rest_api_plugin.schemas.fields import (
    BoundedInteger,
    DagFolderPath,
    Flag,
    JsonObject,
    Key,
    LogicalDate,
    PathText,
    RunId,
    Text,
)

REQUIRED_TASK_ID = {"required": "task_id is required."}


class TaskRegex(Text):
    """A Python regular expression over task ids."""

    def __init__(self, **kwargs):
        super().__init__(1000, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            re.compile(text)
        except re.error as err:
            raise ValidationError(f"Not a valid regular expression: {err}.")
        return text


class DryRun(ArgumentsSchema):
    """``dry_run`` (the original README) or ``dryrun``: only render the templates, run nothing."""

    dry_run = Flag()
    dryrun = Flag()

    @post_load
    def merge_dry_run(self, data, **kwargs):
        data["dry_run"] = bool(data.pop("dry_run", False) or data.pop("dryrun", False))
        return data


# dry_run of `airflow tasks test` renders the templates and runs nothing: Airflow 3's has no --dry-run, and
# ignoring it would run the task.
TEST_DRY_RUN_ON_AIRFLOW_3 = ("airflow tasks test has no --dry-run on Airflow 3: without it the task would run. "
                             "Use api=render to see the task's rendered templates.")


class TestTaskSchema(WithLogicalDate, IgnoresLegacyArguments, DryRun, Waits):
    """The date is optional, as in ``airflow tasks test``: without one, a temporary run is used. On Airflow 3
    ``subdir`` is ignored (the DAG comes from its bundle) and ``dry_run`` is refused."""

    dag_id = Key("dag_id", required=True, error_messages=REQUIRED_DAG_ID)
    task_id = Key("task_id", required=True, error_messages=REQUIRED_TASK_ID)
    run_id = RunId()
    map_index = BoundedInteger(-1, load_default=-1)
    subdir = DagFolderPath(metadata={"description": "A file or folder inside the DAGs folder (ignored on Airflow 3, "
                                                    "where the DAG comes from its bundle)."})
    task_params = JsonObject()
    wait = Flag(load_default=True)

    IGNORED_ON_AIRFLOW_3 = ("subdir",)

    @validates_schema
    def no_dry_run_on_airflow_3(self, data, **kwargs):
        if AIRFLOW_3:
            given = [name for name in ("dry_run", "dryrun") if data.get(name)]
            if given:
                raise ValidationError({name: [TEST_DRY_RUN_ON_AIRFLOW_3] for name in given})


class RunTaskSchema(TaskSchema, IgnoresLegacyArguments, Waits):
    mark_success = Flag()
    force = Flag()
    pool = Key("pool name")
    local = Flag()
    ignore_all_dependencies = Flag()
    ignore_dependencies = Flag()
    ignore_depends_on_past = Flag()
    subdir = DagFolderPath()
    cfg_path = PathText(1000)  # a config file path from a web request: never used
    ship_dag = Flag()
    pickle = Text(100_000)
    wait = Flag(load_default=True)

    IGNORED = ("cfg_path", "ship_dag", "pickle")


class ClearSchema(IgnoresLegacyArguments, DryRun):
    dag_id = Key("dag_id", required=True, error_messages=REQUIRED_DAG_ID)
    task_regex = TaskRegex()
    start_date = LogicalDate()
    end_date = LogicalDate()
    upstream = Flag(load_default=False)
    downstream = Flag(load_default=False)
    only_failed = Flag(load_default=False)
    only_running = Flag(load_default=False)
    no_confirm = Flag()  # the plugin never asks for a confirmation
    subdir = PathText(500)
    exclude_subdags = Flag()
    exclude_parentdag = Flag()

    IGNORED = ("exclude_subdags", "exclude_parentdag")

    @validates_schema
    def dates_in_order(self, data, **kwargs):
        _check_date_order(data)


# Airflow 2 backfill arguments that Airflow 3's `backfill create` has no equivalent of, and which would change
# what runs if they were ignored: refused on Airflow 3 when set (given as false, they change nothing).
BACKFILL_REFUSED_ON_AIRFLOW_3 = {
    "task_regex": "Airflow 3 backfills whole DAG runs: it cannot backfill some tasks only.",
    "mark_success": "Airflow 3 backfills run their tasks: it cannot mark them successful without running them.",
    "ignore_dependencies": "Airflow 3 backfill runs respect task dependencies.",
    "ignore_first_depends_on_past": "Airflow 3 backfill runs respect depends_on_past.",
    "pool": "Airflow 3 backfill runs use each task's own pool.",
    "rerun_failed_tasks": "Airflow 3 does not rerun failed tasks of existing runs: reprocess_behavior=failed makes "
    "new runs for the dates whose run failed.",
    "reset_dagruns": "Airflow 3 does not reset existing runs: reprocess_behavior=completed makes new runs for "
    "the dates that already have a finished run.",
    "disable_retry": "Airflow 3 backfill runs retry their tasks as the tasks say.",
}
# ... and those that mean nothing there: the runs' own executor is the scheduler's (local), every run goes on
# whatever another does (continue_on_failures), the DAG comes from its bundle (subdir).
BACKFILL_IGNORED_ON_AIRFLOW_3 = ("local", "continue_on_failures", "subdir")


class BackfillSchema(IgnoresLegacyArguments, DryRun, Waits):
    """``airflow dags backfill`` on Airflow 2, ``airflow backfill create`` on Airflow 3 (one date is both ends
    of the range, as the Airflow 2 command takes it)."""

    dag_id = Key("dag_id", required=True, error_messages=REQUIRED_DAG_ID)
    task_regex = TaskRegex()
    start_date = LogicalDate()
    end_date = LogicalDate()
    mark_success = Flag()
    local = Flag()
    ignore_dependencies = Flag()
    ignore_first_depends_on_past = Flag()
    pool = Key("pool name")
    subdir = DagFolderPath()
    conf = JsonObject()
    rerun_failed_tasks = Flag()
    reset_dagruns = Flag()
    run_backwards = Flag()
    continue_on_failures = Flag()
    disable_retry = Flag()
    donot_pickle = Flag()
    include_adhoc = Flag()
    max_active_runs = fields.Integer(strict=False, validate=validate.Range(min=1, max=10_000), metadata={
        "description": "Airflow 3 only: at most this many runs of the backfill at once (default: the DAG's "
        "max_active_runs)."})
    reprocess_behavior = fields.String(validate=validate.OneOf(("none", "completed", "failed")), metadata={
        "description": "Airflow 3 only, for dates that already have a run: none (skip them, the default), failed "
        "(a new run where the run failed) or completed (a new run where the run finished)."})

    IGNORED = ("donot_pickle", "include_adhoc")
    IGNORED_ON_AIRFLOW_3 = BACKFILL_IGNORED_ON_AIRFLOW_3
    AIRFLOW_3_ONLY = ("max_active_runs", "reprocess_behavior")

    @validates_schema
    def dates_given_in_order(self, data, **kwargs):
        if "start_date" not in data and "end_date" not in data:
            raise ValidationError("Give start_date, end_date or both.", "start_date")
        _check_date_order(data)

    @validates_schema
    def no_airflow_2_only_options_on_airflow_3(self, data, **kwargs):
        if AIRFLOW_3:
            refused = {name: [f"{name} is not supported on Airflow 3. {reason}"]
                       for name, reason in BACKFILL_REFUSED_ON_AIRFLOW_3.items()
                       if data.get(name) not in (None, False)}
            if refused:
                raise ValidationError(refused)


def _check_date_order(data: dict) -> None:
    if data.get("start_date") and data.get("end_date") and data["start_date"] > data["end_date"]:
        raise ValidationError("start_date is after end_date.", "end_date")
