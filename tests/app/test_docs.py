"""The docs come from the registry and must not drift from it."""

from pathlib import Path

import pytest

from rest_api_plugin import registry
from rest_api_plugin.airflow_compat import AIRFLOW_3
from rest_api_plugin.reference import docs

# what no metadata database changes: one pass (SQLite) runs it, the PostgreSQL passes leave it out
pytestmark = pytest.mark.same_on_every_database

ROOT = Path(__file__).parent.parent.parent


EXAMPLE_COMMAND = "- Shown as `airflow_cmd` for the example:"


def test_endpoint_reference_is_generated_from_the_registry():
    """The committed reference is generated on Airflow 2 (scripts/generate-docs); on Airflow 3 only the example
    commands may differ (e.g. backfill's is `airflow backfill create` there)."""
    committed = (ROOT / "docs" / "endpoints.md").read_text().strip()
    generated = docs.markdown(registry.ENDPOINTS).strip()
    if AIRFLOW_3:
        committed, generated = (without_example_commands(text) for text in (committed, generated))
    assert committed == generated, "regenerate: scripts/generate-docs"


def without_example_commands(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith(EXAMPLE_COMMAND))


def test_readme_names_every_endpoint():
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in registry.BY_NAME if f"`{name}`" not in readme]
    assert not missing, f"README.md does not document {missing}"


def test_every_argument_is_described():
    undescribed = []
    for endpoint in registry.ENDPOINTS:
        for argument in docs.describe_arguments(endpoint):
            assert argument["kind"] in {"boolean", "date-time", "json", "integer", "string", "file"}
            if not argument["description"]:
                undescribed.append(f"{endpoint.name}.{argument['name']}")
    assert not undescribed, f"add these to rest_api_plugin/schemas/help.py: {undescribed}"


def test_every_endpoint_has_a_valid_example():
    """The example goes through the endpoint's schema (docs.example_command loads it)."""
    for endpoint in registry.ENDPOINTS:
        assert docs.example_command(endpoint).startswith("airflow "), endpoint.name


def test_deploy_dag_upload_is_a_file_argument():
    kinds = {a["name"]: a["kind"] for a in docs.describe_arguments(registry.BY_NAME["deploy_dag"])}
    assert kinds["dag_file"] == "file"
