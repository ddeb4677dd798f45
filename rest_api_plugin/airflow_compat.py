"""The few names that moved between Airflow 2 and Airflow 3, imported from wherever this Airflow has them."""

from __future__ import annotations

from airflow import __version__ as AIRFLOW_VERSION

AIRFLOW_3 = int(AIRFLOW_VERSION.split(".", 1)[0]) >= 3

if AIRFLOW_3:  # pragma: no cover - exercised on Airflow 3
    from airflow._shared import secrets_masker  # what Airflow 3's own core uses (the SDK's is a shim)
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
    from airflow.sdk import timezone
else:
    from airflow.auth.managers.models.resource_details import DagAccessEntity, DagDetails
    from airflow.utils import timezone
    from airflow.utils.log import secrets_masker



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


def logical_date_column(dag_run_class):
    return dag_run_class.logical_date if AIRFLOW_3 else dag_run_class.execution_date


__all__ = ["AIRFLOW_3", "AIRFLOW_VERSION", "DagAccessEntity", "DagDetails", "active_column_update", "active_dags",
           "dag_is_active", "logical_date_column", "run_logical_date", "secrets_masker", "set_dag_active",
           "timezone"]
