"""Parsing DAG files for the webserver: each call runs the DAG processor child (``dag_processor.py``).

A DAG file's top-level code runs there, never in a gunicorn worker, as in Airflow's own DAG processor: an argv
list (no shell), the webserver's own interpreter, an environment without the webserver's secrets
(``cli.child_environment_without_secrets``) and a deadline of ``[core] dagbag_import_timeout`` plus a margin
for the child's own start. On the deadline the child's whole process group is killed and the file gets an
import error that names the timeout. A child that fails in its own code gives a 500 whose details are in the
webserver log only.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

from rest_api_plugin import cli, dag_folder
from rest_api_plugin.errors import ApiError, Conflict, Misconfigured

log = logging.getLogger(__name__)

# The child starts with Airflow's import (1 to 3 s) and ends with its database writes: the margin covers both.
MARGIN_SECONDS = 10
# -P (Python 3.11+): the working directory is not put on sys.path, so no file there can shadow a module.
PROGRAM = [sys.executable, *(["-P"] if sys.version_info >= (3, 11) else []), "-m", "rest_api_plugin.dag_processor"]
# The child stores DAGs at once, even those stored less than min_serialized_dag_update_interval ago.
# Airflow 3: a server process, whose task SDK reads variables and connections from the metadata database.
CHILD_SETTINGS = {"AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "0", "_AIRFLOW_PROCESS_CONTEXT": "server"}
LOG_TAIL_LINES = 40
WRITES_DAG_FILES = ("check", "publish", "publish_folder")  # the phases of the DAG-file endpoints


class ParseStopped(Exception):
    """The child did not report: it ran out of time, or the DAG file ended or crashed the process."""


@dataclass(frozen=True)
class Deadline:
    seconds: float
    why: str  # the settings it comes from, for the answer when it is reached


@dataclass(frozen=True)
class Checked:
    """What a ``check`` found: ``import_errors`` maps DAGs-folder-relative paths to Airflow's message."""

    dag_ids: list[str]
    import_errors: dict[str, str]
    previous_dag_ids: list[str] | None = None  # the DAGs of the file it would replace, when that was parsed
    defined_elsewhere: dict[str, str] = field(default_factory=dict)  # dag_id -> the other file defining it


