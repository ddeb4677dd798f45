"""DAG-run endpoints: trigger_dag, dag_state, list_runs and states_for_dag_run, answered in-process from the
metadata database; backfill, a background job (``airflow dags backfill`` on Airflow 2, ``airflow backfill
create`` on Airflow 3: its argv is the line's, ``airflow2/commands.py`` and ``airflow3/commands.py``); dag_test,
``airflow dags test`` as a job (the same command on both lines), waited for by default, answered with the run
it made."""

from __future__ import annotations

import json

from rest_api_plugin import security
from rest_api_plugin.airflow_compat import (
    RUN_DATE_NAME,
    DagAccessEntity,
    logical_date_column,
    run_after,
    run_logical_date,
    run_order_column,
    this_line,
    timezone,
)
from rest_api_plugin.errors import BadRequest, Conflict, Forbidden, NotFound
from rest_api_plugin.output import plain_table
from rest_api_plugin.processes.argv import option, positional
from rest_api_plugin.processes.jobs import run_job
from rest_api_plugin.result import CallContext, Result
from rest_api_plugin.schemas.data import DagTest
from rest_api_plugin.services.lookups import find_run, get_dag_model, get_serialized_dag
from rest_api_plugin.services.tasks import authorize_other_dags, matching_task_ids

line_commands = this_line("commands")
line_runs = this_line("runs")
line_dags = this_line("dags")


def backfill_argv(args: dict) -> list[str]:
    """``airflow dags backfill`` (Airflow 2) or ``airflow backfill create`` (Airflow 3), as the line runs it
    (``airflow2/commands.py``, ``airflow3/commands.py``)."""
    return line_commands.backfill_argv(args)


def trigger_dag(args: dict, ctx: CallContext) -> Result:
    """Create a manual run. A run without a logical date gets the current time, to the second when that
    second is free for the DAG (old clients read back the date printed in "Created <DagRun ...>"), else the
    exact time. The database's uniqueness decides (two servers may trigger in the same second): a conflict
    over a date the plugin chose is retried with the exact time; one over the caller's run_id or date is 409."""
    dag_id, run_id = args["dag_id"], args.get("run_id")
    for date, may_fall_back in trigger_dates(dag_id, args):
        try:
            run = create_run(dag_id, date, args, ctx)
        except RunCollision as collision:
            holder = collision.holder_run_id
            if holder is None and (run_id is not None or not may_fall_back):
                holder = holder_of(dag_id, run_id, date)
            if run_id is not None and holder == run_id:
                raise Conflict(f"A run of DAG {dag_id} with run_id {run_id} already exists") from None
            if may_fall_back:
                continue
            raise Conflict(date_taken_message(dag_id, date, holder, args)) from None
        return Result(output=f"Created {run!r}", data=run)
    raise Conflict(f"A run of DAG {dag_id} could not get a logical date of its own: try again")


# A generated date that collides at the exact microsecond too is drawn again, this many times at most.
EXACT_DATE_ATTEMPTS = 5


def trigger_dates(dag_id: str, args: dict):
    """``(logical date, may fall back)`` pairs to try in turn. A date the caller gave is tried as given
    (``replace_microseconds=true`` drops its microseconds). Without one: the current second, unless the
    caller asked for the exact time (``replace_microseconds=false``); if that second is taken and the caller
    did not insist on whole seconds (``replace_microseconds=true``, as the CLI), the exact time, drawn again
    should even that be taken."""
    rounded = args.get("replace_microseconds")
    given = args.get("logical_date")
    if given is not None:
        yield (given.replace(microsecond=0) if rounded else given), False
        return
    if rounded is not False:
        second = timezone.utcnow().replace(microsecond=0)
        if rounded or not second_looks_taken(dag_id, second):
            yield second, not rounded
        if rounded:
            return
    for attempt in range(EXACT_DATE_ATTEMPTS):
        yield timezone.utcnow(), attempt < EXACT_DATE_ATTEMPTS - 1


