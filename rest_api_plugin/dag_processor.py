"""The DAG processor child: parses DAG files and writes them to the database, in a process of its own.

A DAG file's top-level code never runs in the webserver. ``dag_parsing.py`` starts this module as
``python -m rest_api_plugin.dag_processor PHASE``, as Airflow's scheduler starts its DAG file processors: a
short-lived process with a deadline and an environment without the webserver's secrets. The request comes as
JSON on stdin; the child answers with one JSON report on stdout. Everything else it prints (the DAG files'
own output, Airflow's logs) goes to stderr, which the webserver logs and never shows to a caller.

Phases:

``check``
    Parse one file (an upload waiting in the DAGs folder under a temporary name) and report its DAG ids, its
    import errors and its serialization errors. Optionally also parse the file it would replace and the
    other files of the DAGs folder that mention its DAG ids (who else defines them?). Writes nothing.
``publish``
    Parse one installed file and, if everything it defines or drops is in the ``authorized`` DAG ids the
    webserver checked, store it as the DAG processor does: serialized DAGs, DagModel rows and per-DAG
    permissions, DAGs the file no longer defines deactivated, the file's import errors recorded or cleared.
``publish_folder``
    The same for the whole DAGs folder (refresh_all_dags); DAGs whose files are gone become inactive.
``render``
    Airflow 3: one task's template fields rendered (``template_rendering.py``). Writes nothing.

Reports name files by their path relative to the DAGs folder.

On Airflow 3 the DAGs folder is a DAG bundle (``bundle`` in every request, from ``dag_folder.dags_folder_bundle``):
files are parsed with it as the dag-processor parses them (relative ``fileloc``, import errors keyed by bundle and
relative path) and stored with ``sync_bag_to_db``, as ``airflow dags reserialize`` stores them. The Airflow 2 path
is ``DagBag.sync_to_db`` and ``DagFileProcessor.update_import_errors``.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from contextlib import contextmanager

# Module level imports stay in the standard library: stdout is taken over (``main``) before Airflow is
# imported, so that nothing Airflow or a DAG file prints can be mistaken for the report.


# --- parsing ---

@contextmanager
def fresh_bytecode(paths):
    """While parsing ``paths``: no cached bytecode before (it could be stale), none left after."""
    from rest_api_plugin.dag_folder import forget_bytecode

    for path in paths:
        forget_bytecode(path)
    try:
        yield
    finally:
        for path in paths:
            forget_bytecode(path)


def parse(paths, safe_mode: bool = False, bundle: str | None = None):
    """A DagBag of ``paths``, each parsed as the DAG processor parses a file (with its import timeout).

    A file that ends the process at import (``sys.exit``) gets an import error rather than ending the child.
    """
    bag = new_bag(bundle)
    parse_as_python(paths)
    with fresh_bytecode(paths):
        for path in paths:
            try:
                bag.process_file(path, only_if_updated=False, safe_mode=safe_mode)
            except SystemExit as stop:
                ended = f"The file ended the process that parsed it: SystemExit({stop.code!r})"
                bag.import_errors[relative_in_bundle(bag, path)] = ended
    return bag


def parse_as_python(paths) -> None:
    """Airflow 3.3 picks a file's importer by its extension and skips a file it has none for: an upload waits
    under a name that is not *.py (so the dag-processor never picks it up), and is parsed as the Python file
    it is going to be, as Airflow 2 parses it. Only in this short-lived process."""
    from pathlib import Path

    try:
        from airflow.dag_processing.importers import get_importer_registry
        from airflow.dag_processing.importers.python_importer import PythonDagImporter
    except ImportError:  # Airflow 2 and 3.1: DagBag parses any file it is given
        return
    registry = get_importer_registry()
    for suffix in {Path(path).suffix for path in paths if registry.get_importer(path) is None}:
        importer = type("UploadImporter", (PythonDagImporter,), {
            "supported_extensions": classmethod(lambda cls, suffix=suffix: [suffix])})
        registry.register(importer())


def new_bag(bundle: str | None):
    """An empty DagBag of the DAGs folder; on Airflow 3, of its bundle ``bundle``."""
    from pathlib import Path

    from rest_api_plugin import dag_folder
    from rest_api_plugin.airflow_compat import AIRFLOW_3

    folder = dag_folder.configured_dags_folder()
    if not AIRFLOW_3:
        from airflow.models import DagBag

        return DagBag(folder, include_examples=False, collect_dags=False)
    if not bundle:
        raise ValueError("Airflow 3 parses DAG files by bundle: the request names none")
    try:  # Airflow 3.3: what the dag-processor uses; the bundle's folder on sys.path, as there
        from airflow.dag_processing.dagbag import BundleDagBag

        return BundleDagBag(folder, bundle_path=Path(folder), bundle_name=bundle, collect_dags=False)
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag

        try:
            return DagBag(folder, bundle_path=Path(folder), bundle_name=bundle, collect_dags=False)
        except TypeError:  # no bundle_name
            return DagBag(folder, bundle_path=Path(folder), include_examples=False, collect_dags=False)


def named_errors(errors: dict[str, str], upload: str | None = None, shown_as: str | None = None) -> dict[str, str]:
    """Import errors keyed by DAGs-folder-relative path, their text without the DAGs folder's path; an
    upload's temporary file is named as the file it is going to be (``shown_as``)."""
    from pathlib import Path

    from rest_api_plugin import dag_folder

    named = {}
    for path, text in sorted(errors.items()):
        # Airflow 3 keys import errors by their path in the bundle (the DAGs folder), Airflow 2 by the full path
        full = path if os.path.isabs(path) else dag_folder.in_dags_folder(path)
        if upload:
            text = text.replace(upload, shown_as).replace(Path(upload).name, shown_as)
            text = text.replace(Path(upload).stem, Path(shown_as).stem)
        is_upload = upload and os.path.realpath(full) == os.path.realpath(upload)
        name = shown_as if is_upload else dag_folder.relative_name(full)
        named[name] = dag_folder.without_dags_folder(text)
    return named


