"""Parsing DAG files for the webserver: each call runs a phase of the DAG processor child (``parsing_child.py``).

A DAG file's top-level code runs there, never in a web worker, as in Airflow's own DAG processor: the
webserver's own interpreter, an environment without the webserver's secrets
(``commands.child_environment_without_secrets``), a process group of its own and a deadline of ``[core]
dagbag_import_timeout`` plus a margin for the child's start and its database writes. On the deadline the
child's whole process group is killed and the file gets an import error that names the timeout; after the
child ends, whatever it started is killed too. What it prints goes to a temporary file, logged here, never
to a caller. A child that fails in its own code gives a 500 whose details are in the webserver log only.

The child is forked by the parse server (``parse_server.py``, reached through ``parse_server_client.py``),
which has imported Airflow once for all calls, or, when the server is switched off (``[rest_api_plugin]
dag_parsing_server = False``) or cannot be used, started afresh as ``python -m rest_api_plugin.dag_files.parsing_child
PHASE`` (an argv list, no shell), which costs an Airflow import per phase. Both end as an ``Ended`` record,
read here the same way.
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

from rest_api_plugin import config
from rest_api_plugin.airflow_compat import this_line
from rest_api_plugin.dag_files import parse_server_client
from rest_api_plugin.dag_files.parse_server_client import Ended
from rest_api_plugin.errors import ApiError, Conflict, Misconfigured
from rest_api_plugin.processes import commands

log = logging.getLogger(__name__)

# A fresh child starts with Airflow's import (1 to 3 s; a child of the parse server has it already) and every child
# ends with its database writes: the margin covers both.
MARGIN_SECONDS = 10
# -P (Python 3.11+): the working directory is not put on sys.path, so no file there can shadow a module.
PROGRAM = [
    sys.executable,
    *(["-P"] if sys.version_info >= (3, 11) else []),
    "-m",
    "rest_api_plugin.dag_files.parsing_child",
]
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


def check(
    path: str, shown_as: str, target: str | None = None, previous: bool = False, scan_folder: bool = False
) -> Checked:
    """Parse ``path`` (named ``shown_as`` in answers); with ``previous``, also the file at ``target`` it would
    replace; with ``scan_folder``, also the other files that may define its DAG ids. Writes nothing."""
    request = {"file": path, "shown_as": shown_as, "target": target, "previous": previous, "scan_folder": scan_folder}
    try:
        report = run("check", request, parse_deadline())
    except ParseStopped as stopped:
        return Checked(dag_ids=[], import_errors={shown_as: str(stopped)})
    return Checked(
        dag_ids=report["dag_ids"],
        import_errors=report["import_errors"],
        previous_dag_ids=report["previous_dag_ids"],
        defined_elsewhere=report["defined_elsewhere"],
    )


def publish(
    path: str, shown_as: str, authorized: set[str], require_dag_id: str | None = None, pause: bool | None = None
) -> Published:
    """Parse the installed file ``path`` and store it, if it touches only ``authorized`` DAG ids."""
    request = {"file": path, "authorized": sorted(authorized), "require_dag_id": require_dag_id, "pause": pause}
    try:
        report = run("publish", request, parse_deadline())
    except ParseStopped as stopped:
        return Published(dag_ids=[], import_errors={shown_as: str(stopped)})
    return Published(
        **{
            name: report[name]
            for name in ("dag_ids", "import_errors", "written", "unauthorized", "deactivated", "paused")
        }
    )


def publish_folder() -> PublishedFolder:
    """Parse and store the whole DAGs folder (bounded by the CLI timeout, below the worker timeout)."""
    per_file = parse_deadline()
    seconds = max(per_file.seconds, commands.timeout())
    why = per_file.why if seconds == per_file.seconds else "the plugin's cli_timeout, below the worker timeout"
    try:
        report = run("publish_folder", {}, Deadline(seconds, why))
    except ParseStopped as stopped:
        raise Conflict(f"The DAGs folder was not refreshed: {stopped}") from stopped
    return PublishedFolder(
        dag_ids=report["dag_ids"], dag_ids_by_file=report["dag_ids_by_file"], import_errors=report["import_errors"]
    )


def render(request: dict) -> dict:
    """Airflow 3: the child's ``render`` report (``template_rendering.render``)."""
    try:
        return run("render", request, parse_deadline())
    except ParseStopped as stopped:
        raise Conflict(f"Rendering did not finish: {stopped}") from stopped


def parse_deadline() -> Deadline:
    """``[core] dagbag_import_timeout`` plus the child's start; with no import timeout (0), the CLI timeout."""
    from airflow.configuration import conf

    try:
        seconds = conf.getfloat("core", "dagbag_import_timeout")
    except Exception:
        raise Misconfigured("The setting [core] dagbag_import_timeout is not a number of seconds") from None
    if seconds <= 0:
        return Deadline(float(commands.timeout()), "no [core] dagbag_import_timeout: the plugin's cli_timeout")
    return Deadline(
        seconds + MARGIN_SECONDS,
        f"[core] dagbag_import_timeout of {seconds:g} s plus {MARGIN_SECONDS} s for the process to start",
    )


