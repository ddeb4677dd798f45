"""Arguments of the pool endpoint: ``cmd=set`` with the pool's fields, ``get=``, ``delete=`` or list."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from rest_api_plugin.schemas.base import WithAction
from rest_api_plugin.schemas.fields import BoundedInteger, Flag, Key, Text


class PoolSchema(WithAction):
    ACTIONS = ("set", "get", "delete", "list")

    cmd = fields.String(validate=validate.OneOf(ACTIONS))
    pool_name = Key("pool name")
    slot_count = BoundedInteger(-1, error="slot_count must be -1 (unlimited) to {max}.")
    pool_description = Text(5000)
    description = Text(5000)  # the original README's spelling
    include_deferred = Flag(load_default=False)
    get = Key("pool name")
    delete = Key("pool name")
    list = Flag()

    @validates_schema
    def action_is_complete(self, data, **kwargs):
        if self.action_of(data) == "set":
            missing = [name for name in ("pool_name", "slot_count") if name not in data]
            if missing:
                raise ValidationError({name: [f"{name} is required with cmd=set."] for name in missing})

    def complete(self, data: dict) -> dict:
        if "description" in data and "pool_description" not in data:
            data["pool_description"] = data.pop("description")
        action = data["action"]
        if action in ("get", "delete"):
            data["pool_name"] = data.get(action) or data.get("pool_name")
            if not data["pool_name"]:
                raise ValidationError(f"Name the pool: {action}=NAME.", action)
        return data
