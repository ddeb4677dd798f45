"""Task-instance endpoints answered in-process, from the metadata database and the serialized DAG as the
webserver's own pages do: task_state, render, task_failed_deps and clear."""

from __future__ import annotations

import json
import re

from rest_api_plugin.airflow_compat import AIRFLOW_3
from rest_api_plugin.cli import display_run, map_index_option, option
from rest_api_plugin.errors import BadRequest, Conflict, NotFound
from rest_api_plugin.masking import redact
from rest_api_plugin.result import CallContext, Result
from rest_api_plugin.services import serializers
from rest_api_plugin.services.dags import find_run, get_serialized_dag, get_task, lookup_run, run_not_found

RULE = "# " + "-" * 58


# --- the equivalent CLI calls, shown as airflow_cmd ---

def render_airflow_cmd(args: dict) -> list[str]:
    return ["tasks", "render", *map_index_option(args), args["dag_id"], args["task_id"], *display_run(args)]


def failed_deps_airflow_cmd(args: dict) -> list[str]:
    return ["tasks", "failed-deps", *map_index_option(args), args["dag_id"], args["task_id"], *display_run(args)]


def clear_airflow_cmd(args: dict) -> list[str]:
    return [
        "tasks", "clear", "--yes",
        *option("--task-regex", args.get("task_regex")),
        *option("--start-date", args.get("start_date")),
        *option("--end-date", args.get("end_date")),
        *option("--upstream", args.get("upstream")),
        *option("--downstream", args.get("downstream")),
        *option("--only-failed", args.get("only_failed")),
        *option("--only-running", args.get("only_running")),
        args["dag_id"],
    ]


# --- endpoints ---

def task_state(args: dict, ctx: CallContext) -> Result:
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    dag_id, task_id = args["dag_id"], args["task_id"]
    with create_session() as session:
        run = find_run(dag_id, args, session)
        get_task(get_serialized_dag(dag_id), task_id)
        ti = (
            session.query(TaskInstance)
            .filter_by(dag_id=dag_id, task_id=task_id, run_id=run.run_id, map_index=args["map_index"])
            .one_or_none()
        )
        if ti is None:  # the run exists but this task has no instance yet: the CLI prints None
            data = {"dag_id": dag_id, "task_id": task_id, "run_id": run.run_id,
                    "map_index": args["map_index"], "state": None}
        else:
            data = serializers.task_instance(ti)
    return Result(output=str(data["state"]), data=data)


def _run_or_unsaved(dag, args: dict, session, in_memory: bool):
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


def _task_instance(args: dict, session, in_memory: bool):
    from airflow.models import TaskInstance

    dag = get_serialized_dag(args["dag_id"])
    task = get_task(dag, args["task_id"])
    run, saved = _run_or_unsaved(dag, args, session, in_memory)
    ti = run.get_task_instance(task.task_id, map_index=args["map_index"], session=session) if saved else None
    if ti is None:
        if not in_memory:
            raise NotFound(f"TaskInstance for {dag.dag_id}.{task.task_id} in run {run.run_id} not found")
        ti = TaskInstance(task, run_id=run.run_id, map_index=args["map_index"])
        ti.dag_run = run
    ti.refresh_from_task(task)
    return ti


def render(args: dict, ctx: CallContext) -> Result:
    """The task's template fields rendered for that date, as ``airflow tasks render`` prints them."""
    rendered, run_id = (_rendered_in_child if AIRFLOW_3 else _rendered_in_process)(args)
    data = {"dag_id": args["dag_id"], "task_id": args["task_id"], "run_id": run_id, "rendered": rendered}
    blocks = [f"{RULE}\n# property: {attr}\n{RULE}\n{_text(value)}\n" for attr, value in rendered.items()]
    return Result(output="\n".join(blocks), data=data)


def _rendered_in_child(args: dict) -> tuple[dict, str]:
    """Airflow 3 renders on the task SDK's operator, built by parsing the DAG file: in the DAG processor child
    (``template_rendering``). The DAG, the task and a named run are checked here first."""
    from airflow.utils.session import create_session

    from rest_api_plugin import dag_parsing

    get_task(get_serialized_dag(args["dag_id"]), args["task_id"])
    if args.get("run_id"):
        with create_session() as session:
            find_run(args["dag_id"], args, session)
    run = args.get("run_id") or args["logical_date"].isoformat()
    report = dag_parsing.render({"dag_id": args["dag_id"], "task_id": args["task_id"],
                                 "map_index": args["map_index"], "run": run})
    if "error" in report:
        raise Conflict(f"Rendering {args['dag_id']}.{args['task_id']} failed: {report['error']}")
    return report["rendered"], report["run_id"]


