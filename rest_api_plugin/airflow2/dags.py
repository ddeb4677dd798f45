"""Airflow 2's side of reading a DAG: what ``airflow dags details`` shows (the stable API's DAG schema), its
schedule, and its next runs as ``airflow dags next-execution`` computes them (the DAG's own methods)."""

from __future__ import annotations

from rest_api_plugin.airflow_compat import following_data_intervals

# The columns of `airflow dags list-runs` and of `airflow dags list-import-errors`
RUN_LIST_COLUMNS = ("dag_id", "run_id", "state", "execution_date", "start_date", "end_date")
IMPORT_ERROR_COLUMNS = ("filepath", "error")


def cli_details(dag_model) -> dict:
    """The DAG's attributes as ``airflow dags details`` prints them: the stable API's ``dag_schema`` dump,
    JSON values (dates as ISO 8601)."""
    from airflow.api_connexion.schemas.dag_schema import dag_schema

    return dag_schema.dump(dag_model)


def schedule(dag_model) -> str | None:
    """The DAG's schedule as text (``schedule_interval``: a preset, a cron expression, a timedelta), or None."""
    interval = dag_model.schedule_interval
    return None if interval is None else str(interval)


def next_executions(dag, dag_model, count: int) -> list[dict | None]:
    """The next ``count`` runs, as ``airflow dags next-execution`` finds them (the first from the DAG row's
    state, the others following it, unrestricted by start or end date); None where the schedule has no
    next run (and nothing after it)."""
    return following_data_intervals(dag, dag.get_next_data_interval(dag_model), count)
