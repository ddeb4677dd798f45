"""The one declarative list of endpoints. Dispatch, permissions, the page and the docs all read it.

Adding an endpoint is one ``Endpoint(...)`` entry here plus its handler in ``services/``.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from enum import Enum
from typing import Callable, Literal, Mapping, Optional, Union, get_args

from marshmallow import Schema

from rest_api_plugin import security
from rest_api_plugin.airflow_compat import AIRFLOW_3, DagAccessEntity
from rest_api_plugin.cli import display_run
from rest_api_plugin.result import CallContext, Result
from rest_api_plugin.schemas import data
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
    DagProcessorSchema,
    FlowerSchema,
    JobsSchema,
    KerberosSchema,
    SchedulerSchema,
    ServeLogsSchema,
    StopJobSchema,
    WorkerSchema,
)
from rest_api_plugin.schemas.tasks import BackfillSchema, ClearSchema, RunTaskSchema, TestTaskSchema
from rest_api_plugin.services import dag_files, processes, task_jobs

RESOURCE = security.RESOURCE  # the resource of every endpoint's permission

Handler = Callable[[dict, CallContext], Result]
# The equivalent CLI call, as the words after `airflow`: shown as the envelope's airflow_cmd.
AirflowCmd = Callable[[dict], list]
ResourceMethod = Literal["GET", "POST", "PUT", "DELETE"]


class Group(Enum):
    """The page's sections, in page order; the value is the section's title."""

    ABOUT = "About"
    DAGS = "DAGs"
    RUNS = "DAG runs"
    TASKS = "Tasks"
    POOLS = "Pools"
    VARIABLES = "Variables"
    CONNECTIONS = "Connections"
    PROCESSES = "Processes and background jobs"
    DEPLOYMENT = "Deployment"

    @property
    def key(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class DagAccess:
    """What the auth manager must allow on the call's ``dag_id``, as the stable API checks the same operation:
    ``method`` on the DAG itself, or on one of its entities (its runs, task instances...)."""

    method: ResourceMethod
    entity: Optional[DagAccessEntity] = None

    def __post_init__(self):
        if self.method not in get_args(ResourceMethod):
            raise ValueError(f"DagAccess method must be one of {get_args(ResourceMethod)}, not {self.method!r}")


@dataclass(frozen=True)
class Action:
    """One action of an endpoint that has several (``cmd=set``, ``get=``...): its handler, whether it changes
    state, and its equivalent CLI call."""

    handler: Handler
    airflow_cmd: AirflowCmd
    writes: bool = False
    data: Optional[type[Schema]] = None  # the shape of its answer's data (schemas.data), for the OpenAPI document


@dataclass(frozen=True)
class Endpoint:
    name: str
    description: str
    group: Group
    schema: type[Schema]
    # one handler and its CLI call, or `actions` (a WithAction schema's data["action"] picks one)
    handler: Optional[Handler] = None
    airflow_cmd: Optional[AirflowCmd] = None
    actions: Mapping[str, Action] = field(default_factory=dict)
    changes_state: Union[bool, Callable[[dict], bool]] = False
    dag_access: Optional[DagAccess] = None  # checked on the call's dag_id for users (not the token)
    example: str = ""  # a typical query string (after api=NAME), for the docs and the page
    # The original plugin ran an `airflow` command for it and answered with the captured streams: in the
    # streams output formats, `output` is {"stdout", "stderr", "stdin"} (rest_api_plugin.output).
    cli_backed: bool = True
    data: Optional[type[Schema]] = None  # the shape of its answer's data (schemas.data), when it has one
    # HTTP statuses it may answer besides 200 and those every endpoint may (400, 401, 403, 413, 500, 503):
    # the OpenAPI document declares them
    errors: tuple[int, ...] = ()

    def __post_init__(self):
        if bool(self.actions) == bool(self.handler or self.airflow_cmd):
            raise ValueError(f"{self.name}: give a handler and its airflow_cmd, or actions")
        if self.actions and tuple(self.actions) != tuple(getattr(self.schema, "ACTIONS", ())):
            raise ValueError(f"{self.name}: actions {tuple(self.actions)} differ from {self.schema.__name__}.ACTIONS")

    @property
    def permission(self) -> str:
        return f"can_{self.name}"

    @property
    def read_only(self) -> bool:
        return self.changes_state is False and not any(action.writes for action in self.actions.values())

    def _action(self, args: dict) -> Action:
        return self.actions[args["action"]]

    def writes(self, args: dict) -> bool:
        if self.actions:
            return self._action(args).writes
        return self.changes_state(args) if callable(self.changes_state) else self.changes_state

    def run(self, args: dict, ctx: CallContext) -> Result:
        handler = self._action(args).handler if self.actions else self.handler
        return handler(args, ctx)

    def airflow_cmd_for(self, args: dict) -> str:
        """The envelope's ``airflow_cmd``: the equivalent CLI call, for display."""
        words = (self._action(args).airflow_cmd if self.actions else self.airflow_cmd)(args)
        return shlex.join(["airflow", *(str(word) for word in words)])


