"""The OpenAPI document of the plugin, generated from the registry and the marshmallow schemas (apispec).

    python -m rest_api_plugin.reference.openapi > docs/openapi.json

Every endpoint is its own operation. OpenAPI cannot give one path several operations, so each is described at
``/api/v1.0/NAME`` (relative to the server ``/admin/rest_api``), which the plugin serves exactly as
``/api?api=NAME``; its ``api`` query parameter is fixed to NAME, so a client built from the document may use
either URL. Arguments are query parameters for GET and form fields for POST (multipart where an endpoint
takes a file). Argument descriptions come from ``docs.describe_arguments``, as docs/endpoints.md's do.
"""

from __future__ import annotations

import json
from functools import lru_cache

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from rest_api_plugin import __version__, config, registry
from rest_api_plugin.reference import docs
from rest_api_plugin.schemas import fields as argument_fields
from rest_api_plugin.schemas.deployment import UploadedFile
from rest_api_plugin.schemas.envelope import EnvelopeSchema, OutputStreams, Timestamp

SERVER = "/admin/rest_api"
TOKEN_HEADER_SCHEME = "legacyToken"
# Statuses every endpoint may answer, whatever it does.
COMMON_ERRORS = {
    400: "Bad request: unknown api, invalid or missing argument (data.errors: field -> messages)",
    401: "Not authenticated (no token configured and no Airflow user)",
    403: "Token Authentication Failed, or the caller may not call this endpoint or reach this DAG",
    413: "The request body is larger than [webserver] allowed_payload_size, or has more than 1000 parts",
    500: "Unexpected error: a short message, never a traceback",
    503: "The metadata database is unreachable: nothing was done, try again",
}
STATUS_TEXT = {
    202: "Accepted: the job was started and is still running (wait gave up, or no request slot was free)",
    404: "A DAG, task, run, pool, variable, connection or job named in the call does not exist",
    409: "Conflict with the current state (duplicate run_id, a running task, a command that failed...)",
    414: "The URL is longer than the webserver reads (about 4 KB with gunicorn): send long arguments in a POST form",
    415: "A raw body that is not application/json",
    429: "Too many background jobs running ([rest_api_plugin] max_jobs / max_jobs_per_user)",
    501: "Not available on the Airflow that runs (e.g. run on Airflow 3): the message says what to use instead",
}


def _spec() -> tuple[APISpec, MarshmallowPlugin]:
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title="Airflow REST API Plugin",
        version=__version__,
        openapi_version="3.0.3",
        plugins=[plugin],
        info={"description": __doc__.split("\n\n")[1].replace("\n", " ")},
        servers=[{"url": SERVER}],
    )
    plugin.map_to_openapi_type(argument_fields.Flag, "boolean", None)
    plugin.map_to_openapi_type(argument_fields.LogicalDate, "string", "date-time")
    plugin.map_to_openapi_type(argument_fields.JsonObject, "string", None)
    plugin.map_to_openapi_type(UploadedFile, "string", "binary")
    plugin.map_to_openapi_type(Timestamp, "string", None)
    spec.components.security_scheme(
        TOKEN_HEADER_SCHEME,
        {
            "type": "apiKey",
            "in": "header",
            "name": config.DEFAULT_TOKEN_HEADER,
            "description": "The legacy token ([rest_api_plugin] rest_api_plugin_expected_http_token); the header's "
            "name is [rest_api_plugin] rest_api_plugin_http_token_header_name.",
        },
    )
    spec.components.security_scheme(
        "basicAuth",
        {
            "type": "http",
            "scheme": "basic",
            "description": "An Airflow user, through the webserver's [api] auth_backends.",
        },
    )
    spec.components.security_scheme(
        "session",
        {
            "type": "apiKey",
            "in": "cookie",
            "name": "session",
            "description": "The Airflow UI's session; a state change also needs the page's CSRF token (POST).",
        },
    )
    spec.components.schema("OutputStreams", schema=OutputStreams)
    spec.components.schema("Envelope", schema=EnvelopeSchema)
    return spec, plugin


def _property(plugin: MarshmallowPlugin, field, argument: dict) -> dict:
    prop = plugin.converter.field2property(field)
    prop.pop("additionalProperties", None)
    if argument["kind"] == "json":
        prop["description"] = "JSON object, as text. " + argument["description"]
    else:
        prop["description"] = argument["description"]
    if argument["kind"] == "boolean":
        prop["description"] += " Also accepted: on/off, 1/0, and the name alone (empty value)."
    return prop


