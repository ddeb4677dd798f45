"""deploy_dag, delete_dag, refresh_dag and refresh_all_dags against the real DAGs folder and database.

Every test leaves the DAGs folder and the database as it found them (sample_dags.py with sample_dag and
other_dag only): the autouse fixture below removes what a test created and restores what it changed.
Error answers are checked to change nothing by reading the folder and the database back.
"""

from __future__ import annotations

import io
import json
import os
import socket
import stat
import sys
import time
from pathlib import Path

import pytest

from rest_api_plugin.airflow_compat import dag_is_active
from rest_api_plugin.dag_files import parse_server_client
from tests.airflow_line import AIRFLOW_3, airflow3_only, trigger
from tests.helpers import (
    AIRFLOW_HOME,
    DAGS_FOLDER,
    ORIGINAL_DAGS,
    SIMPLE_DAG,
    backups,
    dag_files_restored,
    dag_model,
    dag_source,
    db_state,
    folder_files,
    forget_dag,
    hanging_source,
    is_running,
    parse_servers,
    poll,
    upload_leftovers,
    write_dag_file,
)

TASKS_DAG = """
from datetime import datetime
from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG(dag_id="{dag_id}", start_date=datetime(2024, 1, 1), schedule=None, catchup=False,
         description="{description}"):
    for task_id in {task_ids}:
        EmptyOperator(task_id=task_id)
"""

TWO_DAGS = """
from datetime import datetime
from airflow import DAG
from airflow.operators.empty import EmptyOperator

for dag_id in {dag_ids}:
    with DAG(dag_id=dag_id, start_date=datetime(2024, 1, 1), schedule=None, catchup=False) as dag:
        EmptyOperator(task_id="only")
    globals()[dag_id] = dag
"""

MISSING_IMPORT = "import rest_api_plugin_no_such_module_42\n"
SYNTAX_ERROR = "def broken(:\n"


def simple(dag_id: str, description: str = "deployed by a test") -> str:
    return dag_source(SIMPLE_DAG, dag_id=dag_id, description=description)


def tasks_dag(dag_id: str, task_ids: list[str], description: str = "tasks") -> str:
    return dag_source(TASKS_DAG, dag_id=dag_id, task_ids=repr(task_ids), description=description)


def listed_dags(call) -> list[str]:
    body = call("list_dags").get_json()
    assert body["status"] == "OK", body
    return [dag["dag_id"] for dag in body["data"]["dags"]]


def listed_tasks(call, dag_id: str) -> list[str]:
    body = call("list_tasks", dag_id=dag_id).get_json()
    assert body["status"] == "OK", body
    return [task["task_id"] for task in body["data"]["tasks"]]


def assert_error(response, status: int) -> dict:
    body = response.get_json()
    assert response.status_code == status, body
    assert body["status"] == "ERROR" and body["http_response_code"] == status, body
    assert body["output"] and "Internal error" not in body["output"], body
    return body


def assert_ok(response) -> dict:
    body = response.get_json()
    assert response.status_code == 200 and body["status"] == "OK", body
    return body


def deploy(call, name: str, content, query: dict | None = None, who: str = "token", **fields):
    if isinstance(content, str):
        content = content.encode()
    data = {"dag_file": (io.BytesIO(content), name), **fields}
    return call("deploy_dag", who=who, method="POST", data=data, **(query or {}))


def deploy_raw_name(call, name: str, content: str):
    """A multipart body written by hand: the test client would send a backslash in a file name unescaped,
    and the server would read it as a quoted-pair escape; here the name reaches the server as given."""
    boundary = "rest-api-plugin-test-boundary"
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="dag_file"; filename="{quoted}"\r\n'
        f"Content-Type: text/x-python\r\n\r\n{content}\r\n--{boundary}--\r\n"
    ).encode()
    return call(
        "deploy_dag", method="POST", data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )


def set_running(dag_id: str) -> None:
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    from rest_api_plugin.airflow_compat import timezone

    trigger(dag_id, run_id="busy_run", logical_date=timezone.parse("2024-03-01T00:00:00+00:00"))
    with create_session() as session:
        for ti in session.query(TaskInstance).filter_by(dag_id=dag_id, run_id="busy_run"):
            ti.state = TaskInstanceState.RUNNING


@pytest.fixture
def writes_bytecode(monkeypatch):
    """Python caches compiled DAG files as a webserver normally does (the test run may switch it off)."""
    monkeypatch.setattr(sys, "dont_write_bytecode", False)


@pytest.fixture(scope="module", autouse=True)
def module_leaves_nothing_behind(app):
    """Other test modules share the DAGs folder and the database: they expect only sample_dags.py."""
    yield
    assert set(folder_files()) == {"sample_dags.py"}
    assert upload_leftovers() == []
    dags = db_state()["dags"]
    assert set(dags) == set(ORIGINAL_DAGS) and all(dags[dag_id][1] for dag_id in ORIGINAL_DAGS), dags


@pytest.fixture(autouse=True)
def restore_dags_folder(app):
    """Put the DAGs folder, the database and the backup folder back as the test found them."""
    with dag_files_restored():
        yield


@pytest.fixture(autouse=True)
def fresh_processes(monkeypatch):
    """The phases a test ran in a fresh process rather than in a child of the parse server: none, unless the
    test expects them (and empties this list), so that every test here goes through the parse server."""
    from rest_api_plugin.dag_files import parsing

    phases = []
    run_in_fresh_process = parsing.run_in_fresh_process

    def recorded(phase, *args, **kwargs):
        phases.append(phase)
        return run_in_fresh_process(phase, *args, **kwargs)

    monkeypatch.setattr(parsing, "run_in_fresh_process", recorded)
    yield phases
    assert phases == [], f"parsed in a fresh process, not by the parse server: {phases}"


# --- deploy_dag ---


