"""The OpenAPI document: valid, complete against the registry, in step with docs/endpoints.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rest_api_plugin import registry
from rest_api_plugin.reference import docs, openapi

ROOT = Path(__file__).parent.parent.parent
DOCUMENT = openapi.document()


def test_valid_openapi():
    from openapi_spec_validator import validate

    validate(DOCUMENT)


def test_committed_copy_is_current():
    assert (ROOT / "docs" / "openapi.json").read_text() == openapi.as_json(), "run scripts/generate-docs"


@pytest.mark.parametrize("endpoint", registry.ENDPOINTS, ids=lambda e: e.name)
def test_every_endpoint_is_an_operation_with_every_argument(endpoint):
    path = DOCUMENT["paths"][f"/api/v1.0/{endpoint.name}"]
    described = {a["name"]: a for a in docs.describe_arguments(endpoint)}
    post = path["post"]
    body = next(iter(post["requestBody"]["content"].values()))["schema"]
    assert set(body["properties"]) == set(described)
    assert set(body.get("required", [])) == {name for name, a in described.items() if a["required"]}
    for name, argument in described.items():
        prop = body["properties"][name]
        assert argument["description"] in prop["description"]  # the same words as docs/endpoints.md
        assert prop.get("type"), (endpoint.name, name)
        if argument["choices"]:
            assert prop["enum"] == argument["choices"]
        if argument["default"] is not None:
            assert prop["default"] == argument["default"]
        if argument["kind"] == "integer":
            assert "minimum" in prop and "maximum" in prop
    api = next(p for p in post["parameters"] if p["name"] == "api")
    assert api["required"] and api["schema"]["enum"] == [endpoint.name]
    if "get" in path:
        queried = {p["name"] for p in path["get"]["parameters"]} - {"api", "output_format"}
        assert queried == {name for name, a in described.items() if a["kind"] != "file"}
    for operation in path.values():
        statuses = {int(status) for status in operation["responses"]}
        assert {200, *openapi.COMMON_ERRORS, *endpoint.errors} <= statuses


def test_the_envelope_has_both_output_shapes():
    output = DOCUMENT["components"]["schemas"]["Envelope"]["properties"]["output"]
    assert {"type": "string"} in output["oneOf"]
    streams = DOCUMENT["components"]["schemas"]["OutputStreams"]
    assert set(streams["required"]) == {"stdout", "stderr", "stdin"}


def test_security_schemes():
    assert set(DOCUMENT["components"]["securitySchemes"]) == {"legacyToken", "basicAuth", "session"}


def test_markdown_and_openapi_name_the_same_arguments():
    markdown = docs.markdown(registry.ENDPOINTS)
    for endpoint in registry.ENDPOINTS:
        section = markdown.split(f"## {endpoint.name}\n", 1)[1].split("\n## ", 1)[0]
        body = next(iter(DOCUMENT["paths"][f"/api/v1.0/{endpoint.name}"]["post"]["requestBody"]["content"].values()))
        for name in body["schema"]["properties"]:
            assert f"| `{name}` |" in section, (endpoint.name, name)


def test_json_serializable_and_stable():
    assert json.loads(openapi.as_json()) == DOCUMENT
