"""``[rest_api_plugin] disabled_endpoints``: the endpoints a deployment switches off (the daemons, which act on
the host a call lands on) answer 404 with the setting's name, to every caller, and are left out of the page,
the served OpenAPI document and the permissions synced at start; the others are untouched."""

from __future__ import annotations

import json

import pytest

from rest_api_plugin import permissions, registry
from tests.helpers import security_manager

SETTING = "AIRFLOW__REST_API_PLUGIN__DISABLED_ENDPOINTS"
DAEMONS = "scheduler, DAG_Processor ,worker,flower,kerberos,serve_logs"  # spacing and case as typed
DAEMON_NAMES = {"scheduler", "dag_processor", "worker", "flower", "kerberos", "serve_logs"}


@pytest.fixture
def daemons_disabled(monkeypatch):
    monkeypatch.setenv(SETTING, DAEMONS)


@pytest.mark.parametrize("who", ["token", "admin"])
def test_a_disabled_endpoint_answers_404_naming_the_setting(call, daemons_disabled, who):
    for name in ("scheduler", "serve_logs", "dag_processor"):
        answer = call(name, who=who, method="POST")
        body = answer.get_json()
        assert answer.status_code == 404, body
        assert body["status"] == "ERROR"
        assert body["output"] == (
            f"API '{name}' is disabled on this deployment by [rest_api_plugin] disabled_endpoints"
        )


def test_the_other_endpoints_still_answer(call, daemons_disabled):
    answer = call("version")
    assert answer.status_code == 200 and answer.get_json()["status"] == "OK"
    assert call("jobs").status_code == 200  # jobs of every host are in the database: not host-bound


def test_an_unknown_name_is_still_a_bad_request(call, daemons_disabled):
    answer = call("no_such_api")
    assert answer.status_code == 400
    assert answer.get_json()["output"] == "API 'no_such_api' was not found"


def test_unset_disables_nothing(call, monkeypatch):
    monkeypatch.delenv(SETTING, raising=False)
    assert registry.disabled_names() == frozenset()
    assert len(registry.enabled()) == len(registry.ENDPOINTS)


def test_an_unknown_name_in_the_setting_is_ignored(call, monkeypatch):
    monkeypatch.setenv(SETTING, "no_such_api,kerberos")
    assert registry.disabled_names() == {"kerberos"}
    assert call("version").status_code == 200


def test_left_out_of_the_page(browser_session, daemons_disabled):
    client, _ = browser_session("admin")
    page = client.get("/admin/rest_api/").get_data(as_text=True)
    assert 'id="endpoint-version"' in page
    for name in DAEMON_NAMES:
        assert f'id="endpoint-{name}"' not in page


def test_left_out_of_the_served_openapi_document(app, daemons_disabled):
    answer = app.test_client().get("/admin/rest_api/openapi.json")
    assert answer.status_code == 200
    paths = set(json.loads(answer.get_data())["paths"])
    assert "/api/v1.0/version" in paths
    assert not {f"/api/v1.0/{name}" for name in DAEMON_NAMES} & paths
    assert len(paths) == len(registry.ENDPOINTS) - len(DAEMON_NAMES)


def test_left_out_of_the_permissions_synced(app, monkeypatch, daemons_disabled):
    monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__WRITE_ROLES", "DisabledEndpointsProbe")
    with security_manager(app) as sm:
        role = sm.add_role("DisabledEndpointsProbe")
        try:
            permissions.sync(sm)
            held = {
                p.action.name
                for p in sm.find_role("DisabledEndpointsProbe").permissions
                if p.resource.name == registry.RESOURCE
            }
            assert held == {endpoint.permission for endpoint in registry.ENDPOINTS if endpoint.name not in DAEMON_NAMES}
        finally:
            sm.delete_role(role.name)
