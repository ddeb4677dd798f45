"""Airflow 3's auth manager, as the plugin asks it (the configured one: FAB's, or SimpleAuthManager). Every
call names the user: Airflow 3's managers do not fall back to the current one."""

from __future__ import annotations


def auth_manager():
    """The API server's auth manager."""
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager()


def readable_dag_ids(manager, user) -> set[str]:
    """The DAGs ``user`` may read."""
    return set(manager.get_authorized_dag_ids(user=user, method="GET"))


def may_access_every_dag(manager, method: str, user) -> bool | None:
    """Whether ``user`` may ``method`` every DAG. Airflow 3's FAB manager reads a DAG check without a DAG id as
    "may list DAGs" (any one DAG is enough): every DAG is the DAGs resource itself. None (other managers): ask
    ``is_authorized_dag`` without a DAG."""
    if not hasattr(manager, "security_manager"):
        return None
    return bool(manager.is_authorized_custom_view(method=method, resource_name="DAGs", user=user))
