"""The DAG processor child: parses DAG files and writes them to the database, in a process of its own.

A DAG file's top-level code never runs in the webserver. ``parsing.py`` runs a phase in a short-lived
process with a deadline and an environment without the webserver's secrets, as Airflow's DAG processor runs
its file processors: a child forked by the parse server (``parse_server.py``), which has imported Airflow
and this module already, or this module started afresh as ``python -m rest_api_plugin.dag_files.parsing_child PHASE``
(the request as JSON on stdin, one JSON report on stdout). Either way everything else it prints (the DAG
files' own output, Airflow's logs) goes to stderr, which the webserver logs and never shows to a caller.

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
    Airflow 3: one task's template fields rendered (``airflow3/template_rendering.py``). Writes nothing.

Reports name files by their path relative to the DAGs folder.

How a file is parsed and stored is the Airflow line's (``airflow2/parsing.py``: one DAGs folder,
``DagBag.sync_to_db``; ``airflow3/parsing.py``: the DAGs folder's bundle, ``sync_bag_to_db``), which also adds
its own phases (Airflow 3: ``render``).
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
    from rest_api_plugin.dag_files.dag_folder import forget_bytecode

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
    line = line_parsing()
    bag = line.new_bag(bundle)
    line.parse_as_python(paths)
    with fresh_bytecode(paths):
        for path in paths:
            try:
                bag.process_file(path, only_if_updated=False, safe_mode=safe_mode)
            except SystemExit as stop:
                ended = f"The file ended the process that parsed it: SystemExit({stop.code!r})"
                bag.import_errors[line.relative_in_bundle(bag, path)] = ended
    return bag


def named_errors(errors: dict[str, str], upload: str | None = None, shown_as: str | None = None) -> dict[str, str]:
    """Import errors keyed by DAGs-folder-relative path, their text without the DAGs folder's path; an
    upload's temporary file is named as the file it is going to be (``shown_as``)."""
    from pathlib import Path

    from rest_api_plugin.dag_files import dag_folder

    named = {}
    for path, text in sorted(errors.items()):
        # Airflow 3 keys import errors by their path in the bundle (the DAGs folder), Airflow 2 by the full path
        full = path if os.path.isabs(path) else dag_folder.path_in_dags_folder(path)
        if upload:
            text = text.replace(upload, shown_as).replace(Path(upload).name, shown_as)
            text = text.replace(Path(upload).stem, Path(shown_as).stem)
        is_upload = upload and os.path.realpath(full) == os.path.realpath(upload)
        name = shown_as if is_upload else dag_folder.relative_name(full)
        named[name] = dag_folder.without_dags_folder(text)
    return named


# --- check ---


def check(request: dict) -> dict:
    """``file``: the upload; ``shown_as``: its name in the DAGs folder; ``target``: where it would go;
    ``previous``: also parse the file at ``target`` (the one it would replace); ``scan_folder``: also find
    which other files define its DAG ids."""
    upload, shown_as, target = request["file"], request["shown_as"], request.get("target")
    bundle = request.get("bundle")
    bag = parse([upload], bundle=bundle)
    errors = named_errors(bag.import_errors or line_parsing().serialization_errors(bag), upload, shown_as)
    report = {
        "dag_ids": sorted(bag.dag_ids),
        "import_errors": errors,
        "previous_dag_ids": None,
        "defined_elsewhere": {},
    }
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

    from rest_api_plugin.dag_files import dag_folder

    safe_mode = conf.getboolean("core", "dag_discovery_safe_mode", fallback=True)
    found: dict[str, str] = {}
    for path in line_parsing().list_dag_files(dag_folder.configured_dags_folder(), safe_mode):
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


# --- publish ---


def publish(request: dict) -> dict:
    """Store the DAGs of ``file``, unless it defines or drops a DAG that is not in ``authorized`` (the ids the
    webserver checked: then the report lists them under ``unauthorized``) or does not define
    ``require_dag_id``: then nothing is written. ``pause`` (true, false or null) applies to its DAGs."""
    from airflow.models import DagModel
    from airflow.utils.session import create_session

    from rest_api_plugin.airflow_compat import set_dag_active
    from rest_api_plugin.dag_files import dag_folder

    path, bundle = request["file"], request.get("bundle")
    bag = parse([path], bundle=bundle)
    report = {
        "dag_ids": sorted(bag.dag_ids),
        "import_errors": named_errors(bag.import_errors),
        "unauthorized": [],
        "written": False,
        "deactivated": [],
        "paused": {},
    }
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
        line_parsing().store(bag, session, bundle)
        for model in session.query(DagModel).filter(DagModel.dag_id.in_(gone)):
            set_dag_active(model, False)
        report.update(
            written=True,
            deactivated=gone,
            paused=apply_pause(session, bag, request.get("pause")),
            import_errors=named_errors(bag.import_errors),
        )  # with serialization errors, if any
    return report


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

    from rest_api_plugin.dag_files import dag_folder

    line = line_parsing()
    include_examples = conf.getboolean("core", "load_examples")
    safe_mode = conf.getboolean("core", "dag_discovery_safe_mode", fallback=True)
    files = line.list_dag_files(dag_folder.configured_dags_folder(), safe_mode, include_examples)
    bag = parse(files, safe_mode=safe_mode, bundle=request.get("bundle"))
    with create_session() as session:
        line.store_folder(bag, session, files, request.get("bundle"))
    by_file: dict[str, list[str]] = {}
    for dag_id, dag in sorted(bag.dags.items()):
        by_file.setdefault(dag_folder.relative_name(dag.fileloc), []).append(dag_id)
    return {
        "dag_ids": sorted(bag.dag_ids),
        "dag_ids_by_file": by_file,
        "import_errors": named_errors(bag.import_errors),
    }


PHASES = {"check": check, "publish": publish, "publish_folder": publish_folder}  # and the line's own


def line_parsing():
    """This Airflow line's side of parsing and storing (``airflow2/parsing.py``, ``airflow3/parsing.py``),
    imported when a phase runs: this module's own imports stay in the standard library."""
    from rest_api_plugin.airflow_compat import this_line

    return this_line("parsing")


# --- the process ---


def take_over_stdout():
    """A private stream for the report; file descriptor 1 becomes stderr, so whatever else this process and
    its children print (DAG files, Airflow's logging) ends up in the log rather than in the report."""
    sys.stdout.flush()
    report_fd = os.dup(1)  # not inherited by the DAG files' subprocesses
    os.dup2(2, 1)
    return os.fdopen(report_fd, "w", encoding="utf-8")


def answer(phase: str, request: dict) -> dict:
    """The report of ``phase`` for ``request``; ``{"internal_error": ...}`` when the phase fails in its own code
    (the traceback goes to stderr: the webserver logs it, a caller never sees it). Both ways of running a
    phase answer with it: this module as a fresh process (``main``) and a child of the parse server."""
    try:
        return {**PHASES, **line_parsing().child_phases()}[phase](request)
    except Exception as err:
        traceback.print_exc()
        return {"internal_error": type(err).__name__}


def main(argv: list[str]) -> int:
    report_stream = take_over_stdout()
    phase = argv[1] if len(argv) > 1 else ""
    try:
        report = answer(phase, json.loads(sys.stdin.read() or "{}"))
    except ValueError as err:  # not JSON: the webserver's bug
        traceback.print_exc()
        report = {"internal_error": type(err).__name__}
    sys.stdout.flush()
    sys.stderr.flush()
    json.dump(report, report_stream)
    report_stream.close()
    return 1 if "internal_error" in report else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