def run(phase: str, request: dict, deadline: Deadline) -> dict:
    """The child's report for ``phase``; ParseStopped when it gives none before the deadline. On Airflow 3
    the DAG-file phases' request names the DAG bundle of the DAGs folder (a 409 when there is none, before
    anything runs)."""
    if phase in WRITES_DAG_FILES:
        request = {**request, "bundle": this_line("parsing").dags_folder_bundle()}
    env = commands.child_environment_without_secrets(CHILD_SETTINGS)
    with tempfile.TemporaryFile() as stderr:
        ended = run_child(phase, request, env, deadline.seconds, stderr)
        if ended.timed_out:
            log_child(phase, ended, stderr, f"was stopped after {deadline.seconds:g} s")
            raise ParseStopped(
                f"Parsing did not finish within {deadline.seconds:g} s ({deadline.why}): "
                "the process parsing it was stopped."
            )
        report = ended.report
        if report is None:
            log_child(phase, ended, stderr, "ended without a report")
            code = "unknown" if ended.returncode is None else ended.returncode
            raise ParseStopped(
                f"The process parsing it ended without a report (exit code {code}): "
                "the file may end or crash the process at import."
            )
        if ended.returncode != 0 or not isinstance(report, dict) or "internal_error" in report:
            log_child(phase, ended, stderr, "failed")
            raise ApiError(f"The DAG processor child failed ({phase}); the webserver log has the details.")
        log_child(phase, ended, stderr, "done", level=logging.DEBUG)
        return report


def run_child(phase: str, request: dict, env: dict[str, str], seconds: float, stderr) -> Ended:
    """``phase`` in a child of the parse server, or in a fresh process when the server is off or cannot be
    used (said once in the log)."""
    if config.dag_parsing_server():
        try:
            return parse_server_client.run(phase, request, env, seconds, stderr)
        except parse_server_client.Unavailable as why:
            log_fallback(str(why))
    return run_in_fresh_process(phase, request, env, seconds, stderr)


def run_in_fresh_process(phase: str, request: dict, env: dict[str, str], seconds: float, stderr) -> Ended:
    """``phase`` in a new ``python -m rest_api_plugin.dag_files.parsing_child`` (the request on its stdin, the report on
    its stdout), in a process group of its own that is killed at ``seconds`` and after it ends."""
    child = subprocess.Popen(
        [*PROGRAM, phase], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env, start_new_session=True
    )  # its own process group: killed as a whole
    try:
        out, _ = child.communicate(json.dumps(request).encode(), timeout=seconds)
    except subprocess.TimeoutExpired:
        kill_group(child)
        return Ended(child.pid, child.returncode, timed_out=True)
    kill_group(child)  # what a DAG file started and left behind: nothing it ran outlives its parse
    try:
        report = json.loads(out)
    except ValueError:
        report = None
    return Ended(child.pid, child.returncode, report)


def warm_up() -> None:
    """Start the parse server when the web server starts, without waiting for it, so that the first deploy
    finds it ready. Never fails the start: a server that cannot start is the first parse's fallback."""
    if not config.dag_parsing_server():
        return
    try:
        parse_server_client.warm_up(commands.child_environment_without_secrets(CHILD_SETTINGS))
    except parse_server_client.Unavailable as why:
        log_fallback(str(why))
    except Exception:
        log.exception("REST API plugin: could not start the parse server")


FALLBACKS_LOGGED: set[str] = set()


def log_fallback(why: str) -> None:
    """Each reason once (the first line of it) at WARNING; then at DEBUG, not at every parse."""
    reason = why.splitlines()[0] if why else why
    level = logging.DEBUG if reason in FALLBACKS_LOGGED else logging.WARNING
    FALLBACKS_LOGGED.add(reason)
    log.log(
        level,
        "REST API plugin: the parse server cannot be used (%s): DAG files are parsed in a fresh "
        "process each, slower by an Airflow import",
        why,
    )


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


def log_child(phase: str, ended: Ended, stderr, what: str, level: int = logging.WARNING) -> None:
    if not log.isEnabledFor(level):
        return
    stderr.seek(0)
    tail = stderr.read().decode("utf-8", errors="replace").splitlines()[-LOG_TAIL_LINES:]
    log.log(
        level,
        "REST API plugin: DAG processor child (%s, pid %s) %s, exit code %s; its stderr ends with:\n%s",
        phase,
        ended.pid,
        what,
        ended.returncode,
        "\n".join(tail),
    )
