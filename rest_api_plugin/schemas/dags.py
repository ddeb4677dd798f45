"""Arguments of the DAG endpoints: list_dags, list_tasks, pause and unpause; dag_details, next_execution,
list_import_errors and show_dag."""

from __future__ import annotations

from marshmallow import fields, validate

from rest_api_plugin.schemas.base import ArgumentsSchema
from rest_api_plugin.schemas.fields import BoundedInteger, Flag, Key, PathText

REQUIRED_DAG_ID = {"required": "dag_id is required."}


class DagSchema(ArgumentsSchema):
    dag_id = Key("dag_id", required=True, error_messages=REQUIRED_DAG_ID)
    subdir = PathText(500)  # accepted for old clients; DAGs are read from the database


class ListDagsSchema(ArgumentsSchema):
    subdir = PathText(500)
    report = Flag(load_default=False)
    paused = Flag()
    limit = BoundedInteger(1)  # unset: every DAG, as old clients expect
    offset = BoundedInteger(0, load_default=0)


class ListTasksSchema(DagSchema):
    tree = Flag(load_default=False)


class NextExecutionSchema(DagSchema):
    num_executions = BoundedInteger(1, 1000, load_default=1)


class ListImportErrorsSchema(ArgumentsSchema):
    subdir = PathText(500)  # accepted as `dags list-import-errors --subdir` has it; errors are read from the database


# What show_dag answers: the DOT text only, or also the picture Graphviz's dot draws of it.
GRAPH_FORMATS = ("dot", "svg")


class ShowDagSchema(DagSchema):
    format = fields.String(
        load_default="dot",
        validate=validate.OneOf(
            GRAPH_FORMATS, error="format must be dot (the DOT text) or svg (the picture, drawn by Graphviz's dot)."
        ),
    )
