"""Which Airflow line the suite runs on, and the few test-side calls that differ between Airflow 2 and 3.

Read from the installed distribution, so conftest can set the environment before Airflow is imported.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import pytest

AIRFLOW_VERSION = version("apache-airflow")
AIRFLOW_3 = int(AIRFLOW_VERSION.split(".", 1)[0]) >= 3
BUNDLE = "dags-folder"  # Airflow 3's bundle for [core] dags_folder

airflow2_only = pytest.mark.skipif(AIRFLOW_3, reason="Airflow 2 only (Flask webserver, gunicorn or its APIs)")
airflow3_only = pytest.mark.skipif(not AIRFLOW_3, reason="Airflow 3 only")


def sync_dag_files(path: Path) -> list[str]:
    """Parse ``path`` (a file or the DAGs folder) and store its DAGs as the scheduler's DAG processor would;
    the DAG ids found."""
    if not AIRFLOW_3:
        from airflow.models import DagBag

        bag = DagBag(str(path), include_examples=False)
        bag.sync_to_db()
        return list(bag.dag_ids)
    from airflow.configuration import conf
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    try:  # Airflow 3.3
        from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bundle_path = Path(conf.get("core", "dags_folder"))
    try:
        bag = DagBag(str(path), bundle_path=bundle_path, bundle_name=BUNDLE)
    except TypeError:  # Airflow 3.1: no bundle_name
        bag = DagBag(str(path), bundle_path=bundle_path, include_examples=False)
    sync_bag_to_db(bag, BUNDLE, None)
    return list(bag.dag_ids)


def trigger(dag_id: str, run_id: str | None = None, logical_date=None):
    """A manual run of ``dag_id``, as `airflow dags trigger` makes it."""
    from airflow.api.common.trigger_dag import trigger_dag

    if not AIRFLOW_3:
        return trigger_dag(dag_id, run_id=run_id, execution_date=logical_date)
    from airflow.utils.types import DagRunTriggeredByType

    return trigger_dag(dag_id, run_id=run_id, logical_date=logical_date, triggered_by=DagRunTriggeredByType.TEST)


def reread_sensitive_names() -> None:
    """Make the secrets masker read [core] sensitive_var_conn_names again (each line caches it its own way)."""
    if AIRFLOW_3:
        from airflow.settings import _configure_secrets_masker

        _configure_secrets_masker()
    else:
        from airflow.utils.log.secrets_masker import get_sensitive_variables_fields

        get_sensitive_variables_fields.cache_clear()
