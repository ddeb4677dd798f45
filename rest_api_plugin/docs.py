"""Describes endpoints from the registry, for the page and for docs/endpoints.md.

    python -m rest_api_plugin.docs > docs/endpoints.md
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from marshmallow import fields

from rest_api_plugin.argument_help import HELP, IGNORED
from rest_api_plugin.schemas import fields as plugin_fields
from rest_api_plugin.schemas.dag_files import UploadedFile

KINDS = (  # field class -> what a form and a reader should expect; the first match wins
    (plugin_fields.Flag, "boolean"),
    (plugin_fields.LogicalDate, "date-time"),
    (plugin_fields.JsonObject, "json"),
    (UploadedFile, "file"),
    (fields.Integer, "integer"),
    (fields.String, "string"),
)
URL = "http://localhost:8080/admin/rest_api/api"


def _kind(field) -> str:
    return next((kind for cls, kind in KINDS if isinstance(field, cls)), "string")


def _help(schema, name: str, field) -> str:
    if name in getattr(schema, "IGNORED", ()):
        return IGNORED
    return field.metadata.get("description") or HELP.get(field.data_key or name, "")


def describe_arguments(endpoint) -> list[dict]:
    schema = endpoint.schema()
    return [
        {
            "name": field.data_key or name,
            "kind": _kind(field),
            "required": field.required,
            "description": _help(schema, name, field),
        }
        for name, field in schema.fields.items()
    ]


def describe(endpoint) -> dict:
    return {
        "name": endpoint.name,
        "group": endpoint.group,
        "description": endpoint.description,
        "permission": endpoint.permission,
        "read_only": endpoint.read_only,
        "example": endpoint.example,
        "arguments": describe_arguments(endpoint),
    }


def describe_all(endpoints) -> list[dict]:
    return [describe(endpoint) for endpoint in endpoints]


def example_command(endpoint) -> str:
    """The ``airflow ...`` command the endpoint's example stands for: the example goes through the schema."""
    files = {a["name"] for a in describe_arguments(endpoint) if a["kind"] == "file"}
    given = {name: value for name, value in parse_qsl(endpoint.example, keep_blank_values=True) if name not in files}
    return endpoint.command(endpoint.schema().load(given))


def curl_example(endpoint) -> str:
    """The endpoint's example as a curl command, with the token as a placeholder."""
    query = f"api={endpoint.name}" + (f"&{endpoint.example}" if endpoint.example else "")
    if any(a["kind"] == "file" for a in describe_arguments(endpoint)):
        fields = " ".join(f"-F '{part}'" for part in endpoint.example.split("&") if part)
        return f"curl -H 'rest_api_plugin_http_token: TOKEN' {fields} '{URL}?api={endpoint.name}'"
    return f"curl -H 'rest_api_plugin_http_token: TOKEN' '{URL}?{query}'"


def markdown(endpoints) -> str:
    lines = [
        "# Endpoints",
        "",
        "Generated from `rest_api_plugin/registry.py` by `python -m rest_api_plugin.docs`; do not edit by hand.",
        "",
        "Every endpoint answers `GET` and `POST` at `/admin/rest_api/api?api=NAME`, arguments in the query string",
        "or as form fields. Booleans are flags: `&name`, `name=on`, `true`/`false`, `1`/`0`. Unknown arguments are",
        "refused with 400. Each endpoint is one permission, `can_<name>` on the resource `REST API Plugin`.",
        "",
    ]
    for endpoint in endpoints:
        item = describe(endpoint)
        kind = "read-only" if item["read_only"] else "changes state: audit-logged; from a browser session, POST with CSRF"
        lines += [f"## {item['name']}", "", item["description"], "",
                  f"- Permission: `{item['permission']}` ({kind}).",
                  f"- Shown as `airflow_cmd` for the example: `{example_command(endpoint)}`.", ""]
        if item["arguments"]:
            lines += ["| argument | type | required | meaning |", "|---|---|---|---|"]
            lines += [f"| `{a['name']}` | {a['kind']} | {'yes' if a['required'] else ''} | {a['description']} |"
                      for a in item["arguments"]]
        else:
            lines.append("No arguments.")
        lines += ["", "```bash", curl_example(endpoint), "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    from rest_api_plugin.registry import ENDPOINTS

    print(markdown(ENDPOINTS))
