"""Airflow 2's auth manager, as the plugin asks it (FAB's, set up by the webserver)."""

from __future__ import annotations


def auth_manager():
    """The webserver's auth manager."""
    from airflow.www.extensions.init_auth_manager import get_auth_manager

    return get_auth_manager()


def readable_dag_ids(manager, user) -> set[str]:
    """The DAGs ``user`` may read."""
    return set(manager.get_permitted_dag_ids(methods=["GET"], user=user))


def may_access_every_dag(manager, method: str, user) -> bool | None:
    """Whether ``user`` may ``method`` every DAG, where this line's auth manager must be asked differently from
    its DAG check; None: ask ``is_authorized_dag`` without a DAG (Airflow 2's reads that as every DAG)."""
    return None
