"""DAG files: deploy_dag (upload), delete_dag, refresh_dag and refresh_all_dags.

DAG files are parsed and stored by the DAG processor child (``dag_files.parsing``), never in the webserver; this
module decides, between the child's runs, whether the caller may make the change. A file change needs, per
DAG (``security.may_access_dag``): edit (PUT) on each DAG the file defines that exists already and on each
DAG the file it replaces defined, create (POST) for each new DAG id; a file that defines no DAG at all is a
module any DAG file may import, so writing it, or replacing it (whatever the new file defines), needs edit
access on every DAG. Deleting a file needs delete access on every DAG it defines; refresh_all_dags needs edit
access on every DAG.
"""

from __future__ import annotations

import os
from pathlib import Path

from rest_api_plugin import security
from rest_api_plugin.airflow_compat import active_dags, this_line
from rest_api_plugin.dag_files import dag_folder, parsing, uploads
from rest_api_plugin.errors import BadRequest, Conflict, Forbidden, NotFound
from rest_api_plugin.result import CallContext, Result
from rest_api_plugin.services.lookups import get_dag_model

line_parsing = this_line("parsing")


# --- deploy_dag ---


def deploy_dag(args: dict, ctx: CallContext) -> Result:
    """Receive the upload, parse it in the child, authorize what it changes, install it, publish it."""
    upload = uploads.receive(ctx, args["force"])
    with uploads.staged(upload) as staged:
        checked = parse_upload(upload, staged)
        authorized = authorize_upload(ctx.identity, upload, checked)
        installed = install(upload, staged, checked, args["force"])
    published = publish_upload(ctx.identity, installed, authorized, args)
    data = {
        "filename": upload.name,
        "path": dag_folder.relative_name(upload.target),
        "dag_ids": published.dag_ids,
        "backup": str(installed.backup) if installed.backup else None,
        "paused": published.paused,
        "deactivated": published.deactivated,
    }
    warning = None if published.dag_ids else f"No DAG found in {upload.name}"
    return Result(output=f"DAG File [{upload.name}] has been uploaded", data=data, warning=warning)


def parse_upload(upload: uploads.Upload, staged: Path) -> parsing.Checked:
    """The upload's DAG ids, those of the file it replaces when the database does not know them, and which
    other files define its ids: one child run. Import errors: 400, nothing installed."""
    replaces_unknown_file = upload.replaces and not dag_ids_in_file(upload.target)
    checked = parsing.check(
        str(staged), upload.name, target=str(upload.target), previous=replaces_unknown_file, scan_folder=True
    )
    if checked.import_errors:
        raise not_installed(upload.name, checked.import_errors)
    return checked


def authorize_upload(identity, upload: uploads.Upload, checked: parsing.Checked) -> set[str]:
    replaced = dag_ids_in_file(upload.target) if upload.replaces else set()
    replaced |= set(checked.previous_dag_ids or ())
    if upload.replaces and not replaced and not security.may_access_dag(identity, "PUT"):
        # the file replaced defines no DAG (by the database and by parsing it): a module any DAG file may import
        raise Forbidden(
            f"{security.who(identity)} may not replace {upload.name}, a file that defines no DAG (any DAG "
            "file may import it): that needs edit access on every DAG; nothing was changed"
        )
    return authorize_file_change(identity, defines=set(checked.dag_ids), replaces=replaced)


def install(upload: uploads.Upload, staged: Path, checked: parsing.Checked, force: bool):
    """Into the DAGs folder, unless another file defines one of its DAG ids (409)."""
    elsewhere = {**defined_in_other_files(set(checked.dag_ids), upload.target), **checked.defined_elsewhere}
    if elsewhere:
        clashes = ", ".join(f"DAG {dag_id} in {path}" for dag_id, path in sorted(elsewhere.items()))
        raise Conflict(
            f"DAG file [{upload.name}] was not installed: another file already defines {clashes}",
            data={"defined_elsewhere": elsewhere},
        )
    return uploads.install(staged, upload, force)


def publish_upload(identity, installed: uploads.Installed, authorized: set[str], args: dict):
    """Store the installed file's DAGs now (list_dags shows them at once); if that fails, put the folder back
    as it was (the scheduler's next parse then corrects anything stored meanwhile)."""
    pause = True if args["pause"] else False if args["unpause"] else None
    try:
        published = publish(identity, dag_folder.path_in_dags_folder(installed.target.name), authorized, pause=pause)
        if published.import_errors:
            raise not_installed(installed.target.name, published.import_errors)
    except Exception:
        installed.roll_back()
        raise
    return published


def not_installed(name: str, import_errors: dict[str, str]) -> BadRequest:
    message = f"DAG file [{name}] has import errors and was not installed:\n" + "\n".join(import_errors.values())
    return BadRequest(message, data={"import_errors": import_errors})


