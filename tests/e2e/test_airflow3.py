"""Airflow 3 only, through a real ``airflow api-server``: who is calling (JWT from ``POST /auth/token``, the UI's
``_token`` cookie, Basic credentials), the cookie's CSRF rule, the URL and menu entry, and the rule under an
auth manager without per-role permissions (SimpleAuthManager): state changes are for admins."""

from __future__ import annotations

import json
import re

import pytest
import requests

from tests.airflow_line import airflow3_only
from tests.e2e.servers import API, running_webserver
from tests.helpers import PASSWORD, TOKEN, dag_model

pytestmark = [pytest.mark.e2e, airflow3_only]


def jwt_for(server, username: str, password: str = PASSWORD) -> str:
    answer = requests.post(f"{server.url}/auth/token", json={"username": username, "password": password}, timeout=60)
    assert answer.status_code == 201, answer.text
    return answer.json()["access_token"]


def ui_session(server, username: str) -> requests.Session:
    """A browser's session: signed in through the UI's login form, holding the ``_token`` cookie."""
    session = requests.Session()
    page = session.get(f"{server.url}/auth/login/", timeout=60).text
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    session.post(
        f"{server.url}/auth/login/", data={"username": username, "password": PASSWORD, "csrf_token": csrf}, timeout=60
    )
    assert session.cookies.get("_token"), "the UI login set no _token cookie"
    return session


def test_bearer_jwt(webserver):
    jwt = jwt_for(webserver, "admin")
    answer = webserver.get("unpause", token=None, headers={"Authorization": f"Bearer {jwt}"}, dag_id="sample_dag")
    assert answer.status_code == 200, answer.text
    assert dag_model("sample_dag").is_paused is False
    viewer = jwt_for(webserver, "viewer")
    refused = webserver.get("pause", token=None, headers={"Authorization": f"Bearer {viewer}"}, dag_id="sample_dag")
    assert refused.status_code == 403 and "can_pause" in refused.json()["output"]


def test_an_invalid_jwt_is_an_envelope(webserver):
    answer = webserver.get("version", token=None, headers={"Authorization": "Bearer not.a.jwt"})
    assert answer.status_code in (401, 403), answer.text
    assert answer.json()["status"] == "ERROR" and "JWT" in answer.json()["output"]


def test_basic_auth_is_mapped_to_the_fab_user(webserver):
    answer = webserver.call("GET", "version", token=None, auth=("viewer", PASSWORD))
    assert answer.status_code == 200, answer.text
    refused = webserver.call("GET", "version", token=None, auth=("viewer", "wrong password"))
    assert refused.status_code == 403 and refused.json()["output"] == "Token Authentication Failed"


class TestUiCookie:
    """The UI's ``_token`` cookie is sent by the browser on its own: a state change needs this very origin and
    the page's ``X-Requested-With`` header, and never goes over GET."""

    def test_read(self, webserver):
        session = ui_session(webserver, "admin")
        answer = session.get(f"{webserver.url}{API}", params={"api": "pool"}, timeout=60)
        assert answer.status_code == 200, answer.text

    def test_a_state_change_from_the_page(self, webserver):
        session = ui_session(webserver, "admin")
        answer = session.post(
            f"{webserver.url}{API}",
            data={"api": "unpause", "dag_id": "sample_dag"},
            headers={"X-Requested-With": "XMLHttpRequest", "Sec-Fetch-Site": "same-origin"},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        assert dag_model("sample_dag").is_paused is False

    @pytest.mark.parametrize(
        "method, headers",
        [
            ("POST", {}),  # an HTML form of any site can post, but cannot add a header
            (
                "POST",
                {"X-Requested-With": "XMLHttpRequest", "Sec-Fetch-Site": "same-site"},
            ),  # another port or subdomain
            ("POST", {"X-Requested-With": "XMLHttpRequest", "Sec-Fetch-Site": "cross-site"}),
            ("GET", {"X-Requested-With": "XMLHttpRequest"}),  # a link clicked on another site carries the cookie
        ],
    )
    def test_refused(self, webserver, method, headers):
        session = ui_session(webserver, "admin")
        answer = session.request(
            method,
            f"{webserver.url}{API}",
            params={"api": "unpause", "dag_id": "sample_dag"},
            headers=headers,
            timeout=60,
        )
        assert answer.status_code == 403, answer.text
        assert dag_model("sample_dag").is_paused is True

    def test_the_page(self, webserver):
        session = ui_session(webserver, "viewer")
        page = session.get(f"{webserver.url}/admin/rest_api/", timeout=60)
        assert page.status_code == 200 and 'id="rest-api-page"' in page.text
        assert 'data-endpoint="list_dags"' in page.text and 'data-endpoint="trigger_dag"' not in page.text
        anonymous = requests.get(f"{webserver.url}/admin/rest_api/", allow_redirects=False, timeout=60)
        assert anonymous.status_code == 302 and "/auth/login/" in anonymous.headers["location"]


def test_the_url_without_its_slash_and_the_menu_entry(webserver):
    answer = requests.get(f"{webserver.url}/admin/rest_api", allow_redirects=False, timeout=60)
    assert answer.status_code == 307 and answer.headers["location"].endswith("/admin/rest_api/")
    jwt = jwt_for(webserver, "admin")
    plugins = requests.get(f"{webserver.url}/api/v2/plugins", headers={"Authorization": f"Bearer {jwt}"}, timeout=60)
    views = [
        view
        for plugin in plugins.json()["plugins"]
        if plugin["name"] == "rest_api_plugin"
        for view in plugin["external_views"]
    ]
    assert views == [pytest.approx(views[0])] and views[0]["href"] == "/admin/rest_api/"
    assert views[0]["category"] == "admin"


@pytest.fixture(scope="module")
def simple_server(app, tmp_path_factory):
    """An API server under Airflow 3's default SimpleAuthManager: users and roles, no per-role permissions."""
    folder = tmp_path_factory.mktemp("simple")
    passwords = folder / "passwords.json"
    passwords.write_text(json.dumps({"boss": "boss-password", "watcher": "watcher-password"}))
    settings = {
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "boss:admin,watcher:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
    }
    with running_webserver(folder, **settings) as server:
        yield server


class TestSimpleAuthManager:
    def call(self, server, who: str, api: str, **params):
        jwt = jwt_for(server, who, f"{who}-password")
        return server.get(api, token=None, headers={"Authorization": f"Bearer {jwt}"}, **params)

    def test_a_viewer_reads(self, simple_server):
        assert self.call(simple_server, "watcher", "pool").status_code == 200

    def test_a_viewer_may_not_change_state(self, simple_server):
        answer = self.call(simple_server, "watcher", "unpause", dag_id="sample_dag")
        assert answer.status_code == 403 and "admins only" in answer.json()["output"], answer.text
        assert dag_model("sample_dag").is_paused is True

    def test_an_admin_may(self, simple_server):
        answer = self.call(simple_server, "boss", "unpause", dag_id="sample_dag")
        assert answer.status_code == 200, answer.text

    def test_the_token_still_works(self, simple_server):
        assert simple_server.get("version", token=TOKEN).status_code == 200
