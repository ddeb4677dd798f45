"""Airflow REST API plugin: the Airflow CLI as HTTP endpoints under /admin/rest_api."""

__version__ = "2.0.0"
