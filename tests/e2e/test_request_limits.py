"""Bodies at and over the webserver's limits, through gunicorn: always the envelope, never an HTML page."""

from __future__ import annotations

import pytest

# what no metadata database changes: one pass (SQLite) runs it, the PostgreSQL passes leave it out
pytestmark = [pytest.mark.e2e, pytest.mark.same_on_every_database]

LIMIT = 1024 * 1024  # [webserver] allowed_payload_size = 1.0 (MiB), Airflow's default


def test_a_form_body_just_under_the_limit_is_read(webserver):
    """Airflow's float MAX_CONTENT_LENGTH made Werkzeug fail on bodies between 983,041 and 1,048,575 bytes."""
    value = "x" * 1_000_000
    answer = webserver.call("POST", "variables", data={"cmd": "set", "key": "near_limit", "value": value})
    assert answer.status_code == 200, answer.text[:300]
    assert answer.json()["status"] == "OK"


@pytest.mark.parametrize("kind", ["form", "dag_file"])
def test_a_body_over_the_limit_is_a_413_envelope(webserver, kind):
    if kind == "form":
        answer = webserver.call("POST", "variables", data={"cmd": "set", "key": "too_big", "value": "x" * (LIMIT + 10)})
    else:
        answer = webserver.call("POST", "deploy_dag", files={"dag_file": ("big.py", b"#" * (LIMIT + 10))})
    assert answer.status_code == 413, answer.text[:300]
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.json()["status"] == "ERROR" and "allowed_payload_size" in answer.json()["output"]


def test_too_many_parts_is_a_413_envelope(webserver):
    files = {f"part{i}": (f"p{i}.txt", b"x") for i in range(1001)}
    answer = webserver.call("POST", "version", files=files)
    assert answer.status_code == 413, answer.text[:300]
    assert answer.json()["status"] == "ERROR"
