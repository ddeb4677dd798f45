"""One request through the pipeline: authenticate, look up, authorize, validate, run, envelope."""

from __future__ import annotations

import logging

from marshmallow import ValidationError

from rest_api_plugin import audit, registry, security
from rest_api_plugin.errors import ApiError, BadRequest
from rest_api_plugin.masking import mask_arguments
from rest_api_plugin.result import CallContext, Result
from rest_api_plugin.schemas.envelope import envelope_schema

log = logging.getLogger(__name__)

# Request fields that steer the plugin and are not arguments of the endpoint.
CONTROL_FIELDS = ("api", security.CSRF_FIELD)


def _utcnow():
    from airflow.utils import timezone

    return timezone.utcnow()


def collect_arguments(request) -> dict[str, str]:
    """Query-string and form arguments alike (old clients use both); the form wins on a clash.

    ``cmd=import`` may also carry its JSON as the request body or as an uploaded file named ``import``.
    """
    values = {**request.args.to_dict(), **request.form.to_dict()}
    if values.get("cmd") == "import" and "import" not in values:
        upload = request.files.get("import")
        body = upload.read() if upload is not None else request.get_data()
        values["import"] = body.decode("utf-8", errors="replace")
    return {name: value for name, value in values.items() if name not in CONTROL_FIELDS}


def validation_message(messages: dict) -> str:
    parts = []
    for field, errors in messages.items():
        text = "; ".join(str(e) for e in (errors if isinstance(errors, list) else [errors]))
        parts.append(text if field == "_schema" else f"{field}: {text}")
    return "Invalid arguments: " + " | ".join(parts)


def _new_envelope(request) -> dict:
    return {
        "call_time": _utcnow(),
        "arguments": mask_arguments({**request.args.to_dict(), **request.form.to_dict()}),
        "post_arguments": mask_arguments(request.form.to_dict()),
    }


def _finish(envelope: dict) -> tuple[dict, int]:
    envelope["response_time"] = _utcnow()
    return envelope_schema.dump(envelope), envelope["http_response_code"]


def method_not_allowed(request) -> tuple[dict, int]:
    envelope = _new_envelope(request)
    envelope.update(status="ERROR", output=f"Method {request.method} not allowed: use GET or POST",
                    http_response_code=405)
    return _finish(envelope)


def handle(request) -> tuple[dict, int]:
    """The envelope and HTTP status for one call to /admin/rest_api/api."""
    envelope = _new_envelope(request)
    try:
        result = _run(request, envelope)
        envelope.update(status="OK", output=result.output, data=result.data, http_response_code=result.http_status)
        if result.warning:
            envelope["warning"] = result.warning
    except ApiError as err:
        envelope.update(status="ERROR", output=err.message, data=err.data, http_response_code=err.status)
    except Exception as err:
        log.exception("REST API plugin: unexpected error")
        envelope.update(
            status="ERROR",
            output=f"Internal error ({type(err).__name__}); the webserver log has the details.",
            data=None,
            http_response_code=500,
        )
    return _finish(envelope)


def _run(request, envelope: dict) -> Result:
    identity = security.authenticate(request)
    # Query string or form, whatever the method: Werkzeug leaves a GET's form out of request.values, and old
    # clients send GET requests with form bodies (e.g. deploy_dag as multipart).
    name = (request.args.get("api") or request.form.get("api") or "").strip().lower()
    if not name:
        raise BadRequest("API should be provided")
    endpoint = registry.get(name)
    if endpoint is None:
        raise BadRequest(f"API '{name}' was not found")
    security.authorize(identity, endpoint)
    try:
        args = endpoint.schema().load(collect_arguments(request))
    except ValidationError as err:
        raise BadRequest(validation_message(err.messages), data={"errors": err.messages})
    writes = endpoint.writes(args)
    if writes:
        security.check_csrf(identity, request)
    security.authorize_dag(identity, endpoint, args)
    envelope["airflow_cmd"] = endpoint.command(args)
    ctx = CallContext(identity=identity, files=request.files)
    try:
        result = endpoint.handler(args, ctx)
    except ApiError as err:
        if writes:
            audit.record(endpoint, identity, args, envelope["arguments"], err.status)
        raise
    if writes:
        audit.record(endpoint, identity, args, envelope["arguments"], result.http_status)
    return result
