"""The plugin's settings, read from airflow.cfg / AIRFLOW__... environment variables.

Every setting is looked up in ``[rest_api_plugin]`` first and then in ``[webserver]`` (where the
original plugin's documentation put the token), so both spellings keep working.
"""

from __future__ import annotations

from pathlib import Path

from airflow.configuration import AIRFLOW_HOME, conf

from rest_api_plugin.errors import Misconfigured

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


DEFAULT_DEPLOY_DAG_MAX_BYTES = 1024 * 1024


def deploy_dag_max_bytes() -> int:
    """The largest DAG file deploy_dag accepts; a value that is not a positive whole number is refused."""
    value = _get("deploy_dag_max_bytes")
    if value is None:
        return DEFAULT_DEPLOY_DAG_MAX_BYTES
    try:
        limit = int(value.strip())
    except ValueError:
        limit = 0
    if limit <= 0:
        raise Misconfigured(f"The setting [rest_api_plugin] deploy_dag_max_bytes must be a positive whole number "
                            f"of bytes, not {value!r}")
    return limit


def dag_backup_folder() -> Path:
    """Where replaced and deleted DAG files are kept (by default AIRFLOW_HOME/rest_api_plugin_dag_backups)."""
    return Path(_get("dag_backup_folder") or Path(AIRFLOW_HOME) / "rest_api_plugin_dag_backups").expanduser()
