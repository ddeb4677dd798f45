"""Background jobs: commands that may outlive a web request (daemons, backfills, long task runs), and
``run_job``, which every endpoint that runs a command calls.

Jobs live in the metadata database, in the plugin's own tables (``job_tables``; on SQLite a file of their own
beside Airflow's), so every API server sees the same jobs, whichever started them, and they survive the server
that did:

- a row in ``rest_api_plugin_job``: what was started (``command`` as shown to people), by whom, about which
  DAG; the host and pid of its runner (``rest_api_plugin.processes.job_runner``, the command's parent), the
  runner's heartbeat, a stop request, and how the job ended;
- its stdout and its stderr, kept apart, streamed by the runner into ``rest_api_plugin_job_output`` as the job
  runs, bounded by ``job_output_max_bytes`` (the beginning and the end of each stream are kept).

The state is derived, the same on every server: ``success`` / ``failed`` / ``killed`` from the end the runner
recorded, else ``running`` while its heartbeat is fresh, else ``lost`` (no heartbeat for ``job_lost_after``
seconds: the runner, or its host, is gone).

A job belongs to whoever started it. A caller sees the jobs it started and those about a DAG it may read;
admins and a token for every DAG see all (a token limited to some DAGs: its own and those of its DAGs); a job
about no DAG (a scheduler, a worker) only its starter and admins. Other jobs answer 404, as if they did not
exist. ``max_jobs_per_user`` and ``max_jobs`` bound how many run at once, counted in the database across
servers. Ended jobs are pruned after ``job_retention_days``, by the servers themselves.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Callable

import sqlalchemy as sa

from rest_api_plugin import config, security
from rest_api_plugin.airflow_compat import WORKERS_SECTION
from rest_api_plugin.errors import Conflict, NotFound, TooManyRequests
from rest_api_plugin.processes import commands, job_tables
from rest_api_plugin.processes.job_tables import job, job_output, meta, now_text
from rest_api_plugin.processes.wait_slots import count as wait_slot_count
from rest_api_plugin.processes.wait_slots import wait_slot
from rest_api_plugin.result import CallContext, Result

log = logging.getLogger(__name__)

JOB_ID = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
POLL_SECONDS = 0.1
TAIL_BYTES = 64 * 1024
LINES_IN_ANSWER = 2000
STREAMS = ("stdout", "stderr")
PRUNE_EVERY_SECONDS = 300  # per process: pruning runs on a job start or list at most this often
STOP_MARGIN_SECONDS = 5  # stop_job waits the runner's poll, the grace, then this much for the end record
# What a job's description shows, in this order (the row also keeps argv, host, heartbeat...).
DESCRIBED = (
    "job_id",
    "api",
    "command",
    "dag_id",
    "pid",
    "started_at",
    "requested_by",
    "stop_requested_at",
    "stop_requested_by",
)

_ready_lock = threading.Lock()
# id of Airflow's engine: the engine on the job tables, made ready (Airflow's own, or on SQLite one on their file)
_ready_engines: dict[int, sa.engine.Engine] = {}
_last_prune = [float("-inf")]


def engine() -> sa.engine.Engine:
    """The engine on the job tables, made (once per process and engine) with the jobs of earlier versions (files)
    moved into them: Airflow's engine on its metadata database; on SQLite one of the plugin's own on the file
    beside Airflow's (``job_tables.database_url``)."""
    from airflow import settings

    airflow_engine = settings.engine
    ready = _ready_engines.get(id(airflow_engine))
    if ready is None:
        with _ready_lock:
            ready = _ready_engines.get(id(airflow_engine))
            if ready is None:
                url = job_tables.database_url(airflow_engine.url)
                ready = (
                    airflow_engine
                    if url == airflow_engine.url
                    else job_tables.engine_for(url.render_as_string(hide_password=False))
                )
                job_tables.create(ready)
                from rest_api_plugin.processes import job_files

                job_files.migrate(ready)
                _ready_engines[id(airflow_engine)] = ready
    return ready


def _forget_pooled_connections() -> None:
    """In a forked child (a gunicorn worker): the parent's pooled connections on the plugin's own engines are not
    the child's to use (Airflow's engine is Airflow's to look after)."""
    for airflow_engine_id, ready in _ready_engines.items():
        if id(ready) != airflow_engine_id:
            ready.dispose(close=False)


