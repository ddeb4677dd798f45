"""The REST API page at /admin/rest_api/, through Flask's test client with users signed in through Airflow's
login form: who sees what, and that every argument of every visible endpoint has a form control of its kind.
The page's behaviour in a real browser is in tests/e2e/test_browser.py."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from rest_api_plugin import registry, security
from rest_api_plugin.reference import docs
from tests.airflow_line import AIRFLOW_3
from tests.helpers import TOKEN, security_manager

# what no metadata database changes: one pass (SQLite) runs it, the PostgreSQL passes leave it out
pytestmark = pytest.mark.same_on_every_database

PAGE = "/admin/rest_api/"

# kind -> (tag, input type) a control of that kind may be; string arguments with choices are selects,
# and free-text arguments that carry a JSON object (docs.JSON_TEXT_ARGUMENTS) are JSON textareas.
CONTROLS = {
    "boolean": {("input", "checkbox")},
    "integer": {("input", "number")},
    "date-time": {("input", "datetime-local")},
    "json": {("textarea", None)},
    "file": {("input", "file")},
    "string": {("input", "text"), ("select", None)},
}


class PageParser(HTMLParser):
    """Endpoints (id endpoint-NAME) with their forms' controls, the anchors and the scripts of the page."""

    def __init__(self):
        super().__init__()
        self.endpoints: dict[str, dict] = {}
        self.current: str | None = None
        self.forms: dict[str, dict[str, tuple]] = {}
        self.form: str | None = None
        self.links: set[str] = set()
        self.labels: set[str] = set()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "label" and attrs.get("for"):
            self.labels.add(attrs["for"])
        if tag == "a" and attrs.get("href", "").startswith("#endpoint-"):
            self.links.add(attrs["href"][1:])
        if tag == "article" and attrs.get("id", "").startswith("endpoint-"):
            self.current = attrs["data-endpoint"]
            self.endpoints[self.current] = attrs
        if tag == "form" and "rest-api-form" in attrs.get("class", ""):
            self.form = attrs["data-endpoint"]
            assert self.form == self.current, "each endpoint's form is inside its own article"
            self.forms[self.form] = {"_attrs": attrs}
        if self.form and tag in ("input", "select", "textarea") and attrs.get("name"):
            assert attrs["name"] not in self.forms[self.form], f"{self.form}: two controls named {attrs['name']}"
            self.forms[self.form][attrs["name"]] = (tag, attrs.get("type"), attrs)

    def handle_endtag(self, tag):
        if tag == "form":
            self.form = None


def parse(page: str) -> PageParser:
    parser = PageParser()
    parser.feed(page)
    return parser


def get_page(browser_session, username):
    client, csrf = browser_session(username)
    answer = client.get(PAGE)
    return answer, answer.get_data(as_text=True), csrf


def test_anonymous_is_sent_to_the_login_page(app):
    answer = app.test_client().get(PAGE)
    assert answer.status_code == 302
    assert "/login/" in answer.headers["Location"]
    assert "admin/rest_api" in answer.headers["Location"]  # and comes back here after signing in


def test_admin_sees_every_endpoint_in_airflow_page(browser_session):
    answer, page, csrf = get_page(browser_session, "admin")
    assert answer.status_code == 200
    parsed = parse(page)
    assert list(parsed.endpoints) == [
        e["name"] for g in docs.describe_groups(registry.ENDPOINTS) for e in g["endpoints"]
    ]
    assert set(parsed.endpoints) == set(registry.BY_NAME)
    assert set(parsed.forms) == set(registry.BY_NAME)
    if AIRFLOW_3:  # a document of its own (Airflow 3's UI has no server-side layout), a way back to the UI
        assert 'class="rest-api-topbar"' in page and 'href="/"' in page and "Signed in as <strong>admin" in page
    else:  # Airflow's own layout: its navigation, its Bootstrap CSS, its csrfToken variable for our script
        assert 'class="navbar' in page and "bootstrap" in page.lower()
        assert csrf, "the page defines Airflow's csrfToken JS variable"
    assert "REST API" in page


