"""Arguments of the connections endpoint: ``list``, ``add`` and ``delete`` as the original had them."""

from __future__ import annotations

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from rest_api_plugin.schemas.base import ArgumentsSchema, one_action
from rest_api_plugin.schemas.fields import Flag, JsonObjectText, Key, Text

ACTIONS = ("list", "add", "delete")


class ConnectionsSchema(ArgumentsSchema):
    list = Flag()
    add = Flag()
    delete = Flag()
    cmd = fields.String(validate=validate.OneOf(ACTIONS))
    conn_id = Key("conn_id")
    conn_uri = Text(5000)
    conn_type = Text(500)
    conn_host = Text(500)
    conn_login = Text(500)
    conn_password = Text(5000)
    conn_schema = Text(500)
    conn_port = fields.Integer(validate=validate.Range(min=0, max=65535))
    conn_extra = JsonObjectText(validate=validate.Length(max=100_000))
    conn_description = Text(5000)

    @staticmethod
    def action_of(data) -> str:
        flagged = one_action({name: data.get(name) or None for name in ACTIONS}, ACTIONS)
        cmd = data.get("cmd")
        if cmd and flagged and cmd != flagged:
            raise ValidationError(f"Choose one action, not cmd={cmd} and {flagged}.", "_schema")
        return cmd or flagged or "list"

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

    @post_load
    def normalize(self, data, **kwargs):
        data["action"] = self.action_of(data)
        return data