# A command run as a background job: 202 while it runs past the wait, 429 over the job caps, 409 when it fails.
DAEMON_ERRORS = (202, 409, 429)
JOB_ERRORS = (202, 404, 409, 429)
# An endpoint with no equivalent on Airflow 3 answers 501 there, saying what to use instead (listed on both
# lines: the contract is one document).
NOT_ON_AIRFLOW_3 = (501,)


def _opt(args: dict, name: str, flag: str) -> list:
    value = args.get(name)
    if value is None or value is False:
        return []
    if value is True:
        return [flag]
    return [flag, value.isoformat() if hasattr(value, "isoformat") else value]


def _json_flag(args: dict) -> list:
    return ["--json"] if args.get("json") else []


POOL_ACTIONS = {
    "set": Action(pools.set_pool, writes=True, data=data.Pool, airflow_cmd=lambda args: [
        "pools", "set", args["pool_name"], args["slot_count"], args.get("pool_description", "")]),
    "get": Action(pools.get_pool, data=data.Pool, airflow_cmd=lambda args: ["pools", "get", args["pool_name"]]),
    "delete": Action(pools.delete_pool, writes=True, data=data.Pool, airflow_cmd=lambda args: ["pools", "delete", args["pool_name"]]),
    "list": Action(pools.list_pools, data=data.PoolList, airflow_cmd=lambda args: ["pools", "list"]),
}
VARIABLE_ACTIONS = {
    "set": Action(variables.set_variable, writes=True, data=data.Variable, airflow_cmd=lambda args: [
        "variables", "set", *_json_flag(args), args["key"], "***"]),
    "get": Action(variables.get_variable, data=data.Variable, airflow_cmd=lambda args: [
        "variables", "get", *_json_flag(args), *(["--default", args["default"]] if "default" in args else []),
        args["key"]]),
    "delete": Action(variables.delete_variable, writes=True, data=data.Variable, airflow_cmd=lambda args: [
        "variables", "delete", args["key"]]),
    "list": Action(variables.list_variables, data=data.VariableKeys, airflow_cmd=lambda args: ["variables", "list"]),
    "import": Action(variables.import_variables, writes=True, data=data.VariablesImported, airflow_cmd=lambda args: ["variables", "import", "-"]),
    "export": Action(variables.export_variables, airflow_cmd=lambda args: ["variables", "export", "-"]),
}
CONNECTION_ACTIONS = {
    "list": Action(connections.list_connections, data=data.ConnectionList, airflow_cmd=lambda args: ["connections", "list"]),
    "add": Action(connections.add_connection, writes=True, data=data.Connection, airflow_cmd=lambda args: [
        "connections", "add", args["conn_id"],
        *(["--conn-uri", "***"] if args.get("conn_uri") else ["--conn-type", args["conn_type"]])]),
    "delete": Action(connections.delete_connection, writes=True, data=data.Connection, airflow_cmd=lambda args: [
        "connections", "delete", args["conn_id"]]),
}


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        name="version",
        data=data.Version,
        cli_backed=False,
        example="",
        description="The version of Airflow that is running.",
        group=Group.ABOUT,
        schema=NoArgumentsSchema,
        handler=meta.airflow_version,
        airflow_cmd=lambda args: ["version"],
    ),
    Endpoint(
        name="rest_api_plugin_version",
        data=data.Version,
        cli_backed=False,
        example="",
        description="The version of this REST API plugin.",
        group=Group.ABOUT,
        schema=NoArgumentsSchema,
        handler=meta.plugin_version,
        airflow_cmd=lambda args: ["rest_api_plugin_version"],
    ),
    Endpoint(
        name="list_dags",
        example="report=true",
        description="List the DAGs in the database (limit and offset page them); report=true adds the DAG files' import errors.",
        group=Group.DAGS,
        schema=ListDagsSchema,
        handler=dags.list_dags,
        airflow_cmd=lambda args: ["dags", "report"] if args.get("report") else ["dags", "list"],
    ),
    Endpoint(
        name="list_tasks",
        data=data.TaskList,
        errors=(404,),
        example="dag_id=sample_dag&tree=true",
        description="List the tasks of a DAG (tree=true draws the dependency tree).",
        group=Group.DAGS,
        schema=ListTasksSchema,
        handler=dags.list_tasks,
        airflow_cmd=lambda args: ["tasks", "list", *_opt(args, "tree", "--tree"), args["dag_id"]],
        dag_access=DagAccess("GET", DagAccessEntity.TASK),
    ),
    Endpoint(
        name="pause",
        data=data.Paused,
        errors=(404,),
        example="dag_id=sample_dag",
        description="Pause a DAG.",
        group=Group.DAGS,
        schema=DagSchema,
        handler=dags.pause,
        airflow_cmd=lambda args: ["dags", "pause", args["dag_id"]],
        changes_state=True,
        dag_access=DagAccess("PUT"),
    ),
    Endpoint(
        name="unpause",
        data=data.Paused,
        errors=(404,),
        example="dag_id=sample_dag",
        description="Resume a paused DAG.",
        group=Group.DAGS,
        schema=DagSchema,
        handler=dags.unpause,
        airflow_cmd=lambda args: ["dags", "unpause", args["dag_id"]],
        changes_state=True,
        dag_access=DagAccess("PUT"),
    ),
    Endpoint(
        name="trigger_dag",
        data=data.DagRun,
        errors=(404, 409),
        example="dag_id=sample_dag&run_id=my_run&conf=%7B%22key%22%3A%22value%22%7D",
        description="Trigger a DAG run, with an optional run_id, conf (URL-encoded JSON) and logical date.",
        group=Group.RUNS,
        schema=TriggerDagSchema,
        handler=dags.trigger_dag,
        airflow_cmd=lambda args: [
            "dags", "trigger",
            *_opt(args, "run_id", "--run-id"),
            *(["--conf", "<json>"] if args.get("conf") else []),
            *_opt(args, "logical_date", "--exec-date"),
            args["dag_id"],
        ],
        changes_state=True,
        dag_access=DagAccess("POST", DagAccessEntity.RUN),
    ),
    Endpoint(
        name="dag_state",
        data=data.DagRun,
        errors=(404,),
        example="dag_id=sample_dag&execution_date=2024-01-02T00:00:00",
        description="The state of a DAG run, named by its execution_date (or run_id).",
        group=Group.RUNS,
        schema=DagStateSchema,
        handler=dags.dag_state,
        airflow_cmd=lambda args: ["dags", "state", args["dag_id"], *display_run(args)],
        dag_access=DagAccess("GET", DagAccessEntity.RUN),
    ),
    Endpoint(
        name="task_state",
        data=data.TaskInstance,
        errors=(404,),
        example="dag_id=sample_dag&task_id=extract&execution_date=2024-01-02T00:00:00",
        description="The state of a task instance.",
        group=Group.TASKS,
        schema=TaskSchema,
        handler=tasks.task_state,
        airflow_cmd=lambda args: ["tasks", "state", args["dag_id"], args["task_id"], *display_run(args)],
        dag_access=DagAccess("GET", DagAccessEntity.TASK_INSTANCE),
    ),
    Endpoint(
        name="pool",
        errors=(404, 409),
        example="cmd=set&pool_name=my_pool&slot_count=5&pool_description=nightly+loads",
        description="Pools: cmd=set with pool_name, slot_count and pool_description; get=NAME; "
        "delete=NAME; with no action, list them.",
        group=Group.POOLS,
        schema=PoolSchema,
        actions=POOL_ACTIONS,
    ),
    Endpoint(
        name="variables",
        errors=(404, 415),
        example="cmd=set&key=my_key&value=my_value",
        description="Variables: cmd=set with key and value; get=KEY (json, default); delete=KEY; "
        "import=JSON object; export; with no action, list the keys.",
        group=Group.VARIABLES,
        schema=VariablesSchema,
        actions=VARIABLE_ACTIONS,
    ),
    Endpoint(
        name="connections",
        errors=(404, 409),
        example="add=on&conn_id=my_db&conn_uri=postgres%3A%2F%2Fuser%3Apass%40db.example.com%3A5432%2Fsales",
        description="Connections: list; add with conn_id and conn_uri (or conn_type and fields); "
        "delete with conn_id. Passwords are never shown.",
        group=Group.CONNECTIONS,
        schema=ConnectionsSchema,
        actions=CONNECTION_ACTIONS,
    ),
)

