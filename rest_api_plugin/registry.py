"""The one declarative list of endpoints. Dispatch, permissions, the page and the docs all read it.

Adding an endpoint is one ``Endpoint(...)`` entry here plus its handler in ``services/``.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from enum import Enum
from typing import Callable, Literal, Mapping, Optional, Union, get_args

from marshmallow import Schema

from rest_api_plugin import config, security
from rest_api_plugin.airflow_compat import DagAccessEntity
from rest_api_plugin.processes.argv import display_run
from rest_api_plugin.result import CallContext, Result
from rest_api_plugin.schemas import data
from rest_api_plugin.schemas.about import NoArgumentsSchema
from rest_api_plugin.schemas.connections import ConnectionsSchema
from rest_api_plugin.schemas.dags import (
    DagSchema,
    ListDagsSchema,
    ListImportErrorsSchema,
    ListTasksSchema,
    NextExecutionSchema,
    ShowDagSchema,
)
from rest_api_plugin.schemas.deployment import DeleteDagSchema, DeployDagSchema, RefreshAllDagsSchema, RefreshDagSchema
from rest_api_plugin.schemas.pools import PoolSchema
from rest_api_plugin.schemas.processes import (
    DagProcessorSchema,
    FlowerSchema,
    JobsSchema,
    KerberosSchema,
    SchedulerSchema,
    ServeLogsSchema,
    StopJobSchema,
    TriggererSchema,
    WorkerSchema,
)
from rest_api_plugin.schemas.runs import (
    BackfillSchema,
    DagStateSchema,
    DagTestSchema,
    ListRunsSchema,
    TriggerDagSchema,
)
from rest_api_plugin.schemas.tasks import ClearSchema, RunTaskSchema, TaskSchema, TestTaskSchema
from rest_api_plugin.schemas.variables import VariablesSchema
from rest_api_plugin.services import about, connections, dags, deployment, pools, processes, runs, tasks, variables

RESOURCE = security.RESOURCE  # the resource of every endpoint's permission

Handler = Callable[[dict, CallContext], Result]
# The equivalent CLI call, as the words after `airflow`: shown as the envelope's airflow_cmd.
AirflowCmd = Callable[[dict], list]
ResourceMethod = Literal["GET", "POST", "PUT", "DELETE"]
# Which DAGs a call acts on (DagAccess.scope), which decides how a caller limited to some DAGs (a user with
# DAG-level permissions, a token with dag_ids) is held to them:
# "dag_id": the call names one DAG: checked before the handler runs (DagAccess.method and entity);
# "per_dag": the handler checks or filters each DAG it touches (security.may_access_dag; DagAccess.rule says how);
# "no_dag": it touches no DAG (pools, variables, connections: the endpoint's permission or the token's grants);
# "every_dag": it acts on every DAG (daemons, refresh_all_dags): a token limited to some DAGs may not call it.
DagScope = Literal["dag_id", "per_dag", "no_dag", "every_dag"]


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
    """Which DAGs a call acts on (``scope``, see DagScope), and what the caller must be allowed on them, as the
    stable API checks the same operation: with scope "dag_id", ``method`` on the call's DAG itself or on one
    of its entities (``entity``: its runs, task instances...), and ``rule`` says in words what its handler
    checks besides; with scope "per_dag", ``rule`` says what the handler checks on each DAG (the docs show
    it)."""

    method: Optional[ResourceMethod] = None
    entity: Optional[DagAccessEntity] = None
    scope: DagScope = "dag_id"
    rule: str = ""

    def __post_init__(self):
        if self.scope not in get_args(DagScope):
            raise ValueError(f"DagAccess scope must be one of {get_args(DagScope)}, not {self.scope!r}")
        if (self.scope == "dag_id") != (self.method is not None):
            raise ValueError("DagAccess needs a method exactly when its scope is the call's dag_id")
        if self.method is not None and self.method not in get_args(ResourceMethod):
            raise ValueError(f"DagAccess method must be one of {get_args(ResourceMethod)}, not {self.method!r}")
        if self.scope in ("no_dag", "every_dag") and self.rule or self.scope == "per_dag" and not self.rule:
            raise ValueError("DagAccess says in words what its handler checks, and only where it checks DAGs")

    @property
    def description(self) -> str:
        """The rule, for people (docs/endpoints.md)."""
        if self.scope == "dag_id":
            on = f"its {self.entity.name.lower().replace('_', ' ')}s" if self.entity is not None else "the DAG"
            return f"{self.method} on {on} (the call's dag_id)" + (f"; {self.rule}" if self.rule else "")
        return {
            "per_dag": self.rule,
            "no_dag": "touches no DAG",
            "every_dag": "acts on every DAG: a caller limited to some DAGs may not call it",
        }[self.scope]


def per_dag(rule: str) -> DagAccess:
    """The handler checks each DAG it touches, as ``rule`` says."""
    return DagAccess(scope="per_dag", rule=rule)


NO_DAG = DagAccess(scope="no_dag")
EVERY_DAG = DagAccess(scope="every_dag")


@dataclass(frozen=True)
class OneOf:
    """An answer whose ``data`` has one of several shapes, which the call's arguments choose (``pick``)."""

    shapes: tuple[type[Schema], ...]
    pick: Callable[[dict], type[Schema]]


