"""The registry's invariants: what dispatch, the permissions, the page and the docs rely on."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from rest_api_plugin import registry
from rest_api_plugin.registry import Action, DagAccess, Endpoint, Group
from rest_api_plugin.schemas.base import ArgumentsSchema, WithAction
from rest_api_plugin.schemas.meta import NoArgumentsSchema

ENDPOINTS = {endpoint.name: endpoint for endpoint in registry.ENDPOINTS}
ORIGINAL_ENDPOINTS = {
    "version", "rest_api_plugin_version", "render", "variables", "connections", "pause", "unpause",
    "task_failed_deps", "test", "dag_state", "run", "list_tasks", "backfill", "list_dags", "kerberos", "worker",
    "flower", "scheduler", "task_state", "pool", "serve_logs", "clear", "trigger_dag", "refresh_dag",
    "refresh_all_dags", "deploy_dag",
}


def test_every_original_endpoint_is_served():
    assert ORIGINAL_ENDPOINTS <= set(ENDPOINTS)


def test_names_and_permissions_are_unique():
    assert len(ENDPOINTS) == len(registry.ENDPOINTS)
    assert len(set(registry.permissions())) == len(registry.ENDPOINTS)


@pytest.mark.parametrize("endpoint", registry.ENDPOINTS, ids=lambda e: e.name)
def test_endpoint_is_complete(endpoint: Endpoint):
    assert endpoint.name == endpoint.name.lower() and endpoint.description
    assert isinstance(endpoint.group, Group)
    assert issubclass(endpoint.schema, ArgumentsSchema)
    if endpoint.dag_access is not None:
        assert "dag_id" in endpoint.schema.argument_names(), "a DAG-level check needs the call's dag_id"
    if endpoint.actions:
        assert issubclass(endpoint.schema, WithAction)


@pytest.mark.parametrize("endpoint", registry.ENDPOINTS, ids=lambda e: e.name)
def test_example_goes_through_the_schema_and_shows_a_command(endpoint: Endpoint):
    files = {name for name, field in endpoint.schema().fields.items() if type(field).__name__ == "UploadedFile"}
    given = {name: value for name, value in parse_qsl(endpoint.example, keep_blank_values=True) if name not in files}
    args = endpoint.schema().load(given)
    assert endpoint.airflow_cmd_for(args).startswith("airflow ")


def test_read_only_endpoints_never_write():
    for endpoint in registry.ENDPOINTS:
        if endpoint.actions:
            writes = {name for name, action in endpoint.actions.items() if action.writes}
            assert endpoint.read_only == (not writes)
        elif not callable(endpoint.changes_state):
            assert endpoint.read_only == (not endpoint.changes_state)


@pytest.mark.parametrize("api, args, writes", [
    ("pool", {}, False), ("pool", {"get": "p"}, False), ("pool", {"cmd": "set", "pool_name": "p", "slot_count": "1"}, True),
    ("variables", {"export": ""}, False), ("variables", {"import": "{}"}, True), ("variables", {"delete": "k"}, True),
    ("connections", {"list": ""}, False), ("connections", {"add": "", "conn_id": "c", "conn_type": "http"}, True),
    ("clear", {"dag_id": "d", "dry_run": "true"}, False), ("clear", {"dag_id": "d"}, True),
])
def test_writes_follows_the_action(api, args, writes):
    endpoint = ENDPOINTS[api]
    assert endpoint.writes(endpoint.schema().load(args)) is writes


def test_the_action_picks_handler_and_command():
    pool = ENDPOINTS["pool"]
    args = pool.schema().load({"delete": "old"})
    assert pool.actions[args["action"]].handler.__name__ == "delete_pool"
    assert pool.airflow_cmd_for(args) == "airflow pools delete old"


def test_an_endpoint_needs_one_way_to_run():
    with pytest.raises(ValueError):
        Endpoint(name="x", description="x", group=Group.ABOUT, schema=NoArgumentsSchema)
    with pytest.raises(ValueError):
        Endpoint(name="x", description="x", group=Group.ABOUT, schema=NoArgumentsSchema,
                 handler=lambda a, c: None, airflow_cmd=lambda a: [], actions={"a": Action(lambda a, c: None, list)})


def test_actions_must_match_the_schema():
    with pytest.raises(ValueError, match="differ"):
        Endpoint(name="x", description="x", group=Group.POOLS, schema=ENDPOINTS["pool"].schema,
                 actions={"set": Action(lambda a, c: None, list)})


def test_dag_access_method_is_checked_when_declared():
    with pytest.raises(ValueError):
        DagAccess("EDIT")


def test_cli_backed_as_the_original_answered():
    strings = {e.name for e in registry.ENDPOINTS if not e.cli_backed}
    assert strings == {"version", "rest_api_plugin_version", "deploy_dag", "refresh_dag", "refresh_all_dags",
                       "jobs", "stop_job", "delete_dag"}
