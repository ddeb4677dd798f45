"""The DAGs folder: where DAG files live.

A small low-level module that schemas (``subdir``) and services alike may use.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

# A NUL byte makes the operating system's path functions fail; the other control characters have no place in
# a file name either.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def dags_folder() -> Path:
    """``[core] dags_folder``, resolved (symlinks followed): for checks that a path is inside it."""
    return Path(configured_dags_folder()).resolve()


def configured_dags_folder() -> str:
    """``[core] dags_folder`` as Airflow's DAG processor spells it (``settings.DAGS_FOLDER``): DAG files are
    stored in the database (``fileloc``) under this spelling."""
    from airflow.configuration import conf

    return os.path.expanduser(conf.get("core", "dags_folder"))


def inside_dags_folder(path: str) -> Path | None:
    """``path`` (relative to the DAGs folder, or absolute) resolved, if it is inside the DAGs folder."""
    if CONTROL_CHARACTERS.search(path):
        return None
    folder = dags_folder()
    resolved = (folder / path).resolve()
    return resolved if resolved == folder or folder in resolved.parents else None
