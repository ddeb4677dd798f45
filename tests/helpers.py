"""Shared by the task-command, job and DAG-file tests: temporary DAG files, database reads, polling."""

from __future__ import annotations

import os
import shutil
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path

from tests.airflow_line import AIRFLOW_3, sync_dag_files
from tests.conftest import DAGS_FOLDER

ORIGINAL_DAGS = ("sample_dag", "other_dag")  # what tests/dags/sample_dags.py defines
SAMPLE_FILE = DAGS_FOLDER / "sample_dags.py"

FAILING_DAG = """
from datetime import datetime
from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG(dag_id="{dag_id}", start_date=datetime(2024, 1, 1), schedule=None, catchup=False):
    BashOperator(task_id="fails", bash_command="echo about to fail; exit 3")
"""

SIMPLE_DAG = """
from datetime import datetime
from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG(dag_id="{dag_id}", start_date=datetime(2024, 1, 1), schedule=None, catchup=False,
         description="{description}"):
    EmptyOperator(task_id="only")
"""


DEAF_TO_THE_IMPORT_TIMEOUT = """
import os, signal, subprocess, time
PIDS
signal.signal(signal.SIGALRM, signal.SIG_IGN)  # deaf to Airflow's own import timeout
deadline = time.monotonic() + SECONDS
while time.monotonic() < deadline:
    try:
        time.sleep(1)
    except BaseException:
        pass
"""


def hanging_source(seconds: int, pid_file: Path | None = None) -> str:
    """DAG-file code that ignores Airflow's import timeout and takes ``seconds`` to import; with ``pid_file``, it
    first writes there its own pid and that of a ``sleep 600`` it starts."""
    pids = (f"with open({str(pid_file)!r}, 'w') as out:\n"
            "    out.write(f\"{os.getpid()} {subprocess.Popen(['sleep', '600']).pid}\")") if pid_file else ""
    return DEAF_TO_THE_IMPORT_TIMEOUT.replace("PIDS", pids).replace("SECONDS", str(seconds))


def dag_source(template: str, **values) -> str:
    return textwrap.dedent(template.format(**values))


def write_dag_file(name: str, source: str, sync: bool = True) -> Path:
    path = DAGS_FOLDER / name
    path.write_text(source)
    if sync:
        sync_dag_files(path)
    return path


def forget_dag(*dag_ids: str) -> None:
    """Remove DAGs a test created, file records and all."""
    from airflow.api.common.delete_dag import delete_dag
    from airflow.exceptions import DagNotFound

    for dag_id in dag_ids:
        try:
            delete_dag(dag_id)
        except DagNotFound:
            pass


def dag_model(dag_id: str):
    from airflow.models import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        model = session.get(DagModel, dag_id)
        if model is not None:
            session.expunge(model)
        return model


def poll(check, seconds: float = 60, every: float = 0.2):
    """``check()``'s first truthy answer, polling until the deadline; fails the test after it."""
    deadline = time.monotonic() + seconds
    while True:
        answer = check()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {seconds}s waiting for {check}")
        time.sleep(every)


# --- the DAGs folder and the database, read back and restored (DAG-file tests) ---

