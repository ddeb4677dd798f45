"""The plugin's own tables in Airflow's metadata database, where background jobs live so that every API server
(every webserver, every pod) sees the same jobs (on SQLite, a file of their own beside Airflow's: see
``database_url``):

- ``rest_api_plugin_job``: one row per job: what was started (``command`` as shown, ``argv``), by whom, about
  which DAG; the host and pid of its runner and the runner's heartbeat; a stop request; how it ended;
- ``rest_api_plugin_job_output``: the job's stdout and stderr, kept apart, in chunks in the order they were
  written: the beginning of each stream (``part`` = ``head``) and its end (``tail``); what was cut between them
  is counted in the job's row (``stdout_cut_bytes``, ``stderr_cut_bytes``);
- ``rest_api_plugin_meta``: the plugin's schema version, and the row every job start locks (``job_starts``), so
  that two servers count the running jobs one after the other.

Airflow's own tables are never touched. Only SQLAlchemy Core and portable SQL are used (SQLite, PostgreSQL;
MySQL by design: sized text columns, no dialect-specific statement outside the creation guard). This module
imports SQLAlchemy and the standard library only: the job runner uses it without importing Airflow.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from pathlib import PurePosixPath

import sqlalchemy as sa

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
CHUNK_BYTES = 64 * 1024  # the most bytes of output in one row
DATABASE_ENVIRONMENT = "REST_API_PLUGIN_JOB_DATABASE"  # how the runner learns the database URL (never its argv)
# PostgreSQL: the advisory lock held while the tables are created (any constant number of the plugin's own)
CREATION_LOCK = 0x52415049  # "RAPI"
SQLITE_FILE_SUFFIX = ".rest_api_plugin_jobs.db"  # on SQLite: the job tables' file, beside Airflow's

metadata = sa.MetaData()

job = sa.Table(
    "rest_api_plugin_job",
    metadata,
    sa.Column("job_id", sa.String(100), primary_key=True),
    sa.Column("api", sa.String(100), nullable=False),
    sa.Column("command", sa.Text, nullable=False),
    sa.Column("argv", sa.Text, nullable=False),  # JSON
    sa.Column("dag_id", sa.String(250), index=True),
    sa.Column("requested_by", sa.String(250), index=True),
    sa.Column("requested_with_token", sa.Boolean, nullable=False, default=False),
    sa.Column("host", sa.String(255)),
    sa.Column("pid", sa.Integer),
    sa.Column("started_at", sa.String(32), nullable=False, index=True),
    sa.Column("heartbeat_at", sa.Float),  # seconds since the epoch, written by the runner
    sa.Column("stop_requested_at", sa.String(32)),
    sa.Column("stop_requested_by", sa.String(250)),
    sa.Column("lost_at", sa.String(32)),  # a stop found its heartbeat stale
    sa.Column("ended_at", sa.String(32), index=True),
    sa.Column("exit_code", sa.Integer),
    sa.Column("signal", sa.Integer),
    sa.Column("signal_name", sa.String(20)),
    sa.Column("stdout_cut_bytes", sa.BigInteger, nullable=False, default=0),
    sa.Column("stderr_cut_bytes", sa.BigInteger, nullable=False, default=0),
    sa.Column("merged_output", sa.Boolean, nullable=False, default=False),  # a job of an earlier version: one log
    sa.Column("end_details", sa.Text),  # JSON: what an ended job's description adds (Airflow 3 test: task_state)
)

job_output = sa.Table(
    "rest_api_plugin_job_output",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(100), nullable=False),
    sa.Column("stream", sa.String(6), nullable=False),  # stdout, stderr
    sa.Column("part", sa.String(4), nullable=False),  # head, tail
    sa.Column("data", sa.LargeBinary(16 * 1024 * 1024), nullable=False),
    sa.Index("ix_rest_api_plugin_job_output_stream", "job_id", "stream", "id"),
)

meta = sa.Table(
    "rest_api_plugin_meta",
    metadata,
    sa.Column("name", sa.String(50), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

# version -> what brings a database of the version before up to it (none yet: version 1 creates everything)
UPGRADES: dict[int, callable] = {}


def now_text() -> str:
    """Now as the job rows keep moments: ISO 8601 in UTC, always with microseconds, so that they sort as text."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def moment_text(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="microseconds")


def database_url(airflow_url: sa.engine.URL) -> sa.engine.URL:
    """Where the job tables are: Airflow's metadata database, except on SQLite, where they are a file of their
    own beside Airflow's (``airflow.db``: ``airflow.rest_api_plugin_jobs.db``), which every server on that host
    finds the same way. SQLite has one writer at a time per file, and a job's runner commits its command's
    output and heartbeat several times a second: on Airflow's file, such a commit between a read and a write of
    the Airflow command it runs makes that command fail with "database is locked" (on Airflow 3's WAL a stale
    snapshot, on Airflow 2 a lock upgrade SQLite refuses rather than deadlock)."""
    if airflow_url.get_backend_name() != "sqlite" or airflow_url.database in (None, "", ":memory:"):
        return airflow_url
    path = PurePosixPath(airflow_url.database)
    return airflow_url.set(database=str(path.with_name(f"{path.stem}{SQLITE_FILE_SUFFIX}")))


def engine_for(url: str) -> sa.engine.Engine:
    """An engine of its own on the job tables at ``url``: the runner's, and on SQLite the servers' too (it waits
    for the other writers)."""
    if url.startswith("sqlite"):
        return sa.create_engine(url, connect_args={"timeout": 60})
    return sa.create_engine(url, pool_pre_ping=True, pool_size=2)


def create(engine: sa.engine.Engine) -> None:
    """Create the plugin's tables if they are missing and bring them to ``SCHEMA_VERSION``: safe when several
    servers start at once (PostgreSQL: under an advisory lock; elsewhere a creation that lost the race is
    retried, finding the tables made)."""
    for attempt in range(5):
        try:
            with engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": CREATION_LOCK})
                metadata.create_all(connection, checkfirst=True)
                _record_version(connection)
            return
        except sa.exc.DBAPIError:
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))  # another server created them meanwhile: look again


def _record_version(connection) -> None:
    recorded = connection.execute(sa.select(meta.c.value).where(meta.c.name == "schema_version")).scalar()
    if recorded is None:
        connection.execute(
            meta.insert(), [{"name": "schema_version", "value": SCHEMA_VERSION}, {"name": "job_starts", "value": 0}]
        )
        return
    if recorded > SCHEMA_VERSION:
        log.warning(
            "REST API plugin: its tables are at schema version %s, newer than this plugin's %s",
            recorded,
            SCHEMA_VERSION,
        )
        return
    for version in range(recorded + 1, SCHEMA_VERSION + 1):
        UPGRADES[version](connection)
    if recorded < SCHEMA_VERSION:
        connection.execute(meta.update().where(meta.c.name == "schema_version").values(value=SCHEMA_VERSION))


def schema_version(engine: sa.engine.Engine) -> int | None:
    with engine.connect() as connection:
        return connection.execute(sa.select(meta.c.value).where(meta.c.name == "schema_version")).scalar()


def end_fields(returncode: int) -> dict:
    """How a command ended, as the job's row keeps it: its exit code, or the signal that killed it."""
    import signal

    fields = {"exit_code": returncode, "signal": None, "signal_name": None, "ended_at": now_text()}
    if returncode < 0:
        number = -returncode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"SIG{number}"
        fields.update(exit_code=None, signal=number, signal_name=name)
    return fields
