"""What each argument means, for the page and docs/endpoints.md: one sentence per argument name.

Arguments keep the same meaning wherever they appear; a field whose meaning differs for one endpoint says
so itself with ``metadata={"description": ...}``, which wins over this glossary.
"""

from __future__ import annotations

IGNORED = "Accepted for old clients and ignored: it means nothing on Airflow 2 (the answer's warning says so)."

HELP: dict[str, str] = {
    # DAGs, runs, tasks
    "dag_id": "The DAG's id.",
    "task_id": "The task's id.",
    "run_id": "The DAG run's id.",
    "execution_date": "The run's logical date, ISO 8601 (e.g. 2024-01-02T03:04:05; naive means the default "
    "timezone). Also spelled exec_date or logical_date.",
    "exec_date": "Same as execution_date.",
    "logical_date": "Same as execution_date (Airflow 2's name).",
    "map_index": "The index of a mapped task instance (-1, the default, for an unmapped task).",
    "conf": "The run's configuration: a JSON object, URL-encoded in a query string.",
    "replace_microseconds": "Zero the microseconds of the logical date. Unset: a generated date is the whole "
    "second when no run of the DAG holds it (as `airflow dags trigger`), else the exact time; a given date keeps "
    "them. true: whole seconds, 409 if the second is taken; false: the exact time.",
    "subdir": "A file or folder inside the DAGs folder (for scheduler, only the DAGs folder itself). Accepted "
    "for old clients where DAGs are read from the database.",
    "report": "Add the DAG files' import errors (the DAG bag's loading report).",
    "paused": "Only paused (true) or only active (false) DAGs.",
    "limit": "At most this many DAGs (unset: all of them); total_entries counts them all.",
    "offset": "Skip this many DAGs first (with limit: the page to show).",
    "tree": "Draw the tasks as a dependency tree.",
    "state": "Only runs in this state: queued, running, success or failed.",
    "no_backfill": "Leave out the runs that backfills made.",
    "num_executions": "How many of the next runs to show (1 to 1000).",
    "format": "dot: the DOT text only; svg: also the picture (data.svg), drawn by Graphviz's dot, which must be "
    "installed on the web server.",
    "task_regex": "A Python regular expression selecting task ids.",
    "start_date": "First logical date of the range, ISO 8601.",
    "end_date": "Last logical date of the range, ISO 8601.",
    "upstream": "Also the upstream tasks of the selected ones.",
    "downstream": "Also the downstream tasks of the selected ones.",
    "only_failed": "Only failed task instances.",
    "only_running": "Only running task instances.",
    "no_confirm": "Accepted for old clients: the plugin never asks for a confirmation.",
    "dry_run": "Show what would happen and change nothing.",
    "dryrun": "Same as dry_run.",
    "task_params": "Task params as a JSON object, for this test run only.",
    "mark_success": "Mark the task instances successful without running them.",
    "force": "Run even if the task instance already succeeded; for deploy_dag, replace an existing file "
    "(the old one is kept as a backup).",
    "pool": "The pool the task instances run in.",
    "local": "Run with the LocalTaskJob, as the scheduler does.",
    "ignore_all_dependencies": "Ignore every dependency, upstream or not.",
    "ignore_dependencies": "Ignore task-specific dependencies (upstream, depends_on_past, retry delay).",
    "ignore_depends_on_past": "Ignore depends_on_past.",
    "ignore_first_depends_on_past": "Ignore depends_on_past for the first run of the range.",
    "rerun_failed_tasks": "Re-run failed task instances of the range instead of stopping.",
    "reset_dagruns": "Reset the existing runs of the range first.",
    "run_backwards": "Run the most recent logical dates first.",
    "continue_on_failures": "Keep going when a task fails.",
    "disable_retry": "Do not retry failed tasks.",
    "delete_file": "Also remove the DAG's file, when that file defines only this DAG (a backup is kept).",
    "dag_file": "The DAG file: a multipart/form-data file part, a *.py file.",
    "pause": "Pause the uploaded DAGs.",
    "unpause": "Unpause the uploaded DAGs.",
    # pools
    "pool_name": "The pool's name.",
    "slot_count": "The pool's number of slots (-1: unlimited).",
    "pool_description": "The pool's description.",
    "include_deferred": "Count deferred tasks against the pool's slots.",
    # variables
    "key": "The variable's key.",
    "value": "The variable's value (with json, a JSON document).",
    "json": "The value is JSON: stored serialized, returned deserialized.",
    "default": "Returned when the variable does not exist, instead of a 404.",
    "import": "A JSON object of key: value to store (also as the request body or an uploaded file).",
    "export": "Export every variable as one JSON object (secret values masked).",
    "description": "For pool, the pool's description (the original README's spelling of pool_description); "
    "for variables, the variable's description.",
    # connections
    "conn_id": "The connection's id.",
    "conn_uri": "The connection as a URI, e.g. postgres://user:password@host:5432/schema.",
    "conn_type": "The connection type, e.g. postgres or http (instead of conn_uri).",
    "conn_host": "The host.",
    "conn_login": "The login.",
    "conn_password": "The password (never shown in any answer).",
    "conn_schema": "The schema.",
    "conn_port": "The port.",
    "conn_extra": "Extra settings as a JSON object.",
    "conn_description": "The connection's description.",
    # actions of pool, variables and connections
    "cmd": "The action, spelled as the original plugin's cmd argument.",
    "get": "Get one: its name or key.",
    "delete": "Delete one: its name or key.",
    "list": "List them (the default action).",
    "add": "Add a connection.",
    # processes and jobs
    "wait": "Wait for the command to end and answer with its output (false: answer at once with a job); "
    "answers at once (202) when as many calls already wait as the webserver's workers allow.",
    "timeout": "Seconds to wait with wait=true (bounded by the web server's worker timeout).",
    "num_runs": "Scheduler loops before it exits (-1: forever).",
    "skip_serve_logs": "Do not start the log server with the scheduler.",
    "do_pickle": "Pickle DAGs for the workers (Airflow 1 workers).",
    "queues": "Comma-separated Celery queues the worker consumes.",
    "concurrency": "Number of worker processes.",
    "hostname": "For worker, the Celery node name (e.g. worker1@%h); for flower, the address it binds to.",
    "port": "The port flower listens on.",
    "broker_api": "The broker's management API URL, for flower.",
    "url_prefix": "A URL prefix for flower behind a proxy.",
    "principal": "The Kerberos principal.",
    "keytab": "The keytab file.",
    "job_id": "A background job's id, as returned when it started.",
    "lines": "How many lines of the job's stdout, and of its stderr, to return.",
}

# Old arguments that mean nothing on Airflow 2; listed by the schemas in ``IGNORED`` too.
for _name in (
    "cfg_path",
    "ship_dag",
    "pickle",
    "donot_pickle",
    "include_adhoc",
    "exclude_subdags",
    "exclude_parentdag",
    "pid",
    "daemon",
    "stdout",
    "stderr",
    "log-file",
    "run-duration",
    "flower_conf",
):
    HELP.setdefault(_name, IGNORED)