def serialization_errors(bag) -> dict[str, str]:
    """What Airflow would record when storing the bag's DAGs, found without storing them (by ``fileloc``)."""
    try:  # Airflow 3.3: what the dag-processor serializes with
        from airflow.serialization.serialized_objects import DagSerialization as Serializer
    except ImportError:
        from airflow.serialization.serialized_objects import SerializedDAG as Serializer

    errors = {}
    for dag_id, dag in sorted(bag.dags.items()):
        try:
            Serializer.to_dict(dag)
        except Exception as err:
            errors[dag.fileloc] = f"DAG {dag_id} cannot be serialized: {type(err).__name__}: {err}"
    return errors


# --- check ---

def check(request: dict) -> dict:
    """``file``: the upload; ``shown_as``: its name in the DAGs folder; ``target``: where it would go;
    ``previous``: also parse the file at ``target`` (the one it would replace); ``scan_folder``: also find
    which other files define its DAG ids."""
    upload, shown_as, target = request["file"], request["shown_as"], request.get("target")
    bundle = request.get("bundle")
    bag = parse([upload], bundle=bundle)
    errors = named_errors(bag.import_errors or serialization_errors(bag), upload, shown_as)
    report = {"dag_ids": sorted(bag.dag_ids), "import_errors": errors, "previous_dag_ids": None,
              "defined_elsewhere": {}}
    if request.get("previous") and target:
        report["previous_dag_ids"] = sorted(parse([target], bundle=bundle).dag_ids)
    if request.get("scan_folder") and bag.dag_ids and not errors:
        skip = {os.path.realpath(path) for path in (upload, target) if path}
        report["defined_elsewhere"] = defined_elsewhere(set(bag.dag_ids), skip, bundle)
    return report