class TestDeployDag:
    def test_installs_the_file_and_lists_the_dag_at_once(self, call, writes_bytecode):
        content = simple("deployed_dag")
        body = assert_ok(deploy(call, "deployed_dag.py", content))
        target = DAGS_FOLDER / "deployed_dag.py"
        assert target.read_text() == content
        assert stat.S_IMODE(target.stat().st_mode) == 0o644  # readable by a scheduler running as another user
        assert body["data"]["filename"] == "deployed_dag.py"
        assert body["data"]["dag_ids"] == ["deployed_dag"]
        assert body["data"]["backup"] is None
        assert "deployed_dag.py" in body["output"]
        assert upload_leftovers() == []
        model = dag_model("deployed_dag")
        assert dag_is_active(model) and Path(model.fileloc).resolve() == target.resolve()
        assert model.is_paused  # new DAGs are paused at creation (Airflow's default)
        assert "deployed_dag" in listed_dags(call)
        assert listed_tasks(call, "deployed_dag") == ["only"]

    def test_options_as_form_fields_and_in_the_query_string(self, call):
        content = simple("options_dag")
        assert_ok(deploy(call, "options_dag.py", content, unpause="on"))
        assert dag_model("options_dag").is_paused is False
        body = assert_ok(deploy(call, "options_dag.py", content, force="on", pause="on"))
        assert body["data"]["paused"] == {"options_dag": True}
        assert dag_model("options_dag").is_paused is True
        assert_ok(deploy(call, "options_dag.py", content, query={"force": "true", "unpause": "true"}))
        assert dag_model("options_dag").is_paused is False
        assert_ok(deploy(call, "options_dag.py", content, query={"force": "on"}))
        assert dag_model("options_dag").is_paused is False  # neither option: the state is kept

    def test_get_with_everything_in_a_multipart_body(self, call):
        """As a real client does it: client.get(url, data={"api": "deploy_dag", "dag_file": ..., ...})."""
        content = simple("get_body_dag")
        answer = call(
            None,
            method="GET",
            data={
                "api": "deploy_dag",
                "force": "true",
                "unpause": "true",
                "dag_file": (io.BytesIO(content.encode()), "get_body_dag.py"),
            },
        )
        body = assert_ok(answer)
        assert body["output"] == "DAG File [get_body_dag.py] has been uploaded"
        assert (DAGS_FOLDER / "get_body_dag.py").read_text() == content
        assert dag_model("get_body_dag").is_paused is False

    def test_pause_and_unpause_together_are_refused(self, call):
        before_files, before_db = folder_files(), db_state()
        assert_error(deploy(call, "both_dag.py", simple("both_dag"), pause="on", unpause="on"), 400)
        assert folder_files() == before_files and db_state() == before_db

    @pytest.mark.parametrize("force", [None, "off", "false"])
    def test_never_overwrites_without_force(self, call, force):
        fields = {"force": force} if force else {}
        before_files, before_db, before_backups = folder_files(), db_state(), backups()
        body = assert_error(deploy(call, "sample_dags.py", simple("sample_dag", "replaced"), **fields), 409)
        assert "force" in body["output"]
        assert socket.gethostname() not in body["output"] and str(DAGS_FOLDER) not in body["output"]
        assert folder_files() == before_files and db_state() == before_db and backups() == before_backups
        assert upload_leftovers() == []

    def test_force_replaces_the_file_keeps_a_backup_and_updates_the_database(self, call, writes_bytecode):
        first = tasks_dag("forced_dag", ["one", "two"], description="first")
        second = tasks_dag("forced_dag", ["one", "six"], description="later")  # same size as the first
        assert len(first) == len(second)
        assert_ok(deploy(call, "forced_dag.py", first))
        assert listed_tasks(call, "forced_dag") == ["one", "two"]
        body = assert_ok(deploy(call, "forced_dag.py", second, force="on"))
        target = DAGS_FOLDER / "forced_dag.py"
        assert target.read_text() == second
        backup = Path(body["data"]["backup"])
        assert backup.read_text() == first
        assert DAGS_FOLDER.resolve() not in backup.resolve().parents  # never parsed as a DAG
        assert dag_model("forced_dag").description == "later"
        assert listed_tasks(call, "forced_dag") == ["one", "six"]
        assert upload_leftovers() == []

    @pytest.mark.parametrize("error", [MISSING_IMPORT, SYNTAX_ERROR], ids=["import", "syntax"])
    def test_import_errors_are_returned_and_nothing_is_installed(self, call, error, writes_bytecode):
        before_files, before_db = folder_files(), db_state()
        body = assert_error(deploy(call, "broken_dag.py", error + simple("broken_dag")), 400)
        errors = body["data"]["import_errors"]
        assert list(errors) == ["broken_dag.py"]
        expected = "rest_api_plugin_no_such_module_42" if error == MISSING_IMPORT else "SyntaxError"
        assert expected in errors["broken_dag.py"] and expected in body["output"]
        from rest_api_plugin.dag_files.uploads import UPLOAD_PREFIX

        assert UPLOAD_PREFIX not in body["output"]  # the temporary file's name is not shown
        assert folder_files() == before_files and db_state() == before_db
        assert upload_leftovers() == []
        assert "broken_dag" not in listed_dags(call)

    def test_a_broken_replacement_leaves_the_installed_file_alone(self, call):
        good = simple("kept_dag")
        assert_ok(deploy(call, "kept_dag.py", good))
        before_files, before_db, before_backups = folder_files(), db_state(), backups()
        assert_error(deploy(call, "kept_dag.py", MISSING_IMPORT + good, force="on"), 400)
        assert (DAGS_FOLDER / "kept_dag.py").read_text() == good
        assert folder_files() == before_files and db_state() == before_db and backups() == before_backups
        assert upload_leftovers() == []

    @pytest.mark.parametrize("name", ["dag.txt", "dag.pyc", "dag.py.txt", ".py", "dag", "dag.PY", "dag.py/"])
    def test_only_python_files(self, call, name):
        before_files, before_db = folder_files(), db_state()
        assert_error(deploy(call, name, simple("not_python_dag")), 400)
        assert folder_files() == before_files and db_state() == before_db

    @pytest.mark.parametrize(
        "name",
        [
            "../escaped_dag.py",
            "/etc/escaped_dag.py",
            "..\\escaped_dag.py",
            "sub/../../escaped_dag.py",
            "C:\\Users\\me\\escaped_dag.py",
            "....//escaped_dag.py",
        ],
    )
    def test_paths_are_reduced_to_a_name_in_the_dags_folder(self, call, name):
        outside = [AIRFLOW_HOME / "escaped_dag.py", AIRFLOW_HOME.parent / "escaped_dag.py", Path("/etc/escaped_dag.py")]
        body = assert_ok(deploy_raw_name(call, name, simple("escaped_dag")))
        assert body["data"]["filename"] == "escaped_dag.py"
        assert (DAGS_FOLDER / "escaped_dag.py").read_text() == simple("escaped_dag")
        assert set(folder_files()) - {"sample_dags.py"} == {"escaped_dag.py"}
        assert not any(path.exists() for path in outside)

    @pytest.mark.parametrize(
        "name",
        [
            "esc\x00aped_dag.py",
            "esc\x01aped_dag.py",
            "escaped_dag.py\x00.txt",
            "esc\x7faped_dag.py",
            "esc\taped_dag.py",
        ],
    )
    def test_names_with_control_characters_are_refused(self, call, name):
        before_files, before_db = folder_files(), db_state()
        body = assert_error(deploy_raw_name(call, name, simple("escaped_dag")), 400)
        assert "control characters" in body["output"]  # refused for its name, not for a mangled request
        assert folder_files() == before_files and db_state() == before_db

    def test_size_limit(self, call, monkeypatch):
        content = simple("sized_dag").encode()
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__DEPLOY_DAG_MAX_BYTES", str(len(content) - 1))
        before_files, before_db = folder_files(), db_state()
        body = assert_error(deploy(call, "sized_dag.py", content), 413)
        assert str(len(content) - 1) in body["output"] and "deploy_dag_max_bytes" in body["output"]
        assert folder_files() == before_files and db_state() == before_db
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__DEPLOY_DAG_MAX_BYTES", str(len(content)))
        assert_ok(deploy(call, "sized_dag.py", content))
        assert (DAGS_FOLDER / "sized_dag.py").read_bytes() == content

    @pytest.mark.parametrize("setting", ["many", "-1", "0", "1.5"])
    def test_a_bad_size_limit_setting_is_named(self, call, monkeypatch, setting):
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__DEPLOY_DAG_MAX_BYTES", setting)
        before_files, before_db = folder_files(), db_state()
        body = assert_error(deploy(call, "limit_dag.py", simple("limit_dag")), 500)
        assert "deploy_dag_max_bytes" in body["output"] and repr(setting) in body["output"]
        assert folder_files() == before_files and db_state() == before_db

    @pytest.mark.parametrize("folder", ["missing", "a_file"])
    def test_a_dags_folder_that_cannot_be_written_is_named(self, call, monkeypatch, tmp_path, folder):
        broken = tmp_path / folder
        if folder == "a_file":
            broken.write_text("not a folder")
        monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(broken))
        before_db = db_state()
        body = assert_error(deploy(call, "unwritten_dag.py", simple("unwritten_dag")), 500)
        assert "[core] dags_folder" in body["output"] and "not writable" in body["output"]
        assert str(broken) not in body["output"]
        assert db_state() == before_db

    def test_a_backup_folder_that_cannot_be_created_is_named(self, call, monkeypatch, tmp_path):
        assert_ok(deploy(call, "backed_dag.py", simple("backed_dag", "first")))
        (tmp_path / "a_file").write_text("not a folder")
        before_files, before_db = folder_files(), db_state()
        with monkeypatch.context() as patched:  # undone before the fixture that restores the folders looks
            patched.setenv("AIRFLOW__REST_API_PLUGIN__DAG_BACKUP_FOLDER", str(tmp_path / "a_file" / "backups"))
            body = assert_error(deploy(call, "backed_dag.py", simple("backed_dag", "second"), force="on"), 500)
        assert "dag_backup_folder" in body["output"] and str(tmp_path) not in body["output"]
        assert folder_files() == before_files and db_state() == before_db
        assert upload_leftovers() == []

    @pytest.mark.parametrize("how", ["no_file", "plain_field", "get", "empty_name"])
    def test_the_file_part_is_required(self, call, how):
        before_files, before_db = folder_files(), db_state()
        if how == "no_file":
            response = call("deploy_dag", method="POST", data={"force": "on"})
        elif how == "plain_field":
            response = call("deploy_dag", method="POST", data={"dag_file": simple("plain_dag")})
        elif how == "get":
            response = call("deploy_dag")
        else:
            response = call("deploy_dag", method="POST", data={"dag_file": (io.BytesIO(b"x = 1\n"), "")})
        assert_error(response, 400)
        assert folder_files() == before_files and db_state() == before_db

    def test_a_dag_id_defined_in_another_file_is_refused(self, call):
        before_files, before_db = folder_files(), db_state()
        for fields in ({}, {"force": "on"}):
            body = assert_error(deploy(call, "intruder.py", simple("sample_dag", "intruder"), **fields), 409)
            assert "sample_dag" in body["output"] and "sample_dags.py" in body["output"]
            assert str(DAGS_FOLDER) not in body["output"]  # the other file by its path in the DAGs folder
            assert body["data"]["defined_elsewhere"] == {"sample_dag": "sample_dags.py"}
        assert_error(deploy(call, "intruder.py", dag_source(TWO_DAGS, dag_ids=["fresh_dag", "other_dag"])), 409)
        assert folder_files() == before_files and db_state() == before_db
        assert upload_leftovers() == []

    def test_a_dag_id_defined_in_a_file_not_yet_parsed_is_refused(self, call):
        (DAGS_FOLDER / "team").mkdir()
        write_dag_file("team/holder.py", simple("held_dag"), sync=False)
        before_files, before_db = folder_files(), db_state()
        body = assert_error(deploy(call, "intruder.py", simple("held_dag", "intruder")), 409)
        assert "team/holder.py" in body["output"] and str(DAGS_FOLDER) not in body["output"]
        assert folder_files() == before_files and db_state() == before_db

    def test_a_replacement_that_renames_the_dag_deactivates_the_old_id(self, call):
        assert_ok(deploy(call, "renaming.py", simple("name_before")))
        body = assert_ok(deploy(call, "renaming.py", simple("name_after"), force="on"))
        assert body["data"]["deactivated"] == ["name_before"]
        assert dag_is_active(dag_model("name_before")) is False
        listed = listed_dags(call)
        assert "name_after" in listed and "name_before" not in listed

    def test_a_file_without_dags_is_installed_with_a_warning(self, call):
        body = assert_ok(deploy(call, "helpers_module.py", "# airflow dag helpers\nVALUE = 1\n"))
        assert body["data"]["dag_ids"] == [] and "No DAG found" in body["warning"]
        assert (DAGS_FOLDER / "helpers_module.py").exists()

    def test_refused_for_a_read_only_caller(self, call):
        before_files = folder_files()
        response = call(
            "deploy_dag",
            who="viewer",
            method="POST",
            data={"dag_file": (io.BytesIO(simple("viewer_dag").encode()), "viewer_dag.py")},
        )
        assert_error(response, 403)
        assert folder_files() == before_files


