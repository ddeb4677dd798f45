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

__all__ = ["AIRFLOW_3", "AIRFLOW_VERSION", "DagAccessEntity", "DagDetails", "secrets_masker", "timezone"]
