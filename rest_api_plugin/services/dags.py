"""DAG endpoints answered from the metadata database: trigger, pause, state, list."""

from __future__ import annotations

import json

from rest_api_plugin.airflow_compat import AIRFLOW_3, active_dags, logical_date_column, timezone
from rest_api_plugin.errors import BadRequest, Conflict, NotFound
from rest_api_plugin.result import CallContext, Result
from rest_api_plugin.services import serializers

LIST_DAGS_RULE = "-" * 67


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


def trigger_dag(args: dict, ctx: CallContext) -> Result:
    from airflow.api.common.trigger_dag import trigger_dag as airflow_trigger_dag
    from airflow.exceptions import DagNotFound, DagRunAlreadyExists
    from sqlalchemy.exc import IntegrityError

    dag_id = args["dag_id"]
    # as `airflow dags trigger`: a generated date loses its microseconds, so the date printed in
    # "Created <DagRun ...>" names the run; a date the caller gave is kept unless asked otherwise
    options = dict(run_id=args.get("run_id"), conf=args.get("conf"),
                   replace_microseconds=args.get("replace_microseconds", "logical_date" not in args))
    try:
        if AIRFLOW_3:
            run = airflow_trigger_dag(dag_id, **options, **airflow3_trigger_options(args, ctx))
        else:
            run = airflow_trigger_dag(dag_id=dag_id, execution_date=args.get("logical_date"), **options)
    except DagNotFound:
        raise NotFound(f"The DAG ID '{dag_id}' does not exist")
    except DagRunAlreadyExists as err:
        raise Conflict(str(err))
    except IntegrityError:  # Airflow 3 looks for a duplicate run_id only; the database refuses a second date
        date = args.get("logical_date")
        raise Conflict(f"A run of DAG {dag_id} at logical date {date.isoformat() if date else 'now'} already exists"
                       + ("" if date else " (triggered in the same second: give run_id and logical_date, or "
                                          "replace_microseconds=false)"))
    except ValueError as err:  # e.g. a logical date before the DAG's start_date
        raise BadRequest(str(err))
    return Result(output=f"Created {run!r}", data=serializers.dag_run(run))


def airflow3_trigger_options(args: dict, ctx: CallContext) -> dict:
    """Airflow 3's keywords: who triggered it, and a logical date. Airflow 3 lets a manual run have none, but
    old clients name runs by the date they were created at (dag_state, task_state): as Airflow 2 did, a run
    triggered without one gets the current time (seconds, unless replace_microseconds is off)."""
    from airflow.utils.types import DagRunTriggeredByType

    logical_date = args.get("logical_date") or timezone.utcnow()
    return dict(logical_date=logical_date, triggered_by=DagRunTriggeredByType.REST_API,
                triggering_user_name=None if ctx.identity.is_token else ctx.identity.name)


def _set_paused(args: dict, is_paused: bool) -> Result:
    from airflow.utils.session import create_session

    with create_session() as session:
        dag = get_dag_model(args["dag_id"], session)
        dag.is_paused = is_paused
        data = {"dag_id": dag.dag_id, "is_paused": is_paused}
    return Result(output=f"Dag: {data['dag_id']}, paused: {is_paused}", data=data)


def pause(args: dict, ctx: CallContext) -> Result:
    return _set_paused(args, True)


def unpause(args: dict, ctx: CallContext) -> Result:
    return _set_paused(args, False)


def dag_state(args: dict, ctx: CallContext) -> Result:
    from airflow.utils.session import create_session

    with create_session() as session:
        run = find_run(args["dag_id"], args, session)
        data = serializers.dag_run(run)
    # What `airflow dags state` prints; Airflow 1's `dag_state` printed the bare state.
    output = data["state"] if not data["conf"] else f"{data['state']}, {json.dumps(data['conf'])}"
    return Result(output=output, stdout=data["state"], data=data)