# --- the DAG processor child: no DAG code in the webserver ---


def marker_source(marker: Path, values: str) -> str:
    """DAG-file code that writes, as JSON, its process id, its parent's and ``values`` (a dict expression) to
    ``marker``."""
    return (
        f"import json, os\nfrom airflow.configuration import conf\n"
        f"with open({str(marker)!r}, 'w') as out:\n"
        f"    json.dump({{'pid': os.getpid(), 'ppid': os.getppid(), **{values}}}, out)\n"
    )


def assert_the_server_carries_on(call, name: str) -> None:
    """The parse server that ran the last phase still runs, and the next deploy goes to it."""
    server = parse_server_client.last_server()
    assert server and is_running(server)
    assert_ok(deploy(call, f"{name}.py", simple(name)))
    assert parse_server_client.last_server() == server


READS_SECRETS = (
    "{'secret_key': conf.get('webserver', 'secret_key', fallback=None), "
    "'token': conf.get('rest_api_plugin', 'rest_api_plugin_expected_http_token', fallback=None), "
    "'webserver_token': conf.get('webserver', 'rest_api_plugin_expected_http_token', fallback=None)}"
)

RAISES = """import os
from airflow.configuration import conf
raise RuntimeError(f"boom in {os.path.basename(__file__)} with {conf.get('webserver', 'secret_key')}")
"""


