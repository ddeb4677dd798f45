"""Airflow 3's web server, as the plugin needs to know it: the API server's uvicorn workers."""

from __future__ import annotations

# A uvicorn worker runs each request's blocking work on a thread of its own (anyio's pool of 40 per process);
# half of them may wait on jobs, the other half stays for every other request.
WAITING_THREADS_PER_WORKER = 20


def waiting_requests(workers: int) -> int:
    """How many requests may wait on jobs at once: half the threads of ``[api] workers`` uvicorn workers."""
    return workers * WAITING_THREADS_PER_WORKER