def list_dags(args: dict, ctx: CallContext) -> Result:
    """Active DAGs the caller may read, in dag_id order: a constant number of queries whatever their number
    (the rows, their tags, and with paging their count); ``limit``/``offset`` page them."""
    from airflow.utils.session import create_session

    with create_session() as session:
        query = listed_dags_query(args, ctx)
        total = None
        if args.get("limit") is not None or args.get("offset"):
            from sqlalchemy import func, select

            total = session.execute(select(func.count()).select_from(query.subquery())).scalar()
            query = query.offset(args.get("offset") or 0).limit(args.get("limit"))
        rows = session.execute(query).all()
        tags = tags_of(session, [row.dag_id for row in rows])
        dags = [serializers.dag_row(row, tags.get(row.dag_id, [])) for row in rows]
        data = {"dags": dags, "total_entries": len(dags) if total is None else total}
        lines = ["", LIST_DAGS_RULE, "DAGS", LIST_DAGS_RULE, *(dag["dag_id"] for dag in dags)]
        if args.get("report"):
            data["import_errors"] = import_errors(session, ctx)
            lines += ["", LIST_DAGS_RULE, "IMPORT ERRORS", LIST_DAGS_RULE]
            lines += [f"{err['filename']}: {err['stacktrace']}" for err in data["import_errors"]]
    return Result(output="\n".join(lines), data=data)


def listed_dags_query(args: dict, ctx: CallContext):
    """One SELECT of the columns list_dags shows: active DAGs, ``paused`` if given, and, for a caller who
    may not read every DAG, only those the auth manager lets it read (filtered in SQL)."""
    from airflow.models import DagModel
    from sqlalchemy import select

    from rest_api_plugin import security

    query = select(*(getattr(DagModel, name) for name in serializers.DAG_COLUMNS)).where(active_dags(DagModel))
    if args.get("paused") is not None:
        query = query.where(DagModel.is_paused.is_(args["paused"]))
    if not security.may_access_dag(ctx.identity, "GET"):
        query = query.where(DagModel.dag_id.in_(sorted(ctx.identity.permitted_dag_ids() or ())))
    return query.order_by(DagModel.dag_id)


def tags_of(session, dag_ids: list[str]) -> dict[str, list[str]]:
    """Each DAG's tag names, sorted: one query."""
    from airflow.models.dag import DagTag

    tags: dict[str, list[str]] = {}
    if dag_ids:
        query = session.query(DagTag.dag_id, DagTag.name).filter(DagTag.dag_id.in_(dag_ids))
        for dag_id, name in query.order_by(DagTag.dag_id, DagTag.name):
            tags.setdefault(dag_id, []).append(name)
    return tags


def import_errors(session, ctx: CallContext) -> list[dict]:
    """The DAG files' import errors; for a caller who may not read every DAG, only those of files holding a
    DAG it may read, as the stable API filters them (a stack trace shows the file's code)."""
    from airflow.models import DagModel
    from sqlalchemy import select

    from rest_api_plugin import security

    try:
        from airflow.models.errors import ParseImportError as ImportErrorModel
    except ImportError:  # Airflow < 2.10
        from airflow.models.errors import ImportError as ImportErrorModel

    query = session.query(ImportErrorModel)
    if not security.may_access_dag(ctx.identity, "GET"):
        # Airflow 3 names a file relative to its bundle, in both tables
        fileloc = DagModel.relative_fileloc if AIRFLOW_3 else DagModel.fileloc
        readable = select(fileloc).where(DagModel.dag_id.in_(sorted(ctx.identity.permitted_dag_ids() or ())))
        query = query.filter(ImportErrorModel.filename.in_(readable))
    return [
        {"filename": err.filename, "timestamp": serializers.iso(err.timestamp), "stacktrace": err.stacktrace}
        for err in query.order_by(ImportErrorModel.filename)
    ]


def list_tasks(args: dict, ctx: CallContext) -> Result:
    dag = get_serialized_dag(args["dag_id"])
    tasks = [
        {
            "task_id": task.task_id,
            "operator": task.task_type,
            "upstream_task_ids": sorted(task.upstream_task_ids),
            "downstream_task_ids": sorted(task.downstream_task_ids),
        }
        for task in sorted(dag.tasks, key=lambda t: t.task_id)
    ]
    if args.get("tree"):
        output = "\n".join(_tree_lines(dag))
    else:
        output = "\n".join(task["task_id"] for task in tasks)
    return Result(output=output, data={"dag_id": dag.dag_id, "tasks": tasks})


def _tree_lines(dag) -> list[str]:
    lines: list[str] = []

    def walk(task, depth):
        lines.append(f"{'    ' * depth}<Task({task.task_type}): {task.task_id}>")
        for child in sorted(task.downstream_list, key=lambda t: t.task_id):
            walk(child, depth + 1)

    for root in sorted(dag.roots, key=lambda t: t.task_id):
        walk(root, 0)
    return lines
