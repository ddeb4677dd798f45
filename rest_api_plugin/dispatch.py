"""One request through the pipeline: authenticate, look up, authorize, validate, run, envelope."""

from __future__ import annotations

import logging

from marshmallow import ValidationError

from rest_api_plugin import audit, config, registry, security, tokens
from rest_api_plugin.airflow_compat import AIRFLOW_VERSION, timezone
from rest_api_plugin.errors import (
    ApiError,
    BadRequest,
    NotFound,
    ServiceUnavailable,
    UnsupportedMediaType,
    database_unavailable_message,
    is_database_unavailable,
)
from rest_api_plugin.masking import mask_arguments
from rest_api_plugin.output import shape
from rest_api_plugin.request import ApiRequest
from rest_api_plugin.result import CallContext, Result
from rest_api_plugin.schemas.envelope import ENVELOPE_SCHEMAS

log = logging.getLogger(__name__)

OUTPUT_FORMAT_FIELD = "output_format"
# Request fields that steer the plugin and are not arguments of the endpoint.
CONTROL_FIELDS = ("api", security.CSRF_FIELD, OUTPUT_FORMAT_FIELD)
# An answer is data about this call only: never sniffed as another type, never cached by a proxy or browser
# (both front ends send these with every answer).
API_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
LEGACY_WARNING = f"Ignored on Airflow {AIRFLOW_VERSION.split('.', 1)[0]} (no longer meaningful): {{}}"
UNKNOWN_WARNING = "Ignored unknown arguments: {}"


def _utcnow():
    return timezone.utcnow()


def collect_arguments(request, schema) -> dict[str, str]:
    """Query-string and form arguments alike (old clients use both), without the control fields; and the
    schema's ``BODY_ARGUMENT`` from the JSON body or an uploaded file of that name, when ``cmd`` names it."""
    values = request.all_arguments()
    body_argument = schema.BODY_ARGUMENT
    if body_argument and values.get("cmd") == body_argument and body_argument not in values:
        upload = request.files.get(body_argument)
        if upload is None and request.content_type != "application/json":
            # a raw body must say it is JSON: a cross-site form can send text/plain without a preflight
            raise UnsupportedMediaType(
                f"Send {body_argument} as an application/json body, a form field or a file named {body_argument}"
            )
        body = upload.stream.read() if upload is not None else request.read_body()
        values[body_argument] = body.decode("utf-8", errors="replace")
    return {name: value for name, value in values.items() if name not in CONTROL_FIELDS}


def validation_message(messages: dict) -> str:
    parts = []
    for field, errors in messages.items():
        text = "; ".join(str(e) for e in (errors if isinstance(errors, list) else [errors]))
        parts.append(text if field == "_schema" else f"{field}: {text}")
    return "Invalid arguments: " + " | ".join(parts)


class Call:
    """One call's envelope as it is built, and how it will be written."""

    def __init__(self, request: ApiRequest | None):
        self.request = request
        self.envelope: dict = {"call_time": _utcnow()}
        self.output_format = config.output_format()
        self.time_format = config.time_format()
        self.strict_arguments = config.strict_arguments()
        self.endpoint = None
        self.identity: security.Identity | None = None

    def answer_as(self, identity: security.Identity) -> None:
        """The caller's answer shape: a named token's own output_format, time_format and strict_arguments
        where it sets them, else the deployment's (a request's output_format= still wins)."""
        self.identity = identity
        token = identity.token
        if token is None:
            return
        self.output_format = token.output_format or self.output_format
        self.time_format = token.time_format or self.time_format
        if token.strict_arguments is not None:
            self.strict_arguments = token.strict_arguments

    def show_arguments(self, declared: dict | None = None) -> None:
        """Echo the arguments, masked (``declared``: the endpoint schema's masks), only to a caller who
        authenticated, as the original did."""
        self.envelope["arguments"] = mask_arguments(self.request.all_arguments(), declared)
        self.envelope["post_arguments"] = mask_arguments(self.request.form, declared)

    def succeed(self, result: Result, args: dict, warnings: list[str]) -> None:
        """The answer of a call that ran: ``data`` dumped through the shape its endpoint declares."""
        self.envelope.update(
            status="OK",
            output=shape(result, self.endpoint.cli_backed, self.output_format),
            data=self.endpoint.dump_data(args, result.data),
            http_response_code=result.http_status,
        )
        if warnings:
            self.envelope["warning"] = "; ".join(warnings)

    def fail(self, status: int, message: str, data=None) -> None:
        self.envelope.update(status="ERROR", output=message, data=data, http_response_code=status)

    def finish(self) -> tuple[dict, int]:
        self.envelope["response_time"] = _utcnow()
        schema = ENVELOPE_SCHEMAS[self.time_format]
        return schema.dump(self.envelope), self.envelope["http_response_code"]


