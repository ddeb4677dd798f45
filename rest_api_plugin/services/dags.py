"""DAG endpoints answered from the metadata database and the serialized DAGs: list_dags, list_tasks, pause and
unpause; dag_details, next_execution, list_import_errors and show_dag (the graph: services/dag_graph.py)."""

from __future__ import annotations

import json
from types import SimpleNamespace

from rest_api_plugin.airflow_compat import (
    DAG_ACTIVE_COLUMN,
    DAG_FILE_COLUMN,
    active_dags,
    dag_is_active,
    import_error_model,
    this_line,
)
from rest_api_plugin.masking import MASK, is_sensitive_name, mask_mapping, redact
from rest_api_plugin.output import plain_table
from rest_api_plugin.result import CallContext, Result
from rest_api_plugin.services.dag_graph import dag_graph, svg_of
from rest_api_plugin.services.lookups import get_dag_model, get_serialized_dag

line_dags = this_line("dags")

LIST_DAGS_RULE = "-" * 67


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
        dags = [SimpleNamespace(**row._mapping, tags=tags.get(row.dag_id, [])) for row in rows]
        data = {"dags": dags, "total_entries": len(dags) if total is None else total}
        lines = ["", LIST_DAGS_RULE, "DAGS", LIST_DAGS_RULE, *(dag.dag_id for dag in dags)]
        if args.get("report"):
            data["import_errors"] = import_errors(session, ctx)
            lines += ["", LIST_DAGS_RULE, "IMPORT ERRORS", LIST_DAGS_RULE]
            lines += [f"{err.filename}: {err.stacktrace}" for err in data["import_errors"]]
    return Result(output="\n".join(lines), data=data)


# The DagModel columns list_dags reads (one row each, no ORM object; schemas.data.Dag shows them); the active
# flag is the line's own.
DAG_COLUMNS = (
    "dag_id",
    "is_paused",
    DAG_ACTIVE_COLUMN,
    "fileloc",
    "owners",
    "description",
    "timetable_description",
    "next_dagrun",
    "last_parsed_time",
)


def listed_dags_query(args: dict, ctx: CallContext):
    """One SELECT of the columns list_dags shows: active DAGs, ``paused`` if given, and, for a caller who
    may not read every DAG, only those the auth manager lets it read (filtered in SQL)."""
    from airflow.models import DagModel
    from sqlalchemy import select

    from rest_api_plugin import security

    query = select(*(getattr(DagModel, name) for name in DAG_COLUMNS)).where(active_dags(DagModel))
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


def import_errors(session, ctx: CallContext) -> list:
    """The DAG files' import errors; for a caller who may not read every DAG, only those of files holding a
    DAG it may read, as the stable API filters them (a stack trace shows the file's code)."""
    from airflow.models import DagModel
    from sqlalchemy import select

    from rest_api_plugin import security

    ImportErrorModel = import_error_model()
    query = session.query(ImportErrorModel)
    if not security.may_access_dag(ctx.identity, "GET"):
        readable = select(getattr(DagModel, DAG_FILE_COLUMN)).where(
            DagModel.dag_id.in_(sorted(ctx.identity.permitted_dag_ids() or ()))
        )
        query = query.filter(ImportErrorModel.filename.in_(readable))
    return query.order_by(ImportErrorModel.filename).all()


def list_tasks(args: dict, ctx: CallContext) -> Result:
    dag = get_serialized_dag(args["dag_id"])
    tasks = sorted(dag.tasks, key=lambda t: t.task_id)
    if args.get("tree"):
        output = "\n".join(_tree_lines(dag))
    else:
        output = "\n".join(task.task_id for task in tasks)
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


