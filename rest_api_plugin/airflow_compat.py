"""What differs between the Airflow versions the plugin runs on, in one place.

- ``AIRFLOW_3`` and named version gates (``AIRFLOW_V_3_2_PLUS``...), as Airflow's providers name theirs: code
  asks a gate, never ``try: import ... except ImportError`` where a name moved.
- The names that moved between Airflow 2 and 3, imported from wherever this Airflow has them, and the few
  model attributes that changed (``execution_date`` became ``logical_date``, ``is_active`` ``is_stale``).
- ``this_line(module)``: the one place where a line's side of a behaviour that differs (``airflow2/`` or
  ``airflow3/``) is chosen. Each such module exists in both folders with the same functions.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

from airflow import __version__ as AIRFLOW_VERSION


def _version(text: str) -> tuple[int, int, int]:
    parts = []
    for part in text.split(".")[:3]:
        digits = "".join(c for c in part if c.isdigit()) or "0"  # "3.3.2rc1" -> 3, 3, 2
        parts.append(int(digits))
    return tuple((parts + [0, 0, 0])[:3])


AIRFLOW_VERSION_TUPLE = _version(AIRFLOW_VERSION)
AIRFLOW_V_2_10_PLUS = AIRFLOW_VERSION_TUPLE >= (2, 10, 0)  # ParseImportError (was ImportError)
AIRFLOW_3 = AIRFLOW_VERSION_TUPLE >= (3, 0, 0)
AIRFLOW_V_3_2_PLUS = AIRFLOW_VERSION_TUPLE >= (3, 2, 0)  # airflow.dag_processing.dagbag, DAG importers
LINE = "airflow3" if AIRFLOW_3 else "airflow2"

if AIRFLOW_3:  # pragma: no cover - exercised on Airflow 3
    from airflow._shared import secrets_masker  # what Airflow 3's own core uses (the SDK's is a shim)
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
    from airflow.sdk import timezone
else:
    from airflow.auth.managers.models.resource_details import DagAccessEntity, DagDetails
    from airflow.utils import timezone
    from airflow.utils.log import secrets_masker

# The section whose `workers` counts the web server's worker processes (Airflow 3: the API server's).
WORKERS_SECTION = "api" if AIRFLOW_3 else "webserver"
# The keyword of an audit-log row's (Log) date: Airflow 3 silently drops the old one.
LOG_DATE_KEYWORD = "logical_date" if AIRFLOW_3 else "execution_date"
# The DagModel column list_dags reads for "active"; Airflow 3 names a DAG's file in import errors relative
# to its bundle, in both tables.
DAG_ACTIVE_COLUMN = "is_stale" if AIRFLOW_3 else "is_active"
DAG_FILE_COLUMN = "relative_fileloc" if AIRFLOW_3 else "fileloc"
# What the CLI's tables call a run's logical date (dags list-runs, tasks states-for-dag-run).
RUN_DATE_NAME = "logical_date" if AIRFLOW_3 else "execution_date"


def this_line(module: str) -> ModuleType:
    """``rest_api_plugin.airflow2.<module>`` or ``rest_api_plugin.airflow3.<module>``: this Airflow's side of a
    behaviour that differs by line. The only place a line is chosen."""
    return import_module(f"rest_api_plugin.{LINE}.{module}")


def import_error_model():
    """Airflow's model of a DAG file's import errors."""
    if AIRFLOW_V_2_10_PLUS:
        from airflow.models.errors import ParseImportError

        return ParseImportError
    from airflow.models.errors import ImportError as ImportErrorModel

    return ImportErrorModel


def dag_is_active(model) -> bool:
    """Whether the DagModel row is a DAG its file still defines (Airflow 3: not ``is_stale``)."""
    return not model.is_stale if AIRFLOW_3 else bool(model.is_active)


def active_dags(dag_model_class):
    """The SQL condition selecting active DAGs, for ``query.filter``."""
    if AIRFLOW_3:
        return dag_model_class.is_stale.is_(False)
    return dag_model_class.is_active.is_(True)


def set_dag_active(model, active: bool) -> None:
    if AIRFLOW_3:
        model.is_stale = not active
    else:
        model.is_active = active


def active_column_update(dag_model_class, active: bool) -> dict:
    """``{column: value}`` for ``query.update`` setting DAGs active or not."""
    if AIRFLOW_3:
        return {dag_model_class.is_stale: not active}
    return {dag_model_class.is_active: active}


def run_logical_date(run):
    """The run's logical date (Airflow 2: ``execution_date``; Airflow 3 may have none)."""
    return run.logical_date if AIRFLOW_3 else run.execution_date


def run_after(run):
    """When the run may start (Airflow 3's ``run_after``); None on Airflow 2, which has no such column."""
    return run.run_after if AIRFLOW_3 else None


def logical_date_column(dag_run_class):
    return dag_run_class.logical_date if AIRFLOW_3 else dag_run_class.execution_date


def run_order_column(dag_run_class):
    """The column ``dags list-runs`` sorts runs by, newest first: Airflow 3's ``run_after`` (a run may have no
    logical date there), Airflow 2's ``execution_date``."""
    return dag_run_class.run_after if AIRFLOW_3 else dag_run_class.execution_date


__all__ = [
    "AIRFLOW_3",
    "AIRFLOW_VERSION",
    "AIRFLOW_V_2_10_PLUS",
    "AIRFLOW_V_3_2_PLUS",
    "DAG_ACTIVE_COLUMN",
    "DAG_FILE_COLUMN",
    "LINE",
    "LOG_DATE_KEYWORD",
    "RUN_DATE_NAME",
    "WORKERS_SECTION",
    "DagAccessEntity",
    "DagDetails",
    "active_column_update",
    "active_dags",
    "dag_is_active",
    "import_error_model",
    "logical_date_column",
    "run_after",
    "run_logical_date",
    "run_order_column",
    "secrets_masker",
    "set_dag_active",
    "this_line",
    "timezone",
]


def following_data_intervals(dag, first, count: int) -> list[dict | None]:
    """``count`` runs from the data interval ``first`` on, each next one from ``next_dagrun_info``
    (unrestricted), as ``airflow dags next-execution`` follows them on Airflow 2 and 3.1; None where the
    schedule has no next run (and nothing after it)."""
    found: list[dict | None] = []
    interval = first
    while len(found) < count:
        if interval is None:
            found.append(None)
            break
        found.append(
            {
                "logical_date": interval.start,
                "data_interval_start": interval.start,
                "data_interval_end": interval.end,
                "run_after": None,
                "partition_key": None,
            }
        )
        info = dag.next_dagrun_info(interval, restricted=False)
        interval = None if info is None else info.data_interval
    return found
