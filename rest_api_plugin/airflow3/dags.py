"""Airflow 3's side of reading a DAG: what ``airflow dags details`` shows (the REST API's ``DAGResponse``),
its schedule (the timetable's summary), and its next runs as ``airflow dags next-execution`` computes them
(from Airflow 3.2 the timetable's ``next_run_info_from_dag_model`` and ``next_dagrun_info_v2``; on 3.1, as on
Airflow 2, the next data interval, then ``next_dagrun_info``)."""

from __future__ import annotations

from rest_api_plugin.airflow_compat import AIRFLOW_V_3_2_PLUS, following_data_intervals

# The columns of `airflow dags list-runs` and of `airflow dags list-import-errors`
RUN_LIST_COLUMNS = ("dag_id", "run_id", "state", "run_after", "logical_date", "start_date", "end_date")
IMPORT_ERROR_COLUMNS = ("bundle_name", "filepath", "error")


def cli_details(dag_model) -> dict:
    """The DAG's attributes as ``airflow dags details`` prints them: Airflow's ``DAGResponse``, as JSON
    values (dates as ISO 8601)."""
    from airflow.api_fastapi.core_api.datamodels.dags import DAGResponse

    return DAGResponse.model_validate(dag_model, from_attributes=True).model_dump(mode="json")


def schedule(dag_model) -> str | None:
    """The DAG's schedule as text (the timetable's summary), or None."""
    summary = dag_model.timetable_summary
    return None if summary in (None, "None") else summary


def next_executions(dag, dag_model, count: int) -> list[dict | None]:
    """The next ``count`` runs, as ``airflow dags next-execution`` finds them (the first from the DAG row's
    state, the others following it, unrestricted); None where the schedule has no next run (and nothing
    after it)."""
    if not AIRFLOW_V_3_2_PLUS:
        return _next_intervals(dag, dag_model, count)
    from airflow.timetables.base import TimeRestriction

    found: list[dict | None] = []
    info = dag.timetable.next_run_info_from_dag_model(dag_model=dag_model)
    while len(found) < count:
        if info is None:
            found.append(None)
            break
        interval = info.data_interval
        found.append(
            {
                "logical_date": info.logical_date,
                "data_interval_start": interval.start if interval else None,
                "data_interval_end": interval.end if interval else None,
                "run_after": info.run_after,
                "partition_key": getattr(info, "partition_key", None),
            }
        )
        if len(found) < count:
            info = dag.timetable.next_dagrun_info_v2(
                last_dagrun_info=info, restriction=TimeRestriction(earliest=None, latest=None, catchup=True)
            )
    return found


def _next_intervals(dag, dag_model, count: int) -> list[dict | None]:
    """Airflow 3.1's ``dags next-execution``: the next data interval from the DAG row, then each following one
    (``next_dagrun_info``, unrestricted)."""
    from airflow.models.dag import get_next_data_interval

    return following_data_intervals(dag, get_next_data_interval(dag.timetable, dag_model), count)