@dataclass(frozen=True)
class Published:
    """What a ``publish`` found and did; nothing was written unless ``written``."""

    dag_ids: list[str]
    import_errors: dict[str, str]
    written: bool = False
    unauthorized: list[str] = field(default_factory=list)  # DAGs it would create, change or drop unchecked
    deactivated: list[str] = field(default_factory=list)
    paused: dict[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class PublishedFolder:
    dag_ids: list[str]
    dag_ids_by_file: dict[str, list[str]]
    import_errors: dict[str, str]


def check(path: str, shown_as: str, target: str | None = None, previous: bool = False,
          scan_folder: bool = False) -> Checked:
    """Parse ``path`` (named ``shown_as`` in answers); with ``previous``, also the file at ``target`` it would
    replace; with ``scan_folder``, also the other files that may define its DAG ids. Writes nothing."""
    request = {"file": path, "shown_as": shown_as, "target": target, "previous": previous, "scan_folder": scan_folder}
    try:
        report = run("check", request, parse_deadline())
    except ParseStopped as stopped:
        return Checked(dag_ids=[], import_errors={shown_as: str(stopped)})
    return Checked(dag_ids=report["dag_ids"], import_errors=report["import_errors"],
                   previous_dag_ids=report["previous_dag_ids"], defined_elsewhere=report["defined_elsewhere"])


def publish(path: str, shown_as: str, authorized: set[str], require_dag_id: str | None = None,
            pause: bool | None = None) -> Published:
    """Parse the installed file ``path`` and store it, if it touches only ``authorized`` DAG ids."""
    request = {"file": path, "authorized": sorted(authorized), "require_dag_id": require_dag_id, "pause": pause}
    try:
        report = run("publish", request, parse_deadline())
    except ParseStopped as stopped:
        return Published(dag_ids=[], import_errors={shown_as: str(stopped)})
    return Published(**{name: report[name] for name in
                        ("dag_ids", "import_errors", "written", "unauthorized", "deactivated", "paused")})


def publish_folder() -> PublishedFolder:
    """Parse and store the whole DAGs folder (bounded by the CLI timeout, below the worker timeout)."""
    per_file = parse_deadline()
    seconds = max(per_file.seconds, cli.timeout())
    why = per_file.why if seconds == per_file.seconds else "the plugin's cli_timeout, below the worker timeout"
    try:
        report = run("publish_folder", {}, Deadline(seconds, why))
    except ParseStopped as stopped:
        raise Conflict(f"The DAGs folder was not refreshed: {stopped}")
    return PublishedFolder(dag_ids=report["dag_ids"], dag_ids_by_file=report["dag_ids_by_file"],
                           import_errors=report["import_errors"])


def render(request: dict) -> dict:
    """Airflow 3: the child's ``render`` report (``template_rendering.render``)."""
    try:
        return run("render", request, parse_deadline())
    except ParseStopped as stopped:
        raise Conflict(f"Rendering did not finish: {stopped}")


def parse_deadline() -> Deadline:
    """``[core] dagbag_import_timeout`` plus the child's start; with no import timeout (0), the CLI timeout."""
    from airflow.configuration import conf

    try:
        seconds = conf.getfloat("core", "dagbag_import_timeout")
    except Exception:
        raise Misconfigured("The setting [core] dagbag_import_timeout is not a number of seconds")
    if seconds <= 0:
        return Deadline(float(cli.timeout()), "no [core] dagbag_import_timeout: the plugin's cli_timeout")
    return Deadline(seconds + MARGIN_SECONDS,
                    f"[core] dagbag_import_timeout of {seconds:g} s plus {MARGIN_SECONDS} s for the process to start")


def run(phase: str, request: dict, deadline: Deadline) -> dict:
    """The child's report for ``phase``; ParseStopped when it gives none before the deadline. On Airflow 3
    the DAG-file phases' request names the DAG bundle of the DAGs folder (a 409 when there is none, before
    anything runs)."""
    if phase in WRITES_DAG_FILES:
        request = {**request, "bundle": dag_folder.dags_folder_bundle()}
    env = cli.child_environment_without_secrets(CHILD_SETTINGS)
    with tempfile.TemporaryFile() as stderr:
        child = subprocess.Popen([*PROGRAM, phase], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                 env=env, start_new_session=True)  # its own process group: killed as a whole
        try:
            out, _ = child.communicate(json.dumps(request).encode(), timeout=deadline.seconds)
        except subprocess.TimeoutExpired:
            kill_group(child)
            log_child(phase, child, stderr, f"was stopped after {deadline.seconds:g} s")
            raise ParseStopped(f"Parsing did not finish within {deadline.seconds:g} s ({deadline.why}): "
                               "the process parsing it was stopped.")
        kill_group(child)  # what a DAG file started and left behind: nothing it ran outlives its parse
        try:
            report = json.loads(out)
        except ValueError:
            log_child(phase, child, stderr, "ended without a report")
            raise ParseStopped(f"The process parsing it ended without a report (exit code {child.returncode}): "
                               "the file may end or crash the process at import.")
        if child.returncode != 0 or not isinstance(report, dict) or "internal_error" in report:
            log_child(phase, child, stderr, "failed")
            raise ApiError(f"The DAG processor child failed ({phase}); the webserver log has the details.")
        log_child(phase, child, stderr, "done", level=logging.DEBUG)
        return report


def kill_group(child: subprocess.Popen) -> None:
    """SIGKILL every process left in the child's process group (the child too, if it still runs); stop
    reading its output."""
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    child.wait()
    for stream in (child.stdin, child.stdout):
        if stream and not stream.closed:
            stream.close()


def log_child(phase: str, child: subprocess.Popen, stderr, what: str, level: int = logging.WARNING) -> None:
    if not log.isEnabledFor(level):
        return
    stderr.seek(0)
    tail = stderr.read().decode("utf-8", errors="replace").splitlines()[-LOG_TAIL_LINES:]
    log.log(level, "REST API plugin: DAG processor child (%s, pid %s) %s, exit code %s; its stderr ends with:\n%s",
            phase, child.pid, what, child.returncode, "\n".join(tail))
