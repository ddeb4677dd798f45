"""Describes endpoints from the registry, for the page and for docs/endpoints.md.

python -m rest_api_plugin.reference.docs > docs/endpoints.md
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from marshmallow import fields, missing, validate

from rest_api_plugin.schemas import fields as plugin_fields
from rest_api_plugin.schemas.deployment import UploadedFile
from rest_api_plugin.schemas.help import HELP, IGNORED

KINDS = (  # field class -> what a form and a reader should expect; the first match wins
    (plugin_fields.Flag, "boolean"),
    (plugin_fields.LogicalDate, "date-time"),
    (plugin_fields.JsonObject, "json"),
    (UploadedFile, "file"),
    (fields.Integer, "integer"),
    (fields.String, "string"),
)
URL = "http://localhost:8080/admin/rest_api/api"

# kind -> the page's form control for it
CONTROLS = {
    "boolean": "checkbox",
    "date-time": "datetime-local",
    "json": "json",
    "file": "file",
    "integer": "number",
    "string": "text",
}


def _kind(field) -> str:
    return next((kind for cls, kind in KINDS if isinstance(field, cls)), "string")


def _is_legacy(schema, name: str) -> bool:
    """Accepted for old clients and ignored or unused: the schema lists it in ``IGNORED``, or its field says
    ``legacy`` (e.g. ``subdir`` where DAGs come from the database)."""
    return name in getattr(schema, "IGNORED", ()) or bool(schema.fields[name].metadata.get("legacy"))


def _help(schema, name: str, field) -> str:
    if name in getattr(schema, "IGNORED", ()):
        return IGNORED
    return field.metadata.get("description") or HELP.get(field.data_key or name, "")


def _choices(field) -> list[str]:
    validators = field.validators if isinstance(field.validators, (list, tuple)) else [field.validators]
    return next((list(v.choices) for v in validators if isinstance(v, validate.OneOf)), [])


def _default(field):
    """The value used when the argument is not sent, when it is a plain value (else None)."""
    value = field.load_default
    return value if value is not missing and isinstance(value, (bool, int, str)) else None


def _control(kind: str, choices: list) -> str:
    if kind == "string" and choices:
        return "select"
    return CONTROLS[kind]


def describe_arguments(endpoint) -> list[dict]:
    """Each argument: name, kind, required, description; and for the page: its form control (checkbox,
    number, datetime-local, json, file, text or select), choices (for a select), default (when not sent,
    or None), legacy (accepted for old clients, ignored or unused), alias_of (the argument it is another name
    of, or None) and aliases (its other names)."""
    schema = endpoint.schema()
    described = []
    for name, field in schema.fields.items():
        argument = {
            "name": field.data_key or name,
            "kind": _kind(field),
            "required": field.required,
            "description": _help(schema, name, field),
            "choices": _choices(field),
            "default": _default(field),
        }
        argument["control"] = _control(argument["kind"], argument["choices"])
        argument["legacy"] = _is_legacy(schema, name)
        argument["alias_of"] = field.metadata.get("alias_of")  # another name for that argument (the page
        described.append(argument)  # shows one input per meaning)
    for argument in described:
        argument["aliases"] = [other["name"] for other in described if other["alias_of"] == argument["name"]]
    return described


def describe(endpoint) -> dict:
    return {
        "name": endpoint.name,
        "group": endpoint.group.key,
        "description": endpoint.description,
        "permission": endpoint.permission,
        "read_only": not endpoint.may_change_state,
        "dag_access": endpoint.dag_access.description,
        "example": endpoint.example,
        "arguments": describe_arguments(endpoint),
    }


def describe_all(endpoints) -> list[dict]:
    return [describe(endpoint) for endpoint in endpoints]


def describe_groups(endpoints) -> list[dict]:
    """describe_all's endpoints in the page's sections: [{name, title, endpoints}], in ``Group`` order."""
    from rest_api_plugin.registry import Group

    described = describe_all(endpoints)
    return [
        {"name": group.key, "title": group.value, "endpoints": [e for e in described if e["group"] == group.key]}
        for group in Group
        if any(e["group"] == group.key for e in described)
    ]


def example_command(endpoint) -> str:
    """The ``airflow ...`` command the endpoint's example stands for: the example goes through the schema."""
    files = {a["name"] for a in describe_arguments(endpoint) if a["kind"] == "file"}
    given = {name: value for name, value in parse_qsl(endpoint.example, keep_blank_values=True) if name not in files}
    return endpoint.airflow_cmd_for(endpoint.schema().load(given))


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
        "Generated from `rest_api_plugin/registry.py` by `python -m rest_api_plugin.reference.docs`; "
        "do not edit by hand.",
        "",
        "Every endpoint answers `GET` and `POST` at `/admin/rest_api/api?api=NAME`, arguments in the query string",
        "or as form fields. Booleans are flags: `&name`, `name=on`, `true`/`false`, `1`/`0`. Unknown arguments are",
        "ignored and named in the answer's `warning` (`[rest_api_plugin] strict_arguments = True` refuses them",
        "with 400). Each endpoint is one permission, `can_<name>` on the resource `REST API Plugin`.",
        "",
    ]
    for endpoint in endpoints:
        item = describe(endpoint)
        kind = (
            "read-only" if item["read_only"] else "changes state: audit-logged; from a browser session, POST with CSRF"
        )
        lines += [
            f"## {item['name']}",
            "",
            item["description"],
            "",
            f"- Permission: `{item['permission']}` ({kind}).",
            f"- DAGs: {item['dag_access']}.",
            f"- Shown as `airflow_cmd` for the example: `{example_command(endpoint)}`.",
            "",
        ]
        if item["arguments"]:
            lines += ["| argument | type | required | meaning |", "|---|---|---|---|"]
            lines += [
                f"| `{a['name']}` | {a['kind']} | {'yes' if a['required'] else ''} | {a['description']} |"
                for a in item["arguments"]
            ]
        else:
            lines.append("No arguments.")
        lines += ["", "```bash", curl_example(endpoint), "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    from rest_api_plugin.registry import ENDPOINTS

    print(markdown(ENDPOINTS))
