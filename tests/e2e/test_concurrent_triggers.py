"""Many clients at once: 8 threads each trigger one DAG 25 times (own run_id, no logical date) against a real
server with 2 workers on PostgreSQL. Every trigger lands, each run at a logical date of its own: in a second
another run already holds, the date is the exact time (the database decides, across workers).

SQLite takes one write at a time (a trigger that waits too long answers 503 there): throughput belongs to
PostgreSQL, as it does for Airflow's own API; scripts/benchmark.py --concurrent compares the two.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.airflow_line import AIRFLOW_3
from tests.e2e.servers import running_webserver

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "").startswith("postgresql"),
        reason="concurrent writes need PostgreSQL (SQLite takes one write at a time)",
    ),
]

CLIENTS, TRIGGERS_EACH = 8, 25
WORKERS = {"AIRFLOW__API__WORKERS" if AIRFLOW_3 else "AIRFLOW__WEBSERVER__WORKERS": "2"}


@pytest.fixture(scope="module")
def two_workers(app, tmp_path_factory):
    with running_webserver(tmp_path_factory.mktemp("concurrent_triggers"), **WORKERS) as server:
        yield server


def runs_of(dag_id: str) -> list[tuple[str, object]]:
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    from rest_api_plugin.airflow_compat import logical_date_column

    with create_session() as session:
        return session.query(DagRun.run_id, logical_date_column(DagRun)).filter(DagRun.dag_id == dag_id).all()


def test_every_concurrent_trigger_lands_at_a_date_of_its_own(two_workers):
    def client(number: int) -> list[tuple[int, dict]]:
        answers = []
        for n in range(TRIGGERS_EACH):
            answer = two_workers.get("trigger_dag", dag_id="sample_dag", run_id=f"c{number}_{n}")
            answers.append((answer.status_code, answer.json()))
        return answers

    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = [answer for batch in pool.map(client, range(CLIENTS)) for answer in batch]

    refused = [body for status, body in answers if status != 200]
    assert not refused, f"{len(refused)} of {len(answers)} refused, e.g. {refused[0]['output']}"
    runs = runs_of("sample_dag")
    assert len(runs) == CLIENTS * TRIGGERS_EACH
    assert {run_id for run_id, _ in runs} == {f"c{c}_{n}" for c in range(CLIENTS) for n in range(TRIGGERS_EACH)}
    assert len({date for _, date in runs}) == len(runs), "two runs share a logical date"
    answered = {body["data"]["run_id"]: body["data"]["logical_date"] for _, body in answers}
    assert {run_id: date.isoformat() for run_id, date in runs} == answered  # each answer names its own run
