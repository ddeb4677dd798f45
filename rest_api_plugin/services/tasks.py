"""Task endpoints: task_state, render, task_failed_deps and clear, answered in-process from the metadata
database and the serialized DAG as the webserver's own pages do (render's line sides: ``airflow2/rendering.py``,
``airflow3/rendering.py``); test and run, ``airflow tasks test|run`` as jobs (``test``'s argv is the line's:
``airflow2/commands.py``, ``airflow3/commands.py``; Airflow 3 has no ``tasks run``: 501)."""

from __future__ import annotations

import json
import re

from rest_api_plugin import security
from rest_api_plugin.airflow_compat import DagAccessEntity, this_line
from rest_api_plugin.errors import BadRequest, Forbidden, NotImplementedOnThisAirflow
from rest_api_plugin.processes.argv import display_run, map_index_option, option, positional, run_argument
from rest_api_plugin.processes.jobs import run_job
from rest_api_plugin.result import CallContext, Result
from rest_api_plugin.schemas.data import Merged
from rest_api_plugin.services.lookups import find_run, get_dag_model, get_serialized_dag, get_task, task_instance

line_commands = this_line("commands")
line_rendering = this_line("rendering")

RULE = "# " + "-" * 58


# --- the equivalent CLI calls, shown as airflow_cmd ---


def render_argv(args: dict) -> list[str]:
    return ["tasks", "render", *map_index_option(args), args["dag_id"], args["task_id"], *display_run(args)]


def failed_deps_argv(args: dict) -> list[str]:
    return ["tasks", "failed-deps", *map_index_option(args), args["dag_id"], args["task_id"], *display_run(args)]


def clear_argv(args: dict) -> list[str]:
    return [
        "tasks",
        "clear",
        "--yes",
        *option("--task-regex", args.get("task_regex")),
        *option("--start-date", args.get("start_date")),
        *option("--end-date", args.get("end_date")),
        *option("--upstream", args.get("upstream")),
        *option("--downstream", args.get("downstream")),
        *option("--only-failed", args.get("only_failed")),
        *option("--only-running", args.get("only_running")),
        args["dag_id"],
    ]


def run_argv(args: dict) -> list[str]:
    """``airflow tasks run``: what runs on Airflow 2, and what airflow_cmd shows on Airflow 3 too (where the
    call answers 501)."""
    return [
        "tasks",
        "run",
        *option("--mark-success", args.get("mark_success")),
        *option("--force", args.get("force")),
        *option("--pool", args.get("pool")),
        *option("--local", args.get("local")),
        *option("--ignore-all-dependencies", args.get("ignore_all_dependencies")),
        *option("--ignore-dependencies", args.get("ignore_dependencies")),
        *option("--depends-on-past", "ignore" if args.get("ignore_depends_on_past") else None),
        *map_index_option(args),
        *option("--subdir", args.get("subdir")),
        positional(args["dag_id"]),
        positional(args["task_id"]),
        *run_argument(args),
    ]


def test_argv(args: dict) -> list[str]:
    """``airflow tasks test`` as this Airflow line runs it (``airflow2/commands.py``, ``airflow3/commands.py``)."""
    return line_commands.test_argv(args)


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
            ti = {
                "dag_id": dag_id,
                "task_id": task_id,
                "run_id": run.run_id,
                "map_index": args["map_index"],
                "state": None,
            }
            state = None
        else:
            state = ti.state
    return Result(output=str(state), data=ti)


def render(args: dict, ctx: CallContext) -> Result:
    """The task's template fields rendered for that date, as ``airflow tasks render`` prints them."""
    rendered, run_id = line_rendering.rendered_templates(args)
    data = {"dag_id": args["dag_id"], "task_id": args["task_id"], "run_id": run_id, "rendered": rendered}
    blocks = [f"{RULE}\n# property: {attr}\n{RULE}\n{_text(value)}\n" for attr, value in rendered.items()]
    return Result(output="\n".join(blocks), data=data)


