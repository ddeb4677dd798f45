"""The plugin's settings, read from airflow.cfg / AIRFLOW__... environment variables.

Every setting is looked up in ``[rest_api_plugin]`` first and then in ``[webserver]`` (where the
original plugin's documentation put the token), so both spellings keep working.
"""

from __future__ import annotations

import logging

from airflow.configuration import conf

log = logging.getLogger(__name__)

SECTIONS = ("rest_api_plugin", "webserver")

DEFAULT_TOKEN_HEADER = "rest_api_plugin_http_token"


def _get(key: str, fallback: str | None = None) -> str | None:
    """The first non-empty value of ``key`` in the plugin's sections; an empty value counts as unset."""
    for section in SECTIONS:
        value = conf.get(section, key, fallback=None)
        if value:
            return value
    return fallback


def _get_bool(key: str, fallback: bool) -> bool:
    value = _get(key)
    if value is None:
        return fallback
    return value.strip().lower() in ("true", "1", "yes", "on", "t", "y")


def _get_choice(key: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (the first is the default); an unknown value is logged and the default used."""
    value = (_get(key) or choices[0]).strip().lower()
    if value not in choices:
        log.warning("REST API plugin: [rest_api_plugin] %s = %r is not one of %s; using %s",
                    key, value, ", ".join(choices), choices[0])
        return choices[0]
    return value


def _get_list(key: str) -> list[str]:
    value = _get(key) or ""
    return [item.strip() for item in value.split(",") if item.strip()]


def expected_token() -> str | None:
    """The legacy token; None (or empty) switches the token path off."""
    token = _get("rest_api_plugin_expected_http_token")
    return token or None


def token_header_name() -> str:
    return _get("rest_api_plugin_http_token_header_name") or DEFAULT_TOKEN_HEADER


def accept_legacy_token_header() -> bool:
    """Let the token header through gunicorn's header_map=drop when its name has "_" (gunicorn_headers)."""
    return _get_bool("accept_legacy_token_header", True)


def token_grants() -> list[str]:
    """What a valid token may call: ``all`` (default), ``read`` or endpoint names, comma separated."""
    return _get_list("token_grants") or ["all"]


def read_roles() -> list[str]:
    """Roles that receive the permissions of every read-only endpoint at webserver start."""
    return _get_list("read_roles")


def write_roles() -> list[str]:
    """Roles that receive the permissions of every endpoint (read and write) at webserver start."""
    return _get_list("write_roles")


def filter_loading_messages() -> bool:
    return _get_bool("filter_loading_messages_in_cli_response", True)


# How ``output`` looks (see rest_api_plugin/output.py); the first is the default.
OUTPUT_FORMATS = ("streams", "text", "streams_py3_bytes")
# How ``call_time`` and ``response_time`` look; the first is the default.
TIME_FORMATS = ("rfc1123", "iso8601")


def output_format() -> str:
    """``streams`` (the released plugin's shape), ``text`` or ``streams_py3_bytes``."""
    return _get_choice("output_format", OUTPUT_FORMATS)


def time_format() -> str:
    """``rfc1123`` (``Tue, 29 Nov 2016 14:22:26 GMT``, the original's) or ``iso8601``."""
    return _get_choice("time_format", TIME_FORMATS)


def strict_arguments() -> bool:
    """Refuse unknown arguments with 400 (True), or ignore them with a warning as the original did (False)."""
    return _get_bool("strict_arguments", False)