def test_endpoints_come_in_groups_in_order(browser_session):
    _, page, _ = get_page(browser_session, "admin")
    positions = [page.index(f'id="group-{group.key}"') for group in registry.Group]
    assert positions == sorted(positions)
    for endpoint in registry.ENDPOINTS:
        group_at = page.index(f'id="group-{endpoint.group.key}"')
        at = page.index(f'id="endpoint-{endpoint.name}"')
        later = [
            page.index(f'id="group-{g.key}"') for g in registry.Group if page.index(f'id="group-{g.key}"') > group_at
        ]
        assert group_at < at < min(later, default=len(page)), endpoint.name


def test_each_endpoint_has_its_anchor_description_and_argument_help(browser_session):
    _, page, _ = get_page(browser_session, "admin")
    parsed = parse(page)
    assert parsed.links == {f"endpoint-{e.name}" for e in registry.ENDPOINTS}
    for endpoint in registry.ENDPOINTS:
        assert endpoint.description.replace("'", "&#39;") in page, endpoint.name
        for argument in docs.describe_arguments(endpoint):
            help_id = f"arg-{endpoint.name}-{argument['name']}-help"
            assert (help_id in parsed.ids) == (not argument["alias_of"]), help_id  # one input per meaning
        for word in (endpoint.name, endpoint.group.key):
            assert word in parsed.endpoints[endpoint.name]["data-search"]


def test_every_argument_has_a_labelled_control_of_its_kind(browser_session):
    _, page, _ = get_page(browser_session, "admin")
    parsed = parse(page)
    for endpoint in registry.ENDPOINTS:
        controls = parsed.forms[endpoint.name]
        arguments = [a for a in docs.describe_arguments(endpoint) if not a["alias_of"]]
        assert set(controls) - {"_attrs"} == {a["name"] for a in arguments}, endpoint.name
        for argument in arguments:
            tag, kind, attrs = controls[argument["name"]]
            assert (tag, kind) in CONTROLS[argument["kind"]], (endpoint.name, argument, tag, kind)
            assert attrs["id"] in parsed.labels, f"{endpoint.name}.{argument['name']} has no label"
            if argument["choices"]:
                assert tag == "select", (endpoint.name, argument["name"])
            if argument["kind"] == "json":
                assert tag == "textarea" and attrs.get("data-json") == "object", (endpoint.name, argument["name"])
            assert ("required" in attrs) == argument["required"], (endpoint.name, argument["name"])
            if argument["kind"] == "boolean":  # a checkbox starts as the argument's default
                assert ("checked" in attrs) == (argument["default"] is True), (endpoint.name, argument["name"])
        multipart = any(a["kind"] == "file" for a in arguments)
        assert controls["_attrs"]["data-multipart"] == ("true" if multipart else "false"), endpoint.name


def test_upload_and_json_controls(browser_session):
    _, page, _ = get_page(browser_session, "admin")
    forms = parse(page).forms
    assert forms["deploy_dag"]["dag_file"][:2] == ("input", "file")
    assert forms["deploy_dag"]["_attrs"]["data-multipart"] == "true"
    for endpoint, name in [
        ("trigger_dag", "conf"),
        ("test", "task_params"),
        ("backfill", "conf"),
        ("variables", "import"),
    ]:
        assert forms[endpoint][name][0] == "textarea", (endpoint, name)
        assert forms[endpoint][name][2].get("data-json") == "object", (endpoint, name)
    assert forms["trigger_dag"]["execution_date"][:2] == ("input", "datetime-local")
    assert forms["trigger_dag"]["replace_microseconds"][:2] == ("input", "checkbox")
    assert "checked" not in forms["trigger_dag"]["replace_microseconds"][2]
    assert forms["test"]["wait"][2].get("data-default") == "true"  # unchecked sends wait=false
    assert forms["jobs"]["lines"][:2] == ("input", "number")
    assert forms["pool"]["cmd"][0] == "select"
    # required arguments come first, the others in the schema's order
    assert [n for n in forms["task_state"] if n != "_attrs"][:3] == ["dag_id", "task_id", "execution_date"]


