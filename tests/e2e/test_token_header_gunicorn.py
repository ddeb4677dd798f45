"""End to end: the legacy underscore token header through a stock `airflow webserver` (gunicorn >= 22,
header_map=drop, no GUNICORN_CMD_ARGS), once with Airflow's default --preload (the app, and so the patch,
is made in gunicorn's master before the workers fork) and once with reload_on_plugin_change=True (no
--preload: each worker makes the app).
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.airflow_line import airflow2_only
from tests.e2e.servers import AIRFLOW, Webserver, free_port, raw_get, stop, tail, wait_until_up, webserver_env
from tests.helpers import TOKEN

# what no metadata database changes: one pass (SQLite) runs it, the PostgreSQL passes leave it out
pytestmark = [
    pytest.mark.same_on_every_database,
    pytest.mark.e2e,
    airflow2_only,
]  # gunicorn serves Airflow 2 only (Airflow 3: uvicorn)

PATCHED = "REST API plugin: gunicorn keeps the token header rest_api_plugin_http_token"


@pytest.fixture(scope="module")
def webserver_without_preload(app, tmp_path_factory):
    env = webserver_env()
    env["AIRFLOW__WEBSERVER__RELOAD_ON_PLUGIN_CHANGE"] = "True"
    folder = tmp_path_factory.mktemp("webserver-no-preload")
    log = folder / "webserver.log"
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                *AIRFLOW,
                "webserver",
                "--port",
                str(port),
                "--hostname",
                "127.0.0.1",
                "--pid",
                str(folder / "webserver.pid"),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        wait_until_up(proc, f"http://127.0.0.1:{port}", log)
        yield Webserver(port, env, log)
    finally:
        stop(proc)


@pytest.fixture(params=["preload", "no-preload"])
def server(request):
    return request.getfixturevalue("webserver" if request.param == "preload" else "webserver_without_preload")


def test_stock_gunicorn(server):
    import gunicorn

    assert gunicorn.version_info >= (22,)
    assert "header-map" not in server.env.get("GUNICORN_CMD_ARGS", "")
    assert "header_map" not in server.env.get("GUNICORN_CMD_ARGS", "")


@pytest.mark.parametrize("name", ["rest_api_plugin_http_token", "REST_API_PLUGIN_HTTP_TOKEN"])
def test_underscore_token_header_accepted(server, name):
    status, body = raw_get(server, [(name, TOKEN)])
    assert status == 200, body
    assert '"status": "OK"' in body
    assert PATCHED in tail(server.log, 100_000)


def test_wrong_underscore_token_is_403(server):
    status, body = raw_get(server, [("rest_api_plugin_http_token", "not-the-token")])
    assert status == 403, body
    assert '"output": "Token Authentication Failed"' in body


@pytest.mark.parametrize("second", ["not-the-token", TOKEN])
def test_both_spellings_are_joined_and_refused(server, second):
    """Two values for one environ key are joined by gunicorn with ",": no way to smuggle a second value past,
    and a token header sent twice is refused with 400 (tests/e2e/test_named_tokens.py tries every combination)."""
    from rest_api_plugin.tokens import SENT_TWICE

    status, body = raw_get(server, [("rest-api-plugin-http-token", second), ("rest_api_plugin_http_token", TOKEN)])
    assert status == 400, body
    assert json.loads(body)["output"] == SENT_TWICE
