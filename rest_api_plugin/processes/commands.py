"""The one place that builds ``airflow ...`` subprocesses: their argv, their environment, their time bound,
and the filter that keeps Airflow's start-up noise out of what they printed; ``jobs.py`` runs them (as
background jobs, waited for when the caller asks).

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
import shlex
import sys
from dataclasses import dataclass
from functools import lru_cache

from rest_api_plugin import config
from rest_api_plugin.airflow_compat import this_line
from rest_api_plugin.errors import BadRequest

line_commands = this_line("commands")

# airflow subcommands (as argv prefixes) the plugin may run: the same on both lines, and the line's own task
# and run commands (Airflow 2: tasks run, dags backfill; Airflow 3: backfill create)
ALLOWED_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("tasks", "test"),
    *line_commands.ALLOWED_COMMANDS,
    ("scheduler",),
    ("dag-processor",),
    ("dags", "test"),
    ("triggerer",),
    ("celery", "worker"),
    ("celery", "flower"),
    ("kerberos",),
)
# The log server has no CLI command (on either line): this exact program runs it.
SERVE_LOGS_PROGRAM = ("-c", "from airflow.utils.serve_logs import serve_logs; serve_logs()")

ENVIRONMENT_NAMES = {
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "KRB5CCNAME",
    "KRB5_CONFIG",
    "KRB5_KTNAME",
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
}
ENVIRONMENT_PREFIXES = ("AIRFLOW", "LC_")

# Settings of the webserver that a process running DAG code must not read: the key that signs its sessions,
# the plugin's tokens, and on Airflow 3 the API server's signing keys. Each may come from airflow.cfg or from
# AIRFLOW__SECTION__KEY, or its _CMD and _SECRET variants: see child_environment_without_secrets.
WEBSERVER_SECRETS = (
    ("webserver", "secret_key"),
    ("rest_api_plugin", "rest_api_plugin_expected_http_token"),
    ("webserver", "rest_api_plugin_expected_http_token"),
    ("rest_api_plugin", "tokens"),  # the named tokens' document, and where it lies
    ("webserver", "tokens"),
    ("rest_api_plugin", "tokens_file"),
    ("webserver", "tokens_file"),
    ("api_auth", "jwt_secret"),
    ("api", "secret_key"),
)

# What every Airflow process prints while it loads, on Airflow 2.11 (checked on `tasks test`, `tasks run` and
# `dags backfill`): on stdout, log lines of its loading modules, e.g.
#   [2026-11-26T04:43:42.461+0000] {dagbag.py:588} INFO - Filling up the DagBag from /opt/airflow/dags
# and on stderr, Python warnings in Airflow's one-line format (airflow.settings.custom_show_warning), e.g.
#   /.../airflow/metrics/base_stats_logger.py:22 RemovedInAirflow3Warning: Timer and timing metrics ...
#   /.../airflow/cli/commands/dag_command.py:48 UserWarning: Could not import graphviz. ...
# or, before Airflow replaces warnings.showwarning, in Python's own format followed by the source line:
#   /.../module.py:12: DeprecationWarning: ...
#     warnings.warn(
# A task's own log lines (taskinstance.py, subprocess.py, its prints) and its own warnings are kept.
LOADING_SOURCES = (
    "__init__.py",
    "dagbag.py",
    "configuration.py",
    "settings.py",
    "plugins_manager.py",
    "executor_loader.py",
    "cli_action_loggers.py",
    "providers_manager.py",
    "default_celery.py",
    "cli_parser.py",
    "plugins.py",
    "utils.py",
    "base_stats_logger.py",
    "logging_config.py",
)
LOG_LINE = re.compile(
    r"^\[\d{4}-\d{2}-\d{2}[ T][^\]]*\] \{(%s):\d+\} (INFO|DEBUG|WARNING) - "
    % "|".join(re.escape(source) for source in LOADING_SOURCES)
)
# On Airflow 3 every process logs through structlog, on stdout, one line per event (warnings included, on the
# py.warnings logger), e.g.
#   2026-11-26T09:09:36.323130Z [info     ] Filling up the DagBag from /opt/airflow/dags
#       [airflow.dag_processing.dagbag.BundleDagBag] loc=dagbag.py:460
#   2026-11-26T09:09:36.331221Z [warning  ] The `airflow.operators.bash.BashOperator` attribute is deprecated. ...
#       [py.warnings] category=UserWarning filename=/opt/airflow/dags/x.py lineno=6
#   (each on one line)
# (checked on `tasks test`, `backfill create`, `scheduler` and `dag-processor` of 3.3.2): the event, then its
# logger in brackets, then key=value fields. Lines of these loggers, and their children, are loading noise;
# a task's own lines (airflow.task..., task, the execution API's state changes) are kept.
LOADING_LOGGERS = (
    "airflow.dag_processing.bundles",
    "airflow.dag_processing.dagbag",
    "airflow.serialization",
    "airflow.models.dag",
    "airflow.plugins_manager",
    "airflow.providers_manager",
    "airflow.configuration",
    "airflow.settings",
    "airflow.executors.executor_loader",
    "airflow.utils.cli_action_loggers",
    "airflow.logging_config",
    "alembic.runtime.migration",
)
STRUCTLOG_LINE = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\S+ \[(?P<level>info|debug|warning)\s*\] (?P<event>.*) \[(?P<logger>[\w.]+)\]"
    r"(?P<fields>(?: \w+=.*)?)$"
)
STRUCTLOG_FIELD = re.compile(r"(?:^| )(?P<key>category|filename)=(?P<value>\S+)")
# file:line Category: message (Airflow's format) or file:line: Category: message (Python's)
WARNING_LINE = re.compile(r"^(?P<file>.+?\.py):\d+(?P<python_format>:)? (?P<category>[A-Za-z_]\w*): ")
DEPRECATION_CATEGORY = re.compile(r"Deprecat\w*Warning$|^FutureWarning$|^RemovedIn\w*Warning$")
DEFAULT_TIMEOUT = 120
TIMEOUT_MARGIN = 10


def check_allowed(command: list[str]) -> None:
    if tuple(command[:2]) == SERVE_LOGS_PROGRAM:
        return
    if not any(tuple(command[: len(allowed)]) == allowed for allowed in ALLOWED_COMMANDS):
        raise BadRequest(f"The command 'airflow {' '.join(command[:2])}' is not allowed")


@dataclass(frozen=True)
class Program:
    """What a job runs (``argv``) and how it is shown to people (``display``)."""

    argv: list[str]
    display: str


def program(command: list[str]) -> Program:
    """The program for an ``airflow ...`` command (given without ``airflow``), after the allowlist check."""
    command = [str(part) for part in command]
    check_allowed(command)
    if tuple(command[:2]) == SERVE_LOGS_PROGRAM:
        argv = [sys.executable, *command]
        return Program(argv=argv, display=shlex.join(argv))
    return Program(argv=[sys.executable, "-m", "airflow", *command], display=shlex.join(["airflow", *command]))


def serve_logs_argv() -> list[str]:
    return list(SERVE_LOGS_PROGRAM)


def child_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Only the variables Airflow and Python need (and ``extra``); nothing else of the webserver's environment."""
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
    # plain log lines in the job's files (Airflow 2.9 colours them even when stdout is not a terminal)
    env["AIRFLOW__LOGGING__COLORED_CONSOLE_LOG"] = "False"
    env.update(extra or {})
    return env


