"""rest_api_plugin.airflow2.gunicorn_headers against gunicorn's real request parser: raw HTTP bytes go through
gunicorn.http.parser.RequestParser with a real gunicorn Config, and the parsed request through gunicorn's
own WSGI environ builder and werkzeug's header view, as in `airflow webserver`.
"""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

gunicorn = pytest.importorskip("gunicorn")

from gunicorn.config import Config  # noqa: E402
from gunicorn.http import message, wsgi  # noqa: E402
from gunicorn.http.errors import InvalidHeaderName  # noqa: E402
from gunicorn.http.parser import RequestParser  # noqa: E402
from werkzeug.datastructures import EnvironHeaders  # noqa: E402

from rest_api_plugin.airflow2 import gunicorn_headers  # noqa: E402

# what no metadata database changes: one pass (SQLite) runs it, the PostgreSQL passes leave it out
pytestmark = pytest.mark.same_on_every_database

TOKEN_HEADER = "rest_api_plugin_http_token"
ENVIRON_KEY = "HTTP_REST_API_PLUGIN_HTTP_TOKEN"


@pytest.fixture(scope="module", autouse=True)
def accepted():
    assert gunicorn_headers.accept_token_header(TOKEN_HEADER) is True


def request_bytes(*headers: str, method: str = "GET", body: bytes = b"") -> bytes:
    lines = [f"{method} /admin/rest_api/api?api=version HTTP/1.1", "Host: localhost", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def parse(raw: bytes, **settings):
    cfg = Config()
    for key, value in settings.items():
        cfg.set(key, value)
    request = next(RequestParser(cfg, [raw], ("127.0.0.1", 40000)))
    return cfg, request


def environ_of(cfg, request) -> dict:
    left, right = socket.socketpair()
    try:
        _, environ = wsgi.create(request, left, ("127.0.0.1", 40000), ("127.0.0.1", 8080), cfg)
        return environ
    finally:
        left.close()
        right.close()


def names(request) -> list[str]:
    return [name for name, _ in request.headers]


def test_default_header_map_is_drop():
    assert Config().header_map == "drop"


@pytest.mark.parametrize("spelling", [TOKEN_HEADER, "REST_API_PLUGIN_HTTP_TOKEN", "Rest_Api_Plugin_Http_Token"])
def test_token_header_survives_header_map_drop(spelling):
    cfg, request = parse(
        request_bytes(
            f"{spelling}: secret-1", "X_Forwarded_For: 10.9.8.7", "Some_Other_Header: x", "X-Forwarded-For: 192.0.2.1"
        )
    )
    assert ("REST-API-PLUGIN-HTTP-TOKEN", "secret-1") in request.headers
    assert not [name for name in names(request) if "_" in name]  # every other "_" header still dropped
    environ = environ_of(cfg, request)
    assert environ[ENVIRON_KEY] == "secret-1"
    assert environ["HTTP_X_FORWARDED_FOR"] == "192.0.2.1"  # not merged with X_Forwarded_For
    assert "HTTP_SOME_OTHER_HEADER" not in environ
    # what the plugin reads: request.headers.get(config.token_header_name())
    assert EnvironHeaders(environ).get(TOKEN_HEADER) == "secret-1"


def test_hyphenated_spelling_unchanged():
    cfg, request = parse(request_bytes("rest-api-plugin-http-token: secret-2"))
    assert environ_of(cfg, request)[ENVIRON_KEY] == "secret-2"


def test_other_underscore_headers_alone_are_dropped():
    cfg, request = parse(
        request_bytes("X_Forwarded_For: 10.9.8.7", "rest_api_plugin_http_token_x: y", "x_rest_api_plugin_http_token: z")
    )
    assert names(request) == ["HOST"]
    environ = environ_of(cfg, request)
    assert "HTTP_X_FORWARDED_FOR" not in environ and ENVIRON_KEY not in environ


def test_name_only_renamed_at_the_start_of_a_header_line():
    cfg, request = parse(request_bytes("X-Note: rest_api_plugin_http_token: not-a-header"))
    assert request.headers == [("HOST", "localhost"), ("X-NOTE", "rest_api_plugin_http_token: not-a-header")]
    assert ENVIRON_KEY not in environ_of(cfg, request)


def test_both_spellings_join_and_match_no_token():
    cfg, request = parse(request_bytes("rest-api-plugin-http-token: a", "rest_api_plugin_http_token: b"))
    assert environ_of(cfg, request)[ENVIRON_KEY] == "a,b"


def test_header_map_refuse_still_refuses():
    with pytest.raises(InvalidHeaderName):
        parse(request_bytes("rest_api_plugin_http_token: secret-3"), header_map="refuse")


def test_header_map_dangerous_left_as_gunicorn_has_it():
    cfg, request = parse(request_bytes("rest_api_plugin_http_token: secret-4", "X_Other: o"), header_map="dangerous")
    assert ("REST_API_PLUGIN_HTTP_TOKEN", "secret-4") in request.headers
    assert ("X_OTHER", "o") in request.headers
    assert environ_of(cfg, request)[ENVIRON_KEY] == "secret-4"


def test_not_renamed_in_a_trailer():
    body = b"3\r\nabc\r\n0\r\nrest_api_plugin_http_token: from-trailer\r\n\r\n"
    _, request = parse(request_bytes("Transfer-Encoding: chunked", method="POST", body=body))
    assert request.body.read() == b"abc"
    assert request.trailers == []


def test_policy_used_by_the_fast_parser_and_http2():
    """gunicorn >= 26: gunicorn_h1c's fast path and HTTP/2 apply header_map in _apply_header_policy."""
    if not hasattr(message, "HeaderPolicy"):
        pytest.skip(f"gunicorn {gunicorn.__version__} has no HeaderPolicy (its parse_headers is wrapped)")
    _, request = parse(request_bytes())
    assert request._apply_header_policy("REST_API_PLUGIN_HTTP_TOKEN", "t", [False], set(), {}, []) == (
        "REST-API-PLUGIN-HTTP-TOKEN",
        "t",
    )
    assert request._apply_header_policy("X_FORWARDED_FOR", "1.2.3.4", [False], set(), {}, []) is None
    request.cfg.set("header_map", "refuse")
    with pytest.raises(InvalidHeaderName):
        request._apply_header_policy("REST_API_PLUGIN_HTTP_TOKEN", "t", [False], set(), {}, [])


def test_idempotent():
    target = (
        message.HeaderPolicy.__dict__["_apply_header_policy"]
        if hasattr(message, "HeaderPolicy")
        else message.Message.__dict__["parse_headers"]
    )
    assert gunicorn_headers.accept_token_header(TOKEN_HEADER.upper()) is True
    again = (
        message.HeaderPolicy.__dict__["_apply_header_policy"]
        if hasattr(message, "HeaderPolicy")
        else message.Message.__dict__["parse_headers"]
    )
    assert again is target
    assert getattr(again, "__wrapped__").__name__ == target.__name__
    assert not hasattr(again.__wrapped__, "__wrapped__")  # wrapped once


@pytest.mark.parametrize("name", ["content_length", "Transfer_Encoding", "x_forwarded_proto", "script_name"])
def test_names_gunicorn_acts_on_are_never_accepted(name):
    assert gunicorn_headers.accept_token_header(name) is False
    _, request = parse(request_bytes(f"{name}: 5"))
    assert name.upper().replace("_", "-") not in names(request)  # never renamed
    if name != "script_name":  # gunicorn >= 23 keeps SCRIPT_NAME itself (forwarder_headers)
        assert names(request) == ["HOST"]


def test_setting_switches_it_off(monkeypatch):
    """[rest_api_plugin] accept_legacy_token_header = False: the configured header stays dropped."""
    monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__REST_API_PLUGIN_HTTP_TOKEN_HEADER_NAME", "probe_token_header")
    monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__ACCEPT_LEGACY_TOKEN_HEADER", "False")
    assert gunicorn_headers.accept_configured_token_header() is False
    assert names(parse(request_bytes("probe_token_header: t"))[1]) == ["HOST"]

    monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__ACCEPT_LEGACY_TOKEN_HEADER", "True")
    assert gunicorn_headers.accept_configured_token_header() is True
    assert ("PROBE-TOKEN-HEADER", "t") in parse(request_bytes("probe_token_header: t"))[1].headers


def test_never_imports_gunicorn():
    """Scheduler and workers import the plugin too: without gunicorn loaded, nothing is imported."""
    code = (
        "import sys\n"
        "from rest_api_plugin import plugin\nfrom rest_api_plugin.airflow2 import gunicorn_headers\n"
        "ok = gunicorn_headers.accept_token_header('rest_api_plugin_http_token')\n"
        "print(ok, 'gunicorn' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.split()[-2:] == ["False", "False"], out.stderr


def test_fast_parser_when_installed():
    """gunicorn_h1c's C parser (http_parser=fast), when installed, keeps the token header too."""
    import importlib.util

    if importlib.util.find_spec("gunicorn_h1c") is None or not hasattr(message, "HeaderPolicy"):
        pytest.skip("needs gunicorn_h1c and gunicorn >= 26")
    cfg, request = parse(
        request_bytes("rest_api_plugin_http_token: fast", "X_Forwarded_For: 10.9.8.7"), http_parser="fast"
    )
    assert request._use_fast
    assert names(request) == ["HOST", "REST-API-PLUGIN-HTTP-TOKEN"]
    assert environ_of(cfg, request)[ENVIRON_KEY] == "fast"


@pytest.mark.parametrize("setting", ["TOKENS_FILE", "TOKENS"])
def test_named_tokens_alone_keep_the_header_too(monkeypatch, setting):
    """Named tokens without the legacy one (tokens_file or tokens): their clients send the same header."""
    monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__REST_API_PLUGIN_HTTP_TOKEN_HEADER_NAME", "named_token_header")
    monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__REST_API_PLUGIN_EXPECTED_HTTP_TOKEN", "")
    assert gunicorn_headers.accept_configured_token_header() is False  # no token at all: nothing to let through
    monkeypatch.setenv(f"AIRFLOW__REST_API_PLUGIN__{setting}", "/etc/tokens.json" if setting == "TOKENS_FILE" else "{}")
    assert gunicorn_headers.accept_configured_token_header() is True
    assert ("NAMED-TOKEN-HEADER", "t") in parse(request_bytes("named_token_header: t"))[1].headers
