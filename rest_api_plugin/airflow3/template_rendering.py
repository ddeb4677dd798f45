"""Rendering a task's template fields on Airflow 3, in the DAG processor child (``dag_files/parsing_child.py``, phase
``render``).

Airflow 3 renders templates on the task SDK's operator, which only the DAG file itself can build: the file is
parsed, so this runs in the child (a deadline, no webserver secrets), never in the API server, as
``airflow tasks render`` does it (its ``_get_ti`` and ``_get_template_context``). Values are masked in the
child, whose secrets masker has seen what rendering read (a sensitive variable, a connection's password).
Airflow 2 renders in-process from the serialized DAG (``services/tasks.py``).
"""

from __future__ import annotations

import json

from rest_api_plugin.airflow_compat import AIRFLOW_V_3_2_PLUS


def render(request: dict) -> dict:
    """``dag_id``, ``task_id``, ``map_index`` and ``run`` (a run id or a logical date, ISO 8601): the
    rendered fields (masked) and the run id, or ``{"error": message}`` when a template fails."""
    from airflow.cli.commands.task_command import _get_template_context, _get_ti
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session

    scheduler_dag = SerializedDagModel.get_dag(request["dag_id"])
    sdk_dag = parse_dag(request["dag_id"])
    with create_session() as session:
        ti, _ = _get_ti(
            scheduler_dag.get_task(task_id=request["task_id"]),
            request["map_index"],
            logical_date_or_run_id=request["run"],
            create_if_necessary="memory",
            session=session,
        )
        task = sdk_dag.get_task(request["task_id"])
        try:
            context = _get_template_context(ti, task)
            task.render_template_fields(context)
        except Exception as err:  # a template error is the DAG's, not the request's
            return {"error": f"{type(err).__name__}: {err}"}
        rendered = {attr: masked(getattr(context["task"], attr, None), attr) for attr in task.template_fields}
        run_id = ti.run_id
        session.rollback()  # rendering leaves no trace in the database
    return {"rendered": rendered, "run_id": run_id}


def parse_dag(dag_id: str):
    """The task SDK's DAG, from the one file the database places it in."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.models import DagModel
    from airflow.sdk.definitions._internal.dag_parsing_context import _airflow_parsing_context_manager
    from airflow.utils.session import create_session

    with create_session() as session:
        model = session.get(DagModel, dag_id)
        fileloc, bundle_name = model.fileloc, model.bundle_name
    bundle = DagBundlesManager().get_bundle(bundle_name)
    with _airflow_parsing_context_manager(dag_id=dag_id):
        if AIRFLOW_V_3_2_PLUS:
            from airflow.dag_processing.dagbag import BundleDagBag

            bag = BundleDagBag(dag_folder=fileloc, bundle_path=bundle.path, bundle_name=bundle.name)
        else:  # Airflow 3.1: a DagBag does not know its bundle's name
            from airflow.models.dagbag import BundleDagBag

            bag = BundleDagBag(dag_folder=fileloc, bundle_path=bundle.path)
    if dag_id not in bag.dags:
        raise LookupError(f"{fileloc} no longer defines DAG {dag_id}")
    return bag.dags[dag_id]


def masked(value, name: str):
    """``value`` as Airflow's Rendered Template view shows it: JSON-able, secrets read while rendering and
    fields under sensitive names masked, by the task SDK's masker (what rendering fed) and the core's."""
    if AIRFLOW_V_3_2_PLUS:
        from airflow.sdk._shared.secrets_masker import redact as sdk_redact
    else:  # Airflow 3.1's task SDK
        from airflow.sdk.execution_time.secrets_masker import redact as sdk_redact

    from rest_api_plugin.masking import redact

    return json.loads(json.dumps(redact(sdk_redact(value, name), name), default=str))