def defined_elsewhere(dag_ids: set[str], skip: set[str], bundle: str | None) -> dict[str, str]:
    """Which other file of the DAGs folder defines one of ``dag_ids``: each file that mentions one of them is
    parsed, all in this one process."""
    from airflow.configuration import conf

    from rest_api_plugin import dag_folder

    safe_mode = conf.getboolean("core", "dag_discovery_safe_mode", fallback=True)
    found: dict[str, str] = {}
    for path in dag_files(dag_folder.configured_dags_folder(), safe_mode):
        if os.path.realpath(path) in skip or not path.endswith(".py"):
            continue
        try:
            with open(path, encoding="utf-8", errors="replace") as source:
                text = source.read()
        except OSError:
            continue
        if any(dag_id in text for dag_id in dag_ids):
            for dag_id in sorted(dag_ids & set(parse([path], bundle=bundle).dag_ids)):
                found.setdefault(dag_id, dag_folder.relative_name(path))
    return found


def dag_files(folder: str, safe_mode: bool, include_examples: bool = False) -> list[str]:
    """The files of ``folder`` Airflow would parse (Airflow 3: its bundle's files; examples are a bundle of
    their own)."""
    from airflow.utils.file import list_py_file_paths

    from rest_api_plugin.airflow_compat import AIRFLOW_3

    if AIRFLOW_3:
        return list_py_file_paths(folder, safe_mode=safe_mode)
    return list_py_file_paths(folder, safe_mode=safe_mode, include_examples=include_examples)


# --- publish ---

def publish(request: dict) -> dict:
    """Store the DAGs of ``file``, unless it defines or drops a DAG that is not in ``authorized`` (the ids the
    webserver checked: then the report lists them under ``unauthorized``) or does not define
    ``require_dag_id``: then nothing is written. ``pause`` (true, false or null) applies to its DAGs."""
    from airflow.models import DagModel
    from airflow.utils.session import create_session

    from rest_api_plugin import dag_folder
    from rest_api_plugin.airflow_compat import set_dag_active

    path, bundle = request["file"], request.get("bundle")
    bag = parse([path], bundle=bundle)
    report = {"dag_ids": sorted(bag.dag_ids), "import_errors": named_errors(bag.import_errors), "unauthorized": [],
              "written": False, "deactivated": [], "paused": {}}
    required = request.get("require_dag_id")
    if required and not bag.import_errors and required not in bag.dag_ids:
        return report
    with create_session() as session:
        gone = []  # the DAGs the file no longer defines; if it fails to import, nobody knows: they stay
        if not bag.import_errors:
            gone = sorted(dag_folder.active_dag_ids_in_file(session, path) - set(bag.dag_ids))
        report["unauthorized"] = sorted(set(bag.dag_ids).union(gone) - set(request["authorized"]))
        if report["unauthorized"]:
            return report
        store(bag, session, bundle)
        for model in session.query(DagModel).filter(DagModel.dag_id.in_(gone)):
            set_dag_active(model, False)
        report.update(written=True, deactivated=gone, paused=apply_pause(session, bag, request.get("pause")),
                      import_errors=named_errors(bag.import_errors))  # with serialization errors, if any
    return report


def store(bag, session, bundle: str | None = None) -> None:
    """As the DAG processor stores a parsed file: serialized DAGs (serialization failures become import
    errors), DagModel rows and per-DAG permissions (``DagBag.sync_to_db``), then the import errors.

    ``sync_to_db`` skips a serialized DAG written less than [core] min_serialized_dag_update_interval ago;
    the webserver starts this process with that interval at 0, so an edit made just after the last parse
    is stored (a DAG whose hash did not change is still skipped).
    """
    from rest_api_plugin.airflow_compat import AIRFLOW_3

    if AIRFLOW_3:
        store_in_bundle(bag, session, bundle)
        return
    from airflow.dag_processing.processor import DagFileProcessor

    from rest_api_plugin import dag_folder

    processor_subdir = dag_folder.configured_dags_folder()
    bag.sync_to_db(processor_subdir=processor_subdir, session=session)
    DagFileProcessor.update_import_errors(file_last_changed=bag.file_last_changed, import_errors=bag.import_errors,
                                          processor_subdir=processor_subdir, session=session)


