"""Airflow 3's side of triggering a run: the keyword-only ``trigger_dag``, which says who triggered it.

Airflow 3 lets a manual run have no logical date, but old clients name runs by the date they were created at
(``dag_state``, ``task_state``): the plugin always gives one, as Airflow 2 did."""

from __future__ import annotations


def trigger(dag_id: str, logical_date, run_id: str | None, conf: dict | None, identity):
    """A manual run of ``dag_id`` at exactly ``logical_date``, made by Airflow's own ``trigger_dag``, triggered
    by the REST API and by the user who called (none for a token)."""
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.utils.types import DagRunTriggeredByType

    return trigger_dag(
        dag_id,
        logical_date=logical_date,
        run_id=run_id,
        conf=conf,
        replace_microseconds=False,
        triggered_by=DagRunTriggeredByType.REST_API,
        triggering_user_name=None if identity.is_token else identity.name,
    )
