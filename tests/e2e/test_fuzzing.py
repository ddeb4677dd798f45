"""Property-based fuzzing of a real webserver from the plugin's own OpenAPI document (schemathesis).

Every read-only operation gets many generated calls; every state-changing one a bounded number, aimed at a
throwaway DAG (``fuzz_dag``) and at pools, variables and connections the test database forgets after each
test. The daemon endpoints (scheduler, dag_processor, triggerer, worker, flower, kerberos, serve_logs) are left out:
they start long-lived processes. Checks: no server error, only declared statuses and content types, and answers that
conform to the declared schemas.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from rest_api_plugin import registry
from rest_api_plugin.reference import openapi
from tests.helpers import SIMPLE_DAG, TOKEN, dag_source, forget_dag, write_dag_file

# what no metadata database changes: one pass (SQLite) runs it, the PostgreSQL passes leave it out
pytestmark = [pytest.mark.e2e, pytest.mark.same_on_every_database]

# The daemons (scheduler, dag_processor, triggerer, worker, flower, kerberos, serve_logs): every process endpoint
# that acts on every DAG starts a long-lived one.
DAEMONS = {
    endpoint.name
    for endpoint in registry.ENDPOINTS
    if endpoint.group is registry.Group.PROCESSES and endpoint.dag_scope == "every_dag"
}
READ_ONLY = {endpoint.name for endpoint in registry.ENDPOINTS if not endpoint.may_change_state}
THROWAWAY_DAG = "fuzz_dag"


def refused_before_the_plugin(response) -> bool:
    """uvicorn (Airflow 3's API server) answers a request whose line and headers pass its 16 KB limit itself,
    before any app sees it: a plain-text 400 no plugin can shape (README: send long values in a POST body)."""
    return response.status_code == 400 and response.content.strip() == b"Invalid HTTP request received."


def declared_501(response, case) -> bool:
    """A 501 the operation declares: an endpoint with no equivalent on this Airflow (run on Airflow 3)."""
    return response.status_code == 501 and "501" in case.operation.definition.raw.get("responses", {})


def of_the_plugin(check):
    """``check`` for the plugin's own answers: a server-level refusal is left alone, and a declared 501 is not
    a server error."""

    def checked(ctx, response, case):
        if refused_before_the_plugin(response) or (check is not_a_server_error and declared_501(response, case)):
            return None
        return check(ctx, response, case)

    checked.__name__ = f"{check.__name__}_of_the_plugin"
    return schemathesis.check(checked)


CHECKS = [
    of_the_plugin(check)
    for check in (
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
    )
]

schema = schemathesis.openapi.from_dict(openapi.document())


def endpoint_of(context) -> str:
    return context.operation.path.rsplit("/", 1)[-1]


def _steer(context, values: dict | None) -> st.SearchStrategy:
    """Point some generated calls at objects that exist, so the success paths are fuzzed too: a read may
    name the sample DAGs, a write only the throwaway DAG."""
    if not isinstance(values, dict):
        return st.just(values)
    choices = {}
    if "dag_id" in values:
        known = [THROWAWAY_DAG] if endpoint_of(context) not in READ_ONLY else ["sample_dag", THROWAWAY_DAG]
        choices["dag_id"] = st.sampled_from([values["dag_id"], *known])
    if "task_id" in values:
        choices["task_id"] = st.sampled_from([values["task_id"], "only", "extract"])
    if not choices:
        return st.just(values)
    return st.fixed_dictionaries(choices).map(lambda chosen: {**values, **chosen})


@schema.hook("flatmap_query")
def steer_query(context, query):
    return _steer(context, query)


@schema.hook("flatmap_body")
def steer_body(context, body):
    return _steer(context, body)


@pytest.fixture(scope="module")
def throwaway_dag(app):
    path = write_dag_file(f"{THROWAWAY_DAG}.py", dag_source(SIMPLE_DAG, dag_id=THROWAWAY_DAG, description="fuzzed"))
    yield
    path.unlink(missing_ok=True)
    forget_dag(THROWAWAY_DAG)


def _call(case, webserver):
    case.call_and_validate(
        base_url=f"{webserver.url}{openapi.SERVER}",
        headers={"rest_api_plugin_http_token": TOKEN},
        checks=CHECKS,
        timeout=120,
    )


@schema.include(lambda ctx: endpoint_of(ctx) in READ_ONLY).parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_read_only_operations(case, webserver, throwaway_dag):
    _call(case, webserver)


@schema.include(lambda ctx: endpoint_of(ctx) not in READ_ONLY | DAEMONS).parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
def test_state_changing_operations(case, webserver, throwaway_dag):
    _call(case, webserver)


def test_the_served_document_is_the_fuzzed_one(webserver):
    import requests

    served = requests.get(f"{webserver.url}{openapi.SERVER}/openapi.json", timeout=30)
    assert served.status_code == 200 and served.json() == openapi.document()
