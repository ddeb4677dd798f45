"""Jobs of earlier versions of the plugin, kept as files under ``<[logging] base_log_folder>/rest_api_plugin/jobs/``
(``<job_id>.json``, ``.out`` and ``.err``, or one ``.log``, and ``.exit``): moved once into the plugin's tables.

The first server process on a host that finds the folder imports every job of it (by ``job_id``: a job
already in the tables is left alone, so two processes, or a second run, import nothing twice), its output
bounded as the runner bounds it, then renames the folder ``jobs.migrated-<time>`` so it is not done again
(delete it when you like). A job whose runner still runs at that moment is imported ``lost``: its runner, of the
earlier version, writes no heartbeat and reads no stop request; its output after the import stays in the
renamed folder. Stop it on its host (``kill -TERM -- -PID``, the runner's pid leads its process group).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa

from rest_api_plugin import config
from rest_api_plugin.processes.job_tables import CHUNK_BYTES, job, job_output, now_text

log = logging.getLogger(__name__)

STREAM_FILES = (("stdout", ".out"), ("stderr", ".err"))
MERGED_LOG = ".log"


def folder() -> Path:
    from airflow.configuration import conf

    return Path(conf.get("logging", "base_log_folder")) / "rest_api_plugin" / "jobs"


def migrate(engine: sa.engine.Engine, jobs_folder: Path | None = None) -> int:
    """Import the file jobs of ``jobs_folder`` (by default the one of earlier versions) once; how many."""
    jobs_folder = jobs_folder or folder()
    if not jobs_folder.is_dir():
        return 0
    with open(jobs_folder.parent / ".jobs-migration.lock", "ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one process of this host at a time; the others then find it done
        if not jobs_folder.is_dir():
            return 0
        imported = sum(_import(engine, path) for path in sorted(jobs_folder.glob("*.json")))
        renamed = jobs_folder.with_name(f"jobs.migrated-{datetime.now(timezone.utc):%Y%m%dT%H%M%S%f}")
        jobs_folder.rename(renamed)
    log.info(
        "REST API plugin: %s job(s) of an earlier version moved into the database; their files are in %s",
        imported,
        renamed,
    )
    return imported


def _import(engine: sa.engine.Engine, path: Path) -> bool:
    from rest_api_plugin.processes.jobs import JOB_ID

    try:
        record = json.loads(path.read_text())
        job_id = record["job_id"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if not isinstance(job_id, str) or not JOB_ID.match(job_id):
        return False
    ended = _read_json(path.with_suffix(".exit"))
    row = {
        "job_id": job_id,
        "api": str(record.get("api") or "unknown"),
        "command": str(record.get("command") or ""),
        "argv": json.dumps(record.get("argv") or []),
        "dag_id": record.get("dag_id"),
        "requested_by": record.get("requested_by"),
        "requested_with_token": bool(record.get("requested_with_token", record.get("requested_by") == "token")),
        "host": socket.gethostname(),
        "pid": record.get("pid"),
        "started_at": _moment(record.get("started_at")) or now_text(),
        "stop_requested_at": _moment(record.get("stop_requested_at")),
        "stop_requested_by": record.get("stop_requested_by"),
        "heartbeat_at": None,
        "merged_output": False,
    }
    if ended:
        row.update(
            ended_at=_moment(ended.get("ended_at")) or now_text(),
            exit_code=ended.get("exit_code"),
            signal=ended.get("signal"),
            signal_name=ended.get("signal_name"),
        )
    else:  # running on with a runner of the earlier version, or lost already: nobody beats its heart
        row["lost_at"] = now_text()
    outputs = []
    if not path.with_suffix(".out").exists() and path.with_suffix(MERGED_LOG).exists():
        row["merged_output"] = True
        outputs.append(("stdout", path.with_suffix(MERGED_LOG)))
    else:
        outputs.extend((stream, path.with_suffix(suffix)) for stream, suffix in STREAM_FILES)
    budget = max(1024, config.job_output_max_bytes() // 4)
    with engine.begin() as connection:
        if connection.execute(sa.select(job.c.job_id).where(job.c.job_id == job_id)).first():
            return False
        chunks = []
        for stream, output in outputs:
            head, tail, cut = _bounded(output, budget)
            row[f"{stream}_cut_bytes"] = cut
            chunks.extend(
                {"job_id": job_id, "stream": stream, "part": part, "data": data[start : start + CHUNK_BYTES]}
                for part, data in (("head", head), ("tail", tail))
                for start in range(0, len(data), CHUNK_BYTES)
            )
        connection.execute(job.insert().values(**row))
        for chunk in chunks:  # one by one: in order (the ids keep it)
            connection.execute(job_output.insert().values(**chunk))
    return True


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _moment(text) -> str | None:
    """A moment of a file record, as the tables keep it (so that it sorts); None when there is none."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text)).astimezone(timezone.utc).isoformat(timespec="microseconds")
    except ValueError:
        return str(text)[:32]


def _bounded(path: Path, budget: int) -> tuple[bytes, bytes, int]:
    """The file's first ``budget`` bytes, its last ``budget`` bytes after them, and how many lie between."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(budget)
            rest_size = os.fstat(handle.fileno()).st_size - len(head)
            handle.seek(max(len(head), len(head) + rest_size - budget))
            tail = handle.read(budget)  # files of the earlier version were not bounded: the end only
    except OSError:
        return b"", b"", 0
    return head, tail, max(0, rest_size - len(tail))
