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
from rest_api_plugin.airflow_compat import AIRFLOW_3, active_dags
from rest_api_plugin.errors import Conflict, Misconfigured

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


def in_dags_folder(relative: str) -> str:
    """The file ``relative`` of the DAGs folder, spelled as the DAG processor spells it."""
    return os.path.join(configured_dags_folder(), relative)


def inside_dags_folder(path: str) -> Path | None:
    """``path`` (relative to the DAGs folder, or absolute) resolved, if it is inside the DAGs folder."""
    if CONTROL_CHARACTERS.search(path):
        return None
    folder = dags_folder()
    resolved = (folder / path).resolve()
    return resolved if resolved == folder or folder in resolved.parents else None


def relative_name(path: str | os.PathLike) -> str:
    """How answers name a file: its path relative to the DAGs folder; a file outside it (an example DAG) by
    its name alone."""
    inside = inside_dags_folder(os.fspath(path))
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


LOCAL_BUNDLE_CLASS = "airflow.dag_processing.bundles.local.LocalDagBundle"


def dags_folder_bundle() -> str | None:
    """Airflow 3: the name of the DAG bundle that is the DAGs folder, the only one this plugin writes to: the
    LocalDagBundle of [dag_processor] dag_bundle_config_list whose path is [core] dags_folder (Airflow's
    default, "dags-folder", has no path: it is the DAGs folder). Conflict (409) naming why when no bundle, or
    more than one, is the DAGs folder: DAG files of another bundle (a git clone...) are not the plugin's to
    write, and a file in a folder no bundle parses would never be stored. Airflow 2 has no bundles: None."""
    if not AIRFLOW_3:
        return None
    import importlib

    from airflow.configuration import conf

    refused = "DAG files can only be written to the local DAG bundle of the DAGs folder; nothing was changed"
    try:
        entries = conf.getjson("dag_processor", "dag_bundle_config_list") or []
        if not isinstance(entries, list):
            raise ValueError("not a list")
        bundles = [(entry["name"], entry["classpath"], entry.get("kwargs") or {}) for entry in entries]
        from airflow.dag_processing.bundles.local import LocalDagBundle
    except Exception as err:
        raise Conflict(f"The DAG bundles ([dag_processor] dag_bundle_config_list) cannot be read "
                       f"({type(err).__name__}): {refused}")
    folder = dags_folder()
    found, others = [], []
    for name, classpath, kwargs in bundles:
        try:
            module, _, attribute = classpath.rpartition(".")
            local = classpath == LOCAL_BUNDLE_CLASS or issubclass(
                getattr(importlib.import_module(module), attribute), LocalDagBundle)
        except Exception:
            local = False
        path = kwargs.get("path") if isinstance(kwargs, dict) else None
        if local and Path(os.path.expanduser(path or configured_dags_folder())).resolve() == folder:
            found.append(name)
        else:
            others.append(f"{name} ({classpath.rsplit('.', 1)[-1]}{', another folder' if local else ''})")
    if len(found) == 1:
        return found[0]
    if found:
        raise Conflict(f"Several DAG bundles are the DAGs folder ([core] dags_folder): {', '.join(sorted(found))}. "
                       f"Which one a file belongs to is ambiguous: {refused}")
    configured = ", ".join(others) or "none"
    raise Conflict(f"No DAG bundle is the DAGs folder: [dag_processor] dag_bundle_config_list has no "
                   f"LocalDagBundle whose path is [core] dags_folder (configured: {configured}). {refused}")


def backup_folder() -> Path:
    """Replaced and deleted DAG files are kept here (created when missing): outside the DAGs folder, so they
    are never parsed."""
    folder = config.dag_backup_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise Misconfigured(f"The DAG backup folder ([rest_api_plugin] dag_backup_folder) cannot be created "
                            f"({type(err).__name__}): no DAG file was changed")
    return folder


def back_up(path: Path) -> Path:
    """A copy of ``path`` in the backup folder, named after it and the time."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    backup = backup_folder() / f"{path.name}.{stamp}.bak"
    try:
        shutil.copy2(path, backup)
    except OSError as err:
        raise Misconfigured(f"The DAG backup folder ([rest_api_plugin] dag_backup_folder) is not writable "
                            f"({type(err).__name__}): no DAG file was changed")
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