@pytest.fixture
def secrets_from(request, monkeypatch, tmp_path):
    """The webserver's secret key and token, configured the way the test's parameter names."""
    from airflow.configuration import conf

    from tests.helpers import TOKEN

    how = request.param
    if how == "environment":
        yield {"secret_key": conf.get("webserver", "secret_key"), "token": TOKEN}
        return
    if AIRFLOW_3:  # [webserver] secret_key is an alias of [api] secret_key, which conftest sets as well
        monkeypatch.delenv("AIRFLOW__API__SECRET_KEY")
    if how == "command":
        monkeypatch.delenv("AIRFLOW__WEBSERVER__SECRET_KEY")
        monkeypatch.setenv("AIRFLOW__WEBSERVER__SECRET_KEY_CMD", "printf secret-from-a-command")
        assert conf.get("webserver", "secret_key") == "secret-from-a-command"
        yield {"secret_key": "secret-from-a-command", "token": TOKEN}
        return
    # airflow.cfg: one of the webserver's own, read by the processes it starts (this one read its own at start)
    cfg = tmp_path / "airflow.cfg"
    cfg.write_text(
        "[webserver]\nsecret_key = secret-from-airflow-cfg\n\n"
        "[rest_api_plugin]\nrest_api_plugin_expected_http_token = token-from-airflow-cfg\n"
    )
    monkeypatch.setenv("AIRFLOW_CONFIG", str(cfg))
    monkeypatch.delenv("AIRFLOW__WEBSERVER__SECRET_KEY")
    monkeypatch.delenv("AIRFLOW__REST_API_PLUGIN__REST_API_PLUGIN_EXPECTED_HTTP_TOKEN")
    yield {"secret_key": "secret-from-airflow-cfg", "token": "token-from-airflow-cfg"}


class TestDagCodeRunsInAChildProcess:
    @pytest.mark.parametrize("secrets_from", ["environment", "command", "airflow_cfg"], indirect=True)
    def test_a_dag_file_cannot_read_the_webservers_secrets(self, call, tmp_path, secrets_from):
        marker = tmp_path / "seen.json"
        body = assert_ok(
            deploy(call, "curious.py", marker_source(marker, READS_SECRETS) + simple("curious"), who="admin")
        )
        assert body["data"]["dag_ids"] == ["curious"]
        seen = json.loads(marker.read_text())
        assert seen["pid"] != os.getpid()
        assert seen["ppid"] == parse_server_client.last_server()  # a child of the parse server parsed it
        assert seen["secret_key"] != secrets_from["secret_key"]
        assert secrets_from["token"] not in (seen["token"], seen["webserver_token"])

    def test_a_dag_file_cannot_patch_the_webserver(self, call, tmp_path):
        from rest_api_plugin import security

        original = security.may_access_dag
        patch = "import rest_api_plugin.security\nrest_api_plugin.security.may_access_dag = lambda *a, **k: True\n"
        marker = tmp_path / "seen.json"
        assert_ok(deploy(call, "patcher.py", patch + marker_source(marker, "{}") + simple("patcher")))
        assert json.loads(marker.read_text())["pid"] != os.getpid()
        assert security.may_access_dag is original

    def test_a_file_that_sleeps_gets_airflows_import_timeout(self, call, monkeypatch):
        monkeypatch.setenv("AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT", "2")
        before_files, before_db = folder_files(), db_state()
        body = assert_error(deploy(call, "sleeper.py", "import time\ntime.sleep(600)\n" + simple("sleeper")), 400)
        assert list(body["data"]["import_errors"]) == ["sleeper.py"]
        assert "DagBag import timeout for sleeper.py after 2.0s" in body["output"]
        assert folder_files() == before_files and db_state() == before_db
        assert call("version").status_code == 200
        assert_the_server_carries_on(call, "after_sleeper")

    def test_a_file_deaf_to_the_import_timeout_is_stopped_with_its_process_group(self, call, monkeypatch, tmp_path):
        from rest_api_plugin.dag_files.parsing import MARGIN_SECONDS

        monkeypatch.setenv("AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT", "2")
        marker = tmp_path / "pids"
        before_files, before_db = folder_files(), db_state()
        started = time.monotonic()
        hangs = hanging_source(60, pid_file=marker) + simple("hangs")
        body = assert_error(deploy(call, "hangs.py", hangs), 400)
        assert time.monotonic() - started < 2 + MARGIN_SECONDS + 15
        assert list(body["data"]["import_errors"]) == ["hangs.py"]
        assert "[core] dagbag_import_timeout of 2 s" in body["output"] and "stopped" in body["output"]
        child, grandchild = (int(pid) for pid in marker.read_text().split())
        assert child != os.getpid()
        poll(lambda: not is_running(child) and not is_running(grandchild), seconds=10)
        assert folder_files() == before_files and db_state() == before_db
        assert upload_leftovers() == []
        assert call("version").status_code == 200
        assert_the_server_carries_on(call, "after_hangs")

    def test_an_import_error_names_the_file_in_the_dags_folder_and_nothing_else(self, call):
        from airflow.configuration import conf

        from rest_api_plugin.dag_files.uploads import UPLOAD_PREFIX

        body = assert_error(deploy(call, "raiser.py", RAISES + simple("raiser")), 400)
        assert list(body["data"]["import_errors"]) == ["raiser.py"]
        assert "boom in raiser.py with" in body["data"]["import_errors"]["raiser.py"]
        for leak in (UPLOAD_PREFIX, str(DAGS_FOLDER), conf.get("webserver", "secret_key")):
            assert leak not in body["output"] and leak not in json.dumps(body["data"])

    @pytest.mark.parametrize(
        "ending, message", [("sys.exit(3)", "SystemExit(3)"), ("os._exit(3)", "ended without a report (exit code 3)")]
    )
    def test_a_file_that_ends_its_process_gets_an_import_error(self, call, ending, message):
        if AIRFLOW_3 and ending == "sys.exit(3)":  # Airflow 3's importer catches BaseException: its traceback
            message = "SystemExit: 3"
        before_files, before_db = folder_files(), db_state()
        body = assert_error(deploy(call, "ender.py", f"import os, sys\n{ending}\n" + simple("ender")), 400)
        assert list(body["data"]["import_errors"]) == ["ender.py"] and message in body["output"]
        assert folder_files() == before_files and db_state() == before_db
        assert call("version").status_code == 200
        assert_the_server_carries_on(call, "after_ender")

    def test_import_errors_are_recorded_and_cleared_as_the_dag_processor_does(self, call):
        (DAGS_FOLDER / "team").mkdir()
        path = write_dag_file("team/mended.py", simple("mended"))
        path.write_text(MISSING_IMPORT + simple("mended"))
        body = assert_error(call("refresh_dag", method="POST", dag_id="mended"), 409)
        assert list(body["data"]["import_errors"]) == ["team/mended.py"]
        assert str(DAGS_FOLDER) not in body["output"]
        assert list(recorded_import_errors()) == [str(path)]  # Airflow's table: the path as Airflow stores it
        assert "rest_api_plugin_no_such_module_42" in recorded_import_errors()[str(path)]
        assert dag_model("mended").has_import_errors
        path.write_text(simple("mended", "mended"))
        assert_ok(call("refresh_dag", method="POST", dag_id="mended"))
        assert recorded_import_errors() == {}
        assert not dag_model("mended").has_import_errors

    def test_deploy_clears_the_import_error_of_the_file_it_replaces(self, call):
        write_dag_file("mended.py", MISSING_IMPORT + simple("mended"), sync=False)
        assert_ok(call("refresh_all_dags", method="POST"))
        assert list(recorded_import_errors()) == [str(DAGS_FOLDER / "mended.py")]
        assert_ok(deploy(call, "mended.py", simple("mended"), force="on"))
        assert recorded_import_errors() == {}


