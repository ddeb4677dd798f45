"""The plugin's settings, read from airflow.cfg / AIRFLOW__... environment variables.

Every setting is looked up in ``[rest_api_plugin]`` first and then in ``[webserver]`` (where the
original plugin's documentation put the token), so both spellings keep working.
"""

from __future__ import annotations

import logging
from pathlib import Path

from airflow.configuration import AIRFLOW_HOME, conf

from rest_api_plugin.errors import Misconfigured

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
        log.warning(
            "REST API plugin: [rest_api_plugin] %s = %r is not one of %s; using %s",
            key,
            value,
            ", ".join(choices),
            choices[0],
        )
        return choices[0]
    return value


def _get_int(key: str, fallback: int | None, minimum: int = 0) -> int | None:
    """An integer setting; a value that is not one (or below ``minimum``) is logged and ``fallback`` used,
    so a typo in airflow.cfg never turns every call into a 500."""
    value = _get(key)
    if value is None:
        return fallback
    try:
        number = int(value.strip())
    except ValueError:
        number = None
    if number is None or number < minimum:
        log.warning(
            "REST API plugin: [rest_api_plugin] %s = %r is not a whole number >= %s; using %s",
            key,
            value,
            minimum,
            fallback,
        )
        return fallback
    return number


def _get_list(key: str) -> list[str]:
    value = _get(key) or ""
    return [item.strip() for item in value.split(",") if item.strip()]


def expected_token() -> str | None:
    """The legacy token; None (or empty) switches the token path off."""
    token = _get("rest_api_plugin_expected_http_token")
    return token or None


def tokens_file() -> Path | None:
    """``tokens_file``: the path of the named tokens' JSON document (rest_api_plugin/tokens.py), or None."""
    path = _get("tokens_file")
    return Path(path.strip()).expanduser() if path and path.strip() else None


def tokens_inline() -> str | None:
    """``tokens``: the named tokens' JSON document itself (``AIRFLOW__REST_API_PLUGIN__TOKENS`` in containers)."""
    document = _get("tokens")
    return document if document and document.strip() else None


def token_path_configured() -> bool:
    """Whether any token is configured: the legacy one, or a document of named tokens (valid or not)."""
    return bool(expected_token() or tokens_file() or tokens_inline())


def token_header_name() -> str:
    return _get("rest_api_plugin_http_token_header_name") or DEFAULT_TOKEN_HEADER


def accept_legacy_token_header() -> bool:
    """Let the token header through gunicorn's header_map=drop when its name has "_" (gunicorn_headers)."""
    return _get_bool("accept_legacy_token_header", True)


def token_grants() -> list[str]:
    """What a valid token may call: ``all`` (default), ``read`` or endpoint names, comma separated."""
    return _get_list("token_grants") or ["all"]


def disabled_endpoints() -> frozenset[str]:
    """``disabled_endpoints``: endpoint names switched off on this deployment (e.g. the daemons, which act on
    the host a call lands on); they answer 404 and are left out of the page, the OpenAPI document and the
    permissions."""
    return frozenset(name.lower() for name in _get_list("disabled_endpoints"))


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


def cli_timeout() -> int | None:
    """``cli_timeout``: seconds a caller may wait for a command; None when unset (commands.timeout() decides)."""
    return _get_int("cli_timeout", None, minimum=1)


def dag_parsing_server() -> bool:
    """Parse DAG files in children forked by the parse server (parse_server.py), or, when off, each in a fresh
    process (slower by an Airflow import per parse)."""
    return _get_bool("dag_parsing_server", True)


DEFAULT_JOB_STOP_GRACE = 10
DEFAULT_MAX_JOBS_PER_USER = 4
DEFAULT_MAX_JOBS = 16
DEFAULT_JOB_HEARTBEAT = 5
DEFAULT_JOB_LOST_AFTER = 30
DEFAULT_JOB_OUTPUT_MAX_BYTES = 4 * 1024 * 1024
DEFAULT_JOB_RETENTION_DAYS = 30


def job_stop_grace() -> int:
    """Seconds ``stop_job`` waits after SIGTERM before SIGKILL."""
    return _get_int("job_stop_grace", DEFAULT_JOB_STOP_GRACE)


def max_jobs_per_user() -> int:
    """How many jobs one caller (a user, or the token) may have running at once; 0: no limit."""
    return _get_int("max_jobs_per_user", DEFAULT_MAX_JOBS_PER_USER)


def max_jobs() -> int:
    """How many jobs may run at once, all callers together; 0: no limit."""
    return _get_int("max_jobs", DEFAULT_MAX_JOBS)


def job_heartbeat() -> int:
    """Seconds between two heartbeats a job's runner writes into the job's row."""
    return _get_int("job_heartbeat", DEFAULT_JOB_HEARTBEAT, minimum=1)


def job_lost_after() -> int:
    """Seconds without a heartbeat after which a job that did not record its end is ``lost``."""
    return _get_int("job_lost_after", DEFAULT_JOB_LOST_AFTER, minimum=1)


def job_output_max_bytes() -> int:
    """The most bytes of one job's output kept in the database (its beginning and its end; the middle is cut)."""
    return _get_int("job_output_max_bytes", DEFAULT_JOB_OUTPUT_MAX_BYTES, minimum=4096)


def job_retention_days() -> int:
    """Days an ended (or lost) job and its output are kept in the database; 0: kept forever."""
    return _get_int("job_retention_days", DEFAULT_JOB_RETENTION_DAYS)


def webserver_workers() -> int:
    """How many worker processes answer requests: ``[webserver] workers`` (gunicorn, Airflow 2), ``[api]
    workers`` (uvicorn, Airflow 3)."""
    from rest_api_plugin.airflow_compat import WORKERS_SECTION

    return conf.getint(WORKERS_SECTION, "workers", fallback=4 if WORKERS_SECTION == "webserver" else 1)


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
        raise Misconfigured(
            f"The setting [rest_api_plugin] deploy_dag_max_bytes must be a positive whole number "
            f"of bytes, not {value!r}"
        )
    return limit


def dag_backup_folder() -> Path:
    """Where replaced and deleted DAG files are kept (by default AIRFLOW_HOME/rest_api_plugin_dag_backups)."""
    return Path(_get("dag_backup_folder") or Path(AIRFLOW_HOME) / "rest_api_plugin_dag_backups").expanduser()