def second_looks_taken(dag_id: str, second) -> bool:
    """Whether a run of the DAG holds ``second`` already. Only a shortcut: under many triggers a second most
    often is taken, and an attempt the database would refuse costs a whole trigger (the DAG deserialized, an
    insert rolled back). It decides nothing: a second it finds free may be taken before the insert, which
    the database then refuses, and the exact time follows."""
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        taken = session.query(DagRun.id).filter(DagRun.dag_id == dag_id, logical_date_column(DagRun) == second)
        return session.query(taken.exists()).scalar()


class RunCollision(Exception):
    """The database already holds a run of the DAG with this run_id or logical date: ``holder_run_id`` names
    it when Airflow found it, None when the database refused the insert."""

    def __init__(self, holder_run_id: str | None):
        super().__init__(holder_run_id)
        self.holder_run_id = holder_run_id


def create_run(dag_id: str, date, args: dict, ctx: CallContext):
    """Airflow's own ``trigger_dag`` at exactly ``date`` (this line's: ``airflow2/runs.py``,
    ``airflow3/runs.py``); RunCollision when the run_id or the date is taken, whether Airflow saw it first
    (DagRunAlreadyExists) or the database refused the insert (IntegrityError: another request took it in
    between)."""
    from airflow.exceptions import DagNotFound, DagRunAlreadyExists
    from sqlalchemy.exc import IntegrityError

    try:
        return line_runs.trigger(dag_id, date, args.get("run_id"), args.get("conf"), ctx.identity)
    except DagNotFound:
        raise NotFound(f"The DAG ID '{dag_id}' does not exist") from None
    except DagRunAlreadyExists as err:
        raise RunCollision(err.dag_run.run_id) from None
    except IntegrityError:  # another request took it between Airflow's look-up and its insert
        raise RunCollision(None) from None
    except ValueError as err:  # e.g. a logical date before the DAG's start_date
        raise BadRequest(str(err)) from None


def holder_of(dag_id: str, run_id: str | None, date) -> str | None:
    """The run_id of the run that holds ``run_id`` (if the caller named one) or else ``date``, read back once
    the refused insert was rolled back."""
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        query = session.query(DagRun.run_id).filter(DagRun.dag_id == dag_id)
        if run_id is not None and query.filter(DagRun.run_id == run_id).first():
            return run_id
        holder = query.filter(logical_date_column(DagRun) == date).first()
        return holder.run_id if holder else None


def date_taken_message(dag_id: str, date, holder_run_id: str | None, args: dict) -> str:
    held = f" (run_id {holder_run_id})" if holder_run_id else ""
    message = f"A run of DAG {dag_id} at logical date {date.isoformat()} already exists{held}"
    if "logical_date" not in args:  # replace_microseconds=true kept it to the second, as the CLI does
        message += ": leave replace_microseconds unset to get the exact time when the second is taken"
    return message


def dag_state(args: dict, ctx: CallContext) -> Result:
    from airflow.utils.session import create_session

    with create_session() as session:
        run = find_run(args["dag_id"], args, session)
    # What `airflow dags state` prints; Airflow 1's `dag_state` printed the bare state.
    state = None if run.state is None else str(run.state)
    output = f"{state}, {json.dumps(run.conf)}" if run.conf else state
    return Result(output=output, stdout=state, data=run)


def iso(moment) -> str:
    """A moment as the CLI's tables print it: ISO 8601, or empty."""
    return moment.isoformat() if moment else ""


