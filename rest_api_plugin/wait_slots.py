"""How many requests may wait on jobs at once, across every gunicorn worker of the webserver (Airflow 3: every
thread of the API server's uvicorn workers).

A request that waits for a job (``wait=true``, and ``test``/``run`` by default) holds its gunicorn worker for
as long as the job runs. Airflow's webserver runs ``[webserver] workers`` synchronous workers: were they all
waiting, nothing would answer, not even ``/health``. So at most ``max(1, workers - 1)`` requests wait at
once. Each waiting request holds an exclusive, non-blocking ``flock`` on one slot file in the jobs folder;
the kernel drops the lock when the file is closed or its process dies, so a killed worker never keeps a slot.
"""

from __future__ import annotations

import fcntl
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from rest_api_plugin import config

SLOT_FILE = ".wait-slot-{index}"


# Airflow 3: a uvicorn worker runs each request's blocking work on a thread of its own (anyio's pool of 40 per
# process); half of them may wait on jobs, the other half stays for every other request.
WAITING_THREADS_PER_UVICORN_WORKER = 20


def count() -> int:
    """How many requests may wait at once: Airflow 2, all the webserver's gunicorn workers but one, and at
    least one; Airflow 3, half the threads of the API server's uvicorn workers."""
    if config.workers_section() == "api":
        return config.webserver_workers() * WAITING_THREADS_PER_UVICORN_WORKER
    return max(1, config.webserver_workers() - 1)


@contextmanager
def wait_slot(folder: Path) -> Iterator[bool]:
    """Hold a free slot while the block runs (yields True), or yield False at once when every slot is taken."""
    for index in range(count()):
        handle = open(folder / SLOT_FILE.format(index=index), "ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        try:
            yield True
        finally:
            handle.close()  # closing the file releases its lock
        return
    yield False