def method_not_allowed(request) -> tuple[dict, int]:
    call = Call(request)
    call.fail(405, f"Method {request.method} not allowed: use GET or POST")
    return call.finish()


def too_large(max_bytes: int | None, max_parts: int | None) -> tuple[dict, int]:
    """The answer to a body the web framework refused to read: larger than the webserver accepts, or made of
    too many form fields and files."""
    call = Call(None)
    limits = [
        f"at most {max_bytes} bytes ([webserver] allowed_payload_size)" if max_bytes else "",
        f"at most {max_parts} form fields and files" if max_parts else "",
    ]
    call.fail(
        413,
        "The request is too large: "
        + " and ".join(limit for limit in limits if limit)
        + ". Send large DAG files and variables in smaller pieces, or raise the limit.",
    )
    return call.finish()


def handle(request) -> tuple[dict, int]:
    """The envelope and HTTP status for one call to /admin/rest_api/api (or /api/v1.0/NAME)."""
    call = Call(request)
    try:
        _run(call)
    except ApiError as err:
        call.fail(err.status, err.message, err.data)
        if err.status in (401, 403) or isinstance(err, tokens.TokenSentTwice):
            log_refusal(call, err)
    except Exception as err:
        if is_database_unavailable(err):
            log.warning("REST API plugin: the metadata database is unavailable: %s", err)
            call.fail(ServiceUnavailable.status, database_unavailable_message(err))
        else:
            log.exception("REST API plugin: unexpected error")
            call.fail(500, f"Internal error ({type(err).__name__}); the webserver log has the details.")
    return call.finish()


def log_refusal(call: Call, err: ApiError) -> None:
    """One webserver log line for a refused call, naming the caller when known (``token:<name>`` for a named
    token, also one that expired); never the presented secret."""
    caller = call.identity.name if call.identity else getattr(err, "caller", None) or "an unauthenticated caller"
    api = call.endpoint.name if call.endpoint else (call.request.api_name or call.request.control_value("api"))
    log.warning("REST API plugin: refused api=%r for %s (%s): %s", api[:100], caller, err.status, err.message)


def _run(call: Call) -> None:
    request = call.request
    identity = tokens.authenticate(request)
    call.answer_as(identity)
    call.show_arguments()
    name = (request.api_name or request.control_value("api")).strip().lower()
    if not name:
        raise BadRequest("API should be provided")
    endpoint = registry.get(name)
    if endpoint is None:
        raise BadRequest(f"API '{name}' was not found")
    if name in registry.disabled_names():
        raise NotFound(f"API '{name}' is disabled on this deployment by [rest_api_plugin] disabled_endpoints")
    call.endpoint = endpoint
    call.show_arguments(endpoint.schema.masks())
    requested_format = request.control_value(OUTPUT_FORMAT_FIELD)
    if requested_format:
        if requested_format not in config.OUTPUT_FORMATS:
            raise BadRequest(f"output_format must be one of {', '.join(config.OUTPUT_FORMATS)}")
        call.output_format = requested_format
    security.authorize(identity, endpoint)
    given = collect_arguments(request, endpoint.schema)
    unknown = sorted(set(given) - endpoint.schema.argument_names())
    if unknown and not call.strict_arguments:
        given = {name: value for name, value in given.items() if name not in unknown}
    try:
        args = endpoint.schema().load(given)
    except ValidationError as err:
        raise BadRequest(validation_message(err.messages), data={"errors": err.messages}) from err
    warnings = []
    legacy = args.pop("ignored", None)
    if legacy:
        warnings.append(LEGACY_WARNING.format(", ".join(legacy)))
    if unknown:
        warnings.append(UNKNOWN_WARNING.format(", ".join(unknown)))
    writes = endpoint.changes_state_for(args)
    if writes:
        security.authorize_write(identity, endpoint)
        security.check_csrf(identity, request)
    security.authorize_dag(identity, endpoint, args)
    call.envelope["airflow_cmd"] = endpoint.airflow_cmd_for(args)
    status = 500
    try:
        result = endpoint.run(args, CallContext(identity=identity, files=request.files))
        status = result.http_status
    except ApiError as err:
        status = err.status
        raise
    finally:
        if writes:
            audit.record(endpoint, identity, args, call.envelope["arguments"], status, ignored=unknown)
    call.succeed(result, args, [*warnings, *([result.warning] if result.warning else [])])
