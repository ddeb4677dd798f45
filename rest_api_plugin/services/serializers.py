"""Plain-JSON views of Airflow's models, for the envelope's ``data``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rest_api_plugin.airflow_compat import AIRFLOW_3, dag_is_active, run_logical_date


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def dag_run(run) -> dict[str, Any]:
    logical_date = run_logical_date(run)
    run_type = str(run.run_type)
    return {
        "dag_id": run.dag_id,
        "run_id": run.run_id,
        "logical_date": iso(logical_date),
        "execution_date": iso(logical_date),
        "state": str(run.state) if run.state is not None else None,
        "run_type": run_type,
        # Airflow 3 has no such column: a run is external when neither the scheduler nor a backfill made it
        "external_trigger": getattr(run, "external_trigger", run_type not in ("scheduled", "backfill")),
        "conf": run.conf or {},
        "queued_at": iso(run.queued_at),
        "start_date": iso(run.start_date),
        "end_date": iso(run.end_date),
        "data_interval_start": iso(run.data_interval_start),
        "data_interval_end": iso(run.data_interval_end),
    }


# The DagModel columns list_dags reads (one row each, no ORM object); the active flag is the line's own.
DAG_COLUMNS = ("dag_id", "is_paused", "is_stale" if AIRFLOW_3 else "is_active", "fileloc", "owners", "description",
               "timetable_description", "next_dagrun", "last_parsed_time")


def dag_row(row, tags: list[str]) -> dict[str, Any]:
    """A DAG as list_dags shows it, from a row of ``DAG_COLUMNS`` and its tag names."""
    return {
        "dag_id": row.dag_id,
        "is_paused": bool(row.is_paused),
        "is_active": dag_is_active(row),
        "fileloc": row.fileloc,
        "owners": [owner.strip() for owner in (row.owners or "").split(",") if owner.strip()],
        "description": row.description,
        "timetable_description": row.timetable_description,
        "tags": sorted(tags),
        "next_dagrun": iso(row.next_dagrun),
        "last_parsed_time": iso(row.last_parsed_time),
    }


def task_instance(ti) -> dict[str, Any]:
    return {
        "dag_id": ti.dag_id,
        "task_id": ti.task_id,
        "run_id": ti.run_id,
        "map_index": ti.map_index,
        "state": str(ti.state) if ti.state is not None else None,
        "try_number": ti.try_number,
        "start_date": iso(ti.start_date),
        "end_date": iso(ti.end_date),
    }


def pool(p) -> dict[str, Any]:
    return {
        "pool": p.pool,
        "slots": p.slots,
        "description": p.description,
        "include_deferred": bool(getattr(p, "include_deferred", False)),
    }
