"""DAG files: deploy_dag (upload), delete_dag, refresh_dag and refresh_all_dags.

Parsing happens in-process with Airflow's DagBag, as the scheduler's file processor does, and the result
is written to the database at once (``sync_to_db``), so list_dags sees it without waiting for the scheduler.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
from contextlib import contextmanager
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
    from airflow.configuration import AIRFLOW_HOME

    folder = Path(config._get("dag_backup_folder") or Path(AIRFLOW_HOME) / "rest_api_plugin_dag_backups")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def max_upload_bytes() -> int:
    return int(config._get("deploy_dag_max_bytes") or DEFAULT_MAX_UPLOAD_BYTES)


def _back_up(path: Path) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    backup = backup_folder() / f"{path.name}.{stamp}.bak"
    shutil.copy2(path, backup)
    return str(backup)


def _forget_bytecode(path: Path) -> None:
    """Remove the compiled bytecode Python cached for ``path``.

    Python trusts a cached .pyc when the source's size and mtime (in whole seconds) match, so a file
    replaced by another of the same size within the same second would run its old code.
    """
    import importlib.util

    try:
        cached = importlib.util.cache_from_source(str(path))
    except (NotImplementedError, ValueError):
        return
    try:
        os.unlink(cached)
    except FileNotFoundError:
        pass


@contextmanager
def _fresh_bytecode(paths):
    """While parsing ``paths``: no cached bytecode before (it could be stale), none left after."""
    paths = [Path(path) for path in paths]
    for path in paths:
        _forget_bytecode(path)
    try:
        yield
    finally:
        for path in paths:
            _forget_bytecode(path)


def _parse(path: Path):
    from airflow.models import DagBag

    with _fresh_bytecode([path]):
        return DagBag(str(path), include_examples=False, safe_mode=False)


def _sync(bag) -> None:
    """Write the bag's DAGs to the database now.

    ``DagBag.sync_to_db`` skips a serialized DAG written less than [core] min_serialized_dag_update_interval
    (30 s) ago, so an edit made just after the last parse would not be seen: write them unconditionally
    (a DAG whose hash did not change is still skipped).
    """
    from airflow.models import DagBag
    from airflow.models.dag import DAG
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        for dag in bag.dags.values():
            if dag.is_subdag:
                continue
            if SerializedDagModel.write_dag(dag, min_update_interval=None, session=session):
                DagBag._sync_perm_for_dag(dag, session=session)
        DAG.bulk_write_to_db(bag.dags.values(), session=session)


def _deactivate_missing(bag, parsed_files) -> list[str]:
    """DAGs the database places in one of ``parsed_files`` (parsed without import errors) that the files no
    longer define become inactive, as the scheduler's DAG processor makes them."""
    from airflow.models import DagModel
    from airflow.utils.session import create_session

    failed = {os.path.realpath(path) for path in bag.import_errors}
    parsed = {os.path.realpath(path) for path in parsed_files} - failed
    gone = []
    with create_session() as session:
        for model in session.query(DagModel).filter(DagModel.is_active.is_(True), DagModel.fileloc.isnot(None)):
            if model.dag_id not in bag.dags and os.path.realpath(model.fileloc) in parsed:
                model.is_active = False
                gone.append(model.dag_id)
    return sorted(gone)


# --- deploy_dag ---

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def _safe_name(raw: str) -> str:
    """The uploaded file's name reduced to a plain file name for the DAGs folder."""
    from werkzeug.utils import secure_filename

    if CONTROL_CHARACTERS.search(raw):
        raise BadRequest("dag_file's name contains control characters")
    base = raw.replace("\\", "/").rsplit("/", 1)[-1]  # clients may send a Windows or POSIX path
    name = secure_filename(base)
    if not name.endswith(".py") or name.startswith(".") or len(name) <= 3:
        raise BadRequest(f"dag_file is not a *.py file: {raw!r}")
    return name


def _uploaded_python_file(ctx: CallContext) -> tuple[str, bytes]:
    upload = (ctx.files or {}).get("dag_file")
    if upload is None or not upload.filename:
        raise BadRequest("dag_file should be provided (a multipart/form-data file part)")
    name = _safe_name(upload.filename)
    limit = max_upload_bytes()
    content = upload.stream.read(limit + 1)
    if len(content) > limit:
        raise BadRequest(f"dag_file is larger than the limit of {limit} bytes")
    return name, content


