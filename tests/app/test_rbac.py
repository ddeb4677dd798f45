"""Who may call what: every endpoint x every kind of caller, plus per-DAG access, CSRF and the audit log."""

from __future__ import annotations

import pytest

from rest_api_plugin import registry
from tests.airflow_line import AIRFLOW_3, trigger
from tests.helpers import (
    PASSWORD,
    SIMPLE_DAG,
    auth_headers,
    dag_files_restored,
    dag_model,
    dag_source,
    db_state,
    folder_files,
    identity_of,
    security_manager,
    write_dag_file,
)

LOGICAL_DATE = "2024-03-01T00:00:00+00:00"

# One harmless call per endpoint; the matrix must cover every endpoint in the registry. Each call answers
# ALLOWED[api] (default 200) to a caller who may make it. Endpoints that start processes get arguments
# that fail only after authorization (400/404), so the matrix shows who gets through without starting any.
CALLS: dict[str, dict] = {
    "version": {},
    "rest_api_plugin_version": {},
    "list_dags": {},
    "list_tasks": {"dag_id": "sample_dag"},
    "pause": {"dag_id": "sample_dag"},
    "unpause": {"dag_id": "sample_dag"},
    "trigger_dag": {"dag_id": "sample_dag"},
    "dag_state": {"dag_id": "sample_dag", "execution_date": LOGICAL_DATE},
    "task_state": {"dag_id": "sample_dag", "task_id": "extract", "execution_date": LOGICAL_DATE},
    "pool": {},
    "variables": {},
    "connections": {"list": ""},
    "render": {"dag_id": "sample_dag", "task_id": "extract", "execution_date": LOGICAL_DATE},
    "task_failed_deps": {"dag_id": "sample_dag", "task_id": "extract", "execution_date": LOGICAL_DATE},
    "clear": {"dag_id": "sample_dag", "dry_run": "true"},
    "test": {"dag_id": "sample_dag", "task_id": "no_such_task"},
    "run": {"dag_id": "sample_dag", "task_id": "no_such_task", "execution_date": LOGICAL_DATE},
    "backfill": {"dag_id": "no_such_dag", "start_date": "2024-01-01"},
    "scheduler": {"num_runs": "-5"},
    "worker": {"concurrency": "0"},
    "flower": {"port": "0"},
    "kerberos": {"timeout": "0"},
    "serve_logs": {"timeout": "0"},
    "dag_processor": {"num_runs": "-5"},
    "jobs": {},
    "stop_job": {"job_id": "no_such_job"},
    "deploy_dag": {},
    "delete_dag": {"dag_id": "no_such_dag"},
    "refresh_dag": {"dag_id": "sample_dag"},
    "refresh_all_dags": {},
    "health": {},
    "plugins": {},
    "providers": {},
    "dag_test": {"dag_id": "no_such_dag"},
    "triggerer": {"capacity": "0"},
    "list_runs": {"dag_id": "sample_dag"},
    "states_for_dag_run": {"dag_id": "sample_dag", "execution_date": LOGICAL_DATE},
    "dag_details": {"dag_id": "sample_dag"},
    "next_execution": {"dag_id": "sample_dag"},
    "list_import_errors": {},
    "show_dag": {"dag_id": "sample_dag"},
}
ALLOWED = {
    "test": 404,
    "run": 404,
    "backfill": 404,
    "stop_job": 404,
    "delete_dag": 404,
    "scheduler": 400,
    "worker": 400,
    "flower": 400,
    "kerberos": 400,
    "serve_logs": 400,
    "deploy_dag": 400,
    "dag_processor": 400,
    "dag_test": 404,
    "triggerer": 400,
    **({"run": 501} if AIRFLOW_3 else {}),  # no `tasks run` on Airflow 3
}

CALLERS = ["token", "wrong_token", "admin", "op", "user", "viewer", "noperm", "anonymous"]


def expected_status(caller: str, endpoint) -> int:
    allowed = ALLOWED.get(endpoint.name, 200)
    if caller in ("token", "admin", "op"):
        return allowed
    if caller in ("user", "viewer"):
        return allowed if not endpoint.may_change_state else 403
    return 403  # wrong token, no permission, anonymous (the token is configured: legacy 403)


@pytest.fixture
def existing_run(app):
    """A run of sample_dag at LOGICAL_DATE, for the state endpoints."""
    from rest_api_plugin.airflow_compat import timezone

    return trigger("sample_dag", run_id="matrix_run", logical_date=timezone.parse(LOGICAL_DATE))


