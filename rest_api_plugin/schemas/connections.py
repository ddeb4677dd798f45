"""Arguments of the connections endpoint: ``list``, ``add`` and ``delete`` as the original had them."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from rest_api_plugin.schemas.base import WithAction
from rest_api_plugin.schemas.fields import Flag, JsonObjectText, Key, Text


class ConnectionsSchema(WithAction):
    ACTIONS = ("list", "add", "delete")

    list = Flag()
    add = Flag()
    delete = Flag()
    cmd = fields.String(validate=validate.OneOf(ACTIONS))
    conn_id = Key("conn_id")
    conn_uri = Text(5000, metadata={"mask": "uri"})
    conn_type = Text(500)
    conn_host = Text(500)
    conn_login = Text(500)
    conn_password = Text(5000, metadata={"mask": "secret"})
    conn_schema = Text(500)
    conn_port = fields.Integer(validate=validate.Range(min=0, max=65535))
    conn_extra = JsonObjectText(validate=validate.Length(max=100_000), metadata={"mask": "extra"})
    conn_description = Text(5000)

    @validates_schema
    def action_is_complete(self, data, **kwargs):
        action = self.action_of(data)
        if action in ("add", "delete") and not data.get("conn_id"):
            raise ValidationError(f"conn_id is required to {action} a connection.", "conn_id")
        if action == "add":
            if not data.get("conn_uri") and not data.get("conn_type"):
                raise ValidationError("Give conn_uri, or conn_type and the other fields.", "conn_uri")
            if data.get("conn_uri") and data.get("conn_type"):
                raise ValidationError("Give conn_uri or conn_type, not both.", "conn_uri")