def store_in_bundle(bag, session, bundle: str) -> None:
    """Airflow 3: as the dag-processor stores a parsed file (``processor._serialize_dags``, then
    ``sync_bag_to_db`` as ``airflow dags reserialize``): a DAG that cannot be serialized is left out and
    its file gets the import error; serialized DAGs, DagModel rows, DAG versions and per-DAG permissions
    (FAB) are written; the parsed files' import errors recorded or cleared. Airflow marks the DAGs of a file
    with import errors stale (its ``_update_import_errors``)."""
    try:
        from airflow.dag_processing.dagbag import sync_bag_to_db
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import sync_bag_to_db

    ensure_bundle_row(session, bundle)
    for fileloc, text in serialization_errors(bag).items():
        for dag_id in [dag_id for dag_id, dag in bag.dags.items() if dag.fileloc == fileloc]:
            del bag.dags[dag_id]
        bag.import_errors[relative_in_bundle(bag, fileloc)] = text
    sync_bag_to_db(bag, bundle, None, session=session)


def relative_in_bundle(bag, path: str) -> str:
    """``path`` relative to the bag's bundle, as Airflow 3 names files in the database (Airflow 2: as is)."""
    from pathlib import Path

    if not getattr(bag, "bundle_path", None):
        return path
    try:
        return str(Path(path).relative_to(bag.bundle_path))
    except ValueError:
        return path


def ensure_bundle_row(session, bundle: str) -> None:
    """The bundle's row (DAGs refer to it), written as the dag-processor writes it if none has run yet."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.models.dagbundle import DagBundleModel

    if session.get(DagBundleModel, bundle) is None:
        DagBundlesManager().sync_bundles_to_db(session=session)
        session.flush()


def apply_pause(session, bag, pause: bool | None) -> dict[str, bool]:
    """``pause`` True or False sets the bag's DAGs paused or not (None keeps them); their paused state."""
    from airflow.models import DagModel

    paused = {}
    for dag_id in sorted(bag.dag_ids):
        model = session.get(DagModel, dag_id)
        if pause is not None:
            model.is_paused = pause
        paused[dag_id] = bool(model.is_paused)
    return paused


def publish_folder(request: dict) -> dict:
    """Parse and store the whole DAGs folder, as refresh_all_dags: DAGs whose files are gone, or whose files
    (parsed without import errors) no longer define them, become inactive."""
    from airflow.configuration import conf
    from airflow.utils.session import create_session

    from rest_api_plugin import dag_folder
    from rest_api_plugin.airflow_compat import AIRFLOW_3

    folder = dag_folder.configured_dags_folder()
    include_examples = conf.getboolean("core", "load_examples")
    safe_mode = conf.getboolean("core", "dag_discovery_safe_mode", fallback=True)
    files = dag_files(folder, safe_mode, include_examples)
    bag = parse(files, safe_mode=safe_mode, bundle=request.get("bundle"))
    with create_session() as session:
        if AIRFLOW_3:
            store_bundle_folder(bag, session, request["bundle"], files)
        else:
            store_folder(bag, session, folder, files)
    by_file: dict[str, list[str]] = {}
    for dag_id, dag in sorted(bag.dags.items()):
        by_file.setdefault(dag_folder.relative_name(dag.fileloc), []).append(dag_id)
    return {"dag_ids": sorted(bag.dag_ids), "dag_ids_by_file": by_file,
            "import_errors": named_errors(bag.import_errors)}


def store_folder(bag, session, folder: str, files: list[str]) -> None:
    """Airflow 2: store the bag, deactivate the DAGs of files that are gone or no longer define them, clear
    the import errors of files that are gone."""
    from airflow.dag_processing.manager import DagFileProcessorManager
    from airflow.models import DagModel

    alive = {os.path.realpath(path) for path in files} | {os.path.realpath(dag.fileloc) for dag in bag.dags.values()}
    parsed = alive - {os.path.realpath(path) for path in bag.import_errors}
    store(bag, session)
    # Airflow compares file paths as strings: give it the database's own spelling of the live ones.
    stored = {fileloc for (fileloc,) in session.query(DagModel.fileloc).filter(DagModel.fileloc.isnot(None))}
    alive_as_stored = {fileloc for fileloc in stored if os.path.realpath(fileloc) in alive}
    DagModel.deactivate_deleted_dags(alive_dag_filelocs=alive_as_stored, processor_subdir=folder, session=session)
    for model in session.query(DagModel).filter(DagModel.is_active.is_(True), DagModel.fileloc.isnot(None)):
        if model.dag_id not in bag.dags and os.path.realpath(model.fileloc) in parsed:
            model.is_active = False
    if files:
        DagFileProcessorManager.clear_nonexistent_import_errors(file_paths=files, processor_subdir=folder,
                                                                 session=session)