os.register_at_fork(after_in_child=_forget_pooled_connections)


def _check_id(job_id: str) -> str:
    if not JOB_ID.match(job_id) or job_id.startswith("."):
        raise NotFound(f"Job {job_id!r} not found")
    return job_id


# --- running a command ---


def run_job(name: str, command: list[str], args: dict, ctx: CallContext, *, dag_id: str | None = None) -> Result:
    """Start ``airflow COMMAND`` as a job (``dag_id``: the DAG it is about). Without ``wait``, answer at once
    with the job. With it, answer with the command's stdout (``output``) and stderr once it ends, or after
    ``timeout`` seconds (never more than the CLI timeout, below the webserver's worker timeout); or at once,
    with 202, when every wait slot is taken (see ``wait_slots``)."""
    job_ = start(name, commands.program(command), ctx.identity, dag_id=dag_id)
    started = f"Started job {job_['job_id']} (pid {job_['pid']}): {job_['command']}"
    if not args.get("wait"):
        return Result(output=started, data=job_)
    seconds = min(args.get("timeout") or commands.timeout(), commands.timeout())
    with wait_slot() as waiting:
        if not waiting:
            return Result(
                output=f"{started}\nNot waiting for it: {_no_slot_reason()} Ask api=jobs&job_id={job_['job_id']}",
                data=job_,
                http_status=202,
            )
        job_ = wait(job_["job_id"], seconds)
    if job_["state"] == "running":
        return Result(
            output=f"Job {job_['job_id']} is still running after {seconds}s: ask api=jobs&job_id={job_['job_id']}",
            data=job_,
            http_status=202,
        )
    stdout, stderr = output_of(job_["job_id"], LINES_IN_ANSWER)
    if job_["state"] != "success":
        ended = f"signal {job_['signal']}" if job_["signal"] else f"exit code {job_['exit_code']}"
        if job_.get("task_state") and job_["exit_code"] == 0:  # Airflow 3's tasks test: the task failed
            ended += f", but the task ended {job_['task_state']}"
        if job_["state"] == "lost":
            ended = "no end recorded: its runner was lost"
        stderr_section = f"\n--- stderr ---\n{stderr}" if stderr else ""
        raise Conflict(
            f"{job_['command']} ended with {ended}\n{stdout}{stderr_section}",
            data={**job_, "stdout": stdout, "stderr": stderr},
        )
    return Result(output=stdout, stderr=stderr or "", data=job_)


def _no_slot_reason() -> str:
    slots = wait_slot_count()
    return (
        f"{slots} request(s) already wait on jobs, as many as the webserver allows "
        f"([{WORKERS_SECTION}] workers = {config.webserver_workers()}; some of them are kept free "
        "for other requests)."
    )