def test_matrix_covers_every_endpoint():
    assert set(CALLS) == set(registry.BY_NAME), "add a harmless call for each new endpoint to CALLS"


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("api", sorted(CALLS))
def test_rbac_matrix(call, existing_run, api, caller):
    endpoint = registry.BY_NAME[api]
    answer = call(api, who=caller, **CALLS[api])
    body = answer.get_json()
    expected = expected_status(caller, endpoint)
    assert answer.status_code == expected, body
    assert body["http_response_code"] == expected
    assert body["status"] == ("OK" if expected == 200 else "ERROR")
    if expected == 403 and caller not in ("wrong_token", "anonymous"):
        assert endpoint.permission in body["output"]
    if caller in ("wrong_token", "anonymous"):
        assert body["output"] == "Token Authentication Failed"


def test_forbidden_write_changes_nothing(call):
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    assert call("trigger_dag", who="viewer", dag_id="sample_dag").status_code == 403
    with create_session() as session:
        assert session.query(DagRun).count() == 0


def test_default_grants_when_no_roles_configured(app):
    """Admin holds every endpoint's permission, created at webserver start."""
    with security_manager(app) as sm:
        admin = sm.find_role("Admin")
        held = {(p.action.name, p.resource.name) for p in admin.permissions}
        for endpoint in registry.ENDPOINTS:
            assert (endpoint.permission, registry.RESOURCE) in held


def test_read_roles_get_only_read_endpoints(app):
    with security_manager(app) as sm:
        viewer = {p.action.name for p in sm.find_role("Viewer").permissions if p.resource.name == registry.RESOURCE}
        assert viewer == {e.permission for e in registry.ENDPOINTS if not e.may_change_state}


class TestPerDagAccess:
    """User "limited" holds every plugin permission but reaches only sample_dag."""

    def test_allowed_dag(self, call):
        assert call("pause", who="limited", dag_id="sample_dag").status_code == 200

    @pytest.mark.parametrize(
        "api, args",
        [
            ("pause", {"dag_id": "other_dag"}),
            ("trigger_dag", {"dag_id": "other_dag"}),
            ("list_tasks", {"dag_id": "other_dag"}),
            ("dag_state", {"dag_id": "other_dag", "execution_date": LOGICAL_DATE}),
            ("list_runs", {"dag_id": "other_dag"}),
            ("states_for_dag_run", {"dag_id": "other_dag", "execution_date": LOGICAL_DATE}),
            ("dag_details", {"dag_id": "other_dag"}),
            ("next_execution", {"dag_id": "other_dag"}),
            ("show_dag", {"dag_id": "other_dag"}),
        ],
    )
    def test_other_dag_is_forbidden(self, call, api, args):
        from airflow.models import DagModel, DagRun
        from airflow.utils.session import create_session

        answer = call(api, who="limited", **args)
        assert answer.status_code == 403, answer.get_json()
        with create_session() as session:
            assert session.get(DagModel, "other_dag").is_paused is True
            assert session.query(DagRun).filter_by(dag_id="other_dag").count() == 0

    def test_deploy_refused_changes_nothing(self, call, dag_files):
        before_files, before_db = folder_files(), db_state()
        body = deploy(call, "limited", "limited_new.py", simple_dag("limited_new")).get_json()
        assert body["http_response_code"] == 403 and "create DAG limited_new" in body["output"]
        assert folder_files() == before_files and db_state() == before_db

    def test_replacing_a_file_the_database_does_not_know_needs_edit_on_what_it_defines(self, call, dag_files):
        """The replaced file is parsed (in the DAG processor child) to learn what it defines."""
        write_dag_file("unparsed.py", simple_dag("unparsed_dag"), sync=False)
        before_files, before_db = folder_files(), db_state()
        body = deploy(call, "creator", "unparsed.py", simple_dag("creator_dag"), force="on").get_json()
        assert body["http_response_code"] == 403 and "edit DAG unparsed_dag" in body["output"], body
        assert folder_files() == before_files and db_state() == before_db
        assert deploy(call, "creator", "creator_new.py", simple_dag("creator_dag")).status_code == 200

    def test_refresh_dag_needs_create_for_new_dags_in_its_file(self, call, dag_files):
        path = write_dag_file("solo.py", simple_dag("solo_dag"))
        assert call("refresh_dag", who="solo", method="POST", dag_id="solo_dag").status_code == 200
        path.write_text(simple_dag("solo_dag") + simple_dag("solo_extra"))
        body = call("refresh_dag", who="solo", method="POST", dag_id="solo_dag").get_json()
        assert body["http_response_code"] == 403 and "create DAG solo_extra" in body["output"], body
        assert dag_model("solo_extra") is None
        assert call("refresh_dag", who="admin", method="POST", dag_id="solo_dag").status_code == 200
        from rest_api_plugin.airflow_compat import dag_is_active

        assert dag_is_active(dag_model("solo_extra"))

    def test_refresh_dag_needs_edit_on_every_dag_of_its_file(self, call, dag_files):
        write_dag_file("solo_pair.py", TWO_DAGS.format(first="solo_dag", second="pair_dag"))
        before_db = db_state()
        body = call("refresh_dag", who="solo", method="POST", dag_id="solo_dag").get_json()
        assert body["http_response_code"] == 403 and "edit DAG pair_dag" in body["output"], body
        assert db_state() == before_db

    @pytest.mark.parametrize("in_database", [True, False])
    def test_delete_file_needs_delete_on_every_dag_of_the_file(self, call, dag_files, in_database):
        path = write_dag_file("solo_pair.py", simple_dag("solo_dag"))
        path.write_text(TWO_DAGS.format(first="solo_dag", second="pair_dag"))
        if in_database:
            write_dag_file("solo_pair.py", path.read_text())
        before_files, before_db = folder_files(), db_state()
        body = call("delete_dag", who="solo", method="POST", dag_id="solo_dag", delete_file="true").get_json()
        assert body["http_response_code"] == 403 and "delete DAG pair_dag" in body["output"], body
        assert folder_files() == before_files and db_state() == before_db

    def test_delete_file_of_a_dag_the_caller_may_delete(self, call, dag_files):
        path = write_dag_file("solo.py", simple_dag("solo_dag"))
        answer = call("delete_dag", who="solo", method="POST", dag_id="solo_dag", delete_file="true")
        assert answer.status_code == 200, answer.get_json()
        assert not path.exists() and dag_model("solo_dag") is None

    def test_list_dags_shows_only_reachable_dags(self, call):
        dags = [d["dag_id"] for d in call("list_dags", who="limited").get_json()["data"]["dags"]]
        assert dags == ["sample_dag"]
        assert {"sample_dag", "other_dag"} <= {
            d["dag_id"] for d in call("list_dags", who="admin").get_json()["data"]["dags"]
        }


