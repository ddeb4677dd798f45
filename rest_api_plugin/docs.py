"""Describes endpoints from the registry, for the page and for docs/endpoints.md."""

from __future__ import annotations

from marshmallow import fields

from rest_api_plugin.schemas import fields as plugin_fields

KINDS = (  # field class -> what a form and a reader should expect; the first match wins
    (plugin_fields.Flag, "boolean"),
    (plugin_fields.LogicalDate, "date-time"),
    (plugin_fields.JsonObject, "json"),
    (fields.Integer, "integer"),
    (fields.String, "string"),
)


def _kind(field) -> str:
    return next((kind for cls, kind in KINDS if isinstance(field, cls)), "string")


def describe_arguments(endpoint) -> list[dict]:
    schema = endpoint.schema()
    return [
        {
            "name": field.data_key or name,
            "kind": _kind(field),
            "required": field.required,
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
        "arguments": describe_arguments(endpoint),
    }


def describe_all(endpoints) -> list[dict]:
    return [describe(endpoint) for endpoint in endpoints]


def markdown(endpoints) -> str:
    lines = ["# Endpoints", "", "Generated from `rest_api_plugin/registry.py` by `python -m rest_api_plugin.docs`.", ""]
    for item in describe_all(endpoints):
        lines += [f"## {item['name']}", "", item["description"], "",
                  f"Permission: `{item['permission']}` on `REST API Plugin`"
                  f" ({'read-only' if item['read_only'] else 'changes state'}).", ""]
        if item["arguments"]:
            lines += ["| argument | type | required |", "|---|---|---|"]
            lines += [f"| `{a['name']}` | {a['kind']} | {'yes' if a['required'] else ''} |" for a in item["arguments"]]
        else:
            lines.append("No arguments.")
        lines += ["", f"`curl -H 'rest_api_plugin_http_token: TOKEN' 'http://HOST:8080/admin/rest_api/api?api={item['name']}'`", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    from rest_api_plugin.registry import ENDPOINTS

    print(markdown(ENDPOINTS))
