"""Airflow 2's web server, as the plugin needs to know it: gunicorn's synchronous workers."""

from __future__ import annotations


def waiting_requests(workers: int) -> int:
    """How many requests may wait on jobs at once: a waiting request holds its synchronous gunicorn worker,
    so all of ``[webserver] workers`` but one, and at least one (``/health`` must keep answering)."""
    return max(1, workers - 1)
