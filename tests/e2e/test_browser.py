"""The REST API page in a real browser: headless Chromium (Debian's /usr/bin/chromium, driven by Playwright)
against the real ``airflow webserver`` of tests/e2e/conftest.py. Users sign in through Airflow's login form;
effects are read back from the database. Screenshots go to test-artifacts/ (gitignored).

    .venv/bin/python -m pytest tests/e2e/test_browser.py

Skipped, with the reason, only when /usr/bin/chromium is missing (scripts/bootstrap installs it as root).
No fixed sleeps: Playwright's auto-waiting and expect(..., timeout=...) do the waiting.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path

import pytest

from tests.airflow_line import AIRFLOW_3
from tests.helpers import DAGS_FOLDER, PASSWORD, TOKEN

CHROMIUM = os.environ.get("REST_API_PLUGIN_CHROMIUM", "/usr/bin/chromium")
if not os.path.exists(CHROMIUM):
    pytest.skip(
        f"browser tests need Chromium at {CHROMIUM}: apt-get install -y chromium (as root; "
        "scripts/bootstrap does it unless SKIP_BROWSER_INSTALL=1)",
        allow_module_level=True,
    )

from playwright.sync_api import expect, sync_playwright  # noqa: E402  (after the skip: only with a browser)

# what no metadata database changes: one pass (SQLite) runs it, the PostgreSQL passes leave it out
pytestmark = [pytest.mark.e2e, pytest.mark.same_on_every_database]

ROOT = Path(__file__).parent.parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PAGE = "/admin/rest_api/"
LOGIN = "/auth/login/" if AIRFLOW_3 else "/login/"
API = "/admin/rest_api/api"
SLOW = 60_000  # ms: a call that runs an airflow command in a subprocess, on a busy two-core machine
JOB = 240_000  # ms: a background airflow command from start to end


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def context(browser, webserver):
    ctx = browser.new_context(base_url=webserver.url, viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(30_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context):
    return context.new_page()


def sign_in(page, username: str, then: str = PAGE):
    """Airflow's own login form, as a person uses it (Airflow 2's webserver sends us back to ``then``; Airflow
    3's login lands in its UI, from where a person opens Admin -> REST API)."""
    page.goto(f"{LOGIN}?next={then}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("[type=submit]")
    if AIRFLOW_3:
        page.wait_for_load_state()
        page.goto(then)
    page.wait_for_url(re.compile(r"/admin/rest_api/"))
    expect(page.locator("#rest-api-page")).to_be_visible()


def endpoint(page, name: str):
    return page.locator(f"#endpoint-{name}")


def open_endpoint(page, name: str):
    """Through its anchor link (#endpoint-NAME), as a bookmark would."""
    page.goto(f"{PAGE}#endpoint-{name}")
    article = endpoint(page, name)
    expect(article.locator(".panel-body")).to_be_visible()
    return article


def api_requests(page) -> list:
    seen = []
    page.on("request", lambda request: seen.append(request) if API in request.url else None)
    return seen


def db_runs(dag_id: str) -> dict:
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        return {run.run_id: run.conf for run in session.query(DagRun).filter_by(dag_id=dag_id)}


def db_dag_exists(dag_id: str) -> bool:
    from airflow.models import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        return session.get(DagModel, dag_id) is not None


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path))
    return path