def recorded_import_errors() -> dict[str, str]:
    """Airflow's import errors by file; Airflow 3 records a file by its bundle and its path there: its full
    path is the bundle's path joined to it."""
    from airflow.models.errors import ParseImportError
    from airflow.utils.session import create_session

    with create_session() as session:
        return {
            error.full_file_path() if AIRFLOW_3 else error.filename: error.stacktrace
            for error in session.query(ParseImportError)
        }


LEAVES_A_PROCESS = """import os, subprocess
with open({marker!r}, 'w') as out:
    out.write(str(subprocess.Popen(['sleep', '600']).pid))
{ending}
"""


def current_place() -> parse_server_client.Place:
    """Where the parse server of this test's environment lives."""
    from rest_api_plugin.dag_files import parsing
    from rest_api_plugin.processes import commands

    return parse_server_client.place_of(commands.child_environment_without_secrets(parsing.CHILD_SETTINGS))


def servers_of(place: parse_server_client.Place) -> list[int]:
    return [pid for pid, argv in parse_servers().items() if place.directory in argv]


def kill_server(pid: int) -> None:
    import signal

    os.kill(pid, signal.SIGKILL)
    poll(lambda: not is_running(pid), seconds=10)


class TestTheParseServer:
    """One server per environment parses for every worker; it survives whatever a DAG file does, is started
    again when it dies, and a fresh process takes over when it cannot be used."""

    @pytest.mark.parametrize("ending", ["", "os._exit(3)"])
    def test_what_a_dag_file_started_is_killed_after_its_parse(self, call, tmp_path, ending):
        marker = tmp_path / "pid"
        source = LEAVES_A_PROCESS.format(marker=str(marker), ending=ending) + simple("leaves_a_process")
        answer = deploy(call, "leaves_a_process.py", source)
        if ending:  # the server kills what is left of the child's process group when it reaps it
            assert "ended without a report (exit code 3)" in assert_error(answer, 400)["output"]
        else:  # the child kills its process group after reporting
            assert_ok(answer)
        left = int(marker.read_text())
        poll(lambda: not is_running(left), seconds=10)
        assert_the_server_carries_on(call, "after_leaves")

    def test_it_is_started_again_after_it_was_killed(self, call):
        assert_ok(deploy(call, "before_kill.py", simple("before_kill")))
        first = parse_server_client.last_server()
        kill_server(first)
        assert_ok(deploy(call, "after_kill.py", simple("after_kill")))
        assert parse_server_client.last_server() not in (None, first)
        assert servers_of(current_place()) == [parse_server_client.last_server()]

    def test_a_removed_socket_ends_the_server_and_the_next_call_starts_one(self, call):
        """As when a cleaner empties the temporary folder: a server nobody can reach does not linger."""
        assert_ok(deploy(call, "before_removal.py", simple("before_removal")))
        first = parse_server_client.last_server()
        os.unlink(current_place().socket)
        poll(lambda: not is_running(first), seconds=10)
        assert_ok(deploy(call, "after_removal.py", simple("after_removal")))
        assert parse_server_client.last_server() not in (None, first)

    def test_concurrent_deploys_start_and_share_one_server(self, call):
        """Killed first, so that the threads find no server and race to start it."""
        from concurrent.futures import ThreadPoolExecutor

        for pid in servers_of(current_place()):
            kill_server(pid)
        names = [f"concurrent_{number}" for number in range(4)]
        with ThreadPoolExecutor(len(names)) as threads:
            answers = list(threads.map(lambda name: deploy(call, f"{name}.py", simple(name)), names))
        for answer in answers:
            assert_ok(answer)
        assert set(names) <= set(listed_dags(call))
        assert servers_of(current_place()) == [parse_server_client.last_server()]

    def test_a_changed_environment_gets_a_server_of_its_own(self, call, monkeypatch):
        assert_ok(deploy(call, "first_environment.py", simple("first_environment")))
        first = parse_server_client.last_server()
        monkeypatch.setenv("AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT", "29")
        assert_ok(deploy(call, "second_environment.py", simple("second_environment")))
        assert parse_server_client.last_server() not in (None, first)
        poll(lambda: not is_running(first), seconds=10)  # the process that started it keeps one server

    def test_it_exits_when_its_starter_is_gone(self, tmp_path):
        """Started by another process (its own environment, so its own server), which then dies."""
        import signal
        import subprocess

        started = tmp_path / "started.json"
        script = (
            "import json, time\n"
            "from rest_api_plugin.dag_files import parse_server_client, parsing\n"
            "from rest_api_plugin.processes import commands\n"
            "env = commands.child_environment_without_secrets(parsing.CHILD_SETTINGS)\n"
            "place = parse_server_client.place_of(env)\n"
            "server = parse_server_client.start(place, env)\n"
            f"open({str(started)!r}, 'w').write(json.dumps([server.pid, place.socket]))\n"
            "time.sleep(600)\n"
        )
        env = {**os.environ, "AIRFLOW__REST_API_PLUGIN__TEST_STARTER": str(tmp_path)}
        starter = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.DEVNULL)
        try:
            poll(lambda: started.exists() and started.read_text(), seconds=120)
            server, socket_path = json.loads(started.read_text())
            poll(lambda: os.path.exists(socket_path), seconds=120)  # it has started
        finally:
            starter.send_signal(signal.SIGKILL)
            starter.wait()
        poll(lambda: not is_running(server), seconds=10)
        assert not os.path.exists(socket_path)

    def test_any_process_of_the_environment_uses_the_one_server_and_its_children_wait_for_theirs(self, call, tmp_path):
        """A server started by another process with the same environment (which ignores SIGCHLD, as the server
        then does: exec keeps an ignored signal) parses this process's deploy; in its child SIGCHLD is back at
        its default, so that a DAG file's subprocess gets its exit code."""
        import signal
        import subprocess

        for pid in servers_of(current_place()):
            kill_server(pid)
        started = tmp_path / "started.json"
        script = (
            "import json, signal, time\n"
            "signal.signal(signal.SIGCHLD, signal.SIG_IGN)\n"
            "from rest_api_plugin.dag_files import parse_server_client, parsing\n"
            "from rest_api_plugin.processes import commands\n"
            "env = commands.child_environment_without_secrets(parsing.CHILD_SETTINGS)\n"
            "place = parse_server_client.place_of(env)\n"
            "server = parse_server_client.start(place, env)\n"
            f"open({str(started)!r}, 'w').write(json.dumps([server.pid, place.socket]))\n"
            "time.sleep(600)\n"
        )
        starter = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL)
        try:
            poll(lambda: started.exists() and started.read_text(), seconds=120)
            server, socket_path = json.loads(started.read_text())
            assert socket_path == current_place().socket
            marker = tmp_path / "seen.json"
            source = (
                "import json, signal, subprocess, sys\n"
                f"open({str(marker)!r}, 'w').write(json.dumps([\n"
                "    signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL,\n"
                "    subprocess.run([sys.executable, '-c', 'raise SystemExit(7)']).returncode]))\n"
            )
            assert_ok(deploy(call, "waits.py", source + simple("waits")))
            assert parse_server_client.last_server() == server
            assert json.loads(marker.read_text()) == [True, 7]
        finally:
            starter.send_signal(signal.SIGKILL)
            starter.wait()

    def test_switched_off_each_phase_runs_in_a_fresh_process(self, call, monkeypatch, tmp_path, fresh_processes):
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__DAG_PARSING_SERVER", "False")
        marker = tmp_path / "seen.json"
        assert_ok(deploy(call, "fresh.py", marker_source(marker, "{}") + simple("fresh")))
        assert fresh_processes == ["check", "publish"]
        assert json.loads(marker.read_text())["ppid"] == os.getpid()
        fresh_processes.clear()

    @pytest.mark.parametrize("unsafe", ["world_writable", "symlink"])
    def test_an_unsafe_directory_is_not_used(self, call, monkeypatch, caplog, fresh_processes, unsafe):
        import shutil
        import tempfile

        base = tempfile.mkdtemp(prefix="ps-")  # short: the socket path must fit
        try:
            monkeypatch.setattr(tempfile, "gettempdir", lambda: base)
            directory = current_place().directory  # made private, then spoilt
            if unsafe == "world_writable":
                os.chmod(directory, 0o777)
            else:
                os.rmdir(directory)
                os.symlink(tempfile.mkdtemp(dir=base), directory)
            assert_ok(deploy(call, "unsafe.py", simple("unsafe")))
            assert fresh_processes == ["check", "publish"]
            assert "the parse server cannot be used" in caplog.text and directory in caplog.text
            assert not os.path.exists(os.path.join(directory, "socket"))
            fresh_processes.clear()
        finally:
            shutil.rmtree(base)


