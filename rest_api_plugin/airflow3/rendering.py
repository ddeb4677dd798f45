"""Airflow 3's side of ``render``: Airflow 3 renders on the task SDK's operator, which only the DAG file builds,
so the DAG file is parsed in the DAG processor child (phase ``render``: ``airflow3/template_rendering.py``),
never in the API server. The DAG, the task, its map_index and a named run are checked here first."""

from __future__ import annotations

from rest_api_plugin.dag_files import parsing
from rest_api_plugin.errors import BadRequest, Conflict
from rest_api_plugin.services.lookups import find_run, get_serialized_dag, get_task


def rendered_templates(args: dict) -> tuple[dict, str]:
    """The task's template fields rendered for the named run (or the logical date), masked in the child; and
    the run's id. 409 when a template fails or the child does not finish."""
    from airflow.utils.session import create_session

    task = get_task(get_serialized_dag(args["dag_id"]), args["task_id"])
    _check_map_index(task, args["map_index"])
    if args.get("run_id"):
        with create_session() as session:
            find_run(args["dag_id"], args, session)
    run = args.get("run_id") or args["logical_date"].isoformat()
    report = parsing.render(
        {"dag_id": args["dag_id"], "task_id": args["task_id"], "map_index": args["map_index"], "run": run}
    )
    if "error" in report:
        raise Conflict(f"Rendering {args['dag_id']}.{args['task_id']} failed: {report['error']}")
    return report["rendered"], report["run_id"]


def _check_map_index(task, map_index: int) -> None:
    """400, as the CLI refuses them, for a map_index given to a task that is not mapped and for a mapped task
    without one (the task SDK would fail in the child)."""
    needs_expansion = task.get_needs_expansion()
    if map_index >= 0 and not needs_expansion:
        raise BadRequest(f"Task {task.task_id} is not mapped: leave map_index out (or give -1)")
    if map_index < 0 and needs_expansion:
        raise BadRequest(f"Task {task.task_id} is mapped: give the map_index of one of its instances")
