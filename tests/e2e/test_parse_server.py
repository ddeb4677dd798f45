"""The parse server of a real web server with two workers: started with the web server, parsing both workers'
deploys, gone a few seconds after the web server stops (its process group is killed; the parse server, in a
session of its own, leaves by itself)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.airflow_line import AIRFLOW_3
from tests.e2e.servers import running_webserver
from tests.helpers import DAGS_FOLDER, SIMPLE_DAG, dag_source, forget_dag, parse_servers, poll

pytestmark = pytest.mark.e2e

# An unknown setting, so that this web server's parse server is told from the others of the tests.
MARKER = "AIRFLOW__REST_API_PLUGIN__E2E_PARSE_SERVER"
WORKERS = "AIRFLOW__API__WORKERS" if AIRFLOW_3 else "AIRFLOW__WEBSERVER__WORKERS"
NAMES = ("e2e_parse_server_a", "e2e_parse_server_b")


def ok(answer) -> dict:
    body = answer.json()
    assert answer.status_code == 200 and body["status"] == "OK", body
    return body


def source(name: str, seen) -> str:
    """A DAG file that writes which process parsed it (its parent's pid) to ``seen``."""
    return f"import json, os\nopen({str(seen)!r}, 'w').write(json.dumps({{'ppid': os.getppid()}}))\n" + dag_source(
        SIMPLE_DAG, dag_id=name, description="parsed by the parse server"
    )


def test_the_parse_server_comes_and_goes_with_the_webserver(app, tmp_path):
    marker = f"{MARKER}={tmp_path.name}"
    seen = {name: tmp_path / f"{name}.json" for name in NAMES}
    try:
        with running_webserver(tmp_path, **{MARKER: tmp_path.name, WORKERS: "2"}) as server:
            started = poll(lambda: parse_servers(marker), seconds=120)  # at the web server's start
            assert len(started) == 1

            def deploy(name: str):
                return server.call("POST", "deploy_dag", files={"dag_file": (f"{name}.py", source(name, seen[name]))})

            with ThreadPoolExecutor(len(NAMES)) as threads:  # one request per worker, at once
                for answer in threads.map(deploy, NAMES):
                    ok(answer)
            assert parse_servers(marker) == started
            for name in NAMES:
                assert json.loads(seen[name].read_text())["ppid"] in started
            assert "the parse server cannot be used" not in server.log.read_text()
        poll(lambda: not parse_servers(marker), seconds=10)
    finally:
        for name in NAMES:
            (DAGS_FOLDER / f"{name}.py").unlink(missing_ok=True)
        forget_dag(*NAMES)
