"""Airflow 2's side of DAG files: one DAGs folder, no bundles. Files are parsed with a DagBag of the DAGs
folder and stored as Airflow 2's DAG processor stores them (``DagBag.sync_to_db``, then
``DagFileProcessor.update_import_errors``).

The child-side functions run in the DAG processor child (``dag_files/parsing_child.py``), never in the
webserver; Airflow is imported inside them.
"""

from __future__ import annotations

import os

from rest_api_plugin.dag_files import dag_folder

# What the phases import, loaded once in the parse server (any this Airflow lacks is skipped); the operators
# are those most DAG files import.
PRELOAD = (
    "airflow.dag_processing.processor",
    "airflow.dag_processing.manager",
    "airflow.operators.empty",
    "airflow.operators.bash",
    "airflow.operators.python",
)


def preload_modules() -> tuple[str, ...]:
    return PRELOAD


def child_phases() -> dict:
    """The parsing child's phases of this line alone: none (Airflow 2 renders in the webserver)."""
    return {}


# --- the DAGs folder's bundle (web side) ---


def dags_folder_bundle() -> None:
    """Airflow 2 has no DAG bundles."""
    return None


def bundle_of(model) -> None:
    return None


# --- parsing (child side) ---


def new_bag(bundle: str | None):
    """An empty DagBag of the DAGs folder."""
    from airflow.models import DagBag

    return DagBag(dag_folder.configured_dags_folder(), include_examples=False, collect_dags=False)


def parse_as_python(paths) -> None:
    """Airflow 2's DagBag parses any file it is given, whatever its name: nothing to do."""


def relative_in_bundle(bag, path: str) -> str:
    """Airflow 2 names files by their full path: ``path`` as it is."""
    return path


def serialization_errors(bag) -> dict[str, str]:
    """What Airflow would record when storing the bag's DAGs, found without storing them (by ``fileloc``)."""
    from airflow.serialization.serialized_objects import SerializedDAG as Serializer

    errors = {}
    for dag_id, dag in sorted(bag.dags.items()):
        try:
            Serializer.to_dict(dag)
        except Exception as err:
            errors[dag.fileloc] = f"DAG {dag_id} cannot be serialized: {type(err).__name__}: {err}"
    return errors


def list_dag_files(folder: str, safe_mode: bool, include_examples: bool = False) -> list[str]:
    """The files of ``folder`` Airflow would parse, and the example DAGs' when they are loaded."""
    from airflow.utils.file import list_py_file_paths

    return list_py_file_paths(folder, safe_mode=safe_mode, include_examples=include_examples)


# --- storing (child side) ---


def store(bag, session, bundle: str | None) -> None:
    """As the DAG processor stores a parsed file: serialized DAGs (serialization failures become import
    errors), DagModel rows and per-DAG permissions (``DagBag.sync_to_db``), then the import errors.

    ``sync_to_db`` skips a serialized DAG written less than [core] min_serialized_dag_update_interval ago;
    the webserver starts this process with that interval at 0, so an edit made just after the last parse
    is stored (a DAG whose hash did not change is still skipped).
    """
    from airflow.dag_processing.processor import DagFileProcessor

    processor_subdir = dag_folder.configured_dags_folder()
    bag.sync_to_db(processor_subdir=processor_subdir, session=session)
    DagFileProcessor.update_import_errors(
        file_last_changed=bag.file_last_changed,
        import_errors=bag.import_errors,
        processor_subdir=processor_subdir,
        session=session,
    )


def store_folder(bag, session, files: list[str], bundle: str | None) -> None:
    """Store the bag, deactivate the DAGs of files that are gone or no longer define them, clear
    the import errors of files that are gone."""
    from airflow.dag_processing.manager import DagFileProcessorManager
    from airflow.models import DagModel

    alive = {os.path.realpath(path) for path in files} | {os.path.realpath(dag.fileloc) for dag in bag.dags.values()}
    parsed = alive - {os.path.realpath(path) for path in bag.import_errors}
    folder = dag_folder.configured_dags_folder()
    store(bag, session, bundle)
    # Airflow compares file paths as strings: give it the database's own spelling of the live ones.
    stored = {fileloc for (fileloc,) in session.query(DagModel.fileloc).filter(DagModel.fileloc.isnot(None))}
    alive_as_stored = {fileloc for fileloc in stored if os.path.realpath(fileloc) in alive}
    DagModel.deactivate_deleted_dags(alive_dag_filelocs=alive_as_stored, processor_subdir=folder, session=session)
    for model in session.query(DagModel).filter(DagModel.is_active.is_(True), DagModel.fileloc.isnot(None)):
        if model.dag_id not in bag.dags and os.path.realpath(model.fileloc) in parsed:
            model.is_active = False
    if files:
        DagFileProcessorManager.clear_nonexistent_import_errors(
            file_paths=files, processor_subdir=folder, session=session
        )