def test_admin_triggers_a_dag_with_conf_from_the_form(page):
    sign_in(page, "admin")
    article = open_endpoint(page, "trigger_dag")
    run_id = f"browser_{uuid.uuid4().hex[:8]}"
    requests = api_requests(page)
    article.get_by_label("dag_id").fill("sample_dag")
    article.get_by_label("conf").fill('{"source": "browser", "n": 1}')
    article.get_by_label("run_id").fill(run_id)
    article.get_by_label("run_id").press("Enter")  # Enter submits, as in any form

    result = article.locator(".rest-api-result")
    expect(result.locator(".rest-api-envelope-status")).to_have_text("OK", timeout=SLOW)
    expect(result.locator(".rest-api-status .label")).to_have_text("HTTP 200")
    expect(result.locator(".rest-api-airflow-cmd")).to_contain_text("airflow dags trigger")
    expect(result.locator(".rest-api-airflow-cmd")).to_contain_text(run_id)
    envelope = result.locator(".rest-api-envelope")
    expect(envelope).to_contain_text('"status": "OK"')
    expect(envelope).to_contain_text('"http_response_code": 200')
    curl = result.locator(".rest-api-curl")
    expect(curl).to_contain_text("curl -H 'rest_api_plugin_http_token: YOUR_TOKEN'")
    expect(curl).to_contain_text(f"api=trigger_dag&dag_id=sample_dag&run_id={run_id}&conf=")
    assert TOKEN not in page.content()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    result.get_by_role("button", name="Copy").click()
    expect(result.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == curl.inner_text()

    (request,) = requests  # one POST carrying the page's CSRF proof
    assert request.method == "POST"
    if AIRFLOW_3:  # the UI's cookie has no CSRF token: the page proves itself with a header a form cannot send
        assert request.headers.get("x-requested-with") == "XMLHttpRequest"
    else:
        assert request.headers.get("x-csrftoken")
    assert db_runs("sample_dag")[run_id] == {"source": "browser", "n": 1}

    # For the README: the page filtered to this endpoint, with its answer.
    # (run's description names trigger_dag too, as what to use on Airflow 3: two words narrow it to one)
    page.get_by_label("Search endpoints").fill("trigger_dag conf")
    expect(page.locator(".rest-api-endpoint:visible")).to_have_count(1)
    expect(page.locator("#endpoint-trigger_dag")).to_be_visible()
    page.get_by_label("Search endpoints").blur()
    page.evaluate("window.scrollTo(0, 0)")
    page.set_viewport_size({"width": 1280, "height": 1350})
    screenshot(page, "rest-api-page-admin-trigger.png")


def test_admin_page_screenshot_search_and_anchor(page):
    sign_in(page, "admin")
    expect(page.locator(".rest-api-endpoint")).to_have_count(len(_all_endpoints()))
    page.set_viewport_size({"width": 1280, "height": 1000})
    screenshot(page, "rest-api-page-admin.png")

    page.get_by_label("Search endpoints").fill("pool")
    expect(endpoint(page, "pool")).to_be_visible()
    expect(endpoint(page, "trigger_dag")).to_be_hidden()
    expect(page.locator("#rest-api-search-status")).to_contain_text("match")
    page.get_by_label("Search endpoints").fill("deployment")  # a group's name finds its endpoints
    expect(endpoint(page, "deploy_dag")).to_be_visible()
    expect(endpoint(page, "pool")).to_be_hidden()
    page.get_by_label("Search endpoints").fill("no such endpoint at all")
    expect(page.locator("#rest-api-no-match")).to_be_visible()
    page.get_by_label("Search endpoints").press("Escape")
    expect(endpoint(page, "pool")).to_be_visible()

    # Keyboard only: focus a toggle, Enter opens it; the anchor link opens and scrolls to an endpoint.
    toggle = endpoint(page, "list_dags").locator(".rest-api-toggle")
    toggle.focus()
    assert toggle.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"  # focus is visible
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(endpoint(page, "list_dags").locator(".panel-body")).to_be_visible()
    endpoint(page, "clear").locator(".rest-api-anchor").click()
    expect(endpoint(page, "clear").locator(".panel-body")).to_be_visible()
    expect(endpoint(page, "clear")).to_be_in_viewport()
    assert page.url.endswith("#endpoint-clear")

    # "Fill in the example" puts the registry's example into the form (and sends nothing).
    requests = api_requests(page)
    pool = open_endpoint(page, "pool")
    pool.get_by_role("button", name="Fill in the example").click()
    expect(pool.get_by_label("cmd")).to_have_value("set")
    expect(pool.get_by_label("pool_name")).to_have_value("my_pool")
    expect(pool.get_by_label("slot_count")).to_have_value("5")
    expect(pool.get_by_label("pool_description")).to_have_value("nightly loads")
    assert requests == []


def _all_endpoints():
    from rest_api_plugin import registry

    return registry.ENDPOINTS


def test_viewer_sees_no_write_endpoint(page):
    sign_in(page, "viewer")
    read_only = [e.name for e in _all_endpoints() if not e.may_change_state]
    expect(page.locator(".rest-api-endpoint")).to_have_count(len(read_only))
    expect(page.locator('.rest-api-endpoint[data-read-only="false"]')).to_have_count(0)
    for name in ("trigger_dag", "pause", "deploy_dag", "stop_job", "variables"):
        expect(endpoint(page, name)).to_have_count(0)
    expect(page.locator(".rest-api-form[data-endpoint=list_dags]")).to_have_count(1)
    screenshot(page, "rest-api-page-viewer.png")

    # A read-only call works for the viewer from the page.
    article = open_endpoint(page, "list_dags")
    article.get_by_role("button", name="Call list_dags").click()
    expect(article.locator(".rest-api-envelope-status")).to_have_text("OK", timeout=SLOW)
    expect(article.locator(".rest-api-output")).to_contain_text("sample_dag")
    # list_dags answers the command's streams by default: the page shows stdout, and no empty stderr box
    expect(article.get_by_role("heading", name="Output (stdout)")).to_be_visible()
    expect(article.locator(".rest-api-stderr")).to_have_count(0)


def test_invalid_json_is_refused_in_the_browser_and_nothing_is_sent(page):
    sign_in(page, "admin")
    article = open_endpoint(page, "trigger_dag")
    requests = api_requests(page)
    article.get_by_label("dag_id").fill("no_such_dag_for_the_browser_test")
    conf = article.get_by_label("conf")
    error = article.locator(".rest-api-json-error")
    submit = article.get_by_role("button", name="Call trigger_dag")

    conf.fill('{"key": "value",')
    submit.click()
    expect(error).to_be_visible()
    expect(error).to_contain_text("conf is not valid JSON")
    expect(conf).to_be_focused()
    expect(conf).to_have_attribute("aria-invalid", "true")
    conf.fill('["a list", "not an object"]')
    conf.press("Control+Enter")
    expect(error).to_contain_text("conf must be a JSON object")
    expect(article.locator(".rest-api-result")).to_be_hidden()
    assert requests == []

    # The listener does see requests: once the JSON is valid, the call goes out (and the DAG is unknown).
    conf.fill('{"key": "value"}')
    submit.click()
    expect(article.locator(".rest-api-envelope-status")).to_have_text("ERROR", timeout=SLOW)
    expect(error).to_be_hidden()
    expect(article.locator(".rest-api-status .label")).to_have_text("HTTP 404")
    assert len(requests) == 1 and requests[0].method == "POST"


DAG_ID = "browser_uploaded_dag"
DAG_SOURCE = f'''"""Uploaded by tests/e2e/test_browser.py; removed by it at the end."""
from datetime import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG(dag_id="{DAG_ID}", start_date=datetime(2024, 1, 1), schedule=None, catchup=False):
    EmptyOperator(task_id="only")
'''


def test_deploy_a_dag_file_through_the_upload_form(page, tmp_path):
    from airflow.api.common.delete_dag import delete_dag

    upload = tmp_path / f"{DAG_ID}.py"
    upload.write_text(DAG_SOURCE)
    installed = DAGS_FOLDER / upload.name
    assert not installed.exists() and not db_dag_exists(DAG_ID)
    sign_in(page, "admin")
    article = open_endpoint(page, "deploy_dag")
    requests = api_requests(page)
    try:
        article.get_by_label("dag_file").set_input_files(str(upload))
        article.get_by_role("button", name="Call deploy_dag").click()
        expect(article.locator(".rest-api-envelope-status")).to_have_text("OK", timeout=SLOW)
        expect(article.locator(".rest-api-envelope")).to_contain_text(DAG_ID)
        expect(article.locator(".rest-api-curl")).to_contain_text(f"-F 'dag_file=@{upload.name}'")
        expect(article.locator(".rest-api-curl")).to_contain_text("?api=deploy_dag'")
        (request,) = requests
        assert request.headers["content-type"].startswith("multipart/form-data")
        assert installed.exists()
        assert db_dag_exists(DAG_ID)
    finally:
        if db_dag_exists(DAG_ID):
            delete_dag(DAG_ID)
        installed.unlink(missing_ok=True)
    assert not db_dag_exists(DAG_ID)


@pytest.fixture
def jobs_to_stop(webserver):
    """Job ids a test started: whatever happens in the test, none is left running."""
    started: list[str] = []
    yield started
    for job_id in started:
        answer = webserver.get("jobs", job_id=job_id).json()
        if answer["status"] == "OK" and answer["data"]["state"] == "running":
            webserver.get("stop_job", job_id=job_id)


def started_job(article, jobs_to_stop):
    job = article.locator(".rest-api-job")
    expect(job).to_be_visible(timeout=SLOW)
    jobs_to_stop.append(job.get_attribute("data-job-id"))
    return job


def test_background_job_state_and_log_follow_the_job_until_it_ends(page, jobs_to_stop):
    """``test`` with wait unchecked answers at once with a job; the page polls api=jobs until it ends."""
    sign_in(page, "admin")
    article = open_endpoint(page, "test")
    article.get_by_label("dag_id").fill("sample_dag")
    article.get_by_label("task_id").fill("extract")
    article.get_by_label("execution_date").fill("2024-01-02T00:00:00")
    wait = article.get_by_label("wait")
    expect(wait).to_be_checked()  # test waits by default: unchecking it sends wait=false
    wait.uncheck()
    requests = api_requests(page)
    article.get_by_role("button", name="Call test").click()

    job = started_job(article, jobs_to_stop)
    expect(article.locator(".rest-api-curl")).to_contain_text("wait=false")
    expect(article.locator(".rest-api-airflow-cmd")).to_contain_text("airflow tasks test sample_dag extract")
    state = job.locator(".rest-api-job-state")
    expect(state).to_have_text(re.compile(r"^(running|success)$"))
    # The page polls while the job runs, then shows how it ended and the log's tail.
    expect(state).to_have_text("success", timeout=JOB)
    # stdout and stderr apart: the task's log on stdout; on stderr nothing, Airflow's start-up warnings filtered
    expect(job.locator(".rest-api-job-stream-name")).to_have_text(["stdout", "stderr"])
    expect(job.locator(".rest-api-job-stdout")).to_contain_text("echo extract 2024-01-02", timeout=SLOW)
    expect(job.locator(".rest-api-job-stdout")).not_to_contain_text("Filling up the DagBag")
    expect(job.locator(".rest-api-job-stderr")).to_have_text("(nothing on stderr)")
    expect(job.get_by_role("button", name="Stop job")).to_be_hidden()
    job.scroll_into_view_if_needed()
    screenshot(page, "rest-api-page-job.png")
    polls = [r for r in requests if "api=jobs" in r.url]
    assert polls and all(r.method == "POST" and "job_id=" in (r.post_data or "") for r in polls)


def test_stop_a_running_background_job(page, jobs_to_stop):
    """A scheduler runs until stopped: the page shows it running, its Stop button stops it, the state follows."""
    sign_in(page, "admin")
    article = open_endpoint(page, "scheduler")
    article.get_by_label("skip_serve_logs").check()  # no log server on a fixed port
    article.get_by_role("button", name="Call scheduler").click()

    job = started_job(article, jobs_to_stop)
    state = job.locator(".rest-api-job-state")
    stop = job.get_by_role("button", name="Stop job")
    expect(state).to_have_text("running")
    expect(job.locator(".rest-api-job-stdout")).to_contain_text("scheduler", timeout=JOB)  # its log, as it grows
    expect(state).to_have_text("running")
    stop.focus()
    page.keyboard.press("Enter")
    expect(job.locator(".rest-api-job-note")).to_contain_text("stop_job: HTTP 200 OK", timeout=SLOW)
    expect(state).not_to_have_text("running", timeout=SLOW)
    expect(stop).to_be_hidden()


def test_a_failed_job_shows_its_traceback_under_stderr(page, jobs_to_stop):
    from tests.helpers import FAILING_DAG, dag_source, forget_dag, write_dag_file

    path = write_dag_file("browser_failing_dag.py", dag_source(FAILING_DAG, dag_id="browser_failing_dag"))
    try:
        sign_in(page, "admin")
        article = open_endpoint(page, "test")
        article.get_by_label("dag_id").fill("browser_failing_dag")
        article.get_by_label("task_id").fill("fails")
        article.get_by_label("execution_date").fill("2024-01-02T00:00:00")
        article.get_by_label("wait").uncheck()
        article.get_by_role("button", name="Call test").click()

        job = started_job(article, jobs_to_stop)
        expect(job.locator(".rest-api-job-state")).to_have_text("failed", timeout=JOB)
        stdout, stderr = job.locator(".rest-api-job-stdout"), job.locator(".rest-api-job-stderr")
        expect(stdout).to_contain_text("about to fail", timeout=SLOW)  # the task's log
        if AIRFLOW_3:  # `tasks test` exits 0 and logs the task's error on stdout: the job failed by its task
            expect(stdout).to_contain_text("Bash command failed")
            return
        expect(job.locator(".rest-api-job-detail")).to_contain_text("exit code 1")
        expect(stderr).to_contain_text('File "<frozen runpy>"')  # the command's own traceback
        expect(stderr).to_contain_text("AirflowException: Bash command failed")
        expect(stderr).not_to_contain_text("RemovedInAirflow3Warning")
        expect(stdout).not_to_contain_text("<frozen runpy>")  # the CLI's traceback is on stderr only
    finally:
        path.unlink(missing_ok=True)
        forget_dag("browser_failing_dag")


def test_narrow_screen_has_no_horizontal_scroll(browser, webserver):
    ctx = browser.new_context(base_url=webserver.url, viewport={"width": 400, "height": 800})
    try:
        page = ctx.new_page()
        sign_in(page, "admin")
        article = open_endpoint(page, "trigger_dag")
        article.get_by_label("dag_id").fill("sample_dag")
        article.get_by_label("conf").fill('{"a_rather_long_key_without_any_space": "and_a_long_value_too_0123456789"}')
        article.get_by_role("button", name="Call trigger_dag").click()
        expect(article.locator(".rest-api-envelope-status")).to_have_text("OK", timeout=SLOW)
        widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1], f"horizontal scroll at 400px: {widths}"
        screenshot(page, "rest-api-page-narrow.png")
    finally:
        ctx.close()


