"""The About endpoints, answered in-process: version and rest_api_plugin_version; health (``airflow jobs
check`` for each component, and whether the metadata database answers); plugins (``airflow plugins``) and
providers (``airflow providers list``), read through Airflow's own plugins and providers managers."""

from __future__ import annotations

import inspect
import io
import re

from rest_api_plugin.airflow_compat import this_line
from rest_api_plugin.errors import is_database_unavailable
from rest_api_plugin.result import CallContext, Result
from rest_api_plugin.schemas.data import PLUGIN_PARTS

line_commands = this_line("commands")

HEALTHY, UNHEALTHY = "healthy", "unhealthy"
# The components whose jobs heartbeat in Airflow's job table, and their job_type there.
COMPONENTS = {"scheduler": "SchedulerJob", "triggerer": "TriggererJob", "dag_processor": "DagProcessorJob"}
# At most this many running jobs of one component are looked at, newest heartbeat first (jobs check --limit).
JOBS_LOOKED_AT = 100
TABLE_WIDTH = 200


def airflow_version(args: dict, ctx: CallContext) -> Result:
    from airflow import __version__

    return Result(output=__version__, data={"version": __version__})


def plugin_version(args: dict, ctx: CallContext) -> Result:
    from rest_api_plugin import __version__

    return Result(output=__version__, data={"version": __version__})


# --- health ---


def health(args: dict, ctx: CallContext) -> Result:
    """Each component's jobs as ``airflow jobs check --job-type TYPE`` counts them (alive: running, and a
    heartbeat within the component's threshold, Airflow's own ``Job.is_alive``), its most recent job's
    heartbeat as Airflow's ``/health`` shows it, and whether the metadata database answers a query. A
    database that does not answer is reported, not raised: the answer says what is unhealthy."""
    from airflow.utils.session import create_session
    from sqlalchemy import text

    data: dict = {}
    try:
        with create_session() as session:
            session.execute(text("SELECT 1"))
            for component, job_type in COMPONENTS.items():
                data[component] = component_health(component, job_type, session)
        data["metadatabase"] = {"status": HEALTHY, "error": None}
    except Exception as err:  # the database is unreachable, or refused the query: that is the answer
        if not is_database_unavailable(err):
            raise
        data = {component: unknown_health() for component in COMPONENTS}
        data["metadatabase"] = {"status": UNHEALTHY, "error": type(err).__name__}
    lines = [f"metadatabase: {data['metadatabase']['status']}"]
    lines += [f"{component}: {jobs_check_says(data[component])}" for component in COMPONENTS]
    return Result(output="\n".join(lines), data=data)


def component_health(component: str, job_type: str, session) -> dict:
    from airflow.jobs.job import Job, health_check_threshold, most_recent_job
    from airflow.utils.state import JobState

    running = (
        session.query(Job)
        .filter(Job.job_type == job_type, Job.state == JobState.RUNNING)
        .order_by(Job.latest_heartbeat.desc())
        .limit(JOBS_LOOKED_AT)
        .all()
    )
    alive = sum(1 for job in running if job.is_alive())
    latest = most_recent_job(job_type, session=session)
    in_use = component != "dag_processor" or line_commands.dag_processor_in_use()
    if not in_use or latest is None and component == "triggerer":
        status = None  # as Airflow's /health: a triggerer that never ran, a DAG processor that is not separate
    else:
        status = HEALTHY if alive else UNHEALTHY
    return {
        "status": status,
        "alive_jobs": alive,
        "latest_heartbeat": latest.latest_heartbeat if latest else None,
        "hostname": latest.hostname if latest else None,
        "job_id": latest.id if latest else None,
        "health_check_threshold": float(health_check_threshold(job_type, latest.heartrate)) if latest else None,
        "in_use": in_use,
    }


def unknown_health() -> dict:
    return {
        "status": None,
        "alive_jobs": None,
        "latest_heartbeat": None,
        "hostname": None,
        "job_id": None,
        "health_check_threshold": None,
        "in_use": True,
    }


def jobs_check_says(component: dict) -> str:
    """What ``airflow jobs check --allow-multiple`` prints for the component's jobs."""
    alive = component["alive_jobs"]
    if alive is None:
        return "unknown: the metadata database did not answer."
    said = {0: "No alive jobs found.", 1: "Found one alive job."}.get(alive, f"Found {alive} alive jobs.")
    if not component["in_use"]:
        said += " (not in use: the scheduler parses the DAG files; [scheduler] standalone_dag_processor is off)"
    elif component["latest_heartbeat"] is not None:
        said += f" Latest heartbeat: {component['latest_heartbeat'].isoformat()}"
    return said


# --- plugins and providers ---


def plugins(args: dict, ctx: CallContext) -> Result:
    """The loaded plugins as ``airflow plugins`` shows them: the table it prints (the attributes no plugin
    has left out), and every plugin's name, source and attributes as ``--output json`` gives them."""
    from airflow.plugins_manager import get_plugin_info

    found = [plugin_info(info) for info in get_plugin_info()]
    if not found:
        return Result(output="No plugins loaded", data={"plugins": [], "total_entries": 0})
    columns = [column for column in found[0] if any(plugin.get(column) for plugin in found)]
    rows = [{column: _cell(plugin.get(column)) for column in columns} for plugin in found]
    return Result(output=as_table(rows), data={"plugins": found, "total_entries": len(found)})


def plugin_info(info: dict) -> dict:
    """One plugin's dump as plain JSON: its name, its source as text, and the attributes this Airflow line
    dumps (classes by their qualified name, other objects as ``<class object>``)."""
    plain = {"name": str(info["name"]), "source": None if info.get("source") is None else str(info["source"])}
    for part in PLUGIN_PARTS:
        if part in info:
            value = info[part]
            plain[part] = [_plain(item) for item in (value if isinstance(value, (list, tuple)) else [value])]
    return plain


def _plain(value):
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(item) for item in value]
    if inspect.isclass(value) or inspect.isfunction(value) or inspect.ismodule(value):
        return (
            f"{getattr(value, '__module__', '')}.{value.__qualname__}"
            if not inspect.ismodule(value)
            else value.__name__
        )
    return f"<{type(value).__module__}.{type(value).__qualname__} object>"


def _cell(value) -> str:
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return "" if value is None else str(value)


def providers(args: dict, ctx: CallContext) -> Result:
    """The installed providers as ``airflow providers list`` shows them: package, description, version."""
    from airflow.providers_manager import ProvidersManager

    found = [
        {
            "package_name": provider.data["package-name"],
            "description": _without_rst(provider.data.get("description") or ""),
            "version": str(provider.version),
        }
        for provider in ProvidersManager().providers.values()
    ]
    return Result(
        output=as_table(found) if found else "No providers", data={"providers": found, "total_entries": len(found)}
    )


def _without_rst(text: str) -> str:
    """A provider's description without its reStructuredText marks, as the CLI prints it."""
    return re.sub("[`_<>]", "", text.strip(" \n."))


def as_table(rows: list[dict]) -> str:
    """``rows`` as the CLI's table (Airflow's own console, without colours or trailing blanks)."""
    from airflow.cli.simple_table import AirflowConsole

    buffer = io.StringIO()
    AirflowConsole(file=buffer, width=TABLE_WIDTH, color_system=None, force_terminal=False).print_as(rows, "table")
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()).strip("\n")