def start(name: str, program: commands.Program, identity: security.Identity, dag_id: str | None = None) -> dict:
    """Start ``program`` as a job for ``identity``; returns its description at once. 429 (and nothing
    started) when the caller, or everyone together, already runs as many jobs as allowed, on all servers."""
    database = engine()
    prune_now_and_then()
    job_id = f"{name}_{datetime.now(timezone.utc):%Y%m%dT%H%M%S}_{secrets.token_hex(3)}"
    record = {
        "job_id": job_id,
        "api": name,
        "command": program.display,
        "argv": json.dumps(program.argv),
        "dag_id": dag_id,
        "requested_by": identity.name,
        "requested_with_token": identity.is_token,
        "host": socket.gethostname(),
        "started_at": now_text(),
        "heartbeat_at": time.time(),  # fresh until the runner beats itself
        "stdout_cut_bytes": 0,
        "stderr_cut_bytes": 0,
        "merged_output": False,
    }
    with database.begin() as connection:
        # the first write of the transaction: the database serializes every start (a row lock on PostgreSQL
        # and MySQL, the write lock on SQLite), so two servers at the cap cannot both pass it
        connection.execute(meta.update().where(meta.c.name == "job_starts").values(value=meta.c.value + 1))
        _check_caps(connection, identity)
        connection.execute(job.insert().values(**record))
    runner = [
        sys.executable,
        "-m",
        "rest_api_plugin.processes.job_runner",
        job_id,
        str(config.job_heartbeat()),
        str(config.job_stop_grace()),
        str(config.job_output_max_bytes()),
        "--",
        *program.argv,
    ]
    environment = commands.child_environment()
    environment[job_tables.DATABASE_ENVIRONMENT] = database.url.render_as_string(hide_password=False)
    try:
        process = subprocess.Popen(
            runner,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=environment,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as err:
        _end_unstarted(database, job_id, f"Could not start the job's runner: {err}")
    else:
        threading.Thread(target=process.wait, daemon=True).start()  # reap it, so it never lingers as a zombie
        with database.begin() as connection:  # the runner records it too; the answer shows it at once
            connection.execute(job.update().where(job.c.job_id == job_id).values(pid=process.pid))
    return describe(load(job_id))


def _end_unstarted(database, job_id: str, message: str) -> None:
    with database.begin() as connection:
        connection.execute(
            job_output.insert().values(job_id=job_id, stream="stderr", part="head", data=f"{message}\n".encode())
        )
        connection.execute(job.update().where(job.c.job_id == job_id).values(**job_tables.end_fields(127)))


def _running_clause():
    """The jobs still running: no end recorded, not marked lost, and a fresh heartbeat."""
    return sa.and_(
        job.c.ended_at.is_(None), job.c.lost_at.is_(None), job.c.heartbeat_at >= time.time() - config.job_lost_after()
    )


def _started_by_clause(identity: security.Identity):
    return sa.and_(job.c.requested_by == identity.name, job.c.requested_with_token == identity.is_token)


def _check_caps(connection, identity: security.Identity) -> None:
    per_user, overall = config.max_jobs_per_user(), config.max_jobs()
    count = sa.select(sa.func.count()).select_from(job).where(_running_clause())
    if per_user:
        mine = connection.execute(count.where(_started_by_clause(identity))).scalar()
        if mine >= per_user:
            raise TooManyRequests(
                f"{_who(identity)} already run(s) {mine} job(s), the most allowed (max_jobs_per_user = "
                f"{per_user}): wait for one to end, or stop one with api=stop_job. Nothing was started.",
                data={"running": mine, "max_jobs_per_user": per_user},
            )
    if overall:
        running = connection.execute(count).scalar()
        if running >= overall:
            raise TooManyRequests(
                f"{running} jobs are running, the most allowed (max_jobs = {overall}): try again when one has "
                "ended. Nothing was started.",
                data={"running": running, "max_jobs": overall},
            )


def _who(identity: security.Identity) -> str:
    return security.who(identity)


# --- retention ---


def prune_now_and_then() -> None:
    """Prune, at most once every ``PRUNE_EVERY_SECONDS`` in this process."""
    if time.monotonic() - _last_prune[0] < PRUNE_EVERY_SECONDS:
        return
    _last_prune[0] = time.monotonic()
    try:
        prune()
    except sa.exc.SQLAlchemyError as err:  # e.g. SQLite busy: the next chance comes soon, the call goes on
        log.warning("REST API plugin: pruning old jobs failed: %s", err)


def prune() -> int:
    """Delete the jobs that ended (or were last heard of) more than ``job_retention_days`` ago, and their
    output; returns how many. 0 days: keep every job."""
    days = config.job_retention_days()
    if not days:
        return 0
    oldest = datetime.now(timezone.utc) - timedelta(days=days)
    oldest_text = oldest.isoformat(timespec="microseconds")
    old = sa.or_(
        job.c.ended_at < oldest_text,
        sa.and_(job.c.ended_at.is_(None), sa.or_(job.c.heartbeat_at < oldest.timestamp(), job.c.lost_at < oldest_text)),
    )
    with engine().begin() as connection:
        connection.execute(job_output.delete().where(job_output.c.job_id.in_(sa.select(job.c.job_id).where(old))))
        return connection.execute(job.delete().where(old)).rowcount


# --- reading jobs ---


def load(job_id: str) -> dict:
    """The job's row, as a dict; 404 when there is none."""
    _check_id(job_id)
    with engine().connect() as connection:
        row = connection.execute(sa.select(job).where(job.c.job_id == job_id)).mappings().first()
    if row is None:
        raise NotFound(f"Job {job_id!r} not found")
    return dict(row)


def running_records() -> list[dict]:
    """The rows of every job still running, whoever started it, on any server."""
    with engine().connect() as connection:
        return [dict(row) for row in connection.execute(sa.select(job).where(_running_clause())).mappings()]


def state_of(record: dict) -> str:
    if record.get("ended_at"):
        if record.get("signal"):
            return "killed"
        return "success" if record.get("exit_code") == 0 else "failed"
    if record.get("lost_at") or _heartbeat_stale(record):
        return "lost"
    return "running"


def _heartbeat_stale(record: dict) -> bool:
    beat = record.get("heartbeat_at")
    return beat is None or time.time() - beat > config.job_lost_after()


def describe(record: dict, tail_lines: int = 0) -> dict:
    """What a caller sees of a job; with ``tail_lines``, also the last lines of its stdout and stderr
    (``stderr`` is None for a job of an earlier version, whose one log is shown as ``stdout``)."""
    ended = bool(record.get("ended_at"))
    described = {
        **{key: record.get(key) for key in DESCRIBED},
        "state": state_of(record),
        "exit_code": record.get("exit_code") if ended else None,
        "signal": record.get("signal_name") if ended else None,
        "ended_at": record.get("ended_at"),
    }
    if record.get("api") == "test" and ended:  # Airflow 3's tasks test exits 0 even if the task failed
        described.update(_end_details(record, described))
    if tail_lines:
        described["stdout"], described["stderr"] = output_of(record["job_id"], tail_lines)
    return described


def _end_details(record: dict, described: dict) -> dict:
    """What the Airflow line adds to an ended test job's description (read in its output once, then kept in
    its row, so that listing jobs reads no output)."""
    if record.get("end_details"):
        return json.loads(record["end_details"])
    before = dict(described)
    commands.line_commands.describe_ended_test(described, lambda: tail(record["job_id"], "stdout"))
    details = {key: value for key, value in described.items() if before.get(key, ...) != value}
    with engine().begin() as connection:
        connection.execute(job.update().where(job.c.job_id == record["job_id"]).values(end_details=json.dumps(details)))
    return details


def output_of(job_id: str, lines: int) -> tuple[str, str | None]:
    """The last ``lines`` lines of the job's stdout and stderr, without Airflow's loading noise (when
    ``filter_loading_messages_in_cli_response`` is on); stderr is None for a job with one merged log."""
    record = load(job_id)
    stdout = _last_lines(commands.filter_noise(tail(job_id, "stdout", record)), lines)
    if record.get("merged_output"):
        return stdout, None
    return stdout, _last_lines(commands.filter_noise(tail(job_id, "stderr", record)), lines)


def tail(job_id: str, stream: str = "stdout", record: dict | None = None) -> str:
    """The end (about ``TAIL_BYTES``) of one of the job's streams as it was written, ``stdout`` or ``stderr``;
    where output was cut, a line says how much ("... N bytes cut ...")."""
    record = record or load(job_id)
    cut = record.get(f"{stream}_cut_bytes") or 0
    pieces: list[bytes] = []
    size = 0
    noted = False
    query = (
        sa.select(job_output.c.part, job_output.c.data)
        .where(job_output.c.job_id == job_id, job_output.c.stream == stream)
        .order_by(job_output.c.id.desc())
    )
    with engine().connect() as connection:
        for part, data in connection.execute(query):
            if part == "head" and cut and not noted:
                pieces.append(f"\n... {cut} bytes cut ...\n".encode())
                noted = True
            pieces.append(bytes(data))
            size += len(data)
            if size > TAIL_BYTES:
                break
    text = b"".join(reversed(pieces))
    if size > TAIL_BYTES:
        text = text[-TAIL_BYTES:].partition(b"\n")[2]  # drop the line cut in half
    return text.decode("utf-8", errors="replace")


def _last_lines(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])