# --- delete_dag ---


class TestDeleteDag:
    def test_unknown_dag(self, call):
        before_files, before_db = folder_files(), db_state()
        assert_error(call("delete_dag", method="POST", dag_id="no_such_dag"), 404)
        assert_error(call("delete_dag", method="POST", dag_id="no_such_dag", delete_file="true"), 404)
        assert folder_files() == before_files and db_state() == before_db

    def test_invalid_dag_id(self, call):
        before_db = db_state()
        assert_error(call("delete_dag", method="POST", dag_id="../sample_dag"), 400)
        assert_error(call("delete_dag", method="POST"), 400)
        assert db_state() == before_db

    def test_removes_the_records_and_keeps_the_file(self, call):
        path = write_dag_file("doomed_dag.py", simple("doomed_dag"))
        trigger("doomed_dag", run_id="old_run")
        body = assert_ok(call("delete_dag", method="POST", dag_id="doomed_dag"))
        assert body["data"]["records_removed"] > 0 and body["data"]["file_removed"] is False
        assert dag_model("doomed_dag") is None
        state = db_state()
        assert "doomed_dag" not in state["serialized"]
        assert not [run for run in state["runs"] if run[0] == "doomed_dag"]
        assert path.read_text() == simple("doomed_dag")
        assert "doomed_dag" not in listed_dags(call)
        assert body["airflow_cmd"].startswith("airflow dags delete")

    def test_refused_while_task_instances_run(self, call):
        path = write_dag_file("busy_dag.py", simple("busy_dag"))
        set_running("busy_dag")
        before_files, before_db, before_backups = folder_files(), db_state(), backups()
        for extra in ({}, {"delete_file": "true"}):
            body = assert_error(call("delete_dag", method="POST", dag_id="busy_dag", **extra), 409)
            assert "running" in body["output"].lower()
        assert folder_files() == before_files and db_state() == before_db and backups() == before_backups
        assert path.exists()

    @pytest.mark.parametrize("flag", ["true", "on"])
    def test_delete_file_removes_a_file_holding_only_this_dag(self, call, flag):
        path = write_dag_file("gone_dag.py", simple("gone_dag"))
        body = assert_ok(call("delete_dag", method="POST", dag_id="gone_dag", delete_file=flag))
        assert body["data"]["file_removed"] is True
        assert not path.exists()
        assert Path(body["data"]["backup"]).read_text() == simple("gone_dag")
        assert body["data"]["fileloc"] == "gone_dag.py" and str(DAGS_FOLDER) not in body["output"]
        assert dag_model("gone_dag") is None
        assert "gone_dag" not in listed_dags(call)
        assert set(folder_files()) == {"sample_dags.py"}

    def test_delete_file_refused_when_the_file_holds_other_dags(self, call):
        before_files, before_db, before_backups = folder_files(), db_state(), backups()
        body = assert_error(call("delete_dag", method="POST", dag_id="sample_dag", delete_file="true"), 409)
        assert "other_dag" in body["output"]
        assert folder_files() == before_files and db_state() == before_db and backups() == before_backups

    def test_delete_file_refused_when_another_dag_is_in_the_file_but_not_in_the_database(self, call):
        path = write_dag_file("pair.py", simple("pair_one"))
        path.write_text(dag_source(TWO_DAGS, dag_ids=["pair_one", "pair_two"]))  # pair_two: not parsed yet
        before_files, before_db = folder_files(), db_state()
        body = assert_error(call("delete_dag", method="POST", dag_id="pair_one", delete_file="true"), 409)
        assert "pair_two" in body["output"]
        assert folder_files() == before_files and db_state() == before_db

    @pytest.mark.parametrize("change", ["broken", "gone", "empty"])
    def test_delete_file_refused_when_the_file_cannot_be_checked(self, call, change):
        path = write_dag_file("changed_dag.py", simple("changed_dag"))
        if change == "broken":
            path.write_text(MISSING_IMPORT + simple("changed_dag"))
        elif change == "gone":
            path.unlink()
        else:
            path.write_text("# the DAG was moved elsewhere\n")
        before_files, before_db, before_backups = folder_files(), db_state(), backups()
        assert_error(call("delete_dag", method="POST", dag_id="changed_dag", delete_file="true"), 409)
        assert folder_files() == before_files and db_state() == before_db and backups() == before_backups


