"""Named tokens without a server: the document and its problems, the digest comparison, reloading, the helper."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from rest_api_plugin import tokens
from tests.helpers import TOKEN

SKY = "sky-secret-0123456789"
CI_OLD, CI_NEW = "ci-old-secret-0123456789", "ci-new-secret-0123456789"


def sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# The example, with real digests
EXAMPLE = {
    "shipyard": {"sha256": sha("shipyard-secret-0123456789"), "grants": "all"},
    "sky": {"token": SKY, "grants": "dag_state,task_state,trigger_dag", "output_format": "streams_py3_bytes"},
    "presidio-java": {"sha256": sha("presidio-secret-0123456789"), "time_format": "iso8601", "dag_ids": ["presidio_*"]},
    "ci": {"sha256": [sha(CI_OLD), sha(CI_NEW)], "grants": "read", "expires": "2027-03-31T00:00:00Z"},
}


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch):
    """Each test reads the configuration afresh (the cache lives for the process)."""
    monkeypatch.setattr(tokens, "_cache", tokens._Cache())
    for name in ("TOKENS", "TOKENS_FILE"):
        monkeypatch.delenv(f"AIRFLOW__REST_API_PLUGIN__{name}", raising=False)


def test_the_example_document():
    configuration = tokens.parse(json.dumps(EXAMPLE))
    assert configuration.problems == ()
    by_name = {token.name: token for token in configuration.tokens}
    assert set(by_name) == set(EXAMPLE)
    assert by_name["sky"].grants == ("dag_state", "task_state", "trigger_dag")
    assert by_name["sky"].output_format == "streams_py3_bytes" and by_name["sky"].time_format is None
    assert by_name["presidio-java"].dag_ids == ("presidio_*",) and by_name["presidio-java"].grants is None
    assert by_name["ci"].expires == datetime(2027, 3, 31, tzinfo=timezone.utc)
    assert by_name["ci"].caller == "token:ci"
    assert configuration.match(SKY).name == "sky"
    assert configuration.match(CI_OLD).name == configuration.match(CI_NEW).name == "ci"  # a rotation's two secrets
    assert configuration.match("sky-secret-012345678") is None


def bad(entry: dict, name: str = "bad") -> str:
    return json.dumps({"good": {"token": "a-good-secret-0123456789"}, name: entry})


# Each bad document, and what its problem says (the entry is named).
BAD_DOCUMENTS = {
    "invalid JSON": ('{"sky": {"token": ', "not valid JSON"),
    "not an object": ('["sky"]', "must be a JSON object mapping names"),
    "entry not an object": (bad("x"), "entry 'bad': must be a JSON object"),
    "no secret": (bad({"grants": "read"}), "entry 'bad': no secret"),
    "empty secrets": (bad({"token": [], "sha256": []}), "entry 'bad': no secret: token and sha256 are empty"),
    "unknown key": (bad({"token": SKY + "x", "grant": "read"}), "entry 'bad': unknown key 'grant'"),
    "bad grant": (
        bad({"token": SKY + "x", "grants": "read,tirgger_dag"}),
        "entry 'bad': grants: unknown grant 'tirgger_dag'",
    ),
    "no grant": (bad({"token": SKY + "x", "grants": " , "}), "entry 'bad': grants: no grant"),
    "bad output_format": (
        bad({"token": SKY + "x", "output_format": "xml"}),
        "entry 'bad': output_format: 'xml' is not one of",
    ),
    "bad time_format": (
        bad({"token": SKY + "x", "time_format": "unix"}),
        "entry 'bad': time_format: 'unix' is not one of",
    ),
    "malformed date": (
        bad({"token": SKY + "x", "expires": "2027-13-01"}),
        "entry 'bad': expires: '2027-13-01' is not an ISO 8601 time",
    ),
    "date not a string": (bad({"token": SKY + "x", "expires": 20270331}), "entry 'bad': expires: must be an ISO 8601"),
    "short secret": (bad({"token": "fifteen-chars-x"}), "entry 'bad': token: a secret must be at least 16 characters"),
    "secret with a comma": (
        bad({"token": "comma,in-the-secret-0123"}),
        "entry 'bad': token: a secret is visible ASCII",
    ),
    "secret with a space": (
        bad({"token": "space in-the-secret-0123"}),
        "entry 'bad': token: a secret is visible ASCII",
    ),
    "bad digest": (bad({"sha256": "abc123"}), "entry 'bad': sha256: 'abc123' is not a SHA-256 digest"),
    "secret not a string": (bad({"token": 12345678901234567890}), "entry 'bad': token: must be a secret or a list"),
    "strict not a boolean": (
        bad({"token": SKY + "x", "strict_arguments": "yes"}),
        "entry 'bad': strict_arguments: must be true or false",
    ),
    "bad dag pattern": (
        bad({"token": SKY + "x", "dag_ids": ["ok_*", "no spaces"]}),
        "entry 'bad': dag_ids: 'no spaces' is not a DAG id",
    ),
    "bad name": (bad({"token": SKY + "x"}, name="has space"), "entry 'has space': a name is 1 to 64"),
    "the legacy name": (
        bad({"token": SKY + "x"}, name="token"),
        "entry 'token': the name 'token' is the legacy token's",
    ),
    "a name twice": (
        '{"sky": {"token": "%s"}, "sky": {"token": "%s"}}' % (SKY, SKY + "x"),
        "the key 'sky' appears twice",
    ),
    "one secret, two entries": (
        json.dumps({"a": {"token": SKY}, "b": {"sha256": sha(SKY)}}),
        "entries 'a' and 'b' have the same secret",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_DOCUMENTS))
def test_a_bad_document_closes_the_token_path(case):
    document, problem = BAD_DOCUMENTS[case]
    configuration = tokens.parse(document)
    assert configuration.tokens == ()
    assert any(problem in found for found in configuration.problems), configuration.problems
    assert configuration.configured  # the token path is there, and closed: never open to all
    assert configuration.match("a-good-secret-0123456789") is None


def test_every_problem_is_reported_at_once():
    document = json.dumps({"a": {"grants": "read"}, "b": {"token": "short", "output_format": "xml", "colour": 1}})
    problems = tokens.parse(document).problems
    assert len(problems) == 4, problems
    assert [p.split(":")[0] for p in problems] == ["entry 'a'", "entry 'b'", "entry 'b'", "entry 'b'"]


# --- the digest comparison ---


def counting(monkeypatch, module, name):
    calls = []
    original = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


@pytest.mark.parametrize("presented", [SKY, CI_NEW, "shipyard-secret-0123456789", "nobody's-secret-0123456789"])
def test_the_presented_value_is_hashed_once_and_compared_with_every_digest(monkeypatch, presented):
    configuration = tokens.parse(json.dumps(EXAMPLE))
    every_digest = sum(len(token.digests) for token in configuration.tokens)
    assert every_digest == 5
    hashed = counting(monkeypatch, tokens.hashlib, "sha256")
    compared = counting(monkeypatch, tokens.hmac, "compare_digest")
    configuration.match(presented)
    assert len(hashed) == 1 and hashed[0][0] == presented.encode()
    assert len(compared) == every_digest  # no early exit, whichever entry matched
    assert all(len(a) == len(b) == 32 for a, b in compared)  # digests only: never the secrets themselves


def test_an_invalid_configuration_never_matches():
    configuration = tokens.Configuration(tokens=tokens.parse(json.dumps(EXAMPLE)).tokens, problems=("broken",))
    assert configuration.match(SKY) is None


def test_expiry():
    token = tokens.parse(json.dumps(EXAMPLE)).match(CI_NEW)
    assert not token.expired(datetime(2027, 3, 30, 23, 59, tzinfo=timezone.utc))
    assert token.expired(datetime(2027, 3, 31, tzinfo=timezone.utc))
    naive = tokens.read_expires("2027-03-31T02:00:00")
    assert naive == datetime(2027, 3, 31, 2, tzinfo=timezone.utc)  # without an offset: UTC
    assert tokens.read_expires("2027-03-31T02:00:00+02:00") == datetime(2027, 3, 31, tzinfo=timezone.utc)
    assert tokens.read_expires("2027-03-31") == datetime(2027, 3, 31, tzinfo=timezone.utc)


# --- the configuration in force: inline, file, legacy, reload ---


def test_inline_document_and_the_legacy_token(monkeypatch):
    monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__TOKENS", json.dumps(EXAMPLE))
    configuration = tokens.current()
    assert configuration.match(SKY).caller == "token:sky"
    legacy = configuration.match(TOKEN)
    assert (legacy.name, legacy.caller, legacy.grants, legacy.dag_ids, legacy.output_format) == (
        "token",
        "token",
        None,
        None,
        None,
    )  # the deployment's settings


def test_the_legacy_token_alone(monkeypatch):
    configuration = tokens.current()
    assert [token.name for token in configuration.tokens] == ["token"] and configuration.problems == ()


def test_a_named_token_may_not_reuse_the_legacy_secret(monkeypatch, caplog):
    monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__TOKENS", json.dumps({"copy": {"sha256": sha(TOKEN)}}))
    with caplog.at_level(logging.ERROR, logger=tokens.__name__):
        configuration = tokens.current()
    assert (
        configuration.match(TOKEN) is None and "entry 'copy' has the legacy token's secret" in configuration.problems[0]
    )
    assert "entry 'copy' has the legacy token's secret" in caplog.text


def test_both_settings_at_once_is_a_problem(monkeypatch, tmp_path):
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps(EXAMPLE))
    monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__TOKENS", json.dumps(EXAMPLE))
    monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__TOKENS_FILE", str(path))
    configuration = tokens.current()
    assert configuration.tokens == () and "set one" in configuration.problems[0]


def test_an_unreadable_file_is_a_problem(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__TOKENS_FILE", str(tmp_path / "missing.json"))
    configuration = tokens.current()
    assert configuration.match(TOKEN) is None  # the legacy token too: the whole path is closed
    assert "cannot read the file" in configuration.problems[0] and "No such file" in configuration.problems[0]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_the_file_is_looked_at_at_most_once_a_second_and_read_again_when_it_changed(monkeypatch, tmp_path):
    clock = Clock()
    monkeypatch.setattr(tokens.time, "monotonic", clock)
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"ci": {"sha256": [sha(CI_OLD), sha(CI_NEW)]}}))
    monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__TOKENS_FILE", str(path))
    read = counting(monkeypatch, tokens, "_read_file")
    stats = counting(monkeypatch, tokens.os, "stat")
    assert tokens.current().match(CI_OLD) and tokens.current().match(CI_NEW)
    assert len(read) == 1 and len(stats) == 1  # two calls, one look at the file
    path.write_text(json.dumps({"ci": {"sha256": [sha(CI_NEW)]}}))  # the rotation ends
    clock.now += 0.5
    assert tokens.current().match(CI_OLD)  # not looked at again within the second
    clock.now += 0.6
    assert tokens.current().match(CI_OLD) is None and tokens.current().match(CI_NEW)
    assert len(read) == 2 and len(stats) == 2
    clock.now += 5
    tokens.current()
    assert len(read) == 2 and len(stats) == 3  # unchanged: looked at, not read


def test_problems_are_logged_once_per_change(monkeypatch, caplog):
    document = json.dumps({"sky": {"token": "short"}})
    monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__TOKENS", document)
    with caplog.at_level(logging.INFO, logger=tokens.__name__):
        for _ in range(3):
            tokens.current()
        assert caplog.text.count("entry 'sky': token: a secret must be at least 16") == 1
        assert "is invalid, so no token is accepted" in caplog.text
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__TOKENS", json.dumps({"sky": {"token": SKY}}))
        tokens.current()
        assert "named tokens from [rest_api_plugin] tokens: sky" in caplog.text


# --- the header ---


def request_with(*values: str):
    return SimpleNamespace(header_values=lambda name: list(values))


def test_a_header_sent_twice_is_refused():
    with pytest.raises(tokens.TokenSentTwice) as refused:
        tokens.presented_value(request_with(TOKEN, TOKEN))
    assert refused.value.status == 400
    assert tokens.presented_value(request_with(TOKEN)) == TOKEN
    assert tokens.presented_value(request_with()) is None


# --- python -m rest_api_plugin.tokens new NAME ---


def test_new_prints_a_secret_and_an_entry_that_matches_it(capsys):
    assert (
        tokens.main(
            [
                "new",
                "reporting",
                "--grants",
                "read",
                "--dag-ids",
                "reports_*",
                "nightly",
                "--expires",
                "2030-01-01T00:00:00Z",
                "--time-format",
                "iso8601",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    secret = lines[0].rsplit(" ", 1)[1]
    entry = json.loads("{" + lines[-1] + "}")
    assert entry["reporting"] == {
        "sha256": sha(secret),
        "grants": "read",
        "dag_ids": ["reports_*", "nightly"],
        "expires": "2030-01-01T00:00:00Z",
        "time_format": "iso8601",
    }
    assert len(secret) >= 40 and tokens.SECRET.match(secret)
    assert tokens.parse(json.dumps(entry)).match(secret).caller == "token:reporting"


def test_new_refuses_what_the_document_would(capsys):
    assert tokens.main(["new", "reporting", "--grants", "tirgger_dag"]) == 2
    assert "unknown grant 'tirgger_dag'" in capsys.readouterr().err
    assert tokens.main(["new", "token"]) == 2


def test_a_token_expires_in_the_future_only(monkeypatch):
    soon = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    token = tokens.parse(json.dumps({"ci": {"token": CI_NEW, "expires": soon}})).match(CI_NEW)
    assert not token.expired()