def list_for(identity: security.Identity) -> list[dict]:
    """The jobs ``identity`` may see, newest first, without their output."""
    return page_for(identity)[0]


def page_for(identity: security.Identity, limit: int | None = None, offset: int = 0) -> tuple[list[dict], int]:
    """The jobs ``identity`` may see, newest first, without their output (the list stays light): the page
    ``limit``/``offset`` asks for (no limit: all of them), and how many there are in all. One query for the
    page, one for the count; who may see what is decided in SQL."""
    seen = _seen_clause(identity)
    query = sa.select(job).order_by(job.c.started_at.desc(), job.c.job_id.desc()).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    count = sa.select(sa.func.count()).select_from(job)
    if seen is not None:
        query, count = query.where(seen), count.where(seen)
    with engine().connect() as connection:
        rows = [dict(row) for row in connection.execute(query).mappings()]
        total = connection.execute(count).scalar()
    prune_now_and_then()
    return [describe(record) for record in rows], total


# --- who may see and stop a job ---


def started_by(record: dict, identity: security.Identity) -> bool:
    """Whether ``identity`` started the job: the same user, or the same token (``token``, ``token:<name>``;
    never a user of that name)."""
    return bool(record.get("requested_with_token")) == identity.is_token and record.get("requested_by") == identity.name


