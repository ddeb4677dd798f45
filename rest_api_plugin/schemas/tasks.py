"""Arguments of the task endpoints: task_state, render, task_failed_deps, test, run and clear, named as the
original README."""

from __future__ import annotations

from marshmallow import validates_schema

from rest_api_plugin.schemas.base import DryRun, IgnoresLegacyArguments, Waits, WithLogicalDate, check_date_order
from rest_api_plugin.schemas.dags import REQUIRED_DAG_ID
from rest_api_plugin.schemas.fields import (
    BoundedInteger,
    DagFolderPath,
    Flag,
    JsonObject,
    Key,
    LogicalDate,
    PathText,
    RunId,
    TaskRegex,
    Text,
)
from rest_api_plugin.schemas.runs import DagStateSchema

REQUIRED_TASK_ID = {"required": "task_id is required."}


class TaskSchema(DagStateSchema):
    task_id = Key("task_id", required=True, error_messages={"required": "task_id is required."})
    map_index = BoundedInteger(-1, load_default=-1)


# dry_run of `airflow tasks test` renders the templates and runs nothing: Airflow 3's has no --dry-run, and
# ignoring it would run the task.
TEST_DRY_RUN_ON_AIRFLOW_3 = (
    "airflow tasks test has no --dry-run on Airflow 3: without it the task would run. "
    "Use api=render to see the task's rendered templates."
)


class TestTaskSchema(WithLogicalDate, IgnoresLegacyArguments, DryRun, Waits):
    """The date is optional, as in ``airflow tasks test``: without one, a temporary run is used. On Airflow 3
    ``subdir`` is ignored (the DAG comes from its bundle) and ``dry_run`` is refused."""

    dag_id = Key("dag_id", required=True, error_messages=REQUIRED_DAG_ID)
    task_id = Key("task_id", required=True, error_messages=REQUIRED_TASK_ID)
    run_id = RunId()
    map_index = BoundedInteger(-1, load_default=-1)
    subdir = DagFolderPath(
        metadata={
            "description": "A file or folder inside the DAGs folder (ignored on Airflow 3, "
            "where the DAG comes from its bundle)."
        }
    )
    task_params = JsonObject()
    wait = Flag(load_default=True)

    IGNORED_ON_AIRFLOW_3 = ("subdir",)
    REFUSED_ON_AIRFLOW_3 = {"dry_run": TEST_DRY_RUN_ON_AIRFLOW_3, "dryrun": TEST_DRY_RUN_ON_AIRFLOW_3}


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
        check_date_order(data)
