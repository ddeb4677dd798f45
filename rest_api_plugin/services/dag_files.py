"""DAG files: deploy_dag (upload), delete_dag, refresh_dag and refresh_all_dags.

Parsing happens in-process with Airflow's DagBag, as the scheduler's file processor does, and the result
is written to the database at once (``sync_to_db``), so list_dags sees it without waiting for the scheduler.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from rest_api_plugin import config
from rest_api_plugin.errors import BadRequest, Conflict, NotFound
from rest_api_plugin.result import CallContext, Result
from rest_api_plugin.services.dags import get_dag_model

DEFAULT_MAX_UPLOAD_BYTES = 1024 * 1024
UPLOAD_PREFIX = ".rest_api_plugin_upload_"


def dags_folder() -> Path:
    from airflow.configuration import conf

    return Path(conf.get("core", "dags_folder")).resolve()


def inside_dags_folder(path: str) -> Path | None:
    """``path`` (relative to the DAGs folder, or absolute) resolved, if it is inside the DAGs folder."""
    folder = dags_folder()
    resolved = (folder / path).resolve()
    return resolved if resolved == folder or folder in resolved.parents else None


def backup_folder() -> Path:
    """Replaced and deleted DAG files are kept here: outside the DAGs folder, so they are never parsed."""
    from airflow.configuration import conf

    folder = Path(config._get("dag_backup_folder") or Path(conf.get("core", "airflow_home")) / "rest_api_plugin_dag_backups")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def max_upload_bytes() -> int:
    return int(config._get("deploy_dag_max_bytes") or DEFAULT_MAX_UPLOAD_BYTES)


def _back_up(path: Path) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    backup = backup_folder() / f"{path.name}.{stamp}.bak"
    shutil.copy2(path, backup)
    return str(backup)


def _parse(path: Path):
    from airflow.models import DagBag

    return DagBag(str(path), include_examples=False, safe_mode=False)


def _sync(bag) -> None:
    bag.sync_to_db()


# --- deploy_dag ---

def _uploaded_python_file(ctx: CallContext) -> tuple[str, bytes]:
    from werkzeug.utils import secure_filename

    upload = (ctx.files or {}).get("dag_file")
    if upload is None or not upload.filename:
        raise BadRequest("dag_file should be provided (a multipart/form-data file part)")
    name = secure_filename(upload.filename)
    if not name.endswith(".py") or name.startswith(".") or len(name) <= 3:
        raise BadRequest("dag_file is not a *.py file")
    limit = max_upload_bytes()
    content = upload.stream.read(limit + 1)
    if len(content) > limit:
        raise BadRequest(f"dag_file is larger than the limit of {limit} bytes")
    return name, content


def _check_dag_ids_are_free(bag, target: Path) -> None:
    from airflow.models import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        for dag_id in bag.dag_ids:
            existing = session.get(DagModel, dag_id)
            if existing and existing.fileloc and Path(existing.fileloc) != target and os.path.exists(existing.fileloc):
                raise Conflict(f"DAG {dag_id} is already defined in another file: {existing.fileloc}")


def deploy_dag(args: dict, ctx: CallContext) -> Result:
    name, content = _uploaded_python_file(ctx)
    folder = dags_folder()
    target = folder / name
    if target.exists() and not args["force"]:
        raise Conflict(f"The file '{name}' already exists on host '{socket.gethostname()}': use force=on to replace it")
    handle, temporary = tempfile.mkstemp(prefix=UPLOAD_PREFIX, suffix=".upload", dir=folder)  # not *.py: never picked up by the scheduler
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        bag = _parse(Path(temporary))
        if bag.import_errors:
            errors = {name: trace.replace(temporary, name) for trace in bag.import_errors.values()}
            raise BadRequest(f"DAG file [{name}] has import errors and was not installed:\n{errors[name]}",
                             data={"import_errors": errors})
        _check_dag_ids_are_free(bag, target)
        backup = _install(Path(temporary), target, args["force"])
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    bag = _parse(target)
    _sync(bag)
    warning, paused = _apply_pause(args, bag.dag_ids)
    data = {"filename": name, "path": str(target), "dag_ids": sorted(bag.dag_ids), "backup": backup, "paused": paused}
    if not bag.dag_ids:
        warning = "; ".join(filter(None, [warning, f"No DAG found in {name}"]))
    return Result(output=f"DAG File [{name}] has been uploaded", data=data, warning=warning)


def _install(temporary: Path, target: Path, force: bool) -> str | None:
    """Atomically: os.replace when forced (the old file is backed up first), else a link that fails if the
    file appeared meanwhile."""
    if force:
        backup = _back_up(target) if target.exists() else None
        os.replace(temporary, target)
        return backup
    try:
        os.link(temporary, target)
    except FileExistsError:
        raise Conflict(f"The file '{target.name}' already exists: use force=on to replace it")
    return None


def _apply_pause(args: dict, dag_ids) -> tuple[str | None, dict]:
    from airflow.models import DagModel
    from airflow.utils.session import create_session

    if args["pause"] and args["unpause"]:
        return "Both options pause and unpause were given. Skipping setting the state (pause, unpause) of the DAG.", {}
    with create_session() as session:
        paused = {}
        for dag_id in sorted(dag_ids):
            model = session.get(DagModel, dag_id)
            if args["pause"] or args["unpause"]:
                model.is_paused = bool(args["pause"])
            paused[dag_id] = bool(model.is_paused)
    return None, paused


# --- delete_dag ---

def delete_dag(args: dict, ctx: CallContext) -> Result:
    from airflow.api.common.delete_dag import delete_dag as airflow_delete_dag
    from airflow.exceptions import AirflowException, DagNotFound
    from airflow.models import DagModel, TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    dag_id = args["dag_id"]
    with create_session() as session:
        fileloc = get_dag_model(dag_id, session).fileloc
        running = session.query(TaskInstance).filter_by(dag_id=dag_id, state=TaskInstanceState.RUNNING).count()
        if running:
            raise Conflict(f"TaskInstances still running: {running}; DAG {dag_id} was not deleted")
        others = [m.dag_id for m in session.query(DagModel).filter(DagModel.fileloc == fileloc, DagModel.dag_id != dag_id)]
    backup = _remove_file(dag_id, fileloc, others) if args["delete_file"] else None
    try:
        count = airflow_delete_dag(dag_id)
    except DagNotFound:
        raise NotFound(f"The DAG ID '{dag_id}' does not exist")
    except AirflowException as err:
        raise Conflict(str(err))
    output = f"Removed {count} record(s) of DAG {dag_id}"
    if backup:
        output += f"; removed its file {fileloc} (backup: {backup})"
    return Result(output=output, data={"dag_id": dag_id, "records_removed": count, "file_removed": bool(backup),
                                       "fileloc": fileloc, "backup": backup})


def _remove_file(dag_id: str, fileloc: str | None, others: list[str]) -> str:
    if others:
        raise Conflict(f"The file of DAG {dag_id} also defines {', '.join(sorted(others))}: it was not deleted")
    path = inside_dags_folder(fileloc) if fileloc else None
    if path is None or not path.is_file() or path.suffix != ".py":
        raise Conflict(f"The file of DAG {dag_id} ({fileloc}) is not a .py file in the DAGs folder: not deleted")
    bag = _parse(path)
    if set(bag.dag_ids) - {dag_id}:
        raise Conflict(f"The file {path.name} also defines {', '.join(sorted(set(bag.dag_ids) - {dag_id}))}")
    backup = _back_up(path)
    path.unlink()
    return backup


# --- refresh_dag, refresh_all_dags ---

def refresh_dag(args: dict, ctx: CallContext) -> Result:
    from airflow.utils.session import create_session

    dag_id = args["dag_id"]
    with create_session() as session:
        fileloc = get_dag_model(dag_id, session).fileloc
    if not fileloc or not os.path.isfile(fileloc):
        raise Conflict(f"The file of DAG {dag_id} ({fileloc}) no longer exists: use refresh_all_dags")
    bag = _parse(Path(fileloc))
    if bag.import_errors:
        raise Conflict(f"The file of DAG {dag_id} has import errors:\n" + "\n".join(bag.import_errors.values()),
                       data={"import_errors": bag.import_errors})
    if dag_id not in bag.dag_ids:
        raise Conflict(f"DAG {dag_id} is no longer defined in {fileloc}: use refresh_all_dags")
    _sync(bag)
    return Result(output=f"DAG [{dag_id}] is now fresh as a daisy",
                  data={"dag_id": dag_id, "fileloc": fileloc, "dag_ids_in_file": sorted(bag.dag_ids)})


def refresh_all_dags(args: dict, ctx: CallContext) -> Result:
    """Parse the whole DAGs folder into the database; DAGs whose files are gone become inactive."""
    from airflow.configuration import conf
    from airflow.models import DagBag, DagModel
    from airflow.utils.file import list_py_file_paths

    folder = str(dags_folder())
    include_examples = conf.getboolean("core", "load_examples")
    bag = DagBag(folder, include_examples=include_examples)
    bag.sync_to_db()
    alive = set(list_py_file_paths(folder, include_examples=include_examples))
    alive.update(dag.fileloc for dag in bag.dags.values())
    DagModel.deactivate_deleted_dags(alive_dag_filelocs=alive, processor_subdir=folder)
    errors = dict(sorted(bag.import_errors.items()))
    lines = [f"All DAGs are now fresh as a daisy: {len(bag.dag_ids)} DAG(s) from {folder}"]
    lines += [f"Import error in {path}:\n{trace}" for path, trace in errors.items()]
    return Result(output="\n".join(lines), data={"dag_ids": sorted(bag.dag_ids), "import_errors": errors},
                  warning=f"{len(errors)} file(s) with import errors" if errors else None)
