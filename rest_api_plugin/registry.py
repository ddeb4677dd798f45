"""The one declarative list of endpoints. Dispatch, permissions, the page and the docs all read it.

Adding an endpoint is one ``Endpoint(...)`` entry here plus its handler in ``services/``.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Callable, Union

from marshmallow import Schema

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


def _date(args: dict) -> list:
    return [args["logical_date"].isoformat()] if args.get("logical_date") else [args.get("run_id", "")]


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
        description="The version of Airflow that is running.",
        group="about",
        schema=NoArgumentsSchema,
        handler=meta.airflow_version,
        cli=lambda args: ["version"],
    ),
    Endpoint(
        name="rest_api_plugin_version",
        description="The version of this REST API plugin.",
        group="about",
        schema=NoArgumentsSchema,
        handler=meta.plugin_version,
        cli=lambda args: ["rest_api_plugin_version"],
    ),
    Endpoint(
        name="list_dags",
        description="List the DAGs in the database; report=true adds the DAG files' import errors.",
        group="dags",
        schema=ListDagsSchema,
        handler=dags.list_dags,
        cli=lambda args: ["dags", "report"] if args.get("report") else ["dags", "list"],
    ),
    Endpoint(
        name="list_tasks",
        description="List the tasks of a DAG (tree=true draws the dependency tree).",
        group="dags",
        schema=ListTasksSchema,
        handler=dags.list_tasks,
        cli=lambda args: ["tasks", "list", *_opt(args, "tree", "--tree"), args["dag_id"]],
        dag_access=("GET", "TASK"),
    ),
    Endpoint(
        name="pause",
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
        description="The state of a DAG run, named by its execution_date (or run_id).",
        group="runs",
        schema=DagStateSchema,
        handler=dags.dag_state,
        cli=lambda args: ["dags", "state", args["dag_id"], *_date(args)],
        dag_access=("GET", "RUN"),
    ),
    Endpoint(
        name="task_state",
        description="The state of a task instance.",
        group="tasks",
        schema=TaskSchema,
        handler=tasks.task_state,
        cli=lambda args: ["tasks", "state", args["dag_id"], args["task_id"], *_date(args)],
        dag_access=("GET", "TASK_INSTANCE"),
    ),
    Endpoint(
        name="pool",
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
        description="Connections: list; add with conn_id and conn_uri (or conn_type and fields); "
        "delete with conn_id. Passwords are never shown.",
        group="connections",
        schema=ConnectionsSchema,
        handler=connections.connections,
        cli=_connections_cli,
        changes_state=_action_is_not("list"),
    ),
)

BY_NAME: dict[str, Endpoint] = {endpoint.name: endpoint for endpoint in ENDPOINTS}


def get(name: str) -> Endpoint | None:
    return BY_NAME.get(name)


def permissions() -> list[str]:
    return [endpoint.permission for endpoint in ENDPOINTS]
