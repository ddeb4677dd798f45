"""The docs come from the registry and must not drift from it."""

from pathlib import Path

from rest_api_plugin import docs, registry

ROOT = Path(__file__).parent.parent


def test_endpoint_reference_is_generated_from_the_registry():
    committed = (ROOT / "docs" / "endpoints.md").read_text()
    assert committed.strip() == docs.markdown(registry.ENDPOINTS).strip(), (
        "regenerate: python -m rest_api_plugin.docs > docs/endpoints.md"
    )


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
    assert not undescribed, f"add these to rest_api_plugin/argument_help.py: {undescribed}"


def test_every_endpoint_has_a_valid_example():
    """The example goes through the endpoint's schema (docs.example_command loads it)."""
    for endpoint in registry.ENDPOINTS:
        assert docs.example_command(endpoint).startswith("airflow "), endpoint.name


def test_deploy_dag_upload_is_a_file_argument():
    kinds = {a["name"]: a["kind"] for a in docs.describe_arguments(registry.BY_NAME["deploy_dag"])}
    assert kinds["dag_file"] == "file"