@dataclass(frozen=True)
class Action:
    """One action of an endpoint that has several (``cmd=set``, ``get=``...): its handler, whether it changes
    state, and its equivalent CLI call."""

    handler: Handler
    airflow_cmd: AirflowCmd
    data: type[Schema]  # the shape of its answer's data (schemas.data): what the answer is dumped through
    changes_state: bool = False


@dataclass(frozen=True)
class Endpoint:
    """One endpoint, ``/admin/rest_api/api?api=NAME``, declared once: what dispatch runs, the permission it
    needs (``can_<name>``), its DAG access, whether it changes state (then it is audit-logged, needs CSRF from
    a browser session and is left out of the read roles), the shape of its answer, and what the page, the docs
    and the OpenAPI document show of it."""

    name: str
    description: str
    group: Group
    schema: type[Schema]  # its arguments (schemas/<family>.py)
    dag_access: DagAccess  # which DAGs it acts on and what the caller needs on them
    # one handler and its CLI call, or `actions` (a WithAction schema's data["action"] picks one)
    handler: Optional[Handler] = None
    airflow_cmd: Optional[AirflowCmd] = None
    actions: Mapping[str, Action] = field(default_factory=dict)
    # whether a call changes state: True, False, or a function of the call's arguments (clear's dry_run)
    changes_state: Union[bool, Callable[[dict], bool]] = False
    example: str = ""  # a typical query string (after api=NAME), for the docs and the page
    # The original plugin ran an `airflow` command for it and answered with the captured streams: in the
    # streams output formats, `output` is {"stdout", "stderr", "stdin"} (rest_api_plugin.output).
    cli_backed: bool = True
    # the shape of its answer's data (schemas.data): the answer is dumped through it (with actions: each
    # action's own), and the OpenAPI document declares it
    data: Union[type[Schema], OneOf, None] = None
    # HTTP statuses it may answer besides 200 and those every endpoint may (400, 401, 403, 413, 500, 503):
    # the OpenAPI document declares them
    errors: tuple[int, ...] = ()

    def __post_init__(self):
        if bool(self.actions) == bool(self.handler or self.airflow_cmd):
            raise ValueError(f"{self.name}: give a handler and its airflow_cmd, or actions")
        if bool(self.actions) == bool(self.data):
            raise ValueError(f"{self.name}: declare the shape of its data, on the endpoint or on each action")
        if self.actions and tuple(self.actions) != tuple(getattr(self.schema, "ACTIONS", ())):
            raise ValueError(f"{self.name}: actions {tuple(self.actions)} differ from {self.schema.__name__}.ACTIONS")

    @property
    def permission(self) -> str:
        return f"can_{self.name}"

    @property
    def dag_scope(self) -> DagScope:
        return self.dag_access.scope

    @property
    def may_change_state(self) -> bool:
        """Whether any call of it may change state (else it is read-only: the read roles and grants get it)."""
        return self.changes_state is not False or any(action.changes_state for action in self.actions.values())

    def changes_state_for(self, args: dict) -> bool:
        """Whether this call changes state."""
        if self.actions:
            return self._action(args).changes_state
        return self.changes_state(args) if callable(self.changes_state) else self.changes_state

    def _action(self, args: dict) -> Action:
        return self.actions[args["action"]]

    def run(self, args: dict, ctx: CallContext) -> Result:
        handler = self._action(args).handler if self.actions else self.handler
        return handler(args, ctx)

    def data_shapes(self) -> tuple[type[Schema], ...]:
        """Every shape its data may have (one per action, or its OneOf's), for the OpenAPI document."""
        if self.actions:
            return tuple(dict.fromkeys(action.data for action in self.actions.values()))
        return self.data.shapes if isinstance(self.data, OneOf) else (self.data,)

    def dump_data(self, args: dict, data):
        """The answer's ``data``, dumped through the shape declared for this call."""
        if data is None:
            return None
        shape = self._action(args).data if self.actions else self.data
        if isinstance(shape, OneOf):
            shape = shape.pick(args)
        return shape().dump(data)

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
    "set": Action(
        pools.set_pool,
        changes_state=True,
        data=data.Pool,
        airflow_cmd=lambda args: [
            "pools",
            "set",
            args["pool_name"],
            args["slot_count"],
            args.get("pool_description", ""),
        ],
    ),
    "get": Action(pools.get_pool, data=data.Pool, airflow_cmd=lambda args: ["pools", "get", args["pool_name"]]),
    "delete": Action(
        pools.delete_pool,
        changes_state=True,
        data=data.Pool,
        airflow_cmd=lambda args: ["pools", "delete", args["pool_name"]],
    ),
    "list": Action(pools.list_pools, data=data.PoolList, airflow_cmd=lambda args: ["pools", "list"]),
}
VARIABLE_ACTIONS = {
    "set": Action(
        variables.set_variable,
        changes_state=True,
        data=data.Variable,
        airflow_cmd=lambda args: ["variables", "set", *_json_flag(args), args["key"], "***"],
    ),
    "get": Action(
        variables.get_variable,
        data=data.Variable,
        airflow_cmd=lambda args: [
            "variables",
            "get",
            *_json_flag(args),
            *(["--default", args["default"]] if "default" in args else []),
            args["key"],
        ],
    ),
    "delete": Action(
        variables.delete_variable,
        changes_state=True,
        data=data.Variable,
        airflow_cmd=lambda args: ["variables", "delete", args["key"]],
    ),
    "list": Action(variables.list_variables, data=data.VariableKeys, airflow_cmd=lambda args: ["variables", "list"]),
    "import": Action(
        variables.import_variables,
        changes_state=True,
        data=data.VariablesImported,
        airflow_cmd=lambda args: ["variables", "import", "-"],
    ),
    "export": Action(
        variables.export_variables, data=data.VariablesExported, airflow_cmd=lambda args: ["variables", "export", "-"]
    ),
}
CONNECTION_ACTIONS = {
    "list": Action(
        connections.list_connections, data=data.ConnectionList, airflow_cmd=lambda args: ["connections", "list"]
    ),
    "add": Action(
        connections.add_connection,
        changes_state=True,
        data=data.Connection,
        airflow_cmd=lambda args: [
            "connections",
            "add",
            args["conn_id"],
            *(["--conn-uri", "***"] if args.get("conn_uri") else ["--conn-type", args["conn_type"]]),
        ],
    ),
    "delete": Action(
        connections.delete_connection,
        changes_state=True,
        data=data.Connection,
        airflow_cmd=lambda args: ["connections", "delete", args["conn_id"]],
    ),
}


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        name="version",
        dag_access=NO_DAG,
        data=data.Version,
        cli_backed=False,
        example="",
        description="The version of Airflow that is running.",
        group=Group.ABOUT,
        schema=NoArgumentsSchema,
        handler=about.airflow_version,
        airflow_cmd=lambda args: ["version"],
    ),
    Endpoint(
        name="rest_api_plugin_version",
        dag_access=NO_DAG,
        data=data.Version,
        cli_backed=False,
        example="",
        description="The version of this REST API plugin.",
        group=Group.ABOUT,
        schema=NoArgumentsSchema,
        handler=about.plugin_version,
        airflow_cmd=lambda args: ["rest_api_plugin_version"],
    ),
    Endpoint(
        name="list_dags",
        data=data.DagList,
        dag_access=per_dag(
            "lists only the DAGs the caller may read (GET); report=true: only their files' import errors"
        ),
        example="report=true",
        description=(
            "List the DAGs in the database (limit and offset page them); report=true adds the DAG files' import errors."
        ),
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
    # --- Reading DAGs (issue 19): dag_details, next_execution, list_import_errors, show_dag ---
    Endpoint(
        name="dag_details",
        data=data.DagDetails,
        errors=(404,),
        example="dag_id=sample_dag",
        description="A DAG's attributes as airflow dags details shows them, with its file, owners, tags, "
        "schedule, paused, last parsed time, next run and params (secrets masked).",
        group=Group.DAGS,
        schema=DagSchema,
        handler=dags.dag_details,
        airflow_cmd=lambda args: ["dags", "details", args["dag_id"]],
        dag_access=DagAccess("GET"),
    ),
    Endpoint(
        name="next_execution",
        data=data.NextExecutions,
        errors=(404,),
        example="dag_id=other_dag&num_executions=3",
        description="The logical dates and data intervals of a DAG's next runs (num_executions); a paused DAG's "
        "too, with the CLI's reminder on stderr.",
        group=Group.DAGS,
        schema=NextExecutionSchema,
        handler=dags.next_execution,
        airflow_cmd=lambda args: [
            "dags",
            "next-execution",
            *_opt(args, "num_executions", "--num-executions"),
            args["dag_id"],
        ],
        dag_access=DagAccess("GET"),
    ),
    Endpoint(
        name="list_import_errors",
        data=data.ImportErrorList,
        dag_access=per_dag(
            "only the import errors of files holding a DAG the caller may read (GET), as list_dags report=true"
        ),
        example="",
        description="The DAG files' import errors, as the DAG processor stored them.",
        group=Group.DAGS,
        schema=ListImportErrorsSchema,
        handler=dags.list_import_errors,
        airflow_cmd=lambda args: ["dags", "list-import-errors"],
    ),
    Endpoint(
        name="show_dag",
        data=data.DagGraph,
        errors=(404, 409),
        example="dag_id=sample_dag&format=svg",
        description="A DAG as a graph: the DOT text airflow dags show prints, its nodes and edges; format=svg "
        "adds the picture, drawn by Graphviz's dot (409 when it is not installed).",
        group=Group.DAGS,
        schema=ShowDagSchema,
        handler=dags.show_dag,
        airflow_cmd=lambda args: [
            "dags",
            "show",
            args["dag_id"],
            *(["--save", f"{args['dag_id']}.svg"] if args.get("format") == "svg" else []),
        ],
        dag_access=DagAccess("GET"),
    ),
    Endpoint(
        name="trigger_dag",
        data=data.DagRun,
        errors=(404, 409),
        example="dag_id=sample_dag&run_id=my_run&conf=%7B%22key%22%3A%22value%22%7D",
        description="Trigger a DAG run, with an optional run_id, conf (URL-encoded JSON) and logical date.",
        group=Group.RUNS,
        schema=TriggerDagSchema,
        handler=runs.trigger_dag,
        airflow_cmd=lambda args: [
            "dags",
            "trigger",
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
        handler=runs.dag_state,
        airflow_cmd=lambda args: ["dags", "state", args["dag_id"], *display_run(args)],
        dag_access=DagAccess("GET", DagAccessEntity.RUN),
    ),
    # --- Reading runs (issue 19): list_runs, states_for_dag_run ---
    Endpoint(
        name="list_runs",
        data=data.RunList,
        errors=(404,),
        example="dag_id=sample_dag&state=success&limit=10",
        description="A DAG's runs, newest first (state, start_date, end_date, no_backfill; limit and offset "
        "page them).",
        group=Group.RUNS,
        schema=ListRunsSchema,
        handler=runs.list_runs,
        airflow_cmd=lambda args: [
            "dags",
            "list-runs",
            *_opt(args, "state", "--state"),
            *_opt(args, "no_backfill", "--no-backfill"),
            *_opt(args, "start_date", "--start-date"),
            *_opt(args, "end_date", "--end-date"),
            args["dag_id"],
        ],
        dag_access=DagAccess("GET", DagAccessEntity.RUN),
    ),
    Endpoint(
        name="states_for_dag_run",
        data=data.RunTaskStates,
        errors=(404,),
        example="dag_id=sample_dag&execution_date=2024-01-02T00:00:00",
        description="The state of every task instance of a DAG run, named by its execution_date (or run_id).",
        group=Group.RUNS,
        schema=DagStateSchema,
        handler=runs.states_for_dag_run,
        airflow_cmd=lambda args: ["tasks", "states-for-dag-run", args["dag_id"], *display_run(args)],
        dag_access=DagAccess("GET", DagAccessEntity.TASK_INSTANCE),
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
        dag_access=NO_DAG,
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
        dag_access=NO_DAG,
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
        dag_access=NO_DAG,
        errors=(404, 409),
        example="add=on&conn_id=my_db&conn_uri=postgres%3A%2F%2Fuser%3Apass%40db.example.com%3A5432%2Fsales",
        description="Connections: list; add with conn_id and conn_uri (or conn_type and fields); "
        "delete with conn_id. Passwords are never shown.",
        group=Group.CONNECTIONS,
        schema=ConnectionsSchema,
        actions=CONNECTION_ACTIONS,
    ),
)

# --- Task commands, daemons, background jobs and DAG files ---

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
        airflow_cmd=tasks.render_argv,
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
        airflow_cmd=tasks.failed_deps_argv,
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
        handler=tasks.test,
        airflow_cmd=tasks.test_argv,
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
        handler=tasks.run,
        airflow_cmd=tasks.run_argv,
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
        airflow_cmd=tasks.clear_argv,
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
        handler=runs.backfill,
        airflow_cmd=runs.backfill_argv,
        changes_state=True,
        dag_access=DagAccess("POST", DagAccessEntity.RUN),
    ),
    Endpoint(
        dag_access=EVERY_DAG,
        name="scheduler",
        data=data.Job,
        errors=DAEMON_ERRORS,
        example="num_runs=1",
        description="Start a scheduler (num_runs, subdir) as a background job. On Airflow 3 it parses no DAG "
        "file: start a dag_processor too.",
        group=Group.PROCESSES,
        schema=SchedulerSchema,
        handler=processes.scheduler,
        airflow_cmd=processes.scheduler_argv,
        changes_state=True,
    ),
    Endpoint(
        dag_access=EVERY_DAG,
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
        airflow_cmd=processes.dag_processor_argv,
        changes_state=True,
    ),
    Endpoint(
        dag_access=EVERY_DAG,
        name="worker",
        data=data.Job,
        errors=DAEMON_ERRORS,
        example="queues=default&concurrency=4",
        description="Start a Celery worker (queues, concurrency, hostname) as a background job.",
        group=Group.PROCESSES,
        schema=WorkerSchema,
        handler=processes.worker,
        airflow_cmd=processes.worker_argv,
        changes_state=True,
    ),
    Endpoint(
        dag_access=EVERY_DAG,
        name="flower",
        data=data.Job,
        errors=DAEMON_ERRORS,
        example="hostname=0.0.0.0&port=5555",
        description="Start Flower, the Celery monitoring UI (hostname, port, broker_api), as a background job.",
        group=Group.PROCESSES,
        schema=FlowerSchema,
        handler=processes.flower,
        airflow_cmd=processes.flower_argv,
        changes_state=True,
    ),
    Endpoint(
        dag_access=EVERY_DAG,
        name="kerberos",
        data=data.Job,
        errors=DAEMON_ERRORS,
        example="principal=airflow%40EXAMPLE.COM&keytab=%2Fetc%2Fairflow.keytab",
        description="Start the Kerberos ticket renewer (principal, keytab) as a background job; "
        "needs apache-airflow[kerberos].",
        group=Group.PROCESSES,
        schema=KerberosSchema,
        handler=processes.kerberos,
        airflow_cmd=processes.kerberos_argv,
        changes_state=True,
    ),
    Endpoint(
        dag_access=EVERY_DAG,
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
        data=OneOf((data.JobList, data.Job), pick=lambda args: data.Job if args.get("job_id") else data.JobList),
        dag_access=per_dag(
            "the caller's own jobs, and those whose DAG it may read (GET); admins and tokens for every DAG: all"
        ),
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
        dag_access=per_dag(
            "the caller's own jobs, and those whose DAG it may edit (PUT); admins and tokens for every DAG: all"
        ),
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
        data=data.DeployedDag,
        dag_access=per_dag(
            "after parsing: edit (PUT) on every existing DAG the file defines and on every DAG the "
            "replaced file defined, create for each new DAG id; a file that defines no DAG (a module "
            "others import): edit on every DAG"
        ),
        errors=(409,),
        cli_backed=False,
        example="dag_file=@my_dag.py&force=on&unpause=on",
        description="Upload a DAG file (multipart POST, file part dag_file; force, pause, unpause). It is "
        "parsed in a separate process before it is installed, and written to the database at once.",
        group=Group.DEPLOYMENT,
        schema=DeployDagSchema,
        handler=deployment.deploy_dag,
        airflow_cmd=lambda args: ["deploy_dag"],
        changes_state=True,
    ),
    Endpoint(
        name="delete_dag",
        data=data.DeletedDag,
        errors=(404, 409),
        cli_backed=False,
        example="dag_id=my_dag",
        description="Delete a DAG's records (refused while tasks run); delete_file=true also removes its "
        "file when it holds only this DAG.",
        group=Group.DEPLOYMENT,
        schema=DeleteDagSchema,
        handler=deployment.delete_dag,
        airflow_cmd=lambda args: ["dags", "delete", "--yes", args["dag_id"]],
        changes_state=True,
        dag_access=DagAccess("DELETE", rule="with delete_file, DELETE on every DAG its file defines"),
    ),
    Endpoint(
        name="refresh_dag",
        data=data.RefreshedDag,
        errors=(404, 409),
        cli_backed=False,
        example="dag_id=sample_dag",
        description="Re-parse a DAG's file into the database now.",
        group=Group.DEPLOYMENT,
        schema=RefreshDagSchema,
        handler=deployment.refresh_dag,
        airflow_cmd=lambda args: ["dags", "reserialize", "--subdir", "<fileloc of " + args["dag_id"] + ">"],
        changes_state=True,
        dag_access=DagAccess(
            "PUT", rule="after parsing, edit (PUT) on every DAG its file defines and create for each new DAG id"
        ),
    ),
    Endpoint(
        dag_access=EVERY_DAG,
        name="refresh_all_dags",
        data=data.RefreshedDags,
        errors=(409,),
        cli_backed=False,
        example="",
        description="Re-parse the whole DAGs folder into the database; DAGs whose files are gone become inactive.",
        group=Group.DEPLOYMENT,
        schema=RefreshAllDagsSchema,
        handler=deployment.refresh_all_dags,
        airflow_cmd=lambda args: ["dags", "reserialize"],
        changes_state=True,
    ),
)