# --- DAG files: per-DAG access ---


def simple_dag(dag_id: str) -> str:
    return dag_source(SIMPLE_DAG, dag_id=dag_id, description="rbac")


TWO_DAGS = simple_dag("{first}") + simple_dag("{second}")


def deploy(call, who: str, name: str, source: str, **fields):
    import io

    data = {"dag_file": (io.BytesIO(source.encode()), name), **fields}
    return call("deploy_dag", who=who, method="POST", data=data)


@pytest.fixture(scope="module")
def dag_file_callers(app):
    """Two more users holding every plugin permission: "creator" may create any new DAG (can_create on DAGs)
    and edit none; "solo" may read, edit and delete solo_dag only."""
    with security_manager(app) as sm:
        roles = {
            "Creator": [("can_create", "DAGs")],
            "Solo": [("can_read", "DAG:solo_dag"), ("can_edit", "DAG:solo_dag"), ("can_delete", "DAG:solo_dag")],
        }
        for role_name, pairs in roles.items():
            role = sm.find_role(role_name) or sm.add_role(role_name)
            plugin = [(endpoint.permission, registry.RESOURCE) for endpoint in registry.ENDPOINTS]
            for action, resource in [*pairs, ("can_read", "Website"), *plugin]:
                sm.add_permission_to_role(role, sm.create_permission(action, resource))
            username = role_name.lower()
            if sm.find_user(username=username) is None:
                sm.add_user(username, username, "Test", f"{username}@example.com", role, PASSWORD)


@pytest.fixture
def dag_files(app, dag_file_callers):
    """The DAGs folder and the database put back after the test."""
    with dag_files_restored():
        yield


# caller -> the status of: deploying a new DAG, replacing sample_dags.py (sample_dag and other_dag) with a file
# defining sample_dag only, deploying a module without DAGs, refresh_all_dags.
DAG_FILE_MATRIX = {
    "token": (200, 200, 200, 200),
    "admin": (200, 200, 200, 200),
    "op": (200, 200, 200, 200),  # a write role: can_create on DAGs is granted with the endpoints
    "creator": (200, 403, 403, 403),  # may create, may not edit
    "limited": (403, 403, 403, 403),  # edits sample_dag only: not other_dag, creates nothing
    "viewer": (403, 403, 403, 403),  # no can_deploy_dag, no can_refresh_all_dags
}


