"""Script calls leave no session behind (as Airflow's own REST API); browser calls keep theirs."""

from __future__ import annotations

from contextlib import nullcontext

import pytest
import sqlalchemy

from tests.airflow_line import AIRFLOW_3
from tests.helpers import basic_auth


def stored_sessions() -> int:
    from airflow.utils.session import create_session

    with create_session() as session:
        return session.execute(sqlalchemy.text("SELECT COUNT(*) FROM session")).scalar()


@pytest.mark.parametrize("who", ["token", "admin", "anonymous", "wrong_token"])
def test_calls_without_a_session_cookie_store_no_session(call, who):
    before = stored_sessions()
    answers = [call("version", who=who), call("pause", who=who, dag_id="sample_dag")]
    assert all("Set-Cookie" not in answer.headers for answer in answers)
    assert stored_sessions() == before


def fresh_request_context(app):
    return nullcontext() if AIRFLOW_3 else app.app_context()


def test_basic_auth_still_authenticates_each_call(app):
    client = app.test_client()  # keeps cookies: none must be handed out
    assert client.get("/admin/rest_api/api?api=version", headers=basic_auth("viewer")).status_code == 200
    assert client.get_cookie("session") is None
    # pytest-flask keeps one app context (and Flask-Login's cached user in g) for the whole test; a real
    # request gets its own, as here (Airflow 3: every request is on its own)
    with fresh_request_context(app):
        assert client.get("/admin/rest_api/api?api=version").status_code == 403  # nothing remembered
    with fresh_request_context(app):
        assert (
            client.get("/admin/rest_api/api?api=unpause&dag_id=sample_dag", headers=basic_auth("viewer")).status_code
            == 403
        )


def test_browser_session_is_kept(browser_session):
    client, csrf = browser_session("admin")
    before = stored_sessions()
    answer = client.post("/admin/rest_api/api?api=unpause", data={"dag_id": "sample_dag", "csrf_token": csrf})
    assert answer.status_code == 200, answer.get_json()
    assert client.get("/admin/rest_api/api?api=list_dags").status_code == 200  # still signed in
    assert stored_sessions() == before  # the same session, not a new one
