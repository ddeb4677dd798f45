"""Arguments of the variables endpoint: ``cmd=set&key=&value=``, ``get=``, ``delete=``, import, export."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from rest_api_plugin.schemas.base import WithAction
from rest_api_plugin.schemas.fields import Flag, JsonObject, Text, decode_json

# a variable's value is shown masked when its key names a secret (Airflow's rule)
SECRET_IF_THE_KEY_IS = {"mask": "secret", "when_sensitive": "key"}
VARIABLE_KEY = {"validate": validate.Length(min=1, max=250, error="A variable key is 1 to 250 characters.")}


class VariablesSchema(WithAction):
    ACTIONS = ("set", "get", "delete", "list", "import", "export")
    BODY_ARGUMENT = "import"

    cmd = fields.String(validate=validate.OneOf(ACTIONS))
    key = fields.String(**VARIABLE_KEY)
    value = Text(1_000_000, metadata=SECRET_IF_THE_KEY_IS)
    description = Text(5000)
    get = fields.String(**VARIABLE_KEY)
    json = Flag(load_default=False)
    default = Text(1_000_000, metadata=SECRET_IF_THE_KEY_IS)
    delete = fields.String(**VARIABLE_KEY)
    import_ = JsonObject(data_key="import", metadata={"mask": "size"})  # a JSON object of key: value
    export = Flag()
    list = Flag()

    @validates_schema
    def action_is_complete(self, data, **kwargs):
        action = self.action_of(data)
        if action == "set":
            missing = [name for name in ("key", "value") if name not in data]
            if missing:
                raise ValidationError({name: [f"{name} is required with cmd=set."] for name in missing})
            if data.get("json"):
                _decode_json(data["value"], "value")
        if action == "import" and "import_" not in data:
            raise ValidationError("Give the variables to import as a JSON object of key: value.", "import")

    def complete(self, data: dict) -> dict:
        action = data["action"]
        if action in ("get", "delete"):
            data["key"] = data.get(action) or data.get("key")
            if not data["key"]:
                raise ValidationError(f"Name the variable: {action}=KEY.", action)
        if action == "import":
            data["import"] = data.pop("import_")
        return data


def _decode_json(text: str, field: str):
    try:
        return decode_json(text)
    except ValidationError as err:
        raise ValidationError(err.messages, field) from err