# --- refresh_dag ---


class TestRefreshDag:
    def test_a_new_task_is_listed_at_once(self, call):
        path = write_dag_file("growing_dag.py", tasks_dag("growing_dag", ["first"], description="v1"))
        assert listed_tasks(call, "growing_dag") == ["first"]
        path.write_text(tasks_dag("growing_dag", ["first", "second"], description="v2"))
        body = assert_ok(call("refresh_dag", method="POST", dag_id="growing_dag"))
        assert body["data"]["dag_ids_in_file"] == ["growing_dag"]
        assert body["data"]["fileloc"] == "growing_dag.py"
        assert listed_tasks(call, "growing_dag") == ["first", "second"]
        assert dag_model("growing_dag").description == "v2"

    def test_a_same_size_edit_in_the_same_second_is_seen(self, call, writes_bytecode):
        path = write_dag_file("edited_dag.py", tasks_dag("edited_dag", ["aaa"], description="v1"))
        assert listed_tasks(call, "edited_dag") == ["aaa"]
        stamp = path.stat().st_mtime_ns
        path.write_text(tasks_dag("edited_dag", ["bbb"], description="v2"))
        os.utime(path, ns=(stamp, stamp))  # what Python's bytecode cache compares: size and mtime
        assert_ok(call("refresh_dag", method="POST", dag_id="edited_dag"))
        assert listed_tasks(call, "edited_dag") == ["bbb"]

    def test_unknown_dag(self, call):
        before_db = db_state()
        assert_error(call("refresh_dag", method="POST", dag_id="no_such_dag"), 404)
        assert db_state() == before_db

    def test_import_errors_are_returned_and_nothing_changes(self, call):
        path = write_dag_file("fragile_dag.py", simple("fragile_dag"))
        path.write_text(MISSING_IMPORT + simple("fragile_dag", "changed"))
        before_db = db_state()
        body = assert_error(call("refresh_dag", method="POST", dag_id="fragile_dag"), 409)
        errors = body["data"]["import_errors"]
        assert len(errors) == 1 and "rest_api_plugin_no_such_module_42" in next(iter(errors.values()))
        if AIRFLOW_3:  # Airflow 3 marks the DAGs of a file with import errors stale, as its dag-processor does
            fileloc, _, paused, description = before_db["dags"]["fragile_dag"]
            before_db["dags"]["fragile_dag"] = (fileloc, False, paused, description)
        assert db_state() == before_db
        assert listed_tasks(call, "fragile_dag") == ["only"]

    def test_a_removed_file(self, call):
        path = write_dag_file("vanished_dag.py", simple("vanished_dag"))
        path.unlink()
        before_db = db_state()
        body = assert_error(call("refresh_dag", method="POST", dag_id="vanished_dag"), 409)
        assert "no longer exists" in body["output"]
        assert db_state() == before_db

    def test_a_dag_no_longer_defined_in_its_file(self, call):
        path = write_dag_file("renamed_dag.py", simple("renamed_dag"))
        path.write_text(simple("renamed_dag_v2"))
        before_db = db_state()
        assert_error(call("refresh_dag", method="POST", dag_id="renamed_dag"), 409)
        assert db_state() == before_db


# --- refresh_all_dags ---