def dag_details(args: dict, ctx: CallContext) -> Result:
    """The DAG's attributes as ``airflow dags details`` shows them (``attributes``, and ``output`` as its
    plain table), plus the fields a caller looks for first and the DAG's params, secrets masked."""
    from airflow.utils.session import create_session

    with create_session() as session:
        model = get_dag_model(args["dag_id"], session)
        attributes = line_dags.cli_details(model)
        data = {
            "dag_id": model.dag_id,
            "fileloc": model.fileloc,
            "owners": [owner.strip() for owner in (model.owners or "").split(",") if owner.strip()],
            "tags": tags_of(session, [model.dag_id]).get(model.dag_id, []),
            "schedule": line_dags.schedule(model),
            "timetable_description": model.timetable_description,
            "description": model.description,
            "is_paused": bool(model.is_paused),
            "is_active": dag_is_active(model),
            "last_parsed_time": model.last_parsed_time,
            "next_dagrun": model.next_dagrun,
            "next_dagrun_data_interval_start": model.next_dagrun_data_interval_start,
            "next_dagrun_data_interval_end": model.next_dagrun_data_interval_end,
            "next_dagrun_create_after": model.next_dagrun_create_after,
            "max_active_runs": model.max_active_runs,
            "max_active_tasks": model.max_active_tasks,
            "params": params_of(model.dag_id),
            "attributes": attributes,
        }
    rows = [{"property_name": name, "property_value": printed(value)} for name, value in attributes.items()]
    return Result(output=plain_table(rows, ("property_name", "property_value")), data=data)


def printed(value) -> str:
    """A value of ``dags details`` as a table cell: text as it is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def params_of(dag_id: str) -> dict:
    """The serialized DAG's params, name -> default value; the value of a param whose name names a secret is
    ``***``, and so are secrets inside values (sensitive keys, values registered with the masker)."""
    from airflow.models.serialized_dag import SerializedDagModel

    dag = SerializedDagModel.get_dag(dag_id)
    if dag is None or not dag.params:
        return {}
    shown = {}
    for name in dag.params:
        value = dag.params.get_param(name).value
        if type(value).__name__ == "ArgNotSet":  # a param without a default (NOTSET on both lines)
            value = None
        hidden = is_sensitive_name(name) and value not in (None, "")
        shown[name] = MASK if hidden else redact(mask_mapping(json.loads(json.dumps(value, default=str))), name)
    return shown


# What `dags next-execution` writes to stderr: the DAG is paused; the schedule has no next run.
PAUSED_REMINDER = "[INFO] Please be reminded this DAG is PAUSED now."
NO_NEXT_RUN = "[WARN] No following schedule can be found. This DAG may have schedule interval '@once' or `None`."


def next_execution(args: dict, ctx: CallContext) -> Result:
    """The DAG's next ``num_executions`` runs as ``airflow dags next-execution`` finds them: computed for a
    paused DAG too, with the CLI's reminder on stderr; ``None`` (and a warning) where the schedule has no
    more."""
    from airflow.utils.session import create_session

    with create_session() as session:
        model = get_dag_model(args["dag_id"], session)
        dag = get_serialized_dag(args["dag_id"])
        found = line_dags.next_executions(dag, model, args["num_executions"])
        is_paused = bool(model.is_paused)
    printed_dates = [run["logical_date"].isoformat() if run and run["logical_date"] else "None" for run in found]
    stderr = [PAUSED_REMINDER] if is_paused else []
    if None in found:
        stderr.append(NO_NEXT_RUN)
    data = {"dag_id": args["dag_id"], "is_paused": is_paused, "next_executions": [run for run in found if run]}
    return Result(output="\n".join(printed_dates), stderr="\n".join(stderr), data=data)


def list_import_errors(args: dict, ctx: CallContext) -> Result:
    """The DAG files' import errors stored by the DAG processor, as ``airflow dags list-import-errors`` lists
    them; a caller who may not read every DAG sees those of files holding a DAG it may read (as list_dags
    report=true)."""
    from airflow.utils.session import create_session

    with create_session() as session:
        errors = import_errors(session, ctx)
    rows = [
        {"bundle_name": getattr(err, "bundle_name", None), "filepath": err.filename, "error": err.stacktrace}
        for err in errors
    ]
    return Result(
        output=plain_table(rows, line_dags.IMPORT_ERROR_COLUMNS),
        data={"import_errors": errors, "total_entries": len(errors)},
    )


def show_dag(args: dict, ctx: CallContext) -> Result:
    """The DAG as ``airflow dags show`` prints it (DOT text), its nodes and edges, and with ``format=svg`` the
    picture Graphviz's ``dot`` draws (409 when it is not installed)."""
    dag = get_serialized_dag(args["dag_id"])
    dot_text, graph = dag_graph(dag)
    data = {"dag_id": dag.dag_id, **graph}
    if args["format"] == "svg":
        data["svg"] = svg_of(dot_text)
    return Result(output=dot_text, data=data)