@pytest.mark.parametrize("username", ["viewer", "user"])
def test_read_roles_see_only_read_only_endpoints_and_no_write_form(browser_session, username):
    answer, page, _ = get_page(browser_session, username)
    assert answer.status_code == 200
    parsed = parse(page)
    read_only = {e.name for e in registry.ENDPOINTS if not e.may_change_state}
    assert set(parsed.endpoints) == read_only
    assert set(parsed.forms) == read_only
    assert all(attrs["data-read-only"] == "true" for attrs in parsed.endpoints.values())
    for endpoint in registry.ENDPOINTS:
        if endpoint.may_change_state:
            assert f'id="endpoint-{endpoint.name}"' not in page
            assert f'data-endpoint="{endpoint.name}"' not in page
    assert 'id="group-deployment"' not in page  # a group with no endpoint for this user is not shown
    assert "changes state" not in page


def test_what_a_user_sees_is_what_user_may_call_says(app, browser_session):
    """The page and the API agree: the limited role's endpoints are exactly those it may call."""
    _, page, _ = get_page(browser_session, "limited")
    with security_manager(app) as sm:
        user = sm.find_user(username="limited")
        allowed = {e.name for e in registry.ENDPOINTS if security.user_may_call(e, user)}
    assert set(parse(page).endpoints) == allowed and allowed


def test_user_without_any_endpoint_gets_403(browser_session):
    answer, page, _ = get_page(browser_session, "noperm")
    assert answer.status_code == 403
    assert "rest-api-endpoint" not in page and "can_&lt;endpoint&gt;" in page


@pytest.mark.parametrize("username", ["admin", "viewer"])
def test_page_carries_no_token_value(browser_session, username):
    _, page, _ = get_page(browser_session, username)
    assert TOKEN not in page
    assert "YOUR_TOKEN" in page  # the curl command's placeholder


def test_page_needs_no_external_asset(browser_session):
    """Everything the page loads comes from this webserver: no http(s):// script, style or image."""
    import re

    _, page, _ = get_page(browser_session, "admin")
    external = re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="(?:https?:)?//[^"]*"', page)
    assert not external, external


def test_page_form_post_uses_csrf_and_reaches_the_api(browser_session):
    """The call the page's script makes: POST, arguments as form fields, the CSRF token as X-CSRFToken."""
    client, csrf = browser_session("admin")
    answer = client.post("/admin/rest_api/api?api=pause", data={"dag_id": "sample_dag"}, headers={"X-CSRFToken": csrf})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["airflow_cmd"] == "airflow dags pause sample_dag"
    refused = client.post("/admin/rest_api/api?api=pause", data={"dag_id": "sample_dag"})
    assert refused.status_code == 403


def test_the_page_links_the_openapi_document_which_is_served(browser_session, app):
    import json

    from rest_api_plugin.reference import openapi

    _, page, _ = get_page(browser_session, "viewer")
    assert 'href="/admin/rest_api/openapi.json"' in page
    answer = app.test_client().get("/admin/rest_api/openapi.json")
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    assert json.loads(answer.get_data()) == openapi.document()


def test_one_date_input_with_its_other_names_as_a_hint(browser_session):
    _, page, _ = get_page(browser_session, "admin")
    forms = parse(page).forms
    for endpoint in ("trigger_dag", "dag_state", "task_state", "render", "test"):
        names = set(forms[endpoint]) - {"_attrs"}
        assert "execution_date" in names and not names & {"exec_date", "logical_date"}, endpoint
    help_text = page.split('id="arg-trigger_dag-execution_date-help"', 1)[1].split("</p>", 1)[0]
    assert "<code>exec_date</code>" in help_text and "<code>logical_date</code>" in help_text


def test_dag_and_task_inputs_offer_choices(browser_session):
    _, page, _ = get_page(browser_session, "admin")
    forms = parse(page).forms
    assert 'id="rest-api-dag-ids"' in page
    assert forms["trigger_dag"]["dag_id"][2].get("list") == "rest-api-dag-ids"
    assert forms["task_state"]["task_id"][2].get("list") == "arg-task_state-task_id-choices"
    assert 'id="arg-task_state-task_id-choices"' in page
