"""Named tokens against a real server (``airflow webserver`` on Airflow 2, ``airflow api-server`` on 3): two old
clients of different releases at once, each with its own token and answer shape, beside the legacy token; a
rotation read from the changed file with no restart; a bad file closing the token path; a repeated header.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from datetime import datetime

import pytest

from rest_api_plugin.tokens import INVALID, SENT_TWICE
from tests.e2e.servers import raw_get, running_webserver, tail
from tests.helpers import TOKEN

pytestmark = pytest.mark.e2e

SKY, REPORTS = "sky-script-secret-0123456789", "reports-secret-0123456789"
OLD, NEW = "ci-old-secret-0123456789", "ci-new-secret-0123456789"
DATE = "2024-06-07T08:09:10"


def sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


DOCUMENT = {
    # scripts written against plugin 1.0.0 to 1.0.7 on Python 3: b'...\n' lines, three endpoints, sample_* only
    "sky": {
        "sha256": sha(SKY),
        "grants": "dag_state,task_state,trigger_dag",
        "output_format": "streams_py3_bytes",
        "dag_ids": ["sample_*"],
    },
    # a client that reads output as one string and parses ISO 8601 times
    "reports": {"sha256": sha(REPORTS), "output_format": "text", "time_format": "iso8601", "grants": "read"},
    "ci": {"sha256": [sha(OLD), sha(NEW)], "grants": "read"},
}


def write_atomically(path, document) -> None:
    """As the README says: the whole file, renamed into place."""
    staged = path.with_name(path.name + ".new")
    staged.write_text(document if isinstance(document, str) else json.dumps(document))
    os.replace(staged, path)


@pytest.fixture(scope="module")
def tokens_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("tokens") / "tokens.json"
    write_atomically(path, DOCUMENT)
    return path


@pytest.fixture(scope="module")
def server(app, tmp_path_factory, tokens_path):
    folder = tmp_path_factory.mktemp("named-tokens-server")
    with running_webserver(folder, AIRFLOW__REST_API_PLUGIN__TOKENS_FILE=str(tokens_path)) as running:
        yield running


@pytest.fixture
def restore_document(tokens_path):
    yield
    write_atomically(tokens_path, DOCUMENT)
    time.sleep(1.2)  # the server looks at the file at most once a second


def until(check, seconds: float = 15):
    deadline = time.monotonic() + seconds
    while True:
        answer = check()
        if answer or time.monotonic() > deadline:
            return answer
        time.sleep(0.3)


def test_two_old_clients_and_the_legacy_token_at_once(server):
    # the Sky script: trigger, then poll dag_state and read the state out of the b'...' framing
    triggered = server.get("trigger_dag", token=SKY, dag_id="sample_dag", run_id="sky_run", execution_date=DATE)
    assert triggered.status_code == 200, triggered.text
    stdout = triggered.json()["output"]["stdout"]
    assert re.match(r"^b'Created <DagRun sample_dag @ ", stdout), stdout
    state = server.get("dag_state", token=SKY, dag_id="sample_dag", execution_date=DATE).json()
    assert re.findall(r"b'(.*?)\\n'", state["output"]["stdout"]) == ["queued"]
    assert re.match(r"^\w{3}, \d{2} \w{3} \d{4} ", state["call_time"])  # the deployment's RFC 1123
    # the reports client: output as one string, ISO 8601 times
    report = server.get("dag_state", token=REPORTS, dag_id="sample_dag", run_id="sky_run").json()
    assert report["output"] == "queued"
    assert datetime.fromisoformat(report["call_time"]).utcoffset().total_seconds() == 0
    # the legacy token: the deployment's shape, as before
    legacy = server.get("dag_state", dag_id="sample_dag", run_id="sky_run").json()
    assert legacy["output"] == {"stdout": "queued\n", "stderr": "", "stdin": ""}
    assert state["data"] == report["data"] == legacy["data"]


def test_audit_rows_name_the_token(server):
    from airflow.models.log import Log
    from airflow.utils.session import create_session

    assert server.get("trigger_dag", token=SKY, dag_id="sample_dag", run_id="audited").status_code == 200
    with create_session() as session:
        row = session.query(Log).filter(Log.event == "rest_api_plugin.trigger_dag", Log.run_id == "audited").one()
        assert row.owner == "token:sky"


def test_scope_and_grants_of_a_real_token(server):
    outside = server.get("dag_state", token=SKY, dag_id="other_dag", run_id="x").json()
    assert (outside["http_response_code"], outside["output"]) == (403, "The token token:sky may not GET DAG other_dag")
    not_granted = server.get("list_dags", token=SKY).json()
    assert not_granted["http_response_code"] == 403
    assert until(lambda: "refused api='dag_state' for token:sky (403)" in tail(server.log, 2000))
    assert SKY not in tail(server.log, 100_000)


def test_rotation_without_a_restart(server, tokens_path, restore_document):
    assert server.get("version", token=OLD).status_code == 200
    assert server.get("version", token=NEW).status_code == 200
    write_atomically(tokens_path, {**DOCUMENT, "ci": {"sha256": [sha(NEW)], "grants": "read"}})
    refused = until(lambda: server.get("version", token=OLD).status_code == 403)
    assert refused, "the old secret still works after the file changed"
    assert server.get("version", token=OLD).json()["output"] == "Token Authentication Failed"
    assert server.get("version", token=NEW).status_code == 200


def test_a_bad_file_closes_the_token_path_until_it_is_fixed(server, tokens_path, restore_document):
    write_atomically(tokens_path, {**DOCUMENT, "ci": {"sha256": [sha(NEW)], "grant": "read"}})
    assert until(lambda: server.get("version", token=NEW).status_code == 403)
    for secret in (NEW, SKY, TOKEN):
        body = server.get("version", token=secret).json()
        assert (body["http_response_code"], body["output"]) == (403, INVALID)
    assert "entry 'ci': unknown key 'grant'" in tail(server.log, 2000)
    write_atomically(tokens_path, DOCUMENT)
    assert until(lambda: server.get("version", token=TOKEN).status_code == 200)


U, H = "rest_api_plugin_http_token", "rest-api-plugin-http-token"


@pytest.mark.parametrize(
    "lines",
    [
        [(U, TOKEN), (U, TOKEN)],
        [(U, TOKEN), (U, "wrong")],
        [(U, "wrong"), (U, TOKEN)],
        [(U, TOKEN), (H, TOKEN)],
        [(H, "wrong"), (U, TOKEN)],
        [("REST_API_PLUGIN_HTTP_TOKEN", TOKEN), ("Rest-Api-Plugin-Http-Token", TOKEN)],
        [(U, SKY), (H, TOKEN)],
    ],
    ids=["twice", "then-wrong", "wrong-first", "both-spellings", "hyphen-wrong-first", "letter-case", "two-tokens"],
)
def test_a_token_header_sent_more_than_once_is_400(server, lines):
    status, text = raw_get(server, lines)
    body = json.loads(text)
    assert (status, body["http_response_code"], body["output"]) == (400, 400, SENT_TWICE), text


def test_one_token_header_still_works_in_every_spelling(server):
    for name in (U, H, "REST_API_PLUGIN_HTTP_TOKEN", "Rest-Api-Plugin-Http-Token"):
        assert raw_get(server, [(name, SKY)])[0] == 403  # sky may not call version: but it was recognised
        status, text = raw_get(server, [(name, REPORTS)])
        assert status == 200, (name, text)