def _check_dag_ids_are_free(bag, target: Path) -> None:
    """No other file defines one of the bag's DAG ids: neither by the database's account nor, for files
    the scheduler has not parsed yet, by parsing the files of the DAGs folder that mention the id."""
    from airflow.configuration import conf
    from airflow.models import DagModel
    from airflow.utils.file import list_py_file_paths
    from airflow.utils.session import create_session

    dag_ids = set(bag.dag_ids)
    if not dag_ids:
        return
    target_real = os.path.realpath(target)
    with create_session() as session:
        for model in session.query(DagModel).filter(DagModel.dag_id.in_(dag_ids), DagModel.is_active.is_(True)):
            fileloc = model.fileloc
            if fileloc and os.path.realpath(fileloc) != target_real and os.path.exists(fileloc):
                raise Conflict(f"DAG {model.dag_id} is already defined in another file: {fileloc}")
    safe_mode = conf.getboolean("core", "dag_discovery_safe_mode", fallback=True)
    for path in list_py_file_paths(str(dags_folder()), safe_mode=safe_mode, include_examples=False):
        if os.path.realpath(path) == target_real or not path.endswith(".py"):
            continue
        try:
            text = Path(path).read_text(errors="replace")
        except OSError:
            continue
        if any(dag_id in text for dag_id in dag_ids):
            clash = dag_ids & set(_parse(Path(path)).dag_ids)
            if clash:
                raise Conflict(f"DAG {', '.join(sorted(clash))} is already defined in another file: {path}")


def _serialization_errors(bag, name: str) -> dict:
    from airflow.serialization.serialized_objects import SerializedDAG

    errors = {}
    for dag_id, dag in sorted(bag.dags.items()):
        try:
            SerializedDAG.to_dict(dag)
        except Exception as err:
            errors[name] = f"DAG {dag_id} cannot be serialized: {type(err).__name__}: {err}"
    return errors


def deploy_dag(args: dict, ctx: CallContext) -> Result:
    name, content = _uploaded_python_file(ctx)
    folder = dags_folder()
    target = folder / name
    if target.parent != folder:  # _safe_name makes this impossible; never write elsewhere
        raise BadRequest(f"dag_file's name is not a file name: {name!r}")
    if (target.exists() or target.is_symlink()) and not target.is_file():
        raise Conflict(f"'{name}' exists in the DAGs folder and is not a file: not replaced")
    if target.exists() and not args["force"]:
        raise Conflict(f"The file '{name}' already exists on host '{socket.gethostname()}': use force=on to replace it")
    handle, temporary = tempfile.mkstemp(prefix=UPLOAD_PREFIX, suffix=".upload", dir=folder)  # not *.py: never picked up by the scheduler
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        os.chmod(temporary, 0o644)  # mkstemp makes it 0600: the scheduler may run as another user
        bag = _parse(Path(temporary))
        errors = {name: trace.replace(temporary, name) for trace in bag.import_errors.values()}
        errors = errors or _serialization_errors(bag, name)
        if errors:
            raise BadRequest(f"DAG file [{name}] has import errors and was not installed:\n{errors[name]}",
                             data={"import_errors": errors})
        _check_dag_ids_are_free(bag, target)
        backup = _install(Path(temporary), target, args["force"])
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    bag = _parse(target)
    _sync(bag)
    deactivated = _deactivate_missing(bag, [target])
    paused = _apply_pause(args, bag.dag_ids)
    data = {"filename": name, "path": str(target), "dag_ids": sorted(bag.dag_ids), "backup": backup,
            "paused": paused, "deactivated": deactivated}
    warning = None if bag.dag_ids else f"No DAG found in {name}"
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


def _apply_pause(args: dict, dag_ids) -> dict:
    """pause or unpause (the schema refuses both) the uploaded DAGs; their paused state either way."""
    from airflow.models import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        paused = {}
        for dag_id in sorted(dag_ids):
            model = session.get(DagModel, dag_id)
            if args["pause"] or args["unpause"]:
                model.is_paused = bool(args["pause"])
            paused[dag_id] = bool(model.is_paused)
    return paused


# --- delete_dag ---