def list_runs(args: dict, ctx: CallContext) -> Result:
    """The DAG's runs, newest first, as ``airflow dags list-runs`` lists them: one SELECT with the filters
    (``state``, logical dates from ``start_date`` to ``end_date``, ``no_backfill``), paged by
    ``limit``/``offset`` (then one count too)."""
    from airflow.models import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    dag_id = args["dag_id"]
    query = select(DagRun).where(DagRun.dag_id == dag_id)
    if args.get("state"):
        query = query.where(DagRun.state == args["state"])
    if args.get("start_date"):
        query = query.where(logical_date_column(DagRun) >= args["start_date"])
    if args.get("end_date"):
        query = query.where(logical_date_column(DagRun) <= args["end_date"])
    if args.get("no_backfill"):
        query = query.where(DagRun.run_type != "backfill")
    with create_session() as session:
        get_dag_model(dag_id, session)
        total = None
        if args.get("limit") is not None or args.get("offset"):
            total = session.execute(select(func.count()).select_from(query.subquery())).scalar()
            query = query.offset(args.get("offset") or 0).limit(args.get("limit"))
        runs = session.scalars(query.order_by(run_order_column(DagRun).desc(), DagRun.id.desc())).all()
    rows = [
        {
            "dag_id": run.dag_id,
            "run_id": run.run_id,
            "state": run.state,
            "run_after": iso(run_after(run)),
            RUN_DATE_NAME: iso(run_logical_date(run)),
            "start_date": iso(run.start_date),
            "end_date": iso(run.end_date),
        }
        for run in runs
    ]
    data = {"dag_id": dag_id, "runs": runs, "total_entries": len(runs) if total is None else total}
    return Result(output=plain_table(rows, line_dags.RUN_LIST_COLUMNS), data=data)


def states_for_dag_run(args: dict, ctx: CallContext) -> Result:
    """Every task instance of one run (named by run_id or logical date, as dag_state finds it), by task and
    map index, as ``airflow tasks states-for-dag-run`` prints them."""
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = find_run(args["dag_id"], args, session)
        tis = session.scalars(
            select(TaskInstance)
            .where(TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id)
            .order_by(TaskInstance.task_id, TaskInstance.map_index)
        ).all()
    mapped = any(ti.map_index >= 0 for ti in tis)
    columns = ["dag_id", RUN_DATE_NAME, "task_id", "state", "start_date", "end_date"]
    if mapped:  # the CLI adds the column when the run has mapped task instances
        columns.append("map_index")
    rows = [
        {
            "dag_id": ti.dag_id,
            RUN_DATE_NAME: iso(run_logical_date(run)),
            "task_id": ti.task_id,
            "state": ti.state,
            "start_date": iso(ti.start_date),
            "end_date": iso(ti.end_date),
            "map_index": ti.map_index if ti.map_index >= 0 else "",
        }
        for ti in tis
    ]
    data = {
        "dag_id": run.dag_id,
        "run_id": run.run_id,
        "logical_date": run_logical_date(run),
        "state": run.state,
        "task_instances": tis,
    }
    return Result(output=plain_table(rows, columns), data=data)


def backfill(args: dict, ctx: CallContext) -> Result:
    from airflow.utils.session import create_session

    with create_session() as session:
        get_dag_model(args["dag_id"], session)
    if args.get("reset_dagruns") and not args.get("dry_run"):  # Airflow 2 only: Airflow 3's schema refuses it
        authorize_reset(args, ctx)
    result = run_job("backfill", backfill_argv(args), args, ctx, dag_id=args["dag_id"])
    note = line_commands.backfill_note(args)
    if note:
        result.output = "\n".join(part for part in (result.output, note) if part)
    return result


def authorize_reset(args: dict, ctx: CallContext) -> None:
    """Airflow 2's ``dags backfill --reset-dagruns`` first clears the range, and that clear follows
    ExternalTaskMarker tasks into other DAGs: the caller must be allowed to clear each of them too (403 before
    the job starts), as ``clear`` checks it."""
    from airflow.utils.session import create_session

    dag = get_serialized_dag(args["dag_id"])
    if args.get("task_regex"):
        dag = dag.partial_subset(
            matching_task_ids(dag, args["task_regex"]), include_upstream=not args.get("ignore_dependencies")
        )
    start, end = args.get("start_date") or args.get("end_date"), args.get("end_date") or args.get("start_date")
    with create_session() as session:
        tis = dag.clear(start_date=start, end_date=end, dry_run=True, session=session) if dag.task_dict else []
        reached = {ti.dag_id for ti in tis}
    authorize_other_dags(ctx.identity, args["dag_id"], reached, dry_run=False)


# --- dag_test: `airflow dags test` as a job ---


