"""Airflow 3's side of DAG files: DAG bundles. The plugin writes only to the bundle that is the DAGs folder;
files are parsed with it as the dag-processor parses them (relative ``fileloc``, import errors keyed by bundle
and relative path) and stored with ``sync_bag_to_db``, as ``airflow dags reserialize`` stores them. Rendering
templates is a phase of the parsing child here (``template_rendering.py``): the task SDK's operator needs the
DAG file.

The child-side functions run in the DAG processor child (``dag_files/parsing_child.py``), never in the API
server; Airflow is imported inside them.
"""

from __future__ import annotations

import os
from pathlib import Path

from rest_api_plugin.airflow_compat import AIRFLOW_V_3_2_PLUS, active_dags
from rest_api_plugin.dag_files import dag_folder
from rest_api_plugin.errors import Conflict

# What the phases import, loaded once in the parse server (any this Airflow lacks is skipped); the operators
# are those most DAG files import.
PRELOAD = (
    "airflow.dag_processing.dagbag",
    "airflow.dag_processing.importers",
    "airflow.dag_processing.bundles.manager",
    "airflow.models.dagbundle",
    "airflow.models.errors",
    "airflow.models.asset",
    "airflow.sdk",
    "airflow.providers.standard.operators.empty",
    "airflow.providers.standard.operators.bash",
    "airflow.providers.standard.operators.python",
    "airflow.cli.commands.task_command",  # render
    "rest_api_plugin.airflow3.template_rendering",
)
# Airflow 3 stores a DAG's permissions through FAB's security manager when FAB is the auth manager.
FAB_PERMISSIONS = "airflow.providers.fab.www.security_appless"


def preload_modules() -> tuple[str, ...]:
    from airflow.configuration import conf

    fab = "FabAuthManager" in conf.get("core", "auth_manager", fallback="")
    return PRELOAD + ((FAB_PERMISSIONS,) if fab else ())


def child_phases() -> dict:
    """The parsing child's phases of this line alone: ``render`` (``template_rendering.render``)."""
    from rest_api_plugin.airflow3 import template_rendering

    return {"render": template_rendering.render}


# --- the DAGs folder's bundle (web side) ---

LOCAL_BUNDLE_CLASS = "airflow.dag_processing.bundles.local.LocalDagBundle"


def dags_folder_bundle() -> str:
    """Airflow 3: the name of the DAG bundle that is the DAGs folder, the only one this plugin writes to: the
    LocalDagBundle of [dag_processor] dag_bundle_config_list whose path is [core] dags_folder (Airflow's
    default, "dags-folder", has no path: it is the DAGs folder). Conflict (409) naming why when no bundle, or
    more than one, is the DAGs folder: DAG files of another bundle (a git clone...) are not the plugin's to
    write, and a file in a folder no bundle parses would never be stored."""
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
        raise Conflict(
            f"The DAG bundles ([dag_processor] dag_bundle_config_list) cannot be read ({type(err).__name__}): {refused}"
        ) from err
    folder = dag_folder.dags_folder()
    found, others = [], []
    for name, classpath, kwargs in bundles:
        try:
            module, _, attribute = classpath.rpartition(".")
            local = classpath == LOCAL_BUNDLE_CLASS or issubclass(
                getattr(importlib.import_module(module), attribute), LocalDagBundle
            )
        except Exception:
            local = False
        path = kwargs.get("path") if isinstance(kwargs, dict) else None
        if local and Path(os.path.expanduser(path or dag_folder.configured_dags_folder())).resolve() == folder:
            found.append(name)
        else:
            others.append(f"{name} ({classpath.rsplit('.', 1)[-1]}{', another folder' if local else ''})")
    if len(found) == 1:
        return found[0]
    if found:
        raise Conflict(
            f"Several DAG bundles are the DAGs folder ([core] dags_folder): {', '.join(sorted(found))}. "
            f"Which one a file belongs to is ambiguous: {refused}"
        )
    configured = ", ".join(others) or "none"
    raise Conflict(
        f"No DAG bundle is the DAGs folder: [dag_processor] dag_bundle_config_list has no "
        f"LocalDagBundle whose path is [core] dags_folder (configured: {configured}). {refused}"
    )


def bundle_of(model) -> str | None:
    """The DAG bundle a DagModel row belongs to."""
    return model.bundle_name


# --- parsing (child side) ---


def new_bag(bundle: str | None):
    """An empty DagBag of the DAGs folder's bundle ``bundle``, as the dag-processor makes one (the bundle's
    folder on sys.path)."""
    if not bundle:
        raise ValueError("Airflow 3 parses DAG files by bundle: the request names none")
    folder = dag_folder.configured_dags_folder()
    if AIRFLOW_V_3_2_PLUS:
        from airflow.dag_processing.dagbag import BundleDagBag

        return BundleDagBag(folder, bundle_path=Path(folder), bundle_name=bundle, collect_dags=False)
    from airflow.models.dagbag import BundleDagBag  # Airflow 3.1: a DagBag does not know its bundle's name

    return BundleDagBag(folder, bundle_path=Path(folder), collect_dags=False)


