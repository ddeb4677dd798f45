"""Arguments of the DAG endpoints."""

from __future__ import annotations

from marshmallow import ValidationError, validates_schema

from rest_api_plugin.schemas.base import ArgumentsSchema, WithLogicalDate
from rest_api_plugin.schemas.fields import BoundedInteger, Flag, JsonObject, Key, PathText, RunId

REQUIRED_DAG_ID = {"required": "dag_id is required."}


class DagSchema(ArgumentsSchema):
    dag_id = Key("dag_id", required=True, error_messages=REQUIRED_DAG_ID)
    subdir = PathText(500)  # accepted for old clients; DAGs are read from the database


class TriggerDagSchema(WithLogicalDate):
    dag_id = Key("dag_id", required=True, error_messages=REQUIRED_DAG_ID)
    run_id = RunId()
    conf = JsonObject()
    replace_microseconds = Flag()  # unset: drop them from a generated date only
    subdir = PathText(500)


class DagStateSchema(WithLogicalDate):
    dag_id = Key("dag_id", required=True, error_messages=REQUIRED_DAG_ID)
    run_id = RunId()
    subdir = PathText(500)

    @validates_schema
    def run_is_named(self, data, **kwargs):
        named = [k for k in ("run_id", "execution_date", "exec_date", "logical_date") if k in data]
        if not named:
            raise ValidationError("execution_date (or run_id) is required.", "execution_date")


class ListDagsSchema(ArgumentsSchema):
    subdir = PathText(500)
    report = Flag(load_default=False)
    paused = Flag()
    limit = BoundedInteger(1)  # unset: every DAG, as old clients expect
    offset = BoundedInteger(0, load_default=0)


class ListTasksSchema(DagSchema):
    tree = Flag(load_default=False)


class TaskSchema(DagStateSchema):
    task_id = Key("task_id", required=True, error_messages={"required": "task_id is required."})
    map_index = BoundedInteger(-1, load_default=-1)