def test_dag_and_task_ids_are_offered(page):
    """dag_id suggests the DAGs the user may read; choosing one makes task_id suggest that DAG's tasks."""
    sign_in(page, "admin")
    expect(page.locator("#rest-api-dag-ids option[value=sample_dag]")).to_have_count(1, timeout=SLOW)
    article = open_endpoint(page, "task_state")
    task_choices = article.locator("#arg-task_state-task_id-choices option")
    expect(task_choices).to_have_count(0)
    dag_input = article.get_by_label("dag_id")
    dag_input.fill("sample_dag")
    dag_input.dispatch_event("change")
    expect(task_choices).to_have_count(2, timeout=SLOW)
    assert sorted(task_choices.evaluate_all("options => options.map(o => o.value)")) == ["extract", "load"]


@pytest.mark.skipif(
    not shutil.which("dot"), reason="show_dag format=svg needs Graphviz's dot: apt-get install graphviz"
)
def test_show_dag_shows_the_graph_as_a_picture(page):
    """format=svg: the page shows the picture Graphviz drew (an <img> of the SVG), above the DOT text."""
    sign_in(page, "viewer")
    article = open_endpoint(page, "show_dag")
    article.get_by_label("dag_id").fill("sample_dag")
    article.get_by_label("format").select_option("svg")
    article.locator(".rest-api-submit").click()
    result = article.locator(".rest-api-result")
    expect(result.locator(".rest-api-envelope-status")).to_have_text("OK", timeout=SLOW)
    picture = result.locator("img.rest-api-picture")
    expect(picture).to_be_visible()
    assert picture.get_attribute("src").startswith("data:image/svg+xml;base64,")
    assert picture.evaluate("img => img.complete && img.naturalWidth > 0")
    expect(result.locator(".rest-api-output").first).to_contain_text("digraph sample_dag {")
    picture.scroll_into_view_if_needed()
    screenshot(page, "rest-api-page-show-dag.png")
