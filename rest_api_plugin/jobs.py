"""Background jobs: commands that may outlive a web request (daemons, backfills, long task runs), and
``run_job``, which every endpoint that runs a command calls.

Each job is a few files under ``<[logging] base_log_folder>/rest_api_plugin/jobs/``, so every gunicorn
worker sees the same jobs and they survive a webserver restart:

- ``<job_id>.json``: what was started (``command`` as shown to people), by whom, about which DAG, the
  runner's pid and its start time;
- ``<job_id>.out`` and ``<job_id>.err``: the command's stdout and its stderr, kept apart (jobs started by
  earlier versions of the plugin have one ``<job_id>.log`` with both, shown as it is);
- ``<job_id>.exit``: how it ended, written by ``rest_api_plugin.job_runner`` (the command's parent).

The state is derived, never stored: ``success`` / ``failed`` / ``killed`` from the exit record, else
``running`` while the runner's process lives, else ``lost`` (the runner itself was killed, e.g. SIGKILL).

A job belongs to whoever started it. A caller sees the jobs it started and those about a DAG it may read;
admins and the token see all; a job about no DAG (a scheduler, a worker) only its starter and admins. Other
jobs answer 404, as if they did not exist. ``max_jobs_per_user`` and ``max_jobs`` bound how many run at once.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from rest_api_plugin import cli, config, security
from rest_api_plugin.airflow_compat import AIRFLOW_3
from rest_api_plugin.errors import Conflict, NotFound, TooManyRequests
from rest_api_plugin.job_runner import exit_record, write_json
from rest_api_plugin.result import CallContext, Result
from rest_api_plugin.wait_slots import count as wait_slot_count, wait_slot

JOB_ID = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
POLL_SECONDS = 0.1
TAIL_BYTES = 64 * 1024
LINES_IN_ANSWER = 2000
STREAMS = {"stdout": ".out", "stderr": ".err"}
MERGED_LOG = ".log"  # stdout and stderr in one file: jobs started by earlier versions
START_LOCK = ".start.lock"
# What a job's description shows, in this order (the record also keeps argv and pid_create_time).
DESCRIBED = ("job_id", "api", "command", "dag_id", "pid", "started_at", "requested_by", "stop_requested_at",
             "stop_requested_by")


def folder() -> Path:
    from airflow.configuration import conf

    path = Path(conf.get("logging", "base_log_folder")) / "rest_api_plugin" / "jobs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _path(job_id: str, suffix: str) -> Path:
    if not JOB_ID.match(job_id) or job_id.startswith("."):
        raise NotFound(f"Job {job_id!r} not found")
    return folder() / f"{job_id}{suffix}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


# --- running a command ---

def run_job(name: str, command: list[str], args: dict, ctx: CallContext, *, dag_id: str | None = None) -> Result:
    """Start ``airflow COMMAND`` as a job (``dag_id``: the DAG it is about). Without ``wait``, answer at once
    with the job. With it, answer with the command's stdout (``output``) and stderr once it ends, or after
    ``timeout`` seconds (never more than the CLI timeout, below the webserver's worker timeout); or at once,
    with 202, when every wait slot is taken (see ``wait_slots``)."""
    job = start(name, cli.program(command), ctx.identity, dag_id=dag_id)
    started = f"Started job {job['job_id']} (pid {job['pid']}): {job['command']}"
    if not args.get("wait"):
        return Result(output=started, data=job)
    seconds = min(args.get("timeout") or cli.timeout(), cli.timeout())
    with wait_slot(folder()) as waiting:
        if not waiting:
            return Result(output=f"{started}\nNot waiting for it: {_no_slot_reason()} "
                                 f"Ask api=jobs&job_id={job['job_id']}", data=job, http_status=202)
        job = wait(job["job_id"], seconds)
    if job["state"] == "running":
        return Result(
            output=f"Job {job['job_id']} is still running after {seconds}s: ask api=jobs&job_id={job['job_id']}",
            data=job, http_status=202,
        )
    stdout, stderr = output_of(job["job_id"], LINES_IN_ANSWER)
    if job["state"] != "success":
        ended = f"signal {job['signal']}" if job["signal"] else f"exit code {job['exit_code']}"
        if job.get("task_state") and job["exit_code"] == 0:  # Airflow 3's tasks test: the task failed
            ended += f", but the task ended {job['task_state']}"
        stderr_section = f"\n--- stderr ---\n{stderr}" if stderr else ""
        raise Conflict(f"{job['command']} ended with {ended}\n{stdout}{stderr_section}",
                       data={**job, "stdout": stdout, "stderr": stderr})
    return Result(output=stdout, stderr=stderr or "", data=job)


def _no_slot_reason() -> str:
    slots = wait_slot_count()
    return (f"{slots} request(s) already wait on jobs, as many as the webserver allows "
            f"([{config.workers_section()}] workers = {config.webserver_workers()}; some of them are kept free "
            "for other requests).")


def start(name: str, program: cli.Program, identity: security.Identity, dag_id: str | None = None) -> dict:
    """Start ``program`` as a job for ``identity``; returns its description at once. 429 (and nothing
    started) when the caller, or everyone together, already runs as many jobs as allowed."""
    job_id = f"{name}_{datetime.now(timezone.utc):%Y%m%dT%H%M%S}_{secrets.token_hex(3)}"
    with _start_lock():
        _check_caps(identity)
        runner = [sys.executable, "-m", "rest_api_plugin.job_runner", str(folder()), job_id, "--", *program.argv]
        with open(_path(job_id, STREAMS["stdout"]), "ab") as out, open(_path(job_id, STREAMS["stderr"]), "ab") as err:
            process = subprocess.Popen(
                runner, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                env=cli.child_environment(), start_new_session=True, close_fds=True,
            )
        threading.Thread(target=process.wait, daemon=True).start()  # reap it, so it never lingers as a zombie
        record = {
            "job_id": job_id,
            "api": name,
            "command": program.display,
            "argv": program.argv,
            "dag_id": dag_id,
            "pid": process.pid,
            "pid_create_time": _create_time(process.pid),
            "started_at": _now(),
            "requested_by": identity.name,
            "requested_with_token": identity.is_token,
        }
        write_json(str(_path(job_id, ".json")), record)
    return describe(record)


@contextmanager
def _start_lock() -> Iterator[None]:
    """One start at a time across the webserver's workers, so two calls cannot both pass the caps."""
    with open(folder() / START_LOCK, "ab") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield  # closing the file releases the lock


def _check_caps(identity: security.Identity) -> None:
    running = running_records()
    per_user, overall = config.max_jobs_per_user(), config.max_jobs()
    mine = sum(1 for record in running if started_by(record, identity))
    if per_user and mine >= per_user:
        raise TooManyRequests(
            f"{_who(identity)} already run(s) {mine} job(s), the most allowed (max_jobs_per_user = {per_user}): "
            "wait for one to end, or stop one with api=stop_job. Nothing was started.",
            data={"running": mine, "max_jobs_per_user": per_user},
        )
    if overall and len(running) >= overall:
        raise TooManyRequests(
            f"{len(running)} jobs are running, the most allowed (max_jobs = {overall}): try again when one has "
            "ended. Nothing was started.",
            data={"running": len(running), "max_jobs": overall},
        )


def _who(identity: security.Identity) -> str:
    return "The token" if identity.is_token else f"User {identity.name}"


def _create_time(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


# --- reading jobs ---

def _is_alive(record: dict) -> bool:
    import psutil

    try:
        process = psutil.Process(record["pid"])
        if record.get("pid_create_time") and abs(process.create_time() - record["pid_create_time"]) > 1:
            return False  # the pid was reused by another process
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def load(job_id: str) -> dict:
    path = _path(job_id, ".json")
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        raise NotFound(f"Job {job_id!r} not found")


def _records() -> list[dict]:
    records = []
    for path in folder().glob("*.json"):
        try:
            records.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue  # being written, or just removed
    return records


def running_records() -> list[dict]:
    """The records of every job still running, whoever started it."""
    return [record for record in _records() if _exit(record["job_id"]) is None and _is_alive(record)]


def _exit(job_id: str) -> dict | None:
    try:
        return json.loads(_path(job_id, ".exit").read_text())
    except (FileNotFoundError, ValueError):
        return None


def state_of(record: dict, ended: dict | None) -> str:
    if ended is not None:
        if ended.get("signal"):
            return "killed"
        return "success" if ended.get("exit_code") == 0 else "failed"
    return "running" if _is_alive(record) else "lost"


def describe(record: dict, tail_lines: int = 0) -> dict:
    """What a caller sees of a job; with ``tail_lines``, also the last lines of its stdout and stderr
    (``stderr`` is None for a job of an earlier version, whose one log is shown as ``stdout``)."""
    ended = _exit(record["job_id"])
    described = {
        **{key: record.get(key) for key in DESCRIBED},
        "state": state_of(record, ended),
        "exit_code": ended.get("exit_code") if ended else None,
        "signal": ended.get("signal_name") if ended else None,
        "ended_at": ended.get("ended_at") if ended else None,
    }
    if AIRFLOW_3 and record.get("api") == "test" and ended is not None:
        # Airflow 3's `tasks test` exits 0 whatever becomes of the task: what its log says of the task, and a
        # job whose task failed has failed
        described["task_state"] = cli.task_state_in_log(tail(record["job_id"], STREAMS["stdout"]))
        if described["task_state"] in cli.TASK_FAILED_STATES and described["state"] == "success":
            described["state"] = "failed"
    if tail_lines:
        described["stdout"], described["stderr"] = output_of(record["job_id"], tail_lines)
    return described


def output_of(job_id: str, lines: int) -> tuple[str, str | None]:
    """The last ``lines`` lines of the job's stdout and stderr, without Airflow's loading noise (when
    ``filter_loading_messages_in_cli_response`` is on); stderr is None for a job with one merged log."""
    if not _path(job_id, STREAMS["stdout"]).exists() and _path(job_id, MERGED_LOG).exists():
        return _last_lines(cli.filter_noise(tail(job_id, MERGED_LOG)), lines), None
    stdout, stderr = (_last_lines(cli.filter_noise(tail(job_id, suffix)), lines) for suffix in STREAMS.values())
    return stdout, stderr


def tail(job_id: str, suffix: str = STREAMS["stdout"]) -> str:
    """The end (at most ``TAIL_BYTES``) of one of the job's files, as written: ``.out``, ``.err`` or ``.log``."""
    path = _path(job_id, suffix)
    try:
        with open(path, "rb") as handle:
            size = path.stat().st_size
            handle.seek(max(0, size - TAIL_BYTES))
            text = handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    if size > TAIL_BYTES:
        text = text.partition("\n")[2]  # drop the line cut in half
    return text


def _last_lines(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])


def list_for(identity: security.Identity) -> list[dict]:
    """The jobs ``identity`` may see, newest first, without their output (the list stays light)."""
    visible = list(filter(_seen_by(identity), _records()))
    return [describe(record) for record in sorted(visible, key=lambda r: r["started_at"], reverse=True)]


# --- who may see and stop a job ---

def started_by(record: dict, identity: security.Identity) -> bool:
    """Whether ``identity`` started the job: the same user, or the token (never a user named "token")."""
    with_token = record.get("requested_with_token", record.get("requested_by") == "token")  # older records
    return bool(with_token) == identity.is_token and record.get("requested_by") == identity.name


def _seen_by(identity: security.Identity) -> Callable[[dict], bool]:
    """``seen(record)``: whether ``identity`` may see that job. Whether it is an admin, and whether it may read
    a DAG, are asked once, however many jobs are looked at."""
    if security.is_admin(identity):
        return lambda record: True
    readable: dict[str, bool] = {}

    def seen(record: dict) -> bool:
        if started_by(record, identity):
            return True
        dag_id = record.get("dag_id")
        if not dag_id:  # a scheduler, a worker...: its starter's and admins' only
            return False
        if dag_id not in readable:
            readable[dag_id] = security.may_access_dag(identity, "GET", dag_id)
        return readable[dag_id]

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
    """The job's description once it ended, or after ``seconds`` if it is still running."""
    record = load(job_id)
    deadline = time.monotonic() + seconds
    while _exit(job_id) is None and _is_alive(record) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    return describe(record)


def stop(record: dict, requested_by: str) -> dict:
    """SIGTERM to the job's process group; SIGKILL after ``job_stop_grace`` seconds."""
    job_id = record["job_id"]
    current = describe(record)
    if current["state"] != "running":
        raise Conflict(f"Job {job_id} is not running (state: {current['state']})")
    record.update(stop_requested_at=_now(), stop_requested_by=requested_by)
    write_json(str(_path(job_id, ".json")), record)
    grace = config.job_stop_grace()
    for number in (signal.SIGTERM, signal.SIGKILL):
        _signal_group(record["pid"], number)
        described = wait(job_id, grace)
        if described["state"] != "running":
            break
    if _exit(job_id) is None and not _is_alive(record):
        # the runner died with its group (SIGKILL, or SIGTERM before it could catch it): record the kill
        write_json(str(_path(job_id, ".exit")), exit_record(-number))
        described = describe(record)
    return described


def _signal_group(pgid: int, number: int) -> None:
    try:
        os.killpg(pgid, number)
    except ProcessLookupError:
        pass