def child_environment_without_secrets(extra: dict[str, str] | None = None) -> dict[str, str]:
    """``child_environment`` for a process that runs DAG code (the DAG processor child): what Airflow needs to
    parse and store DAGs (database, fernet key, DAGs folder, AIRFLOW_HOME...), but none of WEBSERVER_SECRETS.

    Each is overridden with a random value, which Airflow's configuration reads before airflow.cfg and before
    the _CMD and _SECRET variants; the variants are dropped too.
    """
    env = child_environment(extra)
    for name in webserver_secret_variables():
        env.pop(f"{name}_CMD", None)
        env.pop(f"{name}_SECRET", None)
        env[name] = secrets.token_urlsafe(32)
    return env


def webserver_secret_variables() -> list[str]:
    """The AIRFLOW__SECTION__KEY names of WEBSERVER_SECRETS, which child_environment_without_secrets sets to
    random values."""
    return [f"AIRFLOW__{section.upper()}__{key.upper()}" for section, key in WEBSERVER_SECRETS]


def timeout() -> int:
    """Seconds a synchronous command may take: ``cli_timeout``, else the worker timeout minus a margin."""
    from airflow.configuration import conf

    configured = config.cli_timeout()
    if configured:
        return configured
    worker_timeout = conf.getint("webserver", "web_server_worker_timeout", fallback=DEFAULT_TIMEOUT)
    return max(5, worker_timeout - TIMEOUT_MARGIN)


def filter_noise(text: str) -> str:
    """``text`` (a command's stdout or stderr) without Airflow's loading noise, when
    ``filter_loading_messages_in_cli_response`` is on (the default)."""
    if not config.filter_loading_messages():
        return text
    kept: list[str] = []
    skip_source_line = False
    for line in text.splitlines():
        if skip_source_line and line[:1].isspace():
            skip_source_line = False  # the source line Python prints under a warning it formats itself
            continue
        skip_source_line = False
        if LOG_LINE.match(line) or _is_loading_event(line):
            continue
        warning = WARNING_LINE.match(line)
        if warning and _is_loading_warning(warning):
            skip_source_line = bool(warning.group("python_format"))
            continue
        kept.append(line)
    return "\n".join(kept).strip("\n")


def _is_loading_event(line: str) -> bool:
    """An Airflow 3 structlog line of a loading logger, or a loading warning (on the py.warnings logger)."""
    event = STRUCTLOG_LINE.match(line)
    if not event:
        return False
    logger = event.group("logger")
    if any(logger == name or logger.startswith(name + ".") for name in LOADING_LOGGERS):
        return True
    if logger != "py.warnings":
        return False
    fields = {found.group("key"): found.group("value") for found in STRUCTLOG_FIELD.finditer(event.group("fields"))}
    if DEPRECATION_CATEGORY.search(fields.get("category", "")) or "deprecated" in event.group("event").lower():
        return True  # Airflow 3's deprecated imports (airflow.operators...) warn as UserWarning from the DAG file
    filename = fields.get("filename")
    return bool(filename) and os.path.realpath(filename).startswith(_airflow_package() + os.sep)


def _is_loading_warning(warning: re.Match) -> bool:
    """Deprecations (Airflow's, a provider's or a DAG file's, printed at every parse) and whatever Airflow's
    own modules warn about while loading; a task's own warnings stay."""
    if DEPRECATION_CATEGORY.search(warning.group("category")):
        return True
    return os.path.realpath(warning.group("file")).startswith(_airflow_package() + os.sep)


@lru_cache(maxsize=1)
def _airflow_package() -> str:
    import airflow

    return os.path.realpath(os.path.dirname(airflow.__file__))
