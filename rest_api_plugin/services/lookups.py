"""Airflow's objects by name, or 404: the DAG, its serialized form, a task, a run (by run_id or logical date)."""

from __future__ import annotations

from rest_api_plugin.airflow_compat import logical_date_column
from rest_api_plugin.errors import NotFound


def get_dag_model(dag_id: str, session):
    from airflow.models import DagModel

    dag = session.get(DagModel, dag_id)
    if dag is None:
        raise NotFound(f"The DAG ID '{dag_id}' does not exist")
    return dag


def get_serialized_dag(dag_id: str):
    """The DAG as the scheduler stored it: no DAG file is parsed in the webserver."""
    from airflow.models.serialized_dag import SerializedDagModel

    dag = SerializedDagModel.get_dag(dag_id)
    if dag is None:
        raise NotFound(f"The DAG ID '{dag_id}' does not exist")
    return dag


def get_task(dag, task_id: str):
    """The DAG's task; 404 when the DAG has no such task."""
    if not dag.has_task(task_id):
        raise NotFound(f"Task {task_id} not found in DAG {dag.dag_id}")
    return dag.get_task(task_id)


def lookup_run(dag_id: str, args: dict, session):
    """The run named by ``run_id`` or by its logical date, or None."""
    from airflow.models import DagRun

    query = session.query(DagRun).filter(DagRun.dag_id == dag_id)
    if args.get("run_id"):
        return query.filter(DagRun.run_id == args["run_id"]).one_or_none()
    return query.filter(logical_date_column(DagRun) == args["logical_date"]).one_or_none()


def run_not_found(dag_id: str, args: dict) -> NotFound:
    named = f"run_id {args['run_id']}" if args.get("run_id") else f"execution_date {args['logical_date'].isoformat()}"
    return NotFound(f"DagRun for {dag_id} with {named} not found")


def find_run(dag_id: str, args: dict, session):
    """The run named by ``run_id`` or by its logical date; 404 when the DAG or the run does not exist."""
    get_dag_model(dag_id, session)
    run = lookup_run(dag_id, args, session)
    if run is None:
        raise run_not_found(dag_id, args)
    return run


def run_or_unsaved(dag, args: dict, session, in_memory: bool):
    """The run named by run_id or logical date; with ``in_memory``, an unsaved run at that date."""
    from airflow.models import DagRun

    run = lookup_run(dag.dag_id, args, session)
    if run is not None:
        return run, True
    if in_memory and args.get("logical_date"):
        date = args["logical_date"]
        return DagRun(
            dag_id=dag.dag_id,
            run_id=args.get("run_id") or f"rest_api_render__{date.isoformat()}",
            execution_date=date,
            data_interval=dag.timetable.infer_manual_data_interval(run_after=date),
        ), False
    raise run_not_found(dag.dag_id, args)


def task_instance(args: dict, session, in_memory: bool):
    """The task instance the call names (its DAG, task, run and map index), refreshed from its task; with
    ``in_memory``, an unsaved one (of an unsaved run at the logical date) when the database has none."""
    from airflow.models import TaskInstance

    dag = get_serialized_dag(args["dag_id"])
    task = get_task(dag, args["task_id"])
    run, saved = run_or_unsaved(dag, args, session, in_memory)
    ti = run.get_task_instance(task.task_id, map_index=args["map_index"], session=session) if saved else None
    if ti is None:
        if not in_memory:
            raise NotFound(f"TaskInstance for {dag.dag_id}.{task.task_id} in run {run.run_id} not found")
        ti = TaskInstance(task, run_id=run.run_id, map_index=args["map_index"])
        ti.dag_run = run
    ti.refresh_from_task(task)
    return ti
