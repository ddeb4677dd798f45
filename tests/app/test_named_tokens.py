"""Named tokens through Airflow's own app: each old client its own secret, answer shape and DAGs; expiry,
rotation and reload without a restart; a bad configuration closes the token path; a repeated header is 400.

The tokens come from a file (``tokens_file``), as in production, read again at once here (RECHECK_SECONDS = 0).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
from datetime import datetime, timedelta, timezone

import pytest

from rest_api_plugin import registry, tokens
from tests.airflow_line import AIRFLOW_3
from tests.app.test_rbac import ALLOWED, CALLS, TWO_DAGS, dag_file_callers, dag_files, deploy, existing_run, simple_dag
from tests.helpers import TOKEN, basic_auth, db_state, folder_files, write_dag_file

__all__ = ["dag_file_callers", "dag_files", "existing_run"]  # fixtures shared with test_rbac

TEXT, BYTES, JAVA = "text-client-0123456789", "bytes-client-0123456789", "java-client-0123456789"
SCOPED, OPS, OLD, NEW = "scoped-0123456789abc", "ops-0123456789abcdef", "old-secret-0123456789", "new-secret-0123456789"
EXPIRED_SECRET = "expired-0123456789abc"


def sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


DOCUMENT = {
    "text-client": {"sha256": sha(TEXT), "output_format": "text"},
    "bytes-client": {"token": BYTES, "output_format": "streams_py3_bytes", "grants": "list_tasks,dag_state,version"},
    "java-client": {"sha256": sha(JAVA), "time_format": "iso8601", "strict_arguments": True},
    "scoped": {"sha256": sha(SCOPED), "dag_ids": ["sample_*"]},
    "ops": {"sha256": sha(OPS)},
    "rotating": {"sha256": [sha(OLD), sha(NEW)]},
    "gone": {"sha256": sha(EXPIRED_SECRET), "expires": "2020-01-01T00:00:00Z"},
}


@pytest.fixture
def tokens_file(tmp_path, monkeypatch):
    """write(document): the tokens file now holds ``document``; it starts as DOCUMENT."""
    path = tmp_path / "tokens.json"
    monkeypatch.setattr(tokens, "RECHECK_SECONDS", 0)
    monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__TOKENS_FILE", str(path))

    def write(document) -> None:
        path.write_text(document if isinstance(document, str) else json.dumps(document))

    write(DOCUMENT)
    return write


def with_token(call, secret, api, method="GET", data=None, **query):
    return call(api, who="anonymous", method=method, data=data, headers={"rest_api_plugin_http_token": secret}, **query)


# --- three clients, three shapes, one server ---


def test_three_tokens_three_answer_shapes(call, tokens_file):
    text = with_token(call, TEXT, "list_tasks", dag_id="sample_dag").get_json()
    framed = with_token(call, BYTES, "list_tasks", dag_id="sample_dag").get_json()
    java = with_token(call, JAVA, "list_tasks", dag_id="sample_dag").get_json()
    assert text["output"] == "extract\nload"
    assert framed["output"] == {"stdout": "b'extract\\n'b'load\\n'", "stderr": "", "stdin": ""}
    assert java["output"] == {"stdout": "extract\nload\n", "stderr": "", "stdin": ""}
    assert datetime.fromisoformat(java["call_time"]).utcoffset() == timedelta(0)
    for body in (text, framed):  # the deployment's time format
        assert re.match(r"^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$", body["call_time"])
    assert text["data"] == framed["data"] == java["data"]
    legacy = call("list_tasks", dag_id="sample_dag").get_json()  # the legacy token: the deployment's settings
    assert legacy["output"] == {"stdout": "extract\nload\n", "stderr": "", "stdin": ""}


def test_a_request_output_format_still_wins(call, tokens_file):
    body = with_token(call, TEXT, "list_tasks", dag_id="sample_dag", output_format="streams").get_json()
    assert body["output"] == {"stdout": "extract\nload\n", "stderr": "", "stdin": ""}


def test_an_unset_shape_is_the_deployments(call, tokens_file, monkeypatch):
    monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__OUTPUT_FORMAT", "text")
    monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__TIME_FORMAT", "iso8601")
    java = with_token(call, JAVA, "list_tasks", dag_id="sample_dag").get_json()
    assert java["output"] == "extract\nload"
    framed = with_token(call, BYTES, "list_tasks", dag_id="sample_dag").get_json()
    assert framed["output"]["stdout"] == "b'extract\\n'b'load\\n'"  # its own format wins over the deployment's
    assert datetime.fromisoformat(framed["call_time"]).utcoffset() == timedelta(0)


def test_strict_arguments_per_token(call, tokens_file):
    strict = with_token(call, JAVA, "list_tasks", dag_id="sample_dag", metadata="null")
    assert strict.status_code == 400 and "metadata" in strict.get_json()["data"]["errors"]
    lenient = with_token(call, TEXT, "list_tasks", dag_id="sample_dag", metadata="null").get_json()
    assert lenient["status"] == "OK" and lenient["warning"] == "Ignored unknown arguments: metadata"


def test_grants_per_token(call, tokens_file):
    assert with_token(call, BYTES, "dag_state", dag_id="sample_dag", run_id="none").status_code == 404
    refused = with_token(call, BYTES, "pause", dag_id="sample_dag").get_json()
    assert refused["http_response_code"] == 403
    assert refused["output"] == "The token token:bytes-client is not allowed to call pause (can_pause)"


# --- who a token is ---


def test_audit_log_and_job_owner_name_the_token(call, tokens_file, python_job):
    from airflow.models.log import Log
    from airflow.utils.session import create_session

    assert with_token(call, OPS, "pause", dag_id="sample_dag").status_code == 200
    assert call("unpause", dag_id="sample_dag").status_code == 200
    with create_session() as session:
        owners = [
            (row.event, row.owner)
            for row in session.query(Log).order_by(Log.id)
            if row.event.startswith("rest_api_plugin.")
        ]
    assert owners == [("rest_api_plugin.pause", "token:ops"), ("rest_api_plugin.unpause", "token")]


def test_a_job_belongs_to_its_token(call, tokens_file):
    from rest_api_plugin.processes import jobs

    scoped = tokens.identity_of(tokens.current().match(SCOPED))
    ops = tokens.identity_of(tokens.current().match(OPS))
    started = {}
    try:
        for name, identity, dag_id in [
            ("scoped_own", scoped, "other_dag"),
            ("ops_sample", ops, "sample_dag"),
            ("ops_other", ops, "other_dag"),
            ("ops_none", ops, None),
            ("user_sample", tokens.security.Identity("header", "op"), "sample_dag"),
        ]:
            from tests.helpers import python_program

            started[name] = jobs.start("probe", python_program("import time; time.sleep(60)"), identity, dag_id=dag_id)[
                "job_id"
            ]
        assert jobs.load(started["scoped_own"])["requested_by"] == "token:scoped"

        def listed(secret):
            seen = {job["job_id"] for job in with_token(call, secret, "jobs").get_json()["data"]["jobs"]}
            return {name for name, job_id in started.items() if job_id in seen}

        # its own (whatever the DAG) and those of its DAGs; an all-DAG token sees all, as the legacy one
        assert listed(SCOPED) == {"scoped_own", "ops_sample", "user_sample"}
        assert listed(OPS) == listed(TOKEN) == set(started)
        hidden = with_token(call, SCOPED, "jobs", job_id=started["ops_other"]).get_json()
        assert (hidden["http_response_code"], hidden["output"]) == (404, f"Job {started['ops_other']!r} not found")
        for name in ("ops_other", "ops_none"):
            assert with_token(call, SCOPED, "stop_job", job_id=started[name]).status_code == 404
        stopped = with_token(call, SCOPED, "stop_job", job_id=started["user_sample"]).get_json()
        assert stopped["status"] == "OK" and stopped["data"]["stop_requested_by"] == "token:scoped"
        assert with_token(call, SCOPED, "stop_job", job_id=started["scoped_own"]).get_json()["status"] == "OK"
    finally:
        for job_id in started.values():
            record = jobs.load(job_id)
            if jobs.describe(record)["state"] == "running":
                jobs.stop(record, requested_by="tests")


# --- the DAG scope, endpoint by endpoint ---

DAG_ID_ENDPOINTS = sorted(e.name for e in registry.ENDPOINTS if e.dag_scope == "dag_id")
EVERY_DAG_ENDPOINTS = sorted(e.name for e in registry.ENDPOINTS if e.dag_scope == "every_dag")
# In scope: the matrix's call, on a DAG of the scope (sample_*). refresh_dag is refused all the same: the file
# of sample_dag also defines other_dag, which the token may not touch.
IN_SCOPE = {
    **CALLS,
    "backfill": {**CALLS["backfill"], "dag_id": "sample_missing"},
    "delete_dag": {"dag_id": "sample_missing"},
    "dag_test": {"dag_id": "sample_missing"},
}
IN_SCOPE_STATUS = {**ALLOWED, "refresh_dag": 403}


@pytest.mark.parametrize("api", DAG_ID_ENDPOINTS)
def test_a_scoped_token_on_another_dag_is_403_and_changes_nothing(call, tokens_file, existing_run, api):
    before = db_state()
    body = with_token(call, SCOPED, api, **{**CALLS[api], "dag_id": "other_dag"}).get_json()
    assert body["http_response_code"] == 403, body
    assert re.match(r"The token token:scoped may not (GET|PUT|POST|DELETE) DAG other_dag$", body["output"]), body
    assert db_state() == before


@pytest.mark.parametrize("api", DAG_ID_ENDPOINTS)
def test_a_scoped_token_on_its_dags(call, tokens_file, existing_run, api):
    body = with_token(call, SCOPED, api, **IN_SCOPE[api]).get_json()
    assert body["http_response_code"] == IN_SCOPE_STATUS.get(api, 200), body
    if api == "refresh_dag":
        assert "edit DAG other_dag" in body["output"]


@pytest.mark.parametrize("api", EVERY_DAG_ENDPOINTS)
def test_a_scoped_token_may_not_call_what_acts_on_every_dag(call, tokens_file, api):
    body = with_token(call, SCOPED, api, method="POST", **CALLS[api]).get_json()
    assert body["http_response_code"] == 403, body
    assert f"and {api} acts on every DAG: it needs a token without dag_ids" in body["output"]
    assert with_token(call, OPS, api, **CALLS[api]).status_code == ALLOWED.get(api, 200)


@pytest.mark.parametrize("api", sorted(CALLS))
def test_a_token_for_every_dag_is_the_legacy_token(call, tokens_file, existing_run, api):
    """An unscoped token with every grant answers exactly as the legacy token (test_rbac's matrix)."""
    legacy = call(api, **CALLS[api])
    named = with_token(call, OPS, api, **CALLS[api])
    assert named.status_code == legacy.status_code == ALLOWED.get(api, 200), named.get_json()


def test_list_dags_is_filtered(call, tokens_file):
    listed = with_token(call, SCOPED, "list_dags").get_json()
    assert [dag["dag_id"] for dag in listed["data"]["dags"]] == ["sample_dag"]
    assert "other_dag" not in listed["output"]["stdout"]
    paged = with_token(call, SCOPED, "list_dags", limit="10").get_json()["data"]
    assert paged["total_entries"] == 1
    everything = {dag["dag_id"] for dag in with_token(call, OPS, "list_dags").get_json()["data"]["dags"]}
    assert {"sample_dag", "other_dag"} <= everything


def test_the_import_error_report_is_filtered(call, tokens_file):
    """The import errors of the files holding a DAG of the scope; not another file's (its stack trace shows its
    code)."""
    from airflow.models import DagModel
    from airflow.models.errors import ParseImportError
    from airflow.utils.session import create_session

    from rest_api_plugin.airflow_compat import timezone

    with create_session() as session:
        model = session.get(DagModel, "sample_dag")
        sample_file = model.relative_fileloc if AIRFLOW_3 else model.fileloc
        for filename in (sample_file, "elsewhere/secret_dag.py"):
            session.add(
                ParseImportError(filename=filename, stacktrace=f"Error in {filename}", timestamp=timezone.utcnow())
            )
    try:
        scoped = with_token(call, SCOPED, "list_dags", report="true").get_json()
        everything = with_token(call, OPS, "list_dags", report="true").get_json()["data"]["import_errors"]
    finally:
        with create_session() as session:
            session.query(ParseImportError).delete()
    assert [error["filename"] for error in scoped["data"]["import_errors"]] == [sample_file]
    assert "secret_dag" not in scoped["output"]["stdout"]
    assert sorted(error["filename"] for error in everything) == sorted([sample_file, "elsewhere/secret_dag.py"])


class TestDagFiles:
    def test_deploy_inside_the_scope(self, call, tokens_file, dag_files):
        answer = deploy_with(call, SCOPED, "sample_new.py", simple_dag("sample_new"))
        assert answer.status_code == 200, answer.get_json()

    @pytest.mark.parametrize(
        "source, refusal",
        [
            (simple_dag("reports_daily"), "create DAG reports_daily"),  # a new DAG id outside the scope
            (simple_dag("sample_new") + simple_dag("reports_daily"), "create DAG reports_daily"),
            ("# helpers any DAG file may import\nVALUE = 1\n", "every DAG"),  # no DAG: a module for all DAGs
        ],
    )
    def test_deploy_outside_the_scope_is_403_and_changes_nothing(self, call, tokens_file, dag_files, source, refusal):
        before_files, before_db = folder_files(), db_state()
        body = deploy_with(call, SCOPED, "scoped_upload.py", source).get_json()
        assert body["http_response_code"] == 403 and refusal in body["output"], body
        assert body["output"].startswith("The token token:scoped may not")
        assert folder_files() == before_files and db_state() == before_db

    @pytest.mark.parametrize("who", ["scoped token", "creator"])
    def test_replacing_a_module_needs_every_dag(self, call, tokens_file, dag_files, who):
        """A file that defines no DAG may be imported by any DAG file: replacing it with a file that defines a DAG
        of one's own is still a change to every DAG that imports it."""
        write_dag_file("shared_helpers.py", "# airflow dag helpers\nVALUE = 1\n", sync=False)
        before_files, before_db = folder_files(), db_state()
        source = simple_dag("sample_takeover")
        if who == "creator":  # a user who may create DAGs and edit none (test_rbac)
            answer = deploy(call, "creator", "shared_helpers.py", source, force="on")
        else:
            answer = deploy_with(call, SCOPED, "shared_helpers.py", source, force="on")
        body = answer.get_json()
        assert body["http_response_code"] == 403, body
        assert "may not replace shared_helpers.py, a file that defines no DAG" in body["output"]
        assert folder_files() == before_files and db_state() == before_db
        assert deploy_with(call, OPS, "shared_helpers.py", source, force="on").status_code == 200

    def test_replacing_a_file_with_a_dag_outside_the_scope_is_403(self, call, tokens_file, dag_files):
        before_files, before_db = folder_files(), db_state()
        body = deploy_with(call, SCOPED, "sample_dags.py", simple_dag("sample_dag"), force="on").get_json()
        assert body["http_response_code"] == 403 and "edit DAG other_dag" in body["output"], body
        assert folder_files() == before_files and db_state() == before_db

    def test_refresh_and_delete_of_a_file_that_also_defines_another_dag(self, call, tokens_file, dag_files):
        write_dag_file("mixed.py", TWO_DAGS.format(first="sample_mixed", second="outside_mixed"))
        before_files, before_db = folder_files(), db_state()
        refreshed = with_token(call, SCOPED, "refresh_dag", method="POST", dag_id="sample_mixed").get_json()
        assert refreshed["http_response_code"] == 403 and "edit DAG outside_mixed" in refreshed["output"]
        deleted = with_token(
            call, SCOPED, "delete_dag", method="POST", dag_id="sample_mixed", delete_file="true"
        ).get_json()
        assert deleted["http_response_code"] == 403 and "delete DAG outside_mixed" in deleted["output"]
        assert folder_files() == before_files and db_state() == before_db

    def test_refresh_and_delete_inside_the_scope(self, call, tokens_file, dag_files):
        path = write_dag_file("sample_solo.py", simple_dag("sample_solo"))
        assert with_token(call, SCOPED, "refresh_dag", method="POST", dag_id="sample_solo").status_code == 200
        deleted = with_token(call, SCOPED, "delete_dag", method="POST", dag_id="sample_solo", delete_file="true")
        assert deleted.status_code == 200, deleted.get_json()
        assert not path.exists()


def deploy_with(call, secret, name, source, **fields):
    data = {"dag_file": (io.BytesIO(source.encode()), name), **fields}
    return with_token(call, secret, "deploy_dag", method="POST", data=data)


# --- expiry, rotation, reload ---


def test_an_expired_token_is_403_and_the_log_names_it(call, tokens_file, caplog):
    with caplog.at_level(logging.WARNING, logger="rest_api_plugin.dispatch"):
        body = with_token(call, EXPIRED_SECRET, "version").get_json()
    assert (body["http_response_code"], body["output"]) == (403, "Token expired")
    assert "refused api='version' for token:gone (403): Token expired" in caplog.text
    assert EXPIRED_SECRET not in caplog.text


def test_a_token_that_expires_later_works_until_then(call, tokens_file):
    soon = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    tokens_file({"gone": {"sha256": sha(EXPIRED_SECRET), "expires": soon}})
    assert with_token(call, EXPIRED_SECRET, "version").status_code == 200


def test_a_refused_call_is_logged_with_the_token(call, tokens_file, caplog):
    with caplog.at_level(logging.WARNING, logger="rest_api_plugin.dispatch"):
        with_token(call, SCOPED, "pause", dag_id="other_dag")
        with_token(call, "nobody-0123456789abcdef", "version")
    assert "refused api='pause' for token:scoped (403): The token token:scoped may not PUT DAG other_dag" in caplog.text
    assert "refused api='version' for an unauthenticated caller (403): Token Authentication Failed" in caplog.text


def test_rotation_without_a_restart(call, tokens_file):
    """Both secrets work while the rotation runs; then only the new one, read from the changed file."""
    assert with_token(call, OLD, "version").status_code == 200
    assert with_token(call, NEW, "version").status_code == 200
    tokens_file({**DOCUMENT, "rotating": {"sha256": sha(NEW)}})
    refused = with_token(call, OLD, "version").get_json()
    assert (refused["http_response_code"], refused["output"]) == (403, "Token Authentication Failed")
    assert with_token(call, NEW, "version").status_code == 200


def test_a_changed_file_changes_the_answer_shape(call, tokens_file):
    assert with_token(call, TEXT, "list_tasks", dag_id="sample_dag").get_json()["output"] == "extract\nload"
    tokens_file({**DOCUMENT, "text-client": {"sha256": sha(TEXT), "output_format": "streams_py3_bytes"}})
    reloaded = with_token(call, TEXT, "list_tasks", dag_id="sample_dag").get_json()["output"]
    assert reloaded["stdout"] == "b'extract\\n'b'load\\n'"


# --- a bad configuration fails closed ---

BAD = {
    "invalid JSON": '{"ops": ',
    "an entry without a secret": {"ops": {"grants": "all"}},
    "an unknown key": {"ops": {"sha256": sha(OPS), "scope": ["sample_*"]}},
    "a bad grants name": {"ops": {"sha256": sha(OPS), "grants": "everything"}},
    "a bad format name": {"ops": {"sha256": sha(OPS), "output_format": "json"}},
    "a malformed date": {"ops": {"sha256": sha(OPS), "expires": "31/03/2027"}},
    "a short secret": {"ops": {"token": "short-secret"}},
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_configuration_closes_the_token_path(call, tokens_file, case, caplog):
    with caplog.at_level(logging.ERROR, logger=tokens.__name__):
        tokens_file(BAD[case])
        for secret in (OPS, TOKEN, "anything-at-all-0123"):  # the legacy token too
            body = with_token(call, secret, "version").get_json()
            assert (body["http_response_code"], body["output"]) == (403, tokens.INVALID), (secret, body)
        anonymous = call("version", who="anonymous").get_json()
        assert (anonymous["http_response_code"], anonymous["output"]) == (403, tokens.INVALID)
    assert "the token configuration (tokens_file " in caplog.text and "is invalid" in caplog.text
    assert call("version", who="anonymous", headers=basic_auth("viewer")).status_code == 200  # users: unaffected
    tokens_file(DOCUMENT)  # fixed: open again, no restart
    assert with_token(call, OPS, "version").status_code == 200 and call("version").status_code == 200


def test_an_unreadable_file_closes_the_token_path(call, tokens_file, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__TOKENS_FILE", str(tmp_path / "nowhere.json"))
    body = call("version").get_json()
    assert (body["http_response_code"], body["output"]) == (403, tokens.INVALID)


def test_inline_document(call, monkeypatch):
    monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__TOKENS", json.dumps({"inline": {"sha256": sha(OPS)}}))
    assert with_token(call, OPS, "version").status_code == 200
    monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__TOKENS", json.dumps({"inline": {"sha256": "0" * 63}}))
    assert with_token(call, OPS, "version").get_json()["output"] == tokens.INVALID


def test_named_tokens_without_the_legacy_one(call, tokens_file, monkeypatch):
    monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__REST_API_PLUGIN_EXPECTED_HTTP_TOKEN", "")
    assert with_token(call, OPS, "version").status_code == 200
    refused = call("version").get_json()
    assert (refused["http_response_code"], refused["output"]) == (403, "Token Authentication Failed")


# --- the header, sent more than once ---

U, H = "rest_api_plugin_http_token", "rest-api-plugin-http-token"
TWICE = {
    "the token twice": [(U, TOKEN), (U, TOKEN)],
    "the token, then a wrong one": [(U, TOKEN), (U, "wrong")],
    "a wrong one, then the token": [(U, "wrong"), (U, TOKEN)],
    "both spellings": [(U, TOKEN), (H, TOKEN)],
    "hyphens first": [(H, "wrong"), (U, TOKEN)],
    "another letter case": [("REST_API_PLUGIN_HTTP_TOKEN", TOKEN), (U, TOKEN)],
    "mixed case hyphens": [("Rest-Api-Plugin-Http-Token", TOKEN), (U, TOKEN)],
    "a named token and the legacy one": [(U, OPS), (H, TOKEN)],
    "one value with a comma": [(U, f"{TOKEN},{TOKEN}")],
}


@pytest.mark.parametrize("case", sorted(TWICE))
def test_a_token_header_sent_more_than_once_is_400(app, tokens_file, case):
    answer = app.test_client().open("/admin/rest_api/api", query_string={"api": "version"}, headers=TWICE[case])
    body = answer.get_json()
    assert (answer.status_code, body["http_response_code"], body["status"]) == (400, 400, "ERROR"), body
    assert body["output"] == tokens.SENT_TWICE
    assert "arguments" not in body  # nothing echoed: the caller is not authenticated


def test_a_token_header_sent_more_than_once_is_400_with_a_user_too(app, tokens_file):
    headers = [(U, TOKEN), (U, TOKEN), *basic_auth("admin").items()]
    answer = app.test_client().open("/admin/rest_api/api", query_string={"api": "version"}, headers=headers)
    assert answer.status_code == 400


@pytest.mark.skipif(AIRFLOW_3, reason="Airflow 2: one WSGI value; Airflow 3 keeps each header line apart")
def test_a_legacy_token_with_a_comma_still_works(call, monkeypatch):
    """Werkzeug and gunicorn join a repeated header's values with ","; a value that is exactly a configured
    secret is that secret."""
    monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__REST_API_PLUGIN_EXPECTED_HTTP_TOKEN", "old,style-token")
    assert call("version", who="anonymous", headers={U: "old,style-token"}).status_code == 200


def test_the_dag_processor_child_cannot_read_the_token_document(call, dag_files, tmp_path, monkeypatch):
    """The child that runs DAG code gets neither the document nor where it lies (as the legacy token)."""
    from tests.app.test_deployment import marker_source

    document, path = json.dumps(DOCUMENT), tmp_path / "tokens.json"
    path.write_text(document)
    # both settings: an invalid token configuration, which leaves users (admin, below) unaffected
    monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__TOKENS", document)
    monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__TOKENS_FILE", str(path))
    marker = tmp_path / "seen.json"
    reads = (
        "{'tokens': conf.get('rest_api_plugin', 'tokens', fallback=None), "
        "'tokens_file': conf.get('rest_api_plugin', 'tokens_file', fallback=None)}"
    )
    source = marker_source(marker, reads) + simple_dag("curious_tokens")
    answer = call(
        "deploy_dag", who="admin", method="POST", data={"dag_file": (io.BytesIO(source.encode()), "curious_tokens.py")}
    )
    assert answer.status_code == 200, answer.get_json()
    seen = json.loads(marker.read_text())
    assert seen["tokens"] != document and seen["tokens_file"] != str(path)
    assert sha(SCOPED) not in json.dumps(seen)


# --- clear, which on Airflow 2 follows ExternalTaskMarker into other DAGs ---

MARKED = """
from datetime import datetime
from airflow import DAG
from airflow.operators.empty import EmptyOperator
from airflow.sensors.external_task import ExternalTaskMarker

with DAG(dag_id="sample_parent", start_date=datetime(2024, 1, 1), schedule=None):
    ExternalTaskMarker(task_id="marker", external_dag_id="outside_child", external_task_id="child_task")

with DAG(dag_id="outside_child", start_date=datetime(2024, 1, 1), schedule=None):
    EmptyOperator(task_id="child_task")
"""


def marked_states():
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        return {
            (ti.dag_id, ti.task_id): ti.state
            for ti in session.query(TaskInstance).filter(TaskInstance.dag_id.in_(["sample_parent", "outside_child"]))
        }


@pytest.fixture
def marked_runs(dag_files):
    """sample_parent (in the scope), whose ExternalTaskMarker reaches outside_child (outside), each with a
    successful run on 2024-03-01."""
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    from rest_api_plugin.airflow_compat import timezone
    from tests.airflow_line import trigger

    write_dag_file("marked.py", MARKED)
    for dag_id in ("sample_parent", "outside_child"):
        trigger(dag_id, run_id="marked", logical_date=timezone.parse("2024-03-01T00:00:00+00:00"))
    with create_session() as session:
        session.query(TaskInstance).filter(TaskInstance.dag_id.in_(["sample_parent", "outside_child"])).update(
            {TaskInstance.state: "success"}, synchronize_session=False
        )
    assert marked_states() == {("sample_parent", "marker"): "success", ("outside_child", "child_task"): "success"}


REACHES = "the task instances of DAG outside_child, which clearing sample_parent reaches through ExternalTaskMarker"


@pytest.mark.skipif(AIRFLOW_3, reason="Airflow 3's clear stays in its DAG")
def test_clear_reaching_a_dag_outside_the_scope_is_403(call, tokens_file, marked_runs):
    before = marked_states()
    for dry_run, method in (("true", "GET"), ("false", "PUT")):
        body = with_token(call, SCOPED, "clear", dag_id="sample_parent", dry_run=dry_run).get_json()
        assert body["http_response_code"] == 403, body
        assert body["output"].startswith(f"The token token:scoped may not {method} {REACHES}")
    assert marked_states() == before
    cleared = with_token(call, OPS, "clear", dag_id="sample_parent").get_json()
    assert cleared["status"] == "OK" and cleared["data"]["count"] == 2, cleared
    assert marked_states() == {("sample_parent", "marker"): None, ("outside_child", "child_task"): None}


@pytest.mark.skipif(AIRFLOW_3, reason="Airflow 3's backfill create resets nothing")
def test_a_backfill_that_resets_runs_reaching_a_dag_outside_the_scope_is_403(call, tokens_file, marked_runs):
    """Airflow 2's `dags backfill --reset-dagruns` clears the range first, ExternalTaskMarker included."""
    from rest_api_plugin.processes import jobs

    before_jobs, before = (
        {record["job_id"] for record in jobs.list_for(tokens.identity_of(tokens.current().match(OPS)))},
        marked_states(),
    )
    body = with_token(
        call, SCOPED, "backfill", dag_id="sample_parent", start_date="2024-03-01", reset_dagruns="true"
    ).get_json()
    assert body["http_response_code"] == 403, body
    assert body["output"].startswith(f"The token token:scoped may not PUT {REACHES}")
    assert marked_states() == before
    assert {
        record["job_id"] for record in jobs.list_for(tokens.identity_of(tokens.current().match(OPS)))
    } == before_jobs
