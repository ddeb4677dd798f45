"""How many requests may wait on jobs at once, across every gunicorn worker of the webserver (Airflow 3: every
thread of the API server's uvicorn workers).

A request that waits for a job (``wait=true``, and ``test``/``run`` by default) holds its gunicorn worker for
as long as the job runs. Airflow's webserver runs ``[webserver] workers`` synchronous workers: were they all
waiting, nothing would answer, not even ``/health``. So at most ``max(1, workers - 1)`` requests wait at
once. Each waiting request holds an exclusive, non-blocking ``flock`` on one slot file in
``<[logging] base_log_folder>/rest_api_plugin/wait-slots/``; the kernel drops the lock when the file is closed or
its process dies, so a killed worker never keeps a slot. The slots bound this host's workers: they stay local
files, while the jobs themselves live in the database (``jobs.py``).
"""

from __future__ import annotations

import fcntl
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from rest_api_plugin import config
from rest_api_plugin.airflow_compat import this_line

web_server = this_line("web_server")

SLOT_FILE = ".wait-slot-{index}"


def folder() -> Path:
    from airflow.configuration import conf

    path = Path(conf.get("logging", "base_log_folder")) / "rest_api_plugin" / "wait-slots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def count() -> int:
    """How many requests may wait at once: Airflow 2, all the webserver's gunicorn workers but one, and at
    least one; Airflow 3, half the threads of the API server's uvicorn workers."""
    return web_server.waiting_requests(config.webserver_workers())


@contextmanager
def wait_slot() -> Iterator[bool]:
    """Hold a free slot while the block runs (yields True), or yield False at once when every slot is taken."""
    slots = folder()
    for index in range(count()):
        handle = open(slots / SLOT_FILE.format(index=index), "ab")
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