def delete_dag(args: dict, ctx: CallContext) -> Result:
    """Check everything first; then move the file to the backup folder (so the scheduler cannot parse the
    DAG back in meanwhile) and delete the records with Airflow's own function, putting the file back if
    that fails."""
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
        others = [m.dag_id for m in session.query(DagModel).filter(
            DagModel.fileloc == fileloc, DagModel.dag_id != dag_id, DagModel.is_active.is_(True))]
    path = _removable_file(dag_id, fileloc, others) if args["delete_file"] else None
    backup = _back_up(path) if path else None
    if path:
        path.unlink()
    try:
        count = airflow_delete_dag(dag_id)
    except Exception as err:
        if path:
            shutil.copy2(backup, path)
            os.unlink(backup)
        if isinstance(err, DagNotFound):
            raise NotFound(f"The DAG ID '{dag_id}' does not exist")
        if isinstance(err, AirflowException):
            raise Conflict(f"{err}; DAG {dag_id} was not deleted")
        raise
    output = f"Removed {count} record(s) of DAG {dag_id}"
    if backup:
        output += f"; removed its file {fileloc} (backup: {backup})"
    return Result(output=output, data={"dag_id": dag_id, "records_removed": count, "file_removed": bool(backup),
                                       "fileloc": fileloc, "backup": backup})


def _removable_file(dag_id: str, fileloc: str | None, others: list[str]) -> Path:
    """The DAG's file, if it is a .py file in the DAGs folder that defines this DAG and no other."""
    if others:
        raise Conflict(f"The file of DAG {dag_id} also defines {', '.join(sorted(others))}: it was not deleted")
    path = inside_dags_folder(fileloc) if fileloc else None
    if path is None or not path.is_file() or path.suffix != ".py":
        raise Conflict(f"The file of DAG {dag_id} ({fileloc}) is not a .py file in the DAGs folder: not deleted")
    bag = _parse(path)
    if bag.import_errors:
        raise Conflict(f"The file {path.name} has import errors, so what it defines is unknown: not deleted",
                       data={"import_errors": bag.import_errors})
    if set(bag.dag_ids) != {dag_id}:
        defined = ", ".join(sorted(bag.dag_ids)) or "no DAG"
        raise Conflict(f"The file {path.name} defines {defined}, not only {dag_id}: not deleted")
    return path


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
    deactivated = _deactivate_missing(bag, [fileloc])
    return Result(output=f"DAG [{dag_id}] is now fresh as a daisy",
                  data={"dag_id": dag_id, "fileloc": fileloc, "dag_ids_in_file": sorted(bag.dag_ids),
                        "deactivated": deactivated})


def refresh_all_dags(args: dict, ctx: CallContext) -> Result:
    """Parse the whole DAGs folder into the database; DAGs whose files are gone, or whose files no longer
    define them, become inactive."""
    from airflow.configuration import conf
    from airflow.models import DagBag, DagModel
    from airflow.utils.file import list_py_file_paths
    from airflow.utils.session import create_session

    folder = str(dags_folder())
    include_examples = conf.getboolean("core", "load_examples")
    files = set(list_py_file_paths(folder, include_examples=include_examples))
    with _fresh_bytecode(files):
        bag = DagBag(folder, include_examples=include_examples)
    _sync(bag)
    files.update(dag.fileloc for dag in bag.dags.values())
    alive = {os.path.realpath(path) for path in files}
    with create_session() as session:
        # Airflow compares file paths as strings: give it the database's own spelling of the live ones.
        stored = {fileloc for (fileloc,) in session.query(DagModel.fileloc).filter(DagModel.fileloc.isnot(None))}
        alive_as_stored = {fileloc for fileloc in stored if os.path.realpath(fileloc) in alive}
        DagModel.deactivate_deleted_dags(alive_dag_filelocs=alive_as_stored, processor_subdir=folder, session=session)
    _deactivate_missing(bag, files)
    errors = dict(sorted(bag.import_errors.items()))
    lines = [f"All DAGs are now fresh as a daisy: {len(bag.dag_ids)} DAG(s) from {folder}"]
    lines += [f"Import error in {path}:\n{trace}" for path, trace in errors.items()]
    return Result(output="\n".join(lines), data={"dag_ids": sorted(bag.dag_ids), "import_errors": errors},
                  warning=f"{len(errors)} file(s) with import errors" if errors else None)
