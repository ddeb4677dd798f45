"""Arguments of render, task_failed_deps, test, run, clear and backfill, named as the original README."""

from __future__ import annotations

import re

from marshmallow import ValidationError, post_load, validates_schema

from rest_api_plugin.schemas.base import ArgumentsSchema, WithLogicalDate
from rest_api_plugin.schemas.dags import REQUIRED_DAG_ID, TaskSchema
from rest_api_plugin.schemas.fields import BoundedInteger, Flag, JsonObject, Key, LogicalDate, PathText, RunId, Text
from rest_api_plugin.schemas.processes import DagFolderPath, IgnoresLegacyArguments, Waits

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


class TestTaskSchema(WithLogicalDate, DryRun, Waits):
    """The date is optional, as in ``airflow tasks test``: without one, a temporary run is used."""

    dag_id = Key("dag_id", required=True, error_messages=REQUIRED_DAG_ID)
    task_id = Key("task_id", required=True, error_messages=REQUIRED_TASK_ID)
    run_id = RunId()
    map_index = BoundedInteger(-1, load_default=-1)
    subdir = DagFolderPath()
    task_params = JsonObject()
    wait = Flag(load_default=True)


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


class BackfillSchema(IgnoresLegacyArguments, DryRun, Waits):
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

    IGNORED = ("donot_pickle", "include_adhoc")

    @validates_schema
    def dates_given_in_order(self, data, **kwargs):
        if "start_date" not in data and "end_date" not in data:
            raise ValidationError("Give start_date, end_date or both.", "start_date")
        _check_date_order(data)


def _check_date_order(data: dict) -> None:
    if data.get("start_date") and data.get("end_date") and data["start_date"] > data["end_date"]:
        raise ValidationError("start_date is after end_date.", "end_date")