# --- what a change needs ---


def authorize_file_change(identity, defines: set[str], replaces: set[str]) -> set[str]:
    """The DAG ids the change may touch, once the caller is checked for each (403 otherwise): edit on the
    DAGs it defines that exist and on those it replaces, create on new ids."""
    existing = existing_dag_ids(defines)
    edits, creates = (defines & existing) | replaces, defines - existing
    refused = [f"edit DAG {dag_id}" for dag_id in sorted(edits) if not security.may_access_dag(identity, "PUT", dag_id)]
    refused += [
        f"create DAG {dag_id}" for dag_id in sorted(creates) if not security.may_access_dag(identity, "POST", dag_id)
    ]
    if not defines and not replaces and not security.may_access_dag(identity, "PUT"):
        refused.append(
            "write a file that defines no DAG (any DAG file may import it): that needs edit access on every DAG"
        )
    if refused:
        raise Forbidden(f"{security.who(identity)} may not {'; '.join(refused)}: nothing was changed")
    return edits | creates


def publish(identity, path: str, authorized: set[str], **options) -> parsing.Published:
    """Store ``path`` through the child; DAGs it turns out to touch beyond ``authorized`` (the file changed
    since it was checked) are checked and the child is run once more."""
    published = parsing.publish(path, dag_folder.relative_name(path), authorized, **options)
    if published.unauthorized:
        authorized = authorized | authorize_file_change(identity, defines=set(published.unauthorized), replaces=set())
        published = parsing.publish(path, dag_folder.relative_name(path), authorized, **options)
        if published.unauthorized:
            raise Conflict(
                f"The file {dag_folder.relative_name(path)} defines other DAGs each time it is parsed: "
                "nothing was written"
            )
    return published


def dag_ids_in_file(path) -> set[str]:
    """The active DAGs the database places in ``path``."""
    from airflow.utils.session import create_session

    with create_session() as session:
        return dag_folder.active_dag_ids_in_file(session, path)


def existing_dag_ids(dag_ids: set[str]) -> set[str]:
    from airflow.models import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        return {dag_id for (dag_id,) in session.query(DagModel.dag_id).filter(DagModel.dag_id.in_(dag_ids))}


def defined_in_other_files(dag_ids: set[str], target: Path) -> dict[str, str]:
    """DAG ids the database places, active, in another file that still exists: dag_id -> that file."""
    from airflow.models import DagModel
    from airflow.utils.session import create_session

    target_real = os.path.realpath(target)
    with create_session() as session:
        rows = session.query(DagModel.dag_id, DagModel.fileloc).filter(
            DagModel.dag_id.in_(dag_ids), active_dags(DagModel)
        )
        return {
            dag_id: dag_folder.relative_name(fileloc)
            for dag_id, fileloc in rows
            if fileloc and os.path.realpath(fileloc) != target_real and os.path.exists(fileloc)
        }


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
        model = get_dag_model(dag_id, session)
        fileloc, bundle = model.fileloc, line_parsing.bundle_of(model)
        running = session.query(TaskInstance).filter_by(dag_id=dag_id, state=TaskInstanceState.RUNNING).count()
        if running:
            raise Conflict(f"TaskInstances still running: {running}; DAG {dag_id} was not deleted")
        others = {
            m.dag_id
            for m in session.query(DagModel).filter(
                DagModel.fileloc == fileloc, DagModel.dag_id != dag_id, active_dags(DagModel)
            )
        }
    if args["delete_file"]:
        in_dags_folder_bundle(dag_id, bundle, "its file was not deleted, nor its records")
    path = removable_file(ctx.identity, dag_id, fileloc, others) if args["delete_file"] else None
    backup = dag_folder.back_up(path) if path else None
    if path:
        path.unlink()
    try:
        count = airflow_delete_dag(dag_id)
    except Exception as err:
        if path:
            dag_folder.put_back(backup, path)
        if isinstance(err, DagNotFound):
            raise NotFound(f"The DAG ID '{dag_id}' does not exist") from err
        if isinstance(err, AirflowException):
            raise Conflict(f"{err}; DAG {dag_id} was not deleted") from err
        raise
    shown = dag_folder.relative_name(fileloc) if fileloc else None
    output = f"Removed {count} record(s) of DAG {dag_id}"
    if backup:
        output += f"; removed its file {shown} (backup: {backup.name})"
    return Result(
        output=output,
        data={
            "dag_id": dag_id,
            "records_removed": count,
            "file_removed": bool(backup),
            "fileloc": shown,
            "backup": str(backup) if backup else None,
        },
    )