# --- The rest of today's CLI (issue 19): a whole DAG run, the triggerer, health, plugins and providers ---

ENDPOINTS += (
    Endpoint(
        name="health",
        dag_access=NO_DAG,
        data=data.Health,
        example="",
        description="Health per component, as airflow jobs check sees it: for the scheduler, the triggerer and the "
        "DAG processor, how many of their jobs are alive and the latest heartbeat; and whether the metadata "
        "database answers. Authenticated, unlike Airflow's own /health.",
        group=Group.ABOUT,
        schema=NoArgumentsSchema,
        handler=about.health,
        airflow_cmd=lambda args: ["jobs", "check", "--allow-multiple", "--limit=100"],
    ),
    Endpoint(
        name="plugins",
        dag_access=NO_DAG,
        data=data.PluginList,
        example="",
        description="The loaded Airflow plugins (airflow plugins): each one's name, source and what it adds.",
        group=Group.ABOUT,
        schema=NoArgumentsSchema,
        handler=about.plugins,
        airflow_cmd=lambda args: ["plugins"],
    ),
    Endpoint(
        name="providers",
        dag_access=NO_DAG,
        data=data.ProviderList,
        example="",
        description="The installed provider packages (airflow providers list): package, version and description.",
        group=Group.ABOUT,
        schema=NoArgumentsSchema,
        handler=about.providers,
        airflow_cmd=lambda args: ["providers", "list"],
    ),
    Endpoint(
        name="dag_test",
        data=data.DagTest,
        errors=JOB_ERRORS,
        example="dag_id=sample_dag&execution_date=2024-01-02T00:00:00",
        description="Run a whole DAG once in one process, without the scheduler (airflow dags test; execution_date "
        "optional: now; conf; mark_success_pattern), as a job in its own process. Waits for it by default "
        "(wait=false: a background job); data then holds the run and its task instances' states.",
        group=Group.RUNS,
        schema=DagTestSchema,
        handler=runs.dag_test,
        airflow_cmd=runs.dag_test_argv,
        changes_state=True,
        dag_access=DagAccess(
            "POST",
            DagAccessEntity.RUN,
            rule="a run already at the logical date is replaced, as the CLI does: DELETE on its runs too",
        ),
    ),
    Endpoint(
        dag_access=EVERY_DAG,
        name="triggerer",
        data=data.Job,
        errors=DAEMON_ERRORS,
        example="capacity=100",
        description="Start a triggerer, which runs the triggers of deferred tasks (airflow triggerer; capacity; "
        "queues on Airflow 3), as a background job.",
        group=Group.PROCESSES,
        schema=TriggererSchema,
        handler=processes.triggerer,
        airflow_cmd=processes.triggerer_argv,
        changes_state=True,
    ),
)

BY_NAME: dict[str, Endpoint] = {endpoint.name: endpoint for endpoint in ENDPOINTS}


def get(name: str) -> Endpoint | None:
    return BY_NAME.get(name)


def disabled_names() -> frozenset[str]:
    """The endpoints switched off by ``[rest_api_plugin] disabled_endpoints`` (names the registry knows)."""
    return frozenset(config.disabled_endpoints() & BY_NAME.keys())


def enabled() -> tuple[Endpoint, ...]:
    """The endpoints this deployment serves: all but ``[rest_api_plugin] disabled_endpoints``."""
    disabled = disabled_names()
    return tuple(endpoint for endpoint in ENDPOINTS if endpoint.name not in disabled)


def permissions() -> list[str]:
    return [endpoint.permission for endpoint in enabled()]
