"""Airflow 2's side of ``render``: in-process, from the serialized DAG, as the webserver's Rendered Template
view renders (no DAG file is parsed: the serialized operator renders its own templates)."""

from __future__ import annotations

import json

from rest_api_plugin.errors import Conflict
from rest_api_plugin.masking import redact
from rest_api_plugin.services.lookups import task_instance


def rendered_templates(args: dict) -> tuple[dict, str]:
    """The task's template fields rendered for the named run (or an unsaved one at the logical date), masked;
    and the run's id. 409 when a template fails."""
    from airflow.utils.session import create_session
    from airflow.utils.task_instance_session import set_current_task_instance_session

    with create_session() as session, set_current_task_instance_session(session=session):
        ti = task_instance(args, session, in_memory=True)
        try:
            ti.render_templates()
        except Exception as err:  # a template error is the DAG's, not the request's
            raise Conflict(f"Rendering {args['dag_id']}.{args['task_id']} failed: {type(err).__name__}: {err}") from err
        # masked as Airflow's Rendered Template view masks them: secrets read while rendering (a sensitive
        # variable, a connection's password) and fields with sensitive names
        rendered = {attr: _jsonable(redact(getattr(ti.task, attr, None), attr)) for attr in ti.task.template_fields}
        run_id = ti.run_id
        session.rollback()  # rendering must leave no trace in the database
    return rendered, run_id


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))