def _argument_schema(plugin: MarshmallowPlugin, endpoint) -> tuple[dict, list[dict]]:
    """The arguments as a form body's JSON Schema, and as query parameters."""
    schema = endpoint.schema()
    described = {argument["name"]: argument for argument in docs.describe_arguments(endpoint)}
    properties, required, parameters = {}, [], []
    for name, field in schema.fields.items():
        argument = described[field.data_key or name]
        prop = _property(plugin, field, argument)
        properties[argument["name"]] = prop
        if field.required:
            required.append(argument["name"])
        if argument["kind"] != "file":
            parameters.append(
                {
                    "in": "query",
                    "name": argument["name"],
                    "required": field.required,
                    "schema": {k: v for k, v in prop.items() if k != "description"},
                    "description": prop["description"],
                    **({"allowEmptyValue": True} if argument["kind"] == "boolean" else {}),
                }
            )
    body = {"type": "object", "properties": properties}
    if required:
        body["required"] = required
    return body, parameters


def _control_parameters(endpoint) -> list[dict]:
    return [
        {
            "in": "query",
            "name": "api",
            "required": True,
            "schema": {"type": "string", "enum": [endpoint.name]},
            "description": f"The endpoint: always {endpoint.name} (the same call is {SERVER}/api?api={endpoint.name}).",
        },
        {
            "in": "query",
            "name": "output_format",
            "required": False,
            "schema": {"type": "string", "enum": list(config.OUTPUT_FORMATS)},
            "description": "The shape of output for this call ([rest_api_plugin] output_format by default).",
        },
    ]


def _data_schemas(spec: APISpec, endpoint) -> list[dict]:
    """References to the component schemas of what the endpoint's ``data`` holds (one per action)."""
    refs = []
    for shape in endpoint.data_shapes():
        if shape.__name__ not in spec.components.schemas:
            spec.components.schema(shape.__name__, schema=shape)
        refs.append({"$ref": f"#/components/schemas/{shape.__name__}"})
    return refs


def _responses(spec: APISpec, endpoint, method: str) -> dict:
    envelope = {"application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}}
    success = envelope
    shapes = _data_schemas(spec, endpoint)
    if shapes:
        data = shapes[0] if len(shapes) == 1 else {"anyOf": shapes}  # free-form shapes may overlap
        success = {
            "application/json": {
                "schema": {
                    "allOf": [
                        {"$ref": "#/components/schemas/Envelope"},
                        {"type": "object", "properties": {"data": data}},
                    ]
                }
            }
        }
    responses = {"200": {"description": "OK: the envelope, status OK", "content": success}}
    statuses = {**COMMON_ERRORS, **{status: STATUS_TEXT[status] for status in endpoint.errors}}
    if method == "get":
        statuses[414] = STATUS_TEXT[414]
    for status in sorted(statuses):
        content = {"text/html": {"schema": {"type": "string"}}} if status == 414 else envelope
        responses[str(status)] = {"description": statuses[status], "content": content}
    return responses


def _operation(spec: APISpec, endpoint, method: str, body: dict, parameters: list[dict]) -> dict:
    operation = {
        "operationId": f"{endpoint.name}_{method}",
        "summary": endpoint.description,
        "tags": [endpoint.group.value],
        "x-permission": endpoint.permission,
        "x-read-only": not endpoint.may_change_state,
        "parameters": _control_parameters(endpoint) + (parameters if method == "get" else []),
        "responses": _responses(spec, endpoint, method),
    }
    if method == "post":
        takes_file = any(prop.get("format") == "binary" for prop in body["properties"].values())
        media = ["multipart/form-data"] if takes_file else ["application/x-www-form-urlencoded", "multipart/form-data"]
        operation["requestBody"] = {
            "required": bool(body.get("required")),
            "content": {m: {"schema": body} for m in media},
        }
    return operation


@lru_cache(maxsize=None)
def document(disabled: frozenset[str] = frozenset()) -> dict:
    """The OpenAPI document without the ``disabled`` endpoints (built once per process and set of them: the
    registry does not change). docs/openapi.json has every endpoint; a server serves ``served()``."""
    spec, plugin = _spec()
    for endpoint in registry.ENDPOINTS:
        if endpoint.name in disabled:
            continue
        body, parameters = _argument_schema(plugin, endpoint)
        takes_file = any(prop.get("format") == "binary" for prop in body["properties"].values())
        methods = ("post",) if takes_file else ("get", "post")
        spec.path(
            path=f"/api/v1.0/{endpoint.name}",
            operations={method: _operation(spec, endpoint, method, body, parameters) for method in methods},
        )
    result = spec.to_dict()
    result["security"] = [{TOKEN_HEADER_SCHEME: []}, {"basicAuth": []}, {"session": []}]
    return result


def as_json(disabled: frozenset[str] = frozenset()) -> str:
    return json.dumps(document(disabled), indent=2, sort_keys=False) + "\n"


def served() -> str:
    """The document a server serves: without the endpoints of ``[rest_api_plugin] disabled_endpoints``."""
    return as_json(registry.disabled_names())


if __name__ == "__main__":
    print(as_json(), end="")
