"""The registry's invariants: what dispatch, the permissions, the page and the docs rely on."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from rest_api_plugin import registry
from rest_api_plugin.registry import NO_DAG, Action, DagAccess, Endpoint, Group
from rest_api_plugin.schemas import data
from rest_api_plugin.schemas.about import NoArgumentsSchema
from rest_api_plugin.schemas.base import ArgumentsSchema, WithAction

ENDPOINTS = {endpoint.name: endpoint for endpoint in registry.ENDPOINTS}
ORIGINAL_ENDPOINTS = {
    "version",
    "rest_api_plugin_version",
    "render",
    "variables",
    "connections",
    "pause",
    "unpause",
    "task_failed_deps",
    "test",
    "dag_state",
    "run",
    "list_tasks",
    "backfill",
    "list_dags",
    "kerberos",
    "worker",
    "flower",
    "scheduler",
    "task_state",
    "pool",
    "serve_logs",
    "clear",
    "trigger_dag",
    "refresh_dag",
    "refresh_all_dags",
    "deploy_dag",
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
    if endpoint.dag_scope == "dag_id":
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
            writes = {name for name, action in endpoint.actions.items() if action.changes_state}
            assert not endpoint.may_change_state == (not writes)
        elif not callable(endpoint.changes_state):
            assert not endpoint.may_change_state == (not endpoint.changes_state)


@pytest.mark.parametrize(
    "api, args, writes",
    [
        ("pool", {}, False),
        ("pool", {"get": "p"}, False),
        ("pool", {"cmd": "set", "pool_name": "p", "slot_count": "1"}, True),
        ("variables", {"export": ""}, False),
        ("variables", {"import": "{}"}, True),
        ("variables", {"delete": "k"}, True),
        ("connections", {"list": ""}, False),
        ("connections", {"add": "", "conn_id": "c", "conn_type": "http"}, True),
        ("clear", {"dag_id": "d", "dry_run": "true"}, False),
        ("clear", {"dag_id": "d"}, True),
    ],
)
def test_writes_follows_the_action(api, args, writes):
    endpoint = ENDPOINTS[api]
    assert endpoint.changes_state_for(endpoint.schema().load(args)) is writes


def test_the_action_picks_handler_and_command():
    pool = ENDPOINTS["pool"]
    args = pool.schema().load({"delete": "old"})
    assert pool.actions[args["action"]].handler.__name__ == "delete_pool"
    assert pool.airflow_cmd_for(args) == "airflow pools delete old"


def test_an_endpoint_needs_one_way_to_run():
    with pytest.raises(ValueError):
        Endpoint(name="x", description="x", group=Group.ABOUT, schema=NoArgumentsSchema, dag_access=NO_DAG)
    with pytest.raises(ValueError):
        Endpoint(
            name="x",
            description="x",
            group=Group.ABOUT,
            schema=NoArgumentsSchema,
            dag_access=NO_DAG,
            handler=lambda a, c: None,
            airflow_cmd=lambda a: [],
            actions={"a": Action(lambda a, c: None, list, data.Version)},
        )


def test_actions_must_match_the_schema():
    with pytest.raises(ValueError, match="differ"):
        Endpoint(
            name="x",
            description="x",
            group=Group.POOLS,
            schema=ENDPOINTS["pool"].schema,
            dag_access=NO_DAG,
            actions={"set": Action(lambda a, c: None, list, data.Version)},
        )


def test_an_endpoint_declares_the_shape_of_its_data():
    with pytest.raises(ValueError, match="shape of its data"):
        Endpoint(
            name="x",
            description="x",
            group=Group.ABOUT,
            schema=NoArgumentsSchema,
            dag_access=NO_DAG,
            handler=lambda a, c: None,
            airflow_cmd=lambda a: [],
        )


def test_data_is_dumped_through_its_declared_shape():
    version = ENDPOINTS["version"]
    assert version.dump_data({}, {"version": "1.2.3"}) == {"version": "1.2.3"}
    assert version.dump_data({}, None) is None
    with pytest.raises(data.UndeclaredField, match="Version does not declare extra"):
        version.dump_data({}, {"version": "1.2.3", "extra": True})


def test_one_of_several_shapes_is_picked_by_the_arguments():
    jobs = ENDPOINTS["jobs"]
    assert set(jobs.data_shapes()) == {data.Job, data.JobList}
    assert jobs.dump_data({}, {"jobs": [], "total_entries": 0}) == {"jobs": [], "total_entries": 0}
    with pytest.raises(data.UndeclaredField):  # one job's fields are not a listing's
        jobs.dump_data({}, {"job_id": "j", "api": "scheduler", "command": "airflow scheduler", "state": "running"})


def test_dag_access_method_is_checked_when_declared():
    with pytest.raises(ValueError):
        DagAccess("EDIT")


def test_cli_backed_as_the_original_answered():
    strings = {e.name for e in registry.ENDPOINTS if not e.cli_backed}
    assert strings == {
        "version",
        "rest_api_plugin_version",
        "deploy_dag",
        "refresh_dag",
        "refresh_all_dags",
        "jobs",
        "stop_job",
        "delete_dag",
    }


# How a token limited to some DAGs (tokens.py, dag_ids) is held to them, endpoint by endpoint: the README's
# scope rule lists the same.
DAG_SCOPES = {
    "no_dag": {
        "version",
        "rest_api_plugin_version",
        "pool",
        "variables",
        "connections",
        "health",
        "plugins",
        "providers",
    },
    "per_dag": {"list_dags", "jobs", "stop_job", "deploy_dag", "list_import_errors"},
    "every_dag": {
        "scheduler",
        "dag_processor",
        "worker",
        "flower",
        "kerberos",
        "serve_logs",
        "refresh_all_dags",
        "triggerer",
    },
}


def test_every_endpoint_says_how_a_dag_scoped_token_is_held():
    declared = {scope: {e.name for e in registry.ENDPOINTS if e.dag_scope == scope} for scope in DAG_SCOPES}
    assert declared == DAG_SCOPES
    checked_on_dag_id = {e.name for e in registry.ENDPOINTS if e.dag_scope == "dag_id"}
    assert checked_on_dag_id == {e.name for e in registry.ENDPOINTS if e.dag_access.method is not None}


@pytest.mark.parametrize("endpoint", registry.ENDPOINTS, ids=lambda e: e.name)
def test_an_endpoint_naming_a_dag_checks_it_or_is_refused_to_scoped_tokens(endpoint: Endpoint):
    """A dag_id argument is checked (dag_access), or the endpoint is for tokens of every DAG only (the
    scheduler's Airflow 1 dag_id, ignored)."""
    if "dag_id" in endpoint.schema.argument_names():
        assert endpoint.dag_scope in ("dag_id", "every_dag")
    if endpoint.dag_scope == "dag_id":
        assert endpoint.schema().fields["dag_id"].required, "a scoped token's check needs the dag_id"


def test_dag_scope_and_dag_access_agree():
    with pytest.raises(ValueError):
        DagAccess(scope="dag_id")  # the call's DAG, but no method to check on it
    with pytest.raises(ValueError):
        DagAccess("GET", scope="no_dag")
    with pytest.raises(ValueError):
        DagAccess(scope="per_dag")  # the handler checks each DAG: the rule must say how
    with pytest.raises(TypeError):  # every endpoint declares its DAG access
        Endpoint(
            name="x", description="x", group=Group.ABOUT, schema=NoArgumentsSchema, handler=print, airflow_cmd=list
        )


@pytest.mark.parametrize("endpoint", registry.ENDPOINTS, ids=lambda e: e.name)
def test_every_endpoint_says_in_words_which_dags_it_acts_on(endpoint: Endpoint):
    assert endpoint.dag_access.description