def store_bundle_folder(bag, session, bundle: str, files: list[str]) -> None:
    """Airflow 3: store the bag, then as the dag-processor after listing a bundle's files
    (``DagFileProcessorManager._refresh_dag_bundles``): the bundle's DAGs whose files are gone become stale
    (``DagModel.deactivate_deleted_dags``, then ``remove_references_to_deleted_dags``) and the import errors of
    files that are gone are removed (its ``clear_orphaned_import_errors``). A DAG its file, parsed without
    errors, no longer defines becomes stale at once (the dag-processor waits [dag_processor]
    stale_dag_threshold for that)."""
    from airflow.models import DagModel
    from airflow.models.errors import ParseImportError

    try:
        from airflow.models.asset import remove_references_to_deleted_dags
    except ImportError:  # not in every Airflow 3 release
        def remove_references_to_deleted_dags(session) -> None:
            pass

    from rest_api_plugin.airflow_compat import active_dags

    store(bag, session, bundle)
    observed = observed_filelocs(bag, files)
    parsed = observed - set(bag.import_errors)
    any_deactivated = DagModel.deactivate_deleted_dags(bundle_name=bundle, rel_filelocs=observed, session=session)
    for model in session.query(DagModel).filter(active_dags(DagModel), DagModel.bundle_name == bundle):
        if model.dag_id not in bag.dags and model.relative_fileloc in parsed:
            model.is_stale = True
            any_deactivated = True
    if any_deactivated:
        remove_references_to_deleted_dags(session=session)
    for error in session.query(ParseImportError).filter(ParseImportError.bundle_name == bundle):
        if error.filename not in observed:
            session.delete(error)


def observed_filelocs(bag, files: list[str]) -> set[str]:
    """The bundle-relative paths of ``files``, and of the DAG files inside those that are zip archives (as
    the dag-processor's ``_get_observed_filelocs``)."""
    import zipfile

    observed = set()
    for path in files:
        relative = relative_in_bundle(bag, path)
        if path.endswith(".py") or not zipfile.is_zipfile(path):
            observed.add(relative)
            continue
        try:
            with zipfile.ZipFile(path) as archive:
                observed.update(os.path.join(relative, name) for name in archive.namelist() if name.endswith(".py"))
        except zipfile.BadZipFile:
            pass
    return observed


def render(request: dict) -> dict:
    from rest_api_plugin.template_rendering import render as render_templates

    return render_templates(request)


PHASES = {"check": check, "publish": publish, "publish_folder": publish_folder, "render": render}


# --- the process ---

def take_over_stdout():
    """A private stream for the report; file descriptor 1 becomes stderr, so whatever else this process and
    its children print (DAG files, Airflow's logging) ends up in the log rather than in the report."""
    sys.stdout.flush()
    report_fd = os.dup(1)  # not inherited by the DAG files' subprocesses
    os.dup2(2, 1)
    return os.fdopen(report_fd, "w", encoding="utf-8")


def main(argv: list[str]) -> int:
    report_stream = take_over_stdout()
    phase = argv[1] if len(argv) > 1 else ""
    try:
        request = json.loads(sys.stdin.read() or "{}")
        report, code = PHASES[phase](request), 0
    except Exception as err:
        traceback.print_exc()  # to stderr: the webserver logs it, a caller never sees it
        report, code = {"internal_error": type(err).__name__}, 1
    sys.stderr.flush()
    json.dump(report, report_stream)
    report_stream.close()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
