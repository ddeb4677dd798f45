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


class EnvelopeSchema(Schema):
    airflow_cmd = fields.String(allow_none=True)
    arguments = fields.Dict()
    post_arguments = fields.Dict()
    call_time = Timestamp()
    response_time = Timestamp()
    output = fields.Raw()  # a string, or {"stdout", "stderr", "stdin"} (rest_api_plugin.output)
    status = fields.String()
    http_response_code = fields.Integer()
    warning = fields.String()
    data = fields.Raw(allow_none=True)

    class Meta:
        ordered = True


class Iso8601EnvelopeSchema(EnvelopeSchema):
    call_time = Timestamp("iso8601")
    response_time = Timestamp("iso8601")


ENVELOPE_SCHEMAS = {"rfc1123": EnvelopeSchema(), "iso8601": Iso8601EnvelopeSchema()}
