"""The response envelope every call answers with, as the original plugin documented it."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime

from marshmallow import Schema, fields


class Timestamp(fields.Field):
    """A moment as ``rfc1123`` (``Tue, 29 Nov 2016 14:22:26 GMT``: the original plugin's timestamps, which
    Flask's JSON encoder wrote) or ``iso8601`` (``2016-11-29T14:22:26.123456+00:00``, as Airflow's REST API)."""

    def __init__(self, time_format: str = "rfc1123", **kwargs):
        super().__init__(**kwargs)
        self.time_format = time_format

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        moment = datetime.fromtimestamp(value.timestamp(), tz=timezone.utc)
        if self.time_format == "iso8601":
            return moment.isoformat()
        return format_datetime(moment, usegmt=True)


class OutputStreams(Schema):
    """``output`` of an endpoint the original plugin ran as a command, in the ``streams`` formats
    (``rest_api_plugin.output`` builds it)."""

    stdout = fields.String(required=True, metadata={"description": "What the command printed on stdout."})
    stderr = fields.String(required=True, metadata={"description": "What it wrote to stderr; empty on success."})
    stdin = fields.String(required=True, metadata={"description": "Always empty."})


class EnvelopeSchema(Schema):
    """Every answer, success or error: what is written, and what the OpenAPI document declares."""

    airflow_cmd = fields.String(allow_none=True, metadata={"description": "The equivalent CLI call, for display."})
    arguments = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={
            "description": "The arguments received (query and form), secrets masked; only for an authenticated caller."
        },
    )
    post_arguments = fields.Dict(keys=fields.String(), values=fields.String())
    call_time = Timestamp(
        required=True, metadata={"description": "RFC 1123 (default) or ISO 8601 ([rest_api_plugin] time_format)."}
    )
    response_time = Timestamp(required=True)
    output = fields.Raw(
        required=True,
        metadata={
            "description": "What the CLI prints: one string (text format, the plugin's own endpoints and every "
            "error), or the command's streams (streams and streams_py3_bytes formats).",
            "oneOf": [{"type": "string"}, {"$ref": "#/components/schemas/OutputStreams"}],
        },
    )
    status = fields.String(required=True, metadata={"enum": ["OK", "ERROR"]})
    http_response_code = fields.Integer(required=True)
    warning = fields.String(metadata={"description": "Present when arguments were ignored."})
    data = fields.Raw(allow_none=True, metadata={"description": "The structured result."})

    class Meta:
        ordered = True


class Iso8601EnvelopeSchema(EnvelopeSchema):
    call_time = Timestamp("iso8601")
    response_time = Timestamp("iso8601")


ENVELOPE_SCHEMAS = {"rfc1123": EnvelopeSchema(), "iso8601": Iso8601EnvelopeSchema()}