def _seen_clause(identity: security.Identity):
    """The SQL condition on the jobs ``identity`` may see (None: all of them). Whether it may read a DAG is
    asked once per DAG that has jobs."""
    if security.is_admin(identity):
        return None
    with engine().connect() as connection:
        dag_ids = [
            dag_id
            for (dag_id,) in connection.execute(sa.select(job.c.dag_id).where(job.c.dag_id.isnot(None)).distinct())
        ]
    readable = [dag_id for dag_id in dag_ids if security.may_access_dag(identity, "GET", dag_id)]
    return (
        sa.or_(_started_by_clause(identity), job.c.dag_id.in_(readable)) if readable else _started_by_clause(identity)
    )


def _seen_by(identity: security.Identity) -> Callable[[dict], bool]:
    """``seen(record)``: whether ``identity`` may see that job."""
    if security.is_admin(identity):
        return lambda record: True

    def seen(record: dict) -> bool:
        if started_by(record, identity):
            return True
        dag_id = record.get("dag_id")
        return bool(dag_id) and security.may_access_dag(identity, "GET", dag_id)  # no DAG: starter and admins

    return seen


def may_stop(identity: security.Identity, record: dict) -> bool:
    if started_by(record, identity) or security.is_admin(identity):
        return True
    dag_id = record.get("dag_id")
    return bool(dag_id) and security.may_access_dag(identity, "PUT", dag_id)


def find(job_id: str, identity: security.Identity) -> dict:
    """The job's record, or 404 when it does not exist or belongs to someone the caller may not watch."""
    record = load(job_id)
    if not _seen_by(identity)(record):
        raise NotFound(f"Job {job_id!r} not found")
    return record


# --- waiting and stopping ---


def wait(job_id: str, seconds: float) -> dict:
    """The job's description once it ended (or was lost), or after ``seconds`` if it is still running."""
    deadline = time.monotonic() + seconds
    record = load(job_id)
    while state_of(record) == "running" and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        record = load(job_id)
    return describe(record)


def stop(record: dict, requested_by: str) -> tuple[dict, str]:
    """Record a stop request, which the job's runner acts on within about a second, wherever it runs (SIGTERM
    to the command's group, SIGKILL after ``job_stop_grace`` seconds); wait until it recorded the end. A job
    whose heartbeat is stale is marked lost instead: nobody is there to stop it. Returns the job's
    description and what happened, in words."""
    job_id = record["job_id"]
    state = state_of(record)
    if state not in ("running", "lost") or record.get("lost_at") or record.get("ended_at"):
        raise Conflict(f"Job {job_id} is not running (state: {state})")
    values = {"stop_requested_at": now_text(), "stop_requested_by": requested_by}
    stale = state == "lost"
    if stale:
        values["lost_at"] = values["stop_requested_at"]
    with engine().begin() as connection:
        changed = connection.execute(
            job.update().where(job.c.job_id == job_id, job.c.ended_at.is_(None)).values(**values)
        ).rowcount
    if not changed:  # it ended meanwhile
        raise Conflict(f"Job {job_id} is not running (state: {state_of(load(job_id))})")
    if stale:
        beat = record.get("heartbeat_at")
        since = job_tables.moment_text(beat) if beat else "its start"
        return describe(load(job_id)), (
            f"Job {job_id} is lost: its runner (pid {record.get('pid')} on {record.get('host')}) has written no "
            f"heartbeat since {since} (job_lost_after = {config.job_lost_after()} s). It is marked lost; "
            "nothing could be signalled."
        )
    described = wait(job_id, 1 + config.job_stop_grace() + STOP_MARGIN_SECONDS)
    return described, f"Job {job_id} stopped"
