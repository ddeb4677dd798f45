"""Arguments of the pool endpoint: ``cmd=set`` with the pool's fields, ``get=``, ``delete=`` or list."""

from __future__ import annotations

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from rest_api_plugin.schemas.base import ArgumentsSchema, one_action
from rest_api_plugin.schemas.fields import Flag, Key, Text

ACTIONS = ("set", "get", "delete", "list")


class PoolSchema(ArgumentsSchema):
    cmd = fields.String(validate=validate.OneOf(["set", "get", "delete", "list"]))
    pool_name = Key("pool name")
    slot_count = fields.Integer(validate=validate.Range(min=-1, error="slot_count must be -1 or more."))
    pool_description = Text(5000)
    description = Text(5000)  # the original README's spelling
    include_deferred = Flag(load_default=False)
    get = Key("pool name")
    delete = Key("pool name")
    list = Flag()

    @validates_schema
    def action_is_complete(self, data, **kwargs):
        action = self.action_of(data)
        if action == "set":
            missing = [name for name in ("pool_name", "slot_count") if name not in data]
            if missing:
                raise ValidationError({name: [f"{name} is required with cmd=set."] for name in missing})

    @staticmethod
    def action_of(data) -> str:
        cmd = data.get("cmd")
        flagged = one_action({**data, "list": data.get("list") or None}, ("get", "delete", "list"))
        if cmd and flagged and cmd != flagged:
            raise ValidationError(f"Choose one action, not cmd={cmd} and {flagged}.", "_schema")
        return cmd or flagged or "list"

    @post_load
    def normalize(self, data, **kwargs):
        data["action"] = self.action_of(data)
        if "description" in data and "pool_description" not in data:
            data["pool_description"] = data.pop("description")
        if data["action"] in ("get", "delete") and data.get(data["action"]):
            data["pool_name"] = data[data["action"]]
        elif data["action"] in ("get", "delete") and "pool_name" not in data:
            raise ValidationError(f"Name the pool: {data['action']}=NAME.", data["action"])
        return data