def _text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, indent=2, default=str)


def task_failed_deps(args: dict, ctx: CallContext) -> Result:
    """Why the scheduler would not queue this task instance, as ``airflow tasks failed-deps`` says."""
    from airflow.ti_deps.dep_context import DepContext
    from airflow.ti_deps.dependencies_deps import SCHEDULER_QUEUED_DEPS
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = task_instance(args, session, in_memory=False)
        failed = [
            {"dep_name": dep.dep_name, "reason": dep.reason}
            for dep in ti.get_failed_dep_statuses(dep_context=DepContext(deps=SCHEDULER_QUEUED_DEPS), session=session)
        ]
        data = Merged(ti, failed_dependencies=failed)
    if failed:
        output = "\n".join(
            ["Task instance dependencies not met:", *(f"{d['dep_name']}: {d['reason']}" for d in failed)]
        )
    else:
        output = "Task instance dependencies are all met."
    return Result(output=output, data=data)


def matching_task_ids(dag, task_regex: str) -> list[str]:
    """The DAG's task ids that ``task_regex`` finds (``re.search``, as Airflow 2's ``partial_subset`` did;
    Airflow 3's takes a string as a substring)."""
    try:
        pattern = re.compile(task_regex)
    except re.error as err:
        raise BadRequest(f"task_regex is not a regular expression: {err}") from err
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
        described = sorted(tis, key=lambda t: (t.run_id, t.task_id))
    authorize_other_dags(ctx.identity, args["dag_id"], {ti.dag_id for ti in described}, args["dry_run"])
    if described and not args["dry_run"]:
        dag.clear(**selection)
    verb = "would be cleared (dry run)" if args["dry_run"] else "cleared"
    lines = [
        f"<TaskInstance: {t.dag_id}.{t.task_id} {t.run_id} [{None if t.state is None else str(t.state)}]>"
        for t in described
    ]
    output = "\n".join([*lines, f"{len(described)} task instance(s) {verb}"])
    data = {"dag_id": args["dag_id"], "dry_run": args["dry_run"], "count": len(described), "task_instances": described}
    return Result(output=output, data=data)


# --- test and run: `airflow tasks test|run` as jobs, waited for by default ---


def require_task(args: dict) -> None:
    from airflow.utils.session import create_session

    with create_session() as session:
        get_dag_model(args["dag_id"], session)
    get_task(get_serialized_dag(args["dag_id"]), args["task_id"])


def test(args: dict, ctx: CallContext) -> Result:
    """Airflow 3's ``tasks test`` exits 0 whatever becomes of the task: its job fails when the task did (its
    state read from the command's log: ``jobs.describe``), so a task that failed is a 409 all the same."""
    require_task(args)
    return run_job("test", line_commands.test_argv(args), args, ctx, dag_id=args["dag_id"])


def run(args: dict, ctx: CallContext) -> Result:
    if line_commands.RUN_UNAVAILABLE:
        raise NotImplementedOnThisAirflow(line_commands.RUN_UNAVAILABLE)
    require_task(args)
    return run_job("run", run_argv(args), args, ctx, dag_id=args["dag_id"])


def authorize_other_dags(identity, dag_id: str, dag_ids: set[str], dry_run: bool) -> None:
    """On Airflow 2 a clear follows ExternalTaskMarker tasks into other DAGs: the caller must be allowed to
    clear (to read, for a dry run) the task instances of each of those DAGs too, as of ``dag_id``."""
    method = "GET" if dry_run else "PUT"
    refused = sorted(
        other
        for other in dag_ids - {dag_id}
        if not security.may_access_dag(identity, method, other, DagAccessEntity.TASK_INSTANCE)
    )
    if refused:
        raise Forbidden(
            f"{security.who(identity)} may not {method} the task instances of DAG {', '.join(refused)}, "
            f"which clearing {dag_id} reaches through ExternalTaskMarker: nothing was cleared"
        )