# --- Task commands, daemons, background jobs and DAG files (issue 3) ---

ENDPOINTS += (
    Endpoint(
        name="render",
        data=data.Rendered,
        errors=(404, 409),
        example="dag_id=sample_dag&task_id=extract&execution_date=2024-01-02T00:00:00",
        description="Render a task instance's template fields for an execution_date (or run_id).",
        group=Group.TASKS,
        schema=TaskSchema,
        handler=tasks.render,
        airflow_cmd=tasks.render_airflow_cmd,
        dag_access=DagAccess("GET", DagAccessEntity.TASK_INSTANCE),
    ),
    Endpoint(
        name="task_failed_deps",
        data=data.FailedDependencies,
        errors=(404,),
        example="dag_id=sample_dag&task_id=extract&execution_date=2024-01-02T00:00:00",
        description="Why the scheduler would not queue a task instance: its unmet dependencies.",
        group=Group.TASKS,
        schema=TaskSchema,
        handler=tasks.task_failed_deps,
        airflow_cmd=tasks.failed_deps_airflow_cmd,
        dag_access=DagAccess("GET", DagAccessEntity.TASK_INSTANCE),
    ),
    Endpoint(
        name="test",
        data=data.Job,
        errors=JOB_ERRORS,
        example="dag_id=sample_dag&task_id=extract&execution_date=2024-01-02T00:00:00",
        description="Test a task instance (airflow tasks test; task_params; dry_run on Airflow 2 only: Airflow 3 "
        "refuses it, use render). Waits for the output by default (wait=false: a background job).",
        group=Group.TASKS,
        schema=TestTaskSchema,
        handler=task_jobs.test,
        airflow_cmd=task_jobs.test_argv,
        changes_state=True,
        dag_access=DagAccess("POST", DagAccessEntity.RUN),
    ),
    Endpoint(
        name="run",
        data=data.Job,
        errors=JOB_ERRORS + NOT_ON_AIRFLOW_3,
        example="dag_id=sample_dag&task_id=extract&execution_date=2024-01-02T00:00:00&local=true",
        description="Run a task instance (airflow tasks run). Waits for the output by default "
        "(wait=false: a background job). Airflow 3 has no tasks run: 501 there (use trigger_dag, clear or test).",
        group=Group.TASKS,
        schema=RunTaskSchema,
        handler=task_jobs.run,
        airflow_cmd=task_jobs.run_argv,
        changes_state=True,
        dag_access=DagAccess("POST", DagAccessEntity.RUN),
    ),
    Endpoint(
        name="clear",
        data=data.Cleared,
        errors=(404,),
        example="dag_id=sample_dag&task_regex=extract&start_date=2024-01-01&end_date=2024-01-31&downstream=true",
        description="Clear task instances (task_regex, start_date, end_date, upstream, downstream, "
        "only_failed, only_running); never asks for a confirmation. dry_run lists them only.",
        group=Group.TASKS,
        schema=ClearSchema,
        handler=tasks.clear,
        airflow_cmd=tasks.clear_airflow_cmd,
        changes_state=lambda args: not args.get("dry_run"),
        dag_access=DagAccess("PUT", DagAccessEntity.TASK_INSTANCE),
    ),
    Endpoint(
        name="backfill",
        data=data.Job,
        errors=JOB_ERRORS,
        example="dag_id=sample_dag&start_date=2024-01-01&end_date=2024-01-03",
        description="Run a DAG for a date range as a background job: airflow dags backfill on Airflow 2; on "
        "Airflow 3 airflow backfill create, which queues the runs for the scheduler.",
        group=Group.RUNS,
        schema=BackfillSchema,
        handler=task_jobs.backfill,
        airflow_cmd=task_jobs.backfill_argv,
        changes_state=True,
        dag_access=DagAccess("POST", DagAccessEntity.RUN),
    ),
    Endpoint(
        name="scheduler",
        data=data.Job,
        errors=DAEMON_ERRORS,
        example="num_runs=1",
        description="Start a scheduler (num_runs, subdir) as a background job. On Airflow 3 it parses no DAG "
        "file: start a dag_processor too.",
        group=Group.PROCESSES,
        schema=SchedulerSchema,
        handler=processes.scheduler,
        airflow_cmd=processes.scheduler_command,
        changes_state=True,
    ),
    Endpoint(
        name="dag_processor",
        data=data.Job,
        errors=DAEMON_ERRORS,
        example="num_runs=1",
        description="Start a DAG processor, which parses the DAG files into the database (airflow dag-processor; "
        "num_runs; bundle_name on Airflow 3; subdir on Airflow 2, where it needs [scheduler] "
        "standalone_dag_processor = True), as a background job.",
        group=Group.PROCESSES,
        schema=DagProcessorSchema,
        handler=processes.dag_processor,
        airflow_cmd=processes.dag_processor_command,
        changes_state=True,
    ),
    Endpoint(
        name="worker",
        data=data.Job,
        errors=DAEMON_ERRORS,
        example="queues=default&concurrency=4",
        description="Start a Celery worker (queues, concurrency, hostname) as a background job.",
        group=Group.PROCESSES,
        schema=WorkerSchema,
        handler=processes.worker,
        airflow_cmd=processes.worker_command,
        changes_state=True,
    ),
    Endpoint(
        name="flower",
        data=data.Job,
        errors=DAEMON_ERRORS,
        example="hostname=0.0.0.0&port=5555",
        description="Start Flower, the Celery monitoring UI (hostname, port, broker_api), as a background job.",
        group=Group.PROCESSES,
        schema=FlowerSchema,
        handler=processes.flower,
        airflow_cmd=processes.flower_command,
        changes_state=True,
    ),
    Endpoint(
        name="kerberos",
        data=data.Job,
        errors=DAEMON_ERRORS,
        example="principal=airflow%40EXAMPLE.COM&keytab=%2Fetc%2Fairflow.keytab",
        description="Start the Kerberos ticket renewer (principal, keytab) as a background job; "
        "needs apache-airflow[kerberos].",
        group=Group.PROCESSES,
        schema=KerberosSchema,
        handler=processes.kerberos,
        airflow_cmd=processes.kerberos_command,
        changes_state=True,
    ),
    Endpoint(
        name="serve_logs",
        data=data.Job,
        errors=DAEMON_ERRORS,
        example="",
        description="Start the worker log server (airflow.utils.serve_logs) as a background job.",
        group=Group.PROCESSES,
        schema=ServeLogsSchema,
        handler=processes.serve_logs,
        airflow_cmd=lambda args: ["serve_logs"],
        changes_state=True,
    ),
    Endpoint(
        name="jobs",
        errors=(404,),
        cli_backed=False,
        example="job_id=JOB_ID",
        description="Background jobs you started or whose DAG you may read (all of them for admins); one "
        "(job_id) with its state, exit code and the tails of its stdout and stderr.",
        group=Group.PROCESSES,
        schema=JobsSchema,
        handler=processes.list_jobs,
        airflow_cmd=lambda args: ["jobs", *([args["job_id"]] if args.get("job_id") else [])],
    ),
    Endpoint(
        name="stop_job",
        data=data.Job,
        errors=(404, 409),
        cli_backed=False,
        example="job_id=JOB_ID",
        description="Stop a background job you started, or one whose DAG you may edit (SIGTERM to its "
        "processes, SIGKILL after a grace period).",
        group=Group.PROCESSES,
        schema=StopJobSchema,
        handler=processes.stop_job,
        airflow_cmd=lambda args: ["stop_job", args["job_id"]],
        changes_state=True,
    ),
    Endpoint(
        name="deploy_dag",
        errors=(409,),
        cli_backed=False,
        example="dag_file=@my_dag.py&force=on&unpause=on",
        description="Upload a DAG file (multipart POST, file part dag_file; force, pause, unpause). It is "
        "parsed in a separate process before it is installed, and written to the database at once.",
        group=Group.DEPLOYMENT,
        schema=DeployDagSchema,
        handler=dag_files.deploy_dag,
        airflow_cmd=lambda args: ["deploy_dag"],
        changes_state=True,
    ),
    Endpoint(
        name="delete_dag",
        errors=(404, 409),
        cli_backed=False,
        example="dag_id=my_dag",
        description="Delete a DAG's records (refused while tasks run); delete_file=true also removes its "
        "file when it holds only this DAG.",
        group=Group.DEPLOYMENT,
        schema=DeleteDagSchema,
        handler=dag_files.delete_dag,
        airflow_cmd=lambda args: ["dags", "delete", "--yes", args["dag_id"]],
        changes_state=True,
        dag_access=DagAccess("DELETE"),
    ),
    Endpoint(
        name="refresh_dag",
        errors=(404, 409),
        cli_backed=False,
        example="dag_id=sample_dag",
        description="Re-parse a DAG's file into the database now.",
        group=Group.DEPLOYMENT,
        schema=RefreshDagSchema,
        handler=dag_files.refresh_dag,
        airflow_cmd=lambda args: ["dags", "reserialize", "--subdir", "<fileloc of " + args["dag_id"] + ">"],
        changes_state=True,
        dag_access=DagAccess("PUT"),
    ),
    Endpoint(
        name="refresh_all_dags",
        errors=(409,),
        cli_backed=False,
        example="",
        description="Re-parse the whole DAGs folder into the database; DAGs whose files are gone become inactive.",
        group=Group.DEPLOYMENT,
        schema=RefreshAllDagsSchema,
        handler=dag_files.refresh_all_dags,
        airflow_cmd=lambda args: ["dags", "reserialize"],
        changes_state=True,
    ),
)

BY_NAME: dict[str, Endpoint] = {endpoint.name: endpoint for endpoint in ENDPOINTS}


def get(name: str) -> Endpoint | None:
    return BY_NAME.get(name)


def permissions() -> list[str]:
    return [endpoint.permission for endpoint in ENDPOINTS]