def removable_file(identity, dag_id: str, fileloc: str | None, others: set[str]) -> Path:
    """The DAG's file, if it is a .py file in the DAGs folder that defines this DAG and no other, and the
    caller may delete every DAG it defines (by the database, then by parsing it in the child)."""
    authorize_deletion(identity, others)
    if others:
        raise Conflict(f"The file of DAG {dag_id} also defines {', '.join(sorted(others))}: it was not deleted")
    path = dag_folder.resolved_inside_dags_folder(fileloc) if fileloc else None
    shown = dag_folder.relative_name(fileloc) if fileloc else None
    if path is None or not path.is_file() or path.suffix != ".py":
        raise Conflict(f"The file of DAG {dag_id} ({shown}) is not a .py file in the DAGs folder: not deleted")
    checked = parsing.check(str(path), shown)
    if checked.import_errors:
        raise Conflict(
            f"The file {shown} has import errors, so what it defines is unknown: not deleted",
            data={"import_errors": checked.import_errors},
        )
    authorize_deletion(identity, set(checked.dag_ids))
    if set(checked.dag_ids) != {dag_id}:
        defined = ", ".join(checked.dag_ids) or "no DAG"
        raise Conflict(f"The file {shown} defines {defined}, not only {dag_id}: not deleted")
    return path


def in_dags_folder_bundle(dag_id: str, bundle: str | None, what_instead: str) -> None:
    """Airflow 3: a DAG of another bundle than the DAGs folder's (a git bundle...) is not this plugin's to
    write (409); a configuration where no bundle is the DAGs folder is named too. Airflow 2: nothing to check."""
    own = line_parsing.dags_folder_bundle()
    if own is not None and bundle is not None and bundle != own:
        raise Conflict(
            f"DAG {dag_id} belongs to the DAG bundle {bundle}, not to the DAGs folder's bundle ({own}): {what_instead}"
        )


def authorize_deletion(identity, dag_ids: set[str]) -> None:
    refused = sorted(dag_id for dag_id in dag_ids if not security.may_access_dag(identity, "DELETE", dag_id))
    if refused:
        raise Forbidden(
            f"{security.who(identity)} may not delete DAG {', '.join(refused)}, which the same file "
            "defines: nothing was deleted"
        )


# --- refresh_dag, refresh_all_dags ---


def refresh_dag(args: dict, ctx: CallContext) -> Result:
    """Store the DAG's file again: edit access on every DAG the database places in it, create access for
    new DAG ids it defines now."""
    from airflow.utils.session import create_session

    dag_id = args["dag_id"]
    with create_session() as session:
        model = get_dag_model(dag_id, session)
        fileloc, bundle = model.fileloc, line_parsing.bundle_of(model)
    in_dags_folder_bundle(dag_id, bundle, "the dag-processor refreshes it, not this plugin")
    shown = dag_folder.relative_name(fileloc) if fileloc else None
    if not fileloc or not os.path.isfile(fileloc):
        raise Conflict(f"The file of DAG {dag_id} ({shown}) no longer exists: use refresh_all_dags")
    authorized = authorize_file_change(ctx.identity, defines=set(), replaces=dag_ids_in_file(fileloc) | {dag_id})
    published = publish(ctx.identity, fileloc, authorized, require_dag_id=dag_id)
    if published.import_errors:
        raise Conflict(
            f"The file of DAG {dag_id} has import errors:\n" + "\n".join(published.import_errors.values()),
            data={"import_errors": published.import_errors},
        )
    if not published.written:
        raise Conflict(f"DAG {dag_id} is no longer defined in {shown}: use refresh_all_dags")
    return Result(
        output=f"DAG [{dag_id}] is now fresh as a daisy",
        data={
            "dag_id": dag_id,
            "fileloc": shown,
            "dag_ids_in_file": published.dag_ids,
            "deactivated": published.deactivated,
        },
    )


def refresh_all_dags(args: dict, ctx: CallContext) -> Result:
    """Parse the whole DAGs folder into the database (edit access on every DAG); DAGs whose files are gone,
    or whose files no longer define them, become inactive."""
    if not security.may_access_dag(ctx.identity, "PUT"):
        raise Forbidden(f"{security.who(ctx.identity)} may not refresh all DAGs: that needs edit access on every DAG")
    published = parsing.publish_folder()
    errors = published.import_errors
    lines = [f"All DAGs are now fresh as a daisy: {len(published.dag_ids)} DAG(s) from the DAGs folder"]
    lines += [f"Import error in {path}:\n{trace}" for path, trace in errors.items()]
    return Result(
        output="\n".join(lines),
        data={"dag_ids": published.dag_ids, "import_errors": errors, "dag_ids_by_file": published.dag_ids_by_file},
        warning=f"{len(errors)} file(s) with import errors" if errors else None,
    )
