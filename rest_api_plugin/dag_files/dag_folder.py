"""The DAGs folder and the backup folder: where DAG files live, and how answers name them.

A small low-level module that schemas (``subdir``), the DAG-file endpoints and the DAG processor child all
use. Answers name files by their path relative to the DAGs folder, never by an absolute path of the server.
"""

from __future__ import annotations

import os
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path

from rest_api_plugin import config
from rest_api_plugin.airflow_compat import active_dags
from rest_api_plugin.errors import Misconfigured

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


def path_in_dags_folder(relative: str) -> str:
    """The file ``relative`` of the DAGs folder, spelled as the DAG processor spells it."""
    return os.path.join(configured_dags_folder(), relative)


def resolved_inside_dags_folder(path: str) -> Path | None:
    """``path`` (relative to the DAGs folder, or absolute) resolved, if it is inside the DAGs folder."""
    if CONTROL_CHARACTERS.search(path):
        return None
    folder = dags_folder()
    resolved = (folder / path).resolve()
    return resolved if resolved == folder or folder in resolved.parents else None


def relative_name(path: str | os.PathLike) -> str:
    """How answers name a file: its path relative to the DAGs folder; a file outside it (an example DAG) by
    its name alone."""
    inside = resolved_inside_dags_folder(os.fspath(path))
    if inside is None or inside == dags_folder():
        return Path(path).name
    return str(inside.relative_to(dags_folder()))


def without_dags_folder(text: str) -> str:
    """``text`` (a stack trace) with the DAGs folder's own path taken out of the paths it names."""
    for folder in {configured_dags_folder().rstrip(os.sep), str(dags_folder())}:
        text = text.replace(folder + os.sep, "")
    return text


def active_dag_ids_in_file(session, path: str | os.PathLike) -> set[str]:
    """The active DAGs the database places in the file ``path`` (however its ``fileloc`` is spelled)."""
    from airflow.models import DagModel

    real = os.path.realpath(path)
    rows = session.query(DagModel.dag_id, DagModel.fileloc).filter(active_dags(DagModel))
    return {dag_id for dag_id, fileloc in rows if fileloc and os.path.realpath(fileloc) == real}


def backup_folder() -> Path:
    """Replaced and deleted DAG files are kept here (created when missing): outside the DAGs folder, so they
    are never parsed."""
    folder = config.dag_backup_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise Misconfigured(
            f"The DAG backup folder ([rest_api_plugin] dag_backup_folder) cannot be created "
            f"({type(err).__name__}): no DAG file was changed"
        ) from err
    return folder


def back_up(path: Path) -> Path:
    """A copy of ``path`` in the backup folder, named after it and the time."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    backup = backup_folder() / f"{path.name}.{stamp}.bak"
    try:
        shutil.copy2(path, backup)
    except OSError as err:
        raise Misconfigured(
            f"The DAG backup folder ([rest_api_plugin] dag_backup_folder) is not writable "
            f"({type(err).__name__}): no DAG file was changed"
        ) from err
    return backup


def put_back(backup: Path, path: Path) -> None:
    """``path`` as it was when ``backup`` was made; the backup is no longer needed."""
    shutil.copy2(backup, path)
    backup.unlink()


def forget_bytecode(path: str | os.PathLike) -> None:
    """Remove the compiled bytecode Python cached for ``path``.

    Python trusts a cached .pyc when the source's size and mtime (in whole seconds) match, so a file
    replaced by another of the same size within the same second would run its old code.
    """
    import importlib.util

    try:
        cached = importlib.util.cache_from_source(os.fspath(path))
    except (NotImplementedError, ValueError):
        return
    try:
        os.unlink(cached)
    except FileNotFoundError:
        pass