def parse_as_python(paths) -> None:
    """Airflow 3.2+ picks a file's importer by its extension and skips a file it has none for: an upload waits
    under a name that is not *.py (so the dag-processor never picks it up), and is parsed as the Python file
    it is going to be, as Airflow 2 parses it. Only in this short-lived process."""
    from pathlib import Path

    if not AIRFLOW_V_3_2_PLUS:  # Airflow 3.1: DagBag parses any file it is given
        return
    from airflow.dag_processing.importers import get_importer_registry
    from airflow.dag_processing.importers.python_importer import PythonDagImporter

    registry = get_importer_registry()
    for suffix in {Path(path).suffix for path in paths if registry.get_importer(path) is None}:
        importer = type(
            "UploadImporter",
            (PythonDagImporter,),
            {"supported_extensions": classmethod(lambda cls, suffix=suffix: [suffix])},
        )
        registry.register(importer())


def relative_in_bundle(bag, path: str) -> str:
    """``path`` relative to the bag's bundle, as Airflow 3 names files in the database."""
    if not getattr(bag, "bundle_path", None):
        return path
    try:
        return str(Path(path).relative_to(bag.bundle_path))
    except ValueError:
        return path


def serialization_errors(bag) -> dict[str, str]:
    """What Airflow would record when storing the bag's DAGs, found without storing them (by ``fileloc``)."""
    if AIRFLOW_V_3_2_PLUS:  # what the dag-processor serializes with
        from airflow.serialization.serialized_objects import DagSerialization as Serializer
    else:
        from airflow.serialization.serialized_objects import SerializedDAG as Serializer

    errors = {}
    for dag_id, dag in sorted(bag.dags.items()):
        try:
            Serializer.to_dict(dag)
        except Exception as err:
            errors[dag.fileloc] = f"DAG {dag_id} cannot be serialized: {type(err).__name__}: {err}"
    return errors


def list_dag_files(folder: str, safe_mode: bool, include_examples: bool = False) -> list[str]:
    """The files of ``folder`` Airflow would parse: its bundle's files (examples are a bundle of their own)."""
    from airflow.utils.file import list_py_file_paths

    return list_py_file_paths(folder, safe_mode=safe_mode)


# --- storing (child side) ---


def store(bag, session, bundle: str | None) -> None:
    """As the dag-processor stores a parsed file (``processor._serialize_dags``, then
    ``sync_bag_to_db`` as ``airflow dags reserialize``): a DAG that cannot be serialized is left out and
    its file gets the import error; serialized DAGs, DagModel rows, DAG versions and per-DAG permissions
    (FAB) are written; the parsed files' import errors recorded or cleared. Airflow marks the DAGs of a file
    with import errors stale (its ``_update_import_errors``)."""
    if AIRFLOW_V_3_2_PLUS:
        from airflow.dag_processing.dagbag import sync_bag_to_db
    else:
        from airflow.models.dagbag import sync_bag_to_db

    _ensure_bundle_row(session, bundle)
    for fileloc, text in serialization_errors(bag).items():
        for dag_id in [dag_id for dag_id, dag in bag.dags.items() if dag.fileloc == fileloc]:
            del bag.dags[dag_id]
        bag.import_errors[relative_in_bundle(bag, fileloc)] = text
    sync_bag_to_db(bag, bundle, None, session=session)


def _ensure_bundle_row(session, bundle: str) -> None:
    """The bundle's row (DAGs refer to it), written as the dag-processor writes it if none has run yet."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.models.dagbundle import DagBundleModel

    if session.get(DagBundleModel, bundle) is None:
        DagBundlesManager().sync_bundles_to_db(session=session)
        session.flush()


def store_folder(bag, session, files: list[str], bundle: str | None) -> None:
    """Store the bag, then as the dag-processor after listing a bundle's files
    (``DagFileProcessorManager._refresh_dag_bundles``): the bundle's DAGs whose files are gone become stale
    (``DagModel.deactivate_deleted_dags``, then ``remove_references_to_deleted_dags``) and the import errors of
    files that are gone are removed (its ``clear_orphaned_import_errors``). A DAG its file, parsed without
    errors, no longer defines becomes stale at once (the dag-processor waits [dag_processor]
    stale_dag_threshold for that)."""
    from airflow.models import DagModel
    from airflow.models.asset import remove_references_to_deleted_dags
    from airflow.models.errors import ParseImportError

    store(bag, session, bundle)
    observed = _observed_filelocs(bag, files)
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


def _observed_filelocs(bag, files: list[str]) -> set[str]:
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