def dag_test_argv(args: dict) -> list[str]:
    """``airflow dags test``, the same on both lines (``subdir`` is Airflow 2's: the schema drops it on
    Airflow 3); the logical date is a positional argument, when given."""
    conf = json.dumps(args["conf"]) if args.get("conf") else None
    date = [positional(args["logical_date"].isoformat())] if args.get("logical_date") else []
    return [
        "dags",
        "test",
        *option("--conf", conf),
        *option("--mark-success-pattern", args.get("mark_success_pattern")),
        *option("--use-executor", args.get("use_executor")),
        *option("--subdir", args.get("subdir")),
        positional(args["dag_id"]),
        *date,
    ]


def dag_test(args: dict, ctx: CallContext) -> Result:
    """Run ``airflow dags test`` as a job, always with a logical date (the caller's, else now, as the CLI
    would take it), by which the run the command makes is found once it ended: ``data`` then holds that run
    and the state of each of its task instances, whether the run succeeded or (409) failed.

    The command replaces a run that already holds that date (it deletes it first): that needs the right to
    delete the DAG's runs too (403 before anything runs)."""
    from airflow.utils.session import create_session

    dag_id = args["dag_id"]
    date = args.get("logical_date") or timezone.utcnow()
    with create_session() as session:
        get_dag_model(dag_id, session)
        replaced = run_at(dag_id, date, session)
    if replaced is not None and not security.may_access_dag(ctx.identity, "DELETE", dag_id, DagAccessEntity.RUN):
        raise Forbidden(
            f"{security.who(ctx.identity)} may not delete the runs of DAG {dag_id}: run "
            f"{replaced.run_id} holds logical date {date.isoformat()}, and airflow dags test replaces "
            "it. Choose another date (or none)."
        )
    # what tells the run the command made from the one it would have replaced (should it fail first): SQLite
    # may give the new run the id of the deleted one, and a run_id may be the same (the same date tested again)
    replaced_key = (replaced.id, replaced.run_id) if replaced is not None else None
    started = timezone.utcnow()
    args = {**args, "logical_date": date}
    try:
        result = run_job("dag_test", dag_test_argv(args), args, ctx, dag_id=dag_id)
    except Conflict as failed:  # the command failed: the run it made, if any, says where
        if isinstance(failed.data, dict) and "job_id" in failed.data:  # (an error's data is not dumped for it)
            failed.data = DagTest().dump({**failed.data, **tested_run(dag_id, date, replaced_key, started)})
        raise
    if result.http_status == 200 and result.data["state"] != "running":
        result.data = {**result.data, **tested_run(dag_id, date, replaced_key, started)}
    return result


def run_at(dag_id: str, date, session):
    from airflow.models import DagRun

    return session.query(DagRun).filter(DagRun.dag_id == dag_id, logical_date_column(DagRun) == date).one_or_none()


def tested_run(dag_id: str, date, replaced_key: tuple | None, started) -> dict:
    """The run ``airflow dags test`` made at ``date`` and its task instances' states; empty values when it
    made none (it failed first: the run found is still the one it would have replaced, not updated since the
    command ``started``, or none)."""
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        run = run_at(dag_id, date, session)
        untouched = (
            run is not None
            and (run.id, run.run_id) == replaced_key
            and (run.updated_at is None or run.updated_at < started)
        )
        if run is None or untouched:
            return {"run_id": None, "logical_date": date, "dag_run_state": None, "task_instances": []}
        tis = (
            session.query(TaskInstance)
            .filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)
            .order_by(TaskInstance.task_id, TaskInstance.map_index)
            .all()
        )
        return {
            "run_id": run.run_id,
            "logical_date": date,
            "dag_run_state": None if run.state is None else str(run.state),
            "task_instances": [
                {
                    "task_id": ti.task_id,
                    "map_index": ti.map_index,
                    "state": None if ti.state is None else str(ti.state),
                    "try_number": ti.try_number,
                    "start_date": ti.start_date,
                    "end_date": ti.end_date,
                }
                for ti in tis
            ],
        }
