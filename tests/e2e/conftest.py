"""End-to-end fixtures: one real ``airflow webserver`` (Airflow 3: ``airflow api-server``) for the whole e2e
session, serving the pip-installed plugin (tests/e2e/servers.py starts it), and the server's log attached to the
report of a failing e2e test.
"""

from __future__ import annotations

import pytest

from tests.e2e.servers import running_webserver, tail

# Set by the webserver fixture: a callable returning the log's text.
WEBSERVER_LOG = {"read": None}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    read = WEBSERVER_LOG["read"]
    if report.failed and read is not None:
        report.sections.append(("airflow webserver log (last 200 lines)", read()))


@pytest.fixture(scope="session")
def webserver(app, tmp_path_factory):
    folder = tmp_path_factory.mktemp("webserver")
    WEBSERVER_LOG["read"] = lambda: tail(folder / "webserver.log")
    try:
        with running_webserver(folder) as server:
            yield server
    finally:
        WEBSERVER_LOG["read"] = None
