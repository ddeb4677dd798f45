"""Airflow 3 only: the FastAPI app the API server mounts, its adapter."""