class TestRefreshAllDags:
    def test_a_new_file_is_listed(self, call):
        write_dag_file("dropped_dag.py", simple("dropped_dag"), sync=False)
        assert "dropped_dag" not in listed_dags(call)
        body = assert_ok(call("refresh_all_dags", method="POST"))
        assert "dropped_dag" in body["data"]["dag_ids"]
        assert set(listed_dags(call)) >= {"dropped_dag", *ORIGINAL_DAGS}
        assert listed_tasks(call, "dropped_dag") == ["only"]

    def test_changes_to_a_known_file_are_seen(self, call):
        path = write_dag_file("known_dag.py", tasks_dag("known_dag", ["a"]))
        path.write_text(tasks_dag("known_dag", ["a", "b"]))
        assert_ok(call("refresh_all_dags", method="POST"))
        assert listed_tasks(call, "known_dag") == ["a", "b"]

    def test_a_same_size_edit_in_the_same_second_is_seen(self, call, writes_bytecode):
        path = write_dag_file("known_dag.py", tasks_dag("known_dag", ["a"]))
        stamp = path.stat().st_mtime_ns
        path.write_text(tasks_dag("known_dag", ["b"]))
        os.utime(path, ns=(stamp, stamp))
        assert_ok(call("refresh_all_dags", method="POST"))
        assert listed_tasks(call, "known_dag") == ["b"]

    def test_a_dag_no_longer_defined_in_its_file_becomes_inactive(self, call):
        path = write_dag_file("pair.py", dag_source(TWO_DAGS, dag_ids=["kept_one", "dropped_one"]))
        path.write_text(simple("kept_one"))
        assert_ok(call("refresh_all_dags", method="POST"))
        assert dag_is_active(dag_model("dropped_one")) is False and dag_is_active(dag_model("kept_one"))
        assert "dropped_one" not in listed_dags(call)

    def test_a_dag_in_a_file_with_import_errors_stays_active(self, call):
        path = write_dag_file("shaky.py", simple("shaky_dag"))
        path.write_text(MISSING_IMPORT + simple("shaky_dag"))
        body = assert_ok(call("refresh_all_dags", method="POST"))
        assert list(body["data"]["import_errors"]) == ["shaky.py"]  # relative to the DAGs folder
        assert str(DAGS_FOLDER) not in body["output"]
        if AIRFLOW_3:  # its dag-processor marks the DAGs of a file with import errors stale (until it imports)
            assert not dag_is_active(dag_model("shaky_dag")) and dag_model("shaky_dag").has_import_errors
        else:
            assert dag_is_active(dag_model("shaky_dag"))  # as the scheduler keeps it: the last good version stays

    def test_a_dag_whose_file_was_removed_becomes_inactive(self, call):
        path = write_dag_file("removed_dag.py", simple("removed_dag"))
        assert "removed_dag" in listed_dags(call)
        path.unlink()
        assert_ok(call("refresh_all_dags", method="POST"))
        assert dag_is_active(dag_model("removed_dag")) is False
        listed = listed_dags(call)
        assert "removed_dag" not in listed and set(ORIGINAL_DAGS) <= set(listed)
        assert all(dag_is_active(dag_model(dag_id)) for dag_id in ORIGINAL_DAGS)

    def test_import_errors_are_reported_and_the_rest_is_refreshed(self, call):
        write_dag_file("bad_dag.py", MISSING_IMPORT + simple("bad_dag"), sync=False)
        write_dag_file("good_dag.py", simple("good_dag"), sync=False)
        body = assert_ok(call("refresh_all_dags", method="POST"))
        assert [Path(name).name for name in body["data"]["import_errors"]] == ["bad_dag.py"]
        assert body["warning"]
        listed = listed_dags(call)
        assert "good_dag" in listed and "bad_dag" not in listed


# --- Airflow 3: DAG files are written only to the DAGs folder's own bundle ---

LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"


@airflow3_only
class TestOnlyTheDagsFolderBundleIsWritten:
    @pytest.mark.parametrize(
        "bundles, expected",
        [
            (
                [{"name": "elsewhere", "classpath": LOCAL_BUNDLE, "kwargs": {"path": "TMP"}}],
                "No DAG bundle is the DAGs folder",
            ),
            (
                [
                    {"name": "first", "classpath": LOCAL_BUNDLE, "kwargs": {}},
                    {"name": "second", "classpath": LOCAL_BUNDLE, "kwargs": {"path": "DAGS"}},
                ],
                "Several DAG bundles are the DAGs folder ([core] dags_folder): first, second",
            ),
        ],
        ids=["none", "two"],
    )
    def test_refused_unless_one_local_bundle_is_the_dags_folder(self, call, monkeypatch, tmp_path, bundles, expected):
        for bundle in bundles:
            path = bundle["kwargs"].get("path")
            if path:
                bundle["kwargs"]["path"] = str(tmp_path) if path == "TMP" else str(DAGS_FOLDER)
        monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundles))
        write_dag_file("waiting.py", simple("waiting_dag"), sync=False)
        before_files, before_db, before_backups = folder_files(), db_state(), backups()
        for response in (
            deploy(call, "bundled.py", simple("bundled_dag")),
            deploy(call, "sample_dags.py", simple("sample_dag", "replaced"), force="on"),
            call("refresh_dag", method="POST", dag_id="sample_dag"),
            call("refresh_all_dags", method="POST"),
            call("delete_dag", method="POST", dag_id="sample_dag", delete_file="true"),
        ):
            body = assert_error(response, 409)
            assert expected in body["output"] and "nothing was changed" in body["output"], body
            assert str(DAGS_FOLDER) not in body["output"] and str(tmp_path) not in body["output"]
        assert folder_files() == before_files and db_state() == before_db and backups() == before_backups
        assert upload_leftovers() == []

    def test_a_dag_of_another_bundle_is_not_refreshed_nor_its_file_deleted(self, call):
        from airflow.models import DagModel
        from airflow.models.dagbundle import DagBundleModel
        from airflow.utils.session import create_session

        path = write_dag_file("cloned.py", simple("cloned_dag"))
        with create_session() as session:
            session.add(DagBundleModel(name="a-git-bundle"))
            session.flush()
            session.query(DagModel).filter(DagModel.dag_id == "cloned_dag").update(
                {DagModel.bundle_name: "a-git-bundle"}, synchronize_session=False
            )
        try:
            before_files, before_db, before_backups = folder_files(), db_state(), backups()
            for response in (
                call("refresh_dag", method="POST", dag_id="cloned_dag"),
                call("delete_dag", method="POST", dag_id="cloned_dag", delete_file="true"),
            ):
                body = assert_error(response, 409)
                assert "DAG cloned_dag belongs to the DAG bundle a-git-bundle" in body["output"], body
            assert folder_files() == before_files and db_state() == before_db and backups() == before_backups
            assert path.exists()
        finally:
            forget_dag("cloned_dag")
            with create_session() as session:
                session.query(DagBundleModel).filter(DagBundleModel.name == "a-git-bundle").delete()