def _rendered_in_process(args: dict) -> tuple[dict, str]:
    """Airflow 2: from the serialized DAG, as the webserver's Rendered Template view."""
    from airflow.utils.session import create_session
    from airflow.utils.task_instance_session import set_current_task_instance_session

    with create_session() as session, set_current_task_instance_session(session=session):
        ti = _task_instance(args, session, in_memory=True)
        try:
            ti.render_templates()
        except Exception as err:  # a template error is the DAG's, not the request's
            raise Conflict(f"Rendering {args['dag_id']}.{args['task_id']} failed: {type(err).__name__}: {err}")
        # masked as Airflow's Rendered Template view masks them: secrets read while rendering (a sensitive
        # variable, a connection's password) and fields with sensitive names
        rendered = {attr: _jsonable(redact(getattr(ti.task, attr, None), attr)) for attr in ti.task.template_fields}
        run_id = ti.run_id
        session.rollback()  # rendering must leave no trace in the database
    return rendered, run_id


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def _text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, indent=2, default=str)


def task_failed_deps(args: dict, ctx: CallContext) -> Result:
    """Why the scheduler would not queue this task instance, as ``airflow tasks failed-deps`` says."""
    from airflow.ti_deps.dep_context import DepContext
    from airflow.ti_deps.dependencies_deps import SCHEDULER_QUEUED_DEPS
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = _task_instance(args, session, in_memory=False)
        failed = [
            {"dep_name": dep.dep_name, "reason": dep.reason}
            for dep in ti.get_failed_dep_statuses(dep_context=DepContext(deps=SCHEDULER_QUEUED_DEPS), session=session)
        ]
        data = {**serializers.task_instance(ti), "failed_dependencies": failed}
    if failed:
        output = "\n".join(["Task instance dependencies not met:", *(f"{d['dep_name']}: {d['reason']}" for d in failed)])
    else:
        output = "Task instance dependencies are all met."
    return Result(output=output, data=data)


def matching_task_ids(dag, task_regex: str) -> list[str]:
    """The DAG's task ids that ``task_regex`` finds (``re.search``, as Airflow 2's ``partial_subset`` did;
    Airflow 3's takes a string as a substring)."""
    try:
        pattern = re.compile(task_regex)
    except re.error as err:
        raise BadRequest(f"task_regex is not a regular expression: {err}")
    return [task_id for task_id in dag.task_ids if pattern.search(task_id)]


def clear(args: dict, ctx: CallContext) -> Result:
    """Clear task instances (never asks for a confirmation); ``dry_run`` only lists them."""
    from airflow.utils.session import create_session

    dag = get_serialized_dag(args["dag_id"])
    if args.get("task_regex"):
        dag = dag.partial_subset(
            matching_task_ids(dag, args["task_regex"]),
            include_upstream=args["upstream"],
            include_downstream=args["downstream"],
        )
    selection = dict(
        start_date=args.get("start_date"),
        end_date=args.get("end_date"),
        only_failed=args["only_failed"],
        only_running=args["only_running"],
    )
    with create_session() as session:
        tis = dag.clear(**selection, dry_run=True, session=session) if dag.task_dict else []
        described = [serializers.task_instance(ti) for ti in sorted(tis, key=lambda t: (t.run_id, t.task_id))]
    if described and not args["dry_run"]:
        dag.clear(**selection)
    verb = "would be cleared (dry run)" if args["dry_run"] else "cleared"
    lines = [f"<TaskInstance: {t['dag_id']}.{t['task_id']} {t['run_id']} [{t['state']}]>" for t in described]
    output = "\n".join([*lines, f"{len(described)} task instance(s) {verb}"])
    data = {"dag_id": args["dag_id"], "dry_run": args["dry_run"], "count": len(described), "task_instances": described}
    return Result(output=output, data=data)