@pytest.mark.parametrize("caller", sorted(DAG_FILE_MATRIX))
def test_dag_file_matrix(call, dag_files, caller):
    new_dag, replace, module, refresh_all = DAG_FILE_MATRIX[caller]
    before_files, before_db = folder_files(), db_state()
    answers = [
        deploy(call, caller, f"new_by_{caller}.py", simple_dag(f"new_by_{caller}")),
        deploy(call, caller, "sample_dags.py", simple_dag("sample_dag"), force="on"),
        deploy(call, caller, f"module_by_{caller}.py", "# airflow dag helpers\nVALUE = 1\n"),
        call("refresh_all_dags", who=caller, method="POST"),
    ]
    assert [answer.status_code for answer in answers] == [new_dag, replace, module, refresh_all], [
        answer.get_json()["output"] for answer in answers
    ]
    outputs = [answer.get_json()["output"] for answer in answers]
    if caller == "limited":
        assert "create DAG new_by_limited" in outputs[0]
    if caller in ("creator", "limited"):
        assert "edit DAG other_dag" in outputs[1] and "every DAG" in outputs[2]
    if 200 not in (replace, module, refresh_all):
        created = {f"new_by_{caller}.py"} if new_dag == 200 else set()
        assert set(folder_files()) == set(before_files) | created
        assert folder_files()["sample_dags.py"] == before_files["sample_dags.py"]
        expected_dags = set(before_db["dags"]) | ({f"new_by_{caller}"} if new_dag == 200 else set())
        assert set(db_state()["dags"]) == expected_dags


def test_write_roles_may_create_dags(app):
    with security_manager(app) as sm:

        def may_create(role_name):
            held = {(p.action.name, p.resource.name) for p in sm.find_role(role_name).permissions}
            return ("can_create", "DAGs") in held

        assert may_create("Admin") and may_create("Op")
        assert not any(may_create(role_name) for role_name in ("User", "Viewer", "Limited"))


class TestToken:
    def test_hyphenated_header_spelling_works(self, call):
        from tests.helpers import TOKEN

        answer = call("version", who="anonymous", headers={"rest-api-plugin-http-token": TOKEN})
        assert answer.status_code == 200

    def test_wrong_token_but_valid_user_uses_the_user(self, call):
        from tests.helpers import basic_auth

        answer = call("version", who="wrong_token", headers=basic_auth("viewer"))
        assert answer.status_code == 200

    def test_token_grants_can_be_narrowed(self, call, monkeypatch):
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__TOKEN_GRANTS", "read")
        assert call("list_dags").status_code == 200
        assert call("pause", dag_id="sample_dag").status_code == 403
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__TOKEN_GRANTS", "version,pause")
        assert call("pause", dag_id="sample_dag").status_code == 200
        assert call("list_dags").status_code == 403

    def test_no_token_configured_means_token_path_off(self, call, monkeypatch):
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__REST_API_PLUGIN_EXPECTED_HTTP_TOKEN", "")
        answer = call("version", who="token")
        assert answer.status_code == 401
        assert answer.get_json()["status"] == "ERROR"

    def test_webserver_section_is_accepted(self, call, monkeypatch):
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__REST_API_PLUGIN_EXPECTED_HTTP_TOKEN", "")
        monkeypatch.setenv("AIRFLOW__WEBSERVER__REST_API_PLUGIN_EXPECTED_HTTP_TOKEN", "other-token")
        answer = call("version", who="anonymous", headers={"rest_api_plugin_http_token": "other-token"})
        assert answer.status_code == 200

    def test_header_name_is_configurable(self, call, monkeypatch):
        from tests.helpers import TOKEN

        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__REST_API_PLUGIN_HTTP_TOKEN_HEADER_NAME", "X-Api-Token")
        assert call("version", who="anonymous", headers={"X-Api-Token": TOKEN}).status_code == 200
        assert call("version", who="token").status_code == 403


