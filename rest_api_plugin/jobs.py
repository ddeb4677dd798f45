"""Background jobs: commands that may outlive a web request (daemons, backfills, long task runs).

Each job is a few files under ``<[logging] base_log_folder>/rest_api_plugin/jobs/``, so every gunicorn
worker sees the same jobs and they survive a webserver restart:

- ``<job_id>.json``: what was started, by whom, the runner's pid and its start time;
- ``<job_id>.log``: the command's stdout and stderr;
- ``<job_id>.exit``: how it ended, written by ``rest_api_plugin.job_runner`` (the command's parent).

The state is derived, never stored: ``exited`` / ``failed`` / ``killed`` from the exit record, else
``running`` while the runner's process lives, else ``lost`` (the runner itself was killed, e.g. SIGKILL).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from rest_api_plugin import cli, config
from rest_api_plugin.errors import Conflict, NotFound
from rest_api_plugin.job_runner import exit_record, write_json

JOB_ID = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
POLL_SECONDS = 0.1
DEFAULT_STOP_GRACE = 10
TAIL_BYTES = 64 * 1024


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


def start(name: str, command: list[str], env: dict[str, str] | None = None, requested_by: str | None = None) -> dict:
    """Start ``airflow COMMAND`` (or the log server) as a job; returns its description at once."""
    argv = cli.program(command)
    job_id = f"{name}_{datetime.now(timezone.utc):%Y%m%dT%H%M%S}_{secrets.token_hex(3)}"
    log_path = _path(job_id, ".log")
    runner = [sys.executable, "-m", "rest_api_plugin.job_runner", str(folder()), job_id, "--", *argv]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            runner, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=cli.child_environment(env), start_new_session=True, close_fds=True,
        )
    threading.Thread(target=process.wait, daemon=True).start()  # reap it, so it never lingers as a zombie
    record = {
        "job_id": job_id,
        "api": name,
        "command": shlex.join(["airflow", *command]) if argv[1] == "-m" else shlex.join(argv),
        "argv": argv,
        "pid": process.pid,
        "pid_create_time": _create_time(process.pid),
        "started_at": _now(),
        "requested_by": requested_by,
        "log_file": str(log_path),
    }
    write_json(str(_path(job_id, ".json")), record)
    return describe(record)


def _create_time(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


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
    except FileNotFoundError:
        raise NotFound(f"Job {job_id!r} not found")


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
    ended = _exit(record["job_id"])
    described = {
        **{k: v for k, v in record.items() if k != "argv"},
        "state": state_of(record, ended),
        "exit_code": ended.get("exit_code") if ended else None,
        "signal": ended.get("signal_name") if ended else None,
        "ended_at": ended.get("ended_at") if ended else None,
    }
    if tail_lines:
        described["log_tail"] = log_tail(record["job_id"], tail_lines)
    return described


def log_tail(job_id: str, lines: int) -> str:
    path = _path(job_id, ".log")
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, path.stat().st_size - TAIL_BYTES))
            text = handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def list_all() -> list[dict]:
    records = []
    for path in folder().glob("*.json"):
        try:
            records.append(json.loads(path.read_text()))
        except ValueError:
            continue
    return [describe(record) for record in sorted(records, key=lambda r: r["started_at"], reverse=True)]


def wait(job_id: str, seconds: float) -> dict:
    """The job's description once it ended, or after ``seconds`` if it is still running."""
    record = load(job_id)
    deadline = time.monotonic() + seconds
    while _exit(job_id) is None and _is_alive(record) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    return describe(record)


def stop(job_id: str, requested_by: str | None = None) -> dict:
    """SIGTERM to the job's process group; SIGKILL after ``job_stop_grace`` seconds (default 10)."""
    record = load(job_id)
    current = describe(record)
    if current["state"] != "running":
        raise Conflict(f"Job {job_id} is not running (state: {current['state']})")
    record.update(stop_requested_at=_now(), stop_requested_by=requested_by)
    write_json(str(_path(job_id, ".json")), record)
    grace = float(config._get("job_stop_grace") or DEFAULT_STOP_GRACE)
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
