"""The one declarative list of endpoints. Dispatch, permissions, the page and the docs all read it.

Adding an endpoint is one ``Endpoint(...)`` entry here plus its handler in ``services/``.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Callable, Union

from marshmallow import Schema

from rest_api_plugin.cli import display_run
from rest_api_plugin.result import CallContext, Result
from rest_api_plugin.schemas.connections import ConnectionsSchema
from rest_api_plugin.schemas.dags import (
    DagSchema,
    DagStateSchema,
    ListDagsSchema,
    ListTasksSchema,
    TaskSchema,
    TriggerDagSchema,
)
from rest_api_plugin.schemas.meta import NoArgumentsSchema
from rest_api_plugin.schemas.pools import PoolSchema
from rest_api_plugin.schemas.variables import VariablesSchema
from rest_api_plugin.services import connections, dags, meta, pools, tasks, variables
from rest_api_plugin.schemas.dag_files import (
    DeleteDagSchema,
    DeployDagSchema,
    RefreshAllDagsSchema,
    RefreshDagSchema,
)
from rest_api_plugin.schemas.processes import (
    FlowerSchema,
    JobsSchema,
    KerberosSchema,
    SchedulerSchema,
    ServeLogsSchema,
    StopJobSchema,
    WorkerSchema,
)
from rest_api_plugin.schemas.tasks import BackfillSchema, ClearSchema, RunTaskSchema, TestTaskSchema
from rest_api_plugin.services import dag_files, processes, task_commands

RESOURCE = "REST API Plugin"

Handler = Callable[[dict, CallContext], Result]
CliBuilder = Callable[[dict], list]


@dataclass(frozen=True)
class Endpoint:
    name: str
    description: str
    group: str  # dags, tasks, runs, pools, variables, connections, processes, deployment, about
    schema: type[Schema]
    handler: Handler
    cli: CliBuilder  # the equivalent `airflow ...` command, for display (and for CLI-backed endpoints)
    changes_state: Union[bool, Callable[[dict], bool]] = False
    dag_access: tuple | None = None  # (method, DagAccessEntity name or None) checked per DAG for users
    example: str = ""  # a typical query string (after api=NAME), for the docs and the page

    @property
    def permission(self) -> str:
        return f"can_{self.name}"

    @property
    def read_only(self) -> bool:
        return self.changes_state is False

    def writes(self, args: dict) -> bool:
        return self.changes_state(args) if callable(self.changes_state) else self.changes_state

    def command(self, args: dict) -> str:
        return shlex.join(["airflow", *(str(part) for part in self.cli(args))])


def _opt(args: dict, name: str, flag: str) -> list:
    value = args.get(name)
    if value is None or value is False:
        return []
    if value is True:
        return [flag]
    return [flag, value.isoformat() if hasattr(value, "isoformat") else value]


def _action_is_not(*reads: str) -> Callable[[dict], bool]:
    return lambda args: args["action"] not in reads


def _pool_cli(args: dict) -> list:
    action = args["action"]
    if action == "set":
        return ["pools", "set", args["pool_name"], args["slot_count"], args.get("pool_description", "")]
    return ["pools", action, *([args["pool_name"]] if action in ("get", "delete") else [])]


def _variables_cli(args: dict) -> list:
    action = args["action"]
    json_flag = ["--json"] if args.get("json") else []
    if action == "set":
        return ["variables", "set", *json_flag, args["key"], "***"]
    if action == "get":
        default = ["--default", args["default"]] if "default" in args else []
        return ["variables", "get", *json_flag, *default, args["key"]]
    if action == "delete":
        return ["variables", "delete", args["key"]]
    if action in ("import", "export"):
        return ["variables", action, "-"]
    return ["variables", "list"]


def _connections_cli(args: dict) -> list:
    action = args["action"]
    if action == "add":
        fields = ["--conn-uri", "***"] if args.get("conn_uri") else ["--conn-type", args["conn_type"]]
        return ["connections", "add", args["conn_id"], *fields]
    if action == "delete":
        return ["connections", "delete", args["conn_id"]]
    return ["connections", "list"]


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        name="version",
        example="",
        description="The version of Airflow that is running.",
        group="about",
        schema=NoArgumentsSchema,
        handler=meta.airflow_version,
        cli=lambda args: ["version"],
    ),
    Endpoint(
        name="rest_api_plugin_version",
        example="",
        description="The version of this REST API plugin.",
        group="about",
        schema=NoArgumentsSchema,
        handler=meta.plugin_version,
        cli=lambda args: ["rest_api_plugin_version"],
    ),
    Endpoint(
        name="list_dags",
        example="report=true",
        description="List the DAGs in the database; report=true adds the DAG files' import errors.",
        group="dags",
        schema=ListDagsSchema,
        handler=dags.list_dags,
        cli=lambda args: ["dags", "report"] if args.get("report") else ["dags", "list"],
    ),
    Endpoint(
        name="list_tasks",
        example="dag_id=sample_dag&tree=true",
        description="List the tasks of a DAG (tree=true draws the dependency tree).",
        group="dags",
        schema=ListTasksSchema,
        handler=dags.list_tasks,
        cli=lambda args: ["tasks", "list", *_opt(args, "tree", "--tree"), args["dag_id"]],
        dag_access=("GET", "TASK"),
    ),
    Endpoint(
        name="pause",
        example="dag_id=sample_dag",
        description="Pause a DAG.",
        group="dags",
        schema=DagSchema,
        handler=dags.pause,
        cli=lambda args: ["dags", "pause", args["dag_id"]],
        changes_state=True,
        dag_access=("PUT", None),
    ),
    Endpoint(
        name="unpause",
        example="dag_id=sample_dag",
        description="Resume a paused DAG.",
        group="dags",
        schema=DagSchema,
        handler=dags.unpause,
        cli=lambda args: ["dags", "unpause", args["dag_id"]],
        changes_state=True,
        dag_access=("PUT", None),
    ),
    Endpoint(
        name="trigger_dag",
        example="dag_id=sample_dag&run_id=my_run&conf=%7B%22key%22%3A%22value%22%7D",
        description="Trigger a DAG run, with an optional run_id, conf (URL-encoded JSON) and logical date.",
        group="runs",
        schema=TriggerDagSchema,
        handler=dags.trigger_dag,
        cli=lambda args: [
            "dags", "trigger",
            *_opt(args, "run_id", "--run-id"),
            *(["--conf", "<json>"] if args.get("conf") else []),
            *_opt(args, "logical_date", "--exec-date"),
            args["dag_id"],
        ],
        changes_state=True,
        dag_access=("POST", "RUN"),
    ),
    Endpoint(
        name="dag_state",
        example="dag_id=sample_dag&execution_date=2024-01-02T00:00:00",
        description="The state of a DAG run, named by its execution_date (or run_id).",
        group="runs",
        schema=DagStateSchema,
        handler=dags.dag_state,
        cli=lambda args: ["dags", "state", args["dag_id"], *display_run(args)],
        dag_access=("GET", "RUN"),
    ),
    Endpoint(
        name="task_state",
        example="dag_id=sample_dag&task_id=extract&execution_date=2024-01-02T00:00:00",
        description="The state of a task instance.",
        group="tasks",
        schema=TaskSchema,
        handler=tasks.task_state,
        cli=lambda args: ["tasks", "state", args["dag_id"], args["task_id"], *display_run(args)],
        dag_access=("GET", "TASK_INSTANCE"),
    ),
    Endpoint(
        name="pool",
        example="cmd=set&pool_name=my_pool&slot_count=5&pool_description=nightly+loads",
        description="Pools: cmd=set with pool_name, slot_count and pool_description; get=NAME; "
        "delete=NAME; with no action, list them.",
        group="pools",
        schema=PoolSchema,
        handler=pools.pool,
        cli=_pool_cli,
        changes_state=_action_is_not("get", "list"),
    ),
    Endpoint(
        name="variables",
        example="cmd=set&key=my_key&value=my_value",
        description="Variables: cmd=set with key and value; get=KEY (json, default); delete=KEY; "
        "import=JSON object; export; with no action, list the keys.",
        group="variables",
        schema=VariablesSchema,
        handler=variables.variables,
        cli=_variables_cli,
        changes_state=_action_is_not("get", "list", "export"),
    ),
    Endpoint(
        name="connections",
        example="add=on&conn_id=my_db&conn_uri=postgres%3A%2F%2Fuser%3Apass%40db.example.com%3A5432%2Fsales",
        description="Connections: list; add with conn_id and conn_uri (or conn_type and fields); "
        "delete with conn_id. Passwords are never shown.",
        group="connections",
        schema=ConnectionsSchema,
        handler=connections.connections,
        cli=_connections_cli,
        changes_state=_action_is_not("list"),
    ),
)

# --- Task commands, daemons, background jobs and DAG files (issue 3) ---

ENDPOINTS += (
    Endpoint(
        name="render",
        example="dag_id=sample_dag&task_id=extract&execution_date=2024-01-02T00:00:00",
        description="Render a task instance's template fields for an execution_date (or run_id).",
        group="tasks",
        schema=TaskSchema,
        handler=task_commands.render,
        cli=task_commands.render_command,
        dag_access=("GET", "TASK_INSTANCE"),
    ),
    Endpoint(
        name="task_failed_deps",
        example="dag_id=sample_dag&task_id=extract&execution_date=2024-01-02T00:00:00",
        description="Why the scheduler would not queue a task instance: its unmet dependencies.",
        group="tasks",
        schema=TaskSchema,
        handler=task_commands.task_failed_deps,
        cli=task_commands.failed_deps_command,
        dag_access=("GET", "TASK_INSTANCE"),
    ),
    Endpoint(
        name="test",
        example="dag_id=sample_dag&task_id=extract&execution_date=2024-01-02T00:00:00&dry_run=true",
        description="Test a task instance (airflow tasks test; dry_run, task_params). Waits for the output "
        "by default (wait=false: a background job).",
        group="tasks",
        schema=TestTaskSchema,
        handler=task_commands.test,
        cli=task_commands.test_command,
        changes_state=True,
        dag_access=("POST", "RUN"),
    ),
    Endpoint(
        name="run",
        example="dag_id=sample_dag&task_id=extract&execution_date=2024-01-02T00:00:00&local=true",
        description="Run a task instance (airflow tasks run). Waits for the output by default "
        "(wait=false: a background job).",
        group="tasks",
        schema=RunTaskSchema,
        handler=task_commands.run,
        cli=task_commands.run_command,
        changes_state=True,
        dag_access=("POST", "RUN"),
    ),
    Endpoint(
        name="clear",
        example="dag_id=sample_dag&task_regex=extract&start_date=2024-01-01&end_date=2024-01-31&downstream=true",
        description="Clear task instances (task_regex, start_date, end_date, upstream, downstream, "
        "only_failed, only_running); never asks for a confirmation. dry_run lists them only.",
        group="tasks",
        schema=ClearSchema,
        handler=task_commands.clear,
        cli=task_commands.clear_command,
        changes_state=lambda args: not args.get("dry_run"),
        dag_access=("PUT", "TASK_INSTANCE"),
    ),
    Endpoint(
        name="backfill",
        example="dag_id=sample_dag&start_date=2024-01-01&end_date=2024-01-03",
        description="Run a DAG for a date range (airflow dags backfill) as a background job.",
        group="runs",
        schema=BackfillSchema,
        handler=task_commands.backfill,
        cli=task_commands.backfill_command,
        changes_state=True,
        dag_access=("POST", "RUN"),
    ),
    Endpoint(
        name="scheduler",
        example="num_runs=1",
        description="Start a scheduler (num_runs, subdir) as a background job.",
        group="processes",
        schema=SchedulerSchema,
        handler=processes.scheduler,
        cli=processes.scheduler_command,
        changes_state=True,
    ),
    Endpoint(
        name="worker",
        example="queues=default&concurrency=4",
        description="Start a Celery worker (queues, concurrency, hostname) as a background job.",
        group="processes",
        schema=WorkerSchema,
        handler=processes.worker,
        cli=processes.worker_command,
        changes_state=True,
    ),
    Endpoint(
        name="flower",
        example="hostname=0.0.0.0&port=5555",
        description="Start Flower, the Celery monitoring UI (hostname, port, broker_api), as a background job.",
        group="processes",
        schema=FlowerSchema,
        handler=processes.flower,
        cli=processes.flower_command,
        changes_state=True,
    ),
    Endpoint(
        name="kerberos",
        example="principal=airflow%40EXAMPLE.COM&keytab=%2Fetc%2Fairflow.keytab",
        description="Start the Kerberos ticket renewer (principal, keytab) as a background job; "
        "needs apache-airflow[kerberos].",
        group="processes",
        schema=KerberosSchema,
        handler=processes.kerberos,
        cli=processes.kerberos_command,
        changes_state=True,
    ),
    Endpoint(
        name="serve_logs",
        example="",
        description="Start the worker log server (airflow.utils.serve_logs) as a background job.",
        group="processes",
        schema=ServeLogsSchema,
        handler=processes.serve_logs,
        cli=lambda args: ["serve_logs"],
        changes_state=True,
    ),
    Endpoint(
        name="jobs",
        example="job_id=JOB_ID",
        description="Background jobs: all of them, or one (job_id) with its state, exit code and log tail.",
        group="processes",
        schema=JobsSchema,
        handler=processes.list_jobs,
        cli=lambda args: ["jobs", *([args["job_id"]] if args.get("job_id") else [])],
    ),
    Endpoint(
        name="stop_job",
        example="job_id=JOB_ID",
        description="Stop a background job (SIGTERM to its processes, SIGKILL after a grace period).",
        group="processes",
        schema=StopJobSchema,
        handler=processes.stop_job,
        cli=lambda args: ["stop_job", args["job_id"]],
        changes_state=True,
    ),
    Endpoint(
        name="deploy_dag",
        example="dag_file=@my_dag.py&force=on&unpause=on",
        description="Upload a DAG file (multipart POST, file part dag_file; force, pause, unpause). It is "
        "parsed in a separate process before it is installed, and written to the database at once.",
        group="deployment",
        schema=DeployDagSchema,
        handler=dag_files.deploy_dag,
        cli=lambda args: ["deploy_dag"],
        changes_state=True,
    ),
    Endpoint(
        name="delete_dag",
        example="dag_id=my_dag",
        description="Delete a DAG's records (refused while tasks run); delete_file=true also removes its "
        "file when it holds only this DAG.",
        group="deployment",
        schema=DeleteDagSchema,
        handler=dag_files.delete_dag,
        cli=lambda args: ["dags", "delete", "--yes", args["dag_id"]],
        changes_state=True,
        dag_access=("DELETE", None),
    ),
    Endpoint(
        name="refresh_dag",
        example="dag_id=sample_dag",
        description="Re-parse a DAG's file into the database now.",
        group="deployment",
        schema=RefreshDagSchema,
        handler=dag_files.refresh_dag,
        cli=lambda args: ["dags", "reserialize", "--subdir", "<fileloc of " + args["dag_id"] + ">"],
        changes_state=True,
        dag_access=("PUT", None),
    ),
    Endpoint(
        name="refresh_all_dags",
        example="",
        description="Re-parse the whole DAGs folder into the database; DAGs whose files are gone become inactive.",
        group="deployment",
        schema=RefreshAllDagsSchema,
        handler=dag_files.refresh_all_dags,
        cli=lambda args: ["dags", "reserialize"],
        changes_state=True,
    ),
)

BY_NAME: dict[str, Endpoint] = {endpoint.name: endpoint for endpoint in ENDPOINTS}


def get(name: str) -> Endpoint | None:
    return BY_NAME.get(name)


def permissions() -> list[str]:
    return [endpoint.permission for endpoint in ENDPOINTS]