class TestCsrf:
    def test_session_get_may_read(self, browser_session):
        client, _ = browser_session("admin")
        assert client.get("/admin/rest_api/api?api=list_dags").status_code == 200

    def test_session_get_may_not_write(self, browser_session):
        from airflow.models import DagModel
        from airflow.utils.session import create_session

        client, _ = browser_session("admin")
        answer = client.get("/admin/rest_api/api?api=unpause&dag_id=sample_dag")
        assert answer.status_code == 403 and answer.get_json()["status"] == "ERROR"
        with create_session() as session:
            assert session.get(DagModel, "sample_dag").is_paused is True

    def test_session_post_without_csrf_token_is_refused(self, browser_session):
        client, _ = browser_session("admin")
        answer = client.post("/admin/rest_api/api?api=unpause", data={"dag_id": "sample_dag"})
        assert answer.status_code == 403
        assert "CSRF" in answer.get_json()["output"]

    def test_session_post_with_csrf_token_works(self, browser_session):
        client, csrf = browser_session("admin")
        answer = client.post("/admin/rest_api/api?api=unpause", data={"dag_id": "sample_dag", "csrf_token": csrf})
        assert answer.status_code == 200, answer.get_json()
        header_answer = client.post(
            "/admin/rest_api/api?api=pause", data={"dag_id": "sample_dag"}, headers={"X-CSRFToken": csrf}
        )
        assert header_answer.status_code == 200

    def test_basic_auth_may_write_with_get(self, call):
        assert call("unpause", who="admin", dag_id="sample_dag").status_code == 200


class TestAuditLog:
    def _events(self):
        from airflow.models.log import Log
        from airflow.utils.session import create_session

        with create_session() as session:
            return [
                (log.event, log.owner, log.dag_id)
                for log in session.query(Log).order_by(Log.id)
                if log.event.startswith("rest_api_plugin.")
            ]

    def test_state_change_is_logged_with_user(self, call):
        call("pause", who="op", dag_id="sample_dag")
        assert self._events() == [("rest_api_plugin.pause", "op", "sample_dag")]

    def test_token_call_is_logged_as_token(self, call):
        call("trigger_dag", dag_id="sample_dag")
        assert self._events() == [("rest_api_plugin.trigger_dag", "token", "sample_dag")]

    def test_the_logical_date_is_logged(self, call):
        from airflow.models.log import Log
        from airflow.utils.session import create_session

        from rest_api_plugin.airflow_compat import AIRFLOW_3

        call("trigger_dag", dag_id="sample_dag", run_id="logged", execution_date="2024-07-08T09:10:11")
        with create_session() as session:
            row = session.query(Log).filter(Log.event == "rest_api_plugin.trigger_dag").one()
            logged = row.logical_date if AIRFLOW_3 else row.execution_date
        assert (row.run_id, logged.isoformat()) == ("logged", "2024-07-08T09:10:11+00:00")

    def test_reads_are_not_logged(self, call):
        call("list_dags")
        call("variables", get="missing", default="x")
        assert self._events() == []


class TestPage:
    def test_anonymous_is_sent_to_login(self, app):
        answer = app.test_client().get("/admin/rest_api/")
        assert answer.status_code == 302 and "login" in answer.headers["Location"]

    def test_viewer_sees_only_read_endpoints(self, browser_session):
        client, _ = browser_session("viewer")
        page = client.get("/admin/rest_api/").get_data(as_text=True)
        assert 'id="endpoint-list_dags"' in page
        assert 'id="endpoint-trigger_dag"' not in page

    def test_user_without_permissions_gets_403(self, browser_session):
        client, _ = browser_session("noperm")
        assert client.get("/admin/rest_api/").status_code == 403

    def test_write_role_sees_every_endpoint_with_its_form(self, browser_session):
        client, _ = browser_session("op")
        page = client.get("/admin/rest_api/").get_data(as_text=True)
        for endpoint in registry.ENDPOINTS:
            assert f'id="endpoint-{endpoint.name}"' in page, endpoint.name
            assert f'<form class="rest-api-form" data-endpoint="{endpoint.name}"' in page, endpoint.name


@pytest.mark.parametrize("who, admin", [("admin", True), ("op", False), ("viewer", False), ("token", True)])
def test_is_admin(app, who, admin):
    from rest_api_plugin import security

    with identity_of(app, auth_headers(who)) as identity:
        assert security.is_admin(identity) is admin


def test_may_access_dag_per_dag(app):
    from rest_api_plugin import security

    with identity_of(app, auth_headers("limited")) as limited:
        assert security.may_access_dag(limited, "PUT", "sample_dag")
        assert not security.may_access_dag(limited, "PUT", "other_dag")
        assert not security.may_access_dag(limited, "GET")  # every DAG