def folder_files() -> dict[str, bytes]:
    """Every file in the DAGs folder but compiled bytecode, with its content."""
    return {
        str(path.relative_to(DAGS_FOLDER)): path.read_bytes()
        for path in DAGS_FOLDER.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def upload_leftovers() -> list[str]:
    """Anything an upload left in the DAGs folder, compiled bytecode included."""
    from rest_api_plugin.services.dag_upload import UPLOAD_PREFIX

    marker = UPLOAD_PREFIX.strip("._")
    return [str(path) for path in DAGS_FOLDER.rglob("*") if marker in path.name]


def db_state() -> dict:
    from airflow.models import DagModel, DagRun, TaskInstance
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session

    from rest_api_plugin.airflow_compat import dag_is_active

    with create_session() as session:
        return {
            "dags": {m.dag_id: (m.fileloc, dag_is_active(m), m.is_paused, m.description) for m in session.query(DagModel)},
            # Airflow 3 keeps a serialized DAG per DAG version: the latest one wins
            "serialized": {s.dag_id: s.dag_hash for s in session.query(SerializedDagModel).order_by(
                SerializedDagModel.last_updated)},
            "runs": sorted((r.dag_id, r.run_id, r.state) for r in session.query(DagRun)),
            "tis": sorted((t.dag_id, t.run_id, t.task_id, t.state) for t in session.query(TaskInstance)),
        }


def backups() -> set[Path]:
    from rest_api_plugin.dag_folder import backup_folder

    return set(backup_folder().iterdir())


def sample_dags_state() -> dict:
    """The sample DAGs' rows and their serialized versions."""
    state = db_state()
    return {dag_id: (state["dags"].get(dag_id), state["serialized"].get(dag_id)) for dag_id in ORIGINAL_DAGS}


@contextmanager
def dag_files_restored():
    """Afterwards, the DAGs folder, the database and the backup folder are as they were before."""
    files_before = folder_files()
    bytecode_before = set(DAGS_FOLDER.rglob("__pycache__/*"))
    originals_before = sample_dags_state()
    backups_before = backups()
    try:
        yield
    finally:
        restore(files_before, bytecode_before, originals_before, backups_before)


def restore(files_before, bytecode_before, originals_before, backups_before) -> None:
    """Remove the files and DAGs created since, put changed files and the sample DAGs back."""
    from airflow.models import DagModel, DagRun, TaskInstance
    from airflow.utils.session import create_session

    from rest_api_plugin.airflow_compat import active_column_update

    for path in sorted(DAGS_FOLDER.rglob("*"), reverse=True):
        relative = str(path.relative_to(DAGS_FOLDER))
        if "__pycache__" in path.parts:
            continue
        if path.is_file() and relative not in files_before:
            path.unlink()
        elif path.is_dir() and not any(key.startswith(relative + os.sep) for key in files_before):
            shutil.rmtree(path)  # with the bytecode cache parsing left in it
    for path in set(DAGS_FOLDER.rglob("__pycache__/*")) - bytecode_before:
        path.unlink()
    for relative, content in files_before.items():
        path = DAGS_FOLDER / relative
        if not path.is_file() or path.read_bytes() != content:
            path.write_bytes(content)
    with create_session() as session:
        created = [m.dag_id for m in session.query(DagModel).filter(DagModel.dag_id.notin_(ORIGINAL_DAGS))]
        session.query(TaskInstance).filter(TaskInstance.dag_id.in_(created)).delete(synchronize_session=False)
        session.query(DagRun).filter(DagRun.dag_id.in_(created)).delete(synchronize_session=False)
    forget_dag(*created)
    if sample_dags_state() != originals_before:
        store_sample_dags_again()
        with create_session() as session:
            for dag_id, ((_, is_active, is_paused, _), _) in originals_before.items():
                session.query(DagModel).filter(DagModel.dag_id == dag_id).update(
                    {**active_column_update(DagModel, is_active), DagModel.is_paused: is_paused},
                    synchronize_session=False)
        assert sample_dags_state() == originals_before, "the sample DAGs could not be put back"
    for backup in backups() - backups_before:
        backup.unlink()


def store_sample_dags_again() -> None:
    """sample_dags.py parsed and stored again, its serialized DAGs written even if stored less than
    [core] min_serialized_dag_update_interval ago."""
    from airflow.utils.session import create_session

    if AIRFLOW_3:  # sync_bag_to_db reads the interval from the configuration
        previous = os.environ.get(MIN_UPDATE_INTERVAL)
        os.environ[MIN_UPDATE_INTERVAL] = "0"
        try:
            sync_dag_files(SAMPLE_FILE)
        finally:
            if previous is None:
                del os.environ[MIN_UPDATE_INTERVAL]
            else:
                os.environ[MIN_UPDATE_INTERVAL] = previous
        return
    from airflow.models import DagBag
    from airflow.models.serialized_dag import SerializedDagModel

    bag = DagBag(str(SAMPLE_FILE), include_examples=False)
    with create_session() as session:
        for dag in bag.dags.values():
            SerializedDagModel.write_dag(dag, min_update_interval=None, session=session)
    bag.sync_to_db()


MIN_UPDATE_INTERVAL = "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL"
