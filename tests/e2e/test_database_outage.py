"""The metadata database goes away under a running webserver, and comes back (PostgreSQL pass only).

The webserver reaches PostgreSQL through a TCP proxy the test can cut, so the outage is its own: the rest of
the suite keeps its database.
"""

from __future__ import annotations

import os
import time
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.e2e.servers import running_webserver
from tests.e2e.tcp_proxy import TcpProxy

pytestmark = pytest.mark.e2e

DATABASE_URL = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")


@pytest.fixture(scope="module")
def proxy():
    if not DATABASE_URL.startswith("postgresql"):
        pytest.skip("the outage is staged on PostgreSQL (scripts/run-tests' second pass)")
    url = urlsplit(DATABASE_URL)
    proxy = TcpProxy((url.hostname or "127.0.0.1", url.port or 5432))
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def server(app, proxy, tmp_path_factory):
    url = urlsplit(DATABASE_URL)
    netloc = url.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{proxy.port}"
    through_proxy = urlunsplit(url._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))
    with running_webserver(
        tmp_path_factory.mktemp("outage"), AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=through_proxy
    ) as webserver:
        yield webserver


def test_calls_answer_503_while_the_database_is_away_and_recover(server, proxy):
    assert server.get("list_dags").status_code == 200
    proxy.stop()
    try:
        for answer in (
            server.get("list_dags"),
            server.get("trigger_dag", dag_id="sample_dag"),
            server.get(
                "pause",
                dag_id="sample_dag",
                token=None,
                headers={"Authorization": "Basic YWRtaW46cGFzc3dvcmQtZm9yLXRlc3Rz"},
            ),
        ):
            assert answer.status_code == 503, answer.text[:300]
            assert answer.headers["Content-Type"].startswith("application/json")
            body = answer.json()
            assert body["status"] == "ERROR" and "metadata database" in body["output"]
    finally:
        proxy.start()
    deadline = time.monotonic() + 60
    while True:  # the pool's pre-ping replaces the dead connections: no restart needed
        answer = server.get("list_dags")
        if answer.status_code == 200 or time.monotonic() > deadline:
            break
        assert answer.status_code == 503, answer.text[:300]
        time.sleep(1)
    assert answer.status_code == 200, answer.text[:300]
    assert answer.json()["status"] == "OK"
