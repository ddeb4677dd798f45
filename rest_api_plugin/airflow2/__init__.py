"""Airflow 2 only: the Flask-AppBuilder view and its adapter, the API sessions, the gunicorn header patch."""
