"""Airflow 2's side of triggering a run: ``trigger_dag`` with an ``execution_date``."""

from __future__ import annotations


def trigger(dag_id: str, logical_date, run_id: str | None, conf: dict | None, identity):
    """A manual run of ``dag_id`` at exactly ``logical_date``, made by Airflow's own ``trigger_dag`` (which
    records no user on Airflow 2)."""
    from airflow.api.common.trigger_dag import trigger_dag

    return trigger_dag(dag_id=dag_id, execution_date=logical_date, run_id=run_id, conf=conf, replace_microseconds=False)
