"""The one place that builds ``airflow ...`` subprocesses: their argv, their environment, their time bound;
``jobs.py`` runs them (as background jobs, waited for when the caller asks).

Argument lists only, never a shell. Only the subcommands in ``ALLOWED_COMMANDS`` may run, with the
webserver's own interpreter (``python -m airflow``). User values are single arguments: an option's value
is glued to its flag (``--pool=VALUE``) so it can never be read as another option, and a positional value
that starts with ``-`` is refused. The child gets an explicit environment, and a caller waits for it at most
``timeout()``, below the webserver's worker timeout.
"""

from __future__ import annotations

import os
import re
import secrets
import sys

from rest_api_plugin import config
from rest_api_plugin.errors import BadRequest

# airflow subcommands (as argv prefixes) the plugin may run
ALLOWED_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("tasks", "test"),
    ("tasks", "run"),
    ("dags", "backfill"),
    ("scheduler",),
    ("celery", "worker"),
    ("celery", "flower"),
    ("kerberos",),
)
# The log server has no CLI command in Airflow 2: this exact program runs it.
SERVE_LOGS_PROGRAM = ("-c", "from airflow.utils.serve_logs import serve_logs; serve_logs()")

ENVIRONMENT_NAMES = {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "PYTHONPATH",
                     "VIRTUAL_ENV", "KRB5CCNAME", "KRB5_CONFIG", "KRB5_KTNAME", "SSL_CERT_FILE",
                     "REQUESTS_CA_BUNDLE"}
ENVIRONMENT_PREFIXES = ("AIRFLOW", "LC_")

# Settings of the webserver that a process running DAG code must not read: the key that signs its sessions,
# the plugin's token, and on Airflow 3 the API server's signing keys. Each may come from airflow.cfg or from
# AIRFLOW__SECTION__KEY, or its _CMD and _SECRET variants: see child_environment_without_secrets.
WEBSERVER_SECRETS = (
    ("webserver", "secret_key"),
    ("rest_api_plugin", "rest_api_plugin_expected_http_token"),
    ("webserver", "rest_api_plugin_expected_http_token"),
    ("api_auth", "jwt_secret"),
    ("api", "secret_key"),
)

# Airflow loading itself, e.g. "[2017-04-19 10:04:34,927] {__init__.py:36} INFO - Using executor ...",
# "[...] {dagbag.py:588} INFO - Filling up the DagBag from ...", and Python's warnings. A task's own log
# lines (what `tasks test` prints) are kept.
LOADING_SOURCES = ("__init__.py", "dagbag.py", "configuration.py", "settings.py", "plugins_manager.py",
                   "executor_loader.py", "cli_action_loggers.py", "providers_manager.py", "default_celery.py",
                   "cli_parser.py", "plugins.py", "utils.py", "base_stats_logger.py", "logging_config.py")
LOG_LINE = re.compile(
    r"^\[\d{4}-\d{2}-\d{2}[ T][^\]]*\] \{(%s):\d+\} (INFO|DEBUG|WARNING) - "
    % "|".join(re.escape(source) for source in LOADING_SOURCES)
)
WARNING_LINE = re.compile(r"^\S+\.py:\d+ \w*(Warning|Deprecation)\w*: |^\s+warnings\.warn\(")
DEFAULT_TIMEOUT = 120
TIMEOUT_MARGIN = 10


def positional(value) -> str:
    """A user value where the command expects a positional argument: never an option."""
    text = str(value)
    if text.startswith("-"):
        raise BadRequest(f"Invalid argument {text!r}: a value may not start with '-'")
    return text


def option(flag: str, value) -> list[str]:
    """``[]`` when unset, ``[flag]`` for True, ``[flag=VALUE]`` for a value: one argument either way."""
    if value is None or value is False:
        return []
    if value is True:
        return [flag]
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return [f"{flag}={text}"]


def display_run(args: dict) -> list[str]:
    """The run as the CLI names it, for a displayed command: its logical date, else its run_id."""
    return [args["logical_date"].isoformat()] if args.get("logical_date") else [args.get("run_id", "")]


def check_allowed(command: list[str]) -> None:
    if tuple(command[:2]) == SERVE_LOGS_PROGRAM:
        return
    if not any(tuple(command[: len(allowed)]) == allowed for allowed in ALLOWED_COMMANDS):
        raise BadRequest(f"The command 'airflow {' '.join(command[:2])}' is not allowed")


def program(command: list[str]) -> list[str]:
    """The full argv for an ``airflow ...`` command (given without ``airflow``), after the allowlist check."""
    command = [str(part) for part in command]
    check_allowed(command)
    if tuple(command[:2]) == SERVE_LOGS_PROGRAM:
        return [sys.executable, *command]
    return [sys.executable, "-m", "airflow", *command]


def serve_logs_command() -> list[str]:
    return list(SERVE_LOGS_PROGRAM)


def child_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Only the variables Airflow and Python need; nothing else of the webserver's environment."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name in ENVIRONMENT_NAMES or name.startswith(ENVIRONMENT_PREFIXES)
    }
    # Executors start `airflow ...` by name: find the webserver's own installation first.
    interpreter_bin = os.path.dirname(sys.executable)
    path = env.get("PATH", os.defpath).split(os.pathsep)
    env["PATH"] = os.pathsep.join([interpreter_bin, *(p for p in path if p != interpreter_bin)])
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra or {})
    return env


def child_environment_without_secrets(extra: dict[str, str] | None = None) -> dict[str, str]:
    """``child_environment`` for a process that runs DAG code (the DAG processor child): what Airflow needs to
    parse and store DAGs (database, fernet key, DAGs folder, AIRFLOW_HOME...), but none of WEBSERVER_SECRETS.

    Each is overridden with a random value, which Airflow's configuration reads before airflow.cfg and before
    the _CMD and _SECRET variants; the variants are dropped too.
    """
    env = child_environment(extra)
    for section, key in WEBSERVER_SECRETS:
        name = f"AIRFLOW__{section.upper()}__{key.upper()}"
        env.pop(f"{name}_CMD", None)
        env.pop(f"{name}_SECRET", None)
        env[name] = secrets.token_urlsafe(32)
    return env


def timeout() -> int:
    """Seconds a synchronous command may take: ``cli_timeout``, else the worker timeout minus a margin."""
    from airflow.configuration import conf

    configured = config._get("cli_timeout")
    if configured:
        return max(1, int(configured))
    worker_timeout = conf.getint("webserver", "web_server_worker_timeout", fallback=DEFAULT_TIMEOUT)
    return max(5, worker_timeout - TIMEOUT_MARGIN)


def filter_noise(text: str) -> str:
    if not config.filter_loading_messages():
        return text
    kept = [line for line in text.splitlines() if not (LOG_LINE.match(line) or WARNING_LINE.match(line))]
    return "\n".join(kept).strip("\n")