@pytest.fixture(scope="module")
def jobreader(app):
    """A user who may list and stop jobs and read sample_dag, but not edit it."""
    with security_manager(app) as sm:
        role = sm.find_role("JobReader") or sm.add_role("JobReader")
        for action, resource in [
            ("can_read", "DAG:sample_dag"),
            ("can_jobs", registry.RESOURCE),
            ("can_stop_job", registry.RESOURCE),
        ]:
            sm.add_permission_to_role(role, sm.create_permission(action, resource))
        if sm.find_user(username="jobreader") is None:
            from tests.helpers import PASSWORD

            sm.add_user("jobreader", "jobreader", "Test", "jobreader@example.com", role, PASSWORD)
        return "jobreader"


SLEEPS = "import time; time.sleep(60)"


class TestJobOwnership:
    """A job is seen by its starter, by whoever may read its DAG, and by admins and the token; others get 404.
    Stopping needs the starter, edit access to the DAG, or an admin."""

    @pytest.fixture
    def started(self, python_job):
        return {
            "op_other_dag": python_job(SLEEPS, by="op", dag_id="other_dag")["job_id"],
            "op_no_dag": python_job(SLEEPS, by="op")["job_id"],  # e.g. a scheduler
            "limited_sample_dag": python_job(SLEEPS, by="limited", dag_id="sample_dag")["job_id"],
            "token_sample_dag": python_job(SLEEPS, by="token", dag_id="sample_dag")["job_id"],
        }

    VISIBLE = {
        "op": {"op_other_dag", "op_no_dag", "limited_sample_dag", "token_sample_dag"},
        "limited": {"limited_sample_dag", "token_sample_dag"},
        "viewer": {"op_other_dag", "limited_sample_dag", "token_sample_dag"},
        "jobreader": {"limited_sample_dag", "token_sample_dag"},
        "admin": {"op_other_dag", "op_no_dag", "limited_sample_dag", "token_sample_dag"},
        "token": {"op_other_dag", "op_no_dag", "limited_sample_dag", "token_sample_dag"},
    }

    @pytest.mark.parametrize("who", sorted(VISIBLE))
    def test_each_caller_lists_and_reads_only_its_jobs(self, call, started, jobreader, who):
        listed = {job["job_id"] for job in call("jobs", who=who).get_json()["data"]["jobs"]}
        assert {name for name, job_id in started.items() if job_id in listed} == self.VISIBLE[who]
        for name, job_id in started.items():
            body = call("jobs", who=who, job_id=job_id).get_json()
            if name in self.VISIBLE[who]:
                assert body["status"] == "OK" and body["data"]["state"] == "running", body
            else:  # as if it did not exist
                assert (body["status"], body["http_response_code"], body["output"], body["data"]) == (
                    "ERROR",
                    404,
                    f"Job {job_id!r} not found",
                    None,
                )

    def test_an_unseen_job_cannot_be_stopped_and_stays_running(self, call, started):
        for name in ("op_other_dag", "op_no_dag"):
            body = call("stop_job", who="limited", job_id=started[name]).get_json()
            assert (body["http_response_code"], body["output"]) == (404, f"Job {started[name]!r} not found")
            assert call("jobs", job_id=started[name]).get_json()["data"]["state"] == "running"

    def test_reading_a_dag_is_not_enough_to_stop_its_jobs(self, call, started, jobreader):
        body = call("stop_job", who=jobreader, job_id=started["limited_sample_dag"]).get_json()
        assert body["http_response_code"] == 403 and "edit access to DAG sample_dag" in body["output"]
        assert call("jobs", job_id=started["limited_sample_dag"]).get_json()["data"]["state"] == "running"
        assert call("stop_job", who="viewer", job_id=started["token_sample_dag"]).status_code == 403  # no can_stop_job

    @pytest.mark.parametrize(
        "who, name",
        [
            ("limited", "limited_sample_dag"),  # its own
            ("limited", "token_sample_dag"),  # may edit sample_dag
            ("op", "op_other_dag"),  # its own
            ("op", "limited_sample_dag"),  # may edit every DAG
            ("admin", "op_no_dag"),  # admin
            ("token", "op_no_dag"),
        ],
    )
    def test_who_may_stop(self, call, started, who, name):
        body = call("stop_job", who=who, job_id=started[name]).get_json()
        assert body["status"] == "OK", body
        assert (body["data"]["state"], body["data"]["stop_requested_by"]) == ("killed", who)
