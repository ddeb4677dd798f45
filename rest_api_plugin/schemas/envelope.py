"""The response envelope every call answers with, as the original plugin documented it."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime

from marshmallow import Schema, fields


class HttpDate(fields.Field):
    """``Tue, 29 Nov 2016 14:22:26 GMT``: the format the original plugin's timestamps had."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return format_datetime(datetime.fromtimestamp(value.timestamp(), tz=timezone.utc), usegmt=True)


class EnvelopeSchema(Schema):
    airflow_cmd = fields.String(allow_none=True)
    arguments = fields.Dict()
    post_arguments = fields.Dict()
    call_time = HttpDate()
    response_time = HttpDate()
    output = fields.String()
    status = fields.String()
    http_response_code = fields.Integer()
    warning = fields.String()
    data = fields.Raw(allow_none=True)

    class Meta:
        ordered = True


envelope_schema = EnvelopeSchema()
