"""What every argument schema shares."""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, post_load

from rest_api_plugin.schemas.fields import LogicalDate

LOGICAL_DATE_SPELLINGS = ("execution_date", "exec_date", "logical_date")


class ArgumentsSchema(Schema):
    """Arguments of one endpoint. The schema refuses unknown arguments; the dispatcher drops them first (with a
    warning) unless ``[rest_api_plugin] strict_arguments`` is on, as the original plugin ignored them."""

    class Meta:
        unknown = RAISE

    # The argument that may come as the request's JSON body, or as an uploaded file of that name, when the
    # call's ``cmd`` names it (``cmd=import`` of variables); None: the body is never read as arguments.
    BODY_ARGUMENT: str | None = None

    @classmethod
    def argument_names(cls) -> set[str]:
        """The names a request may use for this endpoint's arguments."""
        return {field.data_key or name for name, field in cls._declared_fields.items()}

    @classmethod
    def masks(cls) -> dict[str, dict]:
        """How the arguments that hold secrets are shown (rest_api_plugin.masking.mask_arguments): their
        fields' ``mask`` (and ``when_sensitive``) metadata, by argument name."""
        return {field.data_key or name: dict(field.metadata) for name, field in cls._declared_fields.items()
                if "mask" in field.metadata}


class WithLogicalDate(ArgumentsSchema):
    """Accepts the date as ``execution_date`` (the original plugin), ``exec_date`` or ``logical_date``."""

    execution_date = LogicalDate()
    exec_date = LogicalDate(metadata={"alias_of": "execution_date"})
    logical_date = LogicalDate(metadata={"alias_of": "execution_date"})

    @post_load
    def merge_logical_date(self, data, **kwargs):
        given = {name: data.pop(name) for name in LOGICAL_DATE_SPELLINGS if name in data}
        if len({value.isoformat() for value in given.values()}) > 1:
            raise ValidationError(
                "Give the date once: execution_date, exec_date and logical_date disagree.", "logical_date"
            )
        if given:
            data["logical_date"] = next(iter(given.values()))
        return data


class WithAction(ArgumentsSchema):
    """Arguments of an endpoint that does one of several ``ACTIONS`` (pool, variables, connections), named as
    the original README has it, ``cmd=ACTION``, or by an argument named after the action (``get=NAME``,
    ``delete=KEY``, ``list``, ``add=on``...); with neither, ``DEFAULT_ACTION``. ``data["action"]`` names it."""

    ACTIONS: tuple[str, ...] = ()
    DEFAULT_ACTION = "list"

    def action_of(self, data: dict) -> str:
        attribute = {field.data_key or name: name for name, field in self.fields.items()}
        flagged = [action for action in self.ACTIONS
                   if action in attribute and data.get(attribute[action]) not in (None, False)]
        if len(flagged) > 1:
            raise ValidationError(f"Choose one action, not {', '.join(flagged)}.", "_schema")
        cmd = data.get("cmd")
        if cmd and flagged and cmd != flagged[0]:
            raise ValidationError(f"Choose one action, not cmd={cmd} and {flagged[0]}.", "_schema")
        return cmd or (flagged[0] if flagged else self.DEFAULT_ACTION)

    @post_load
    def name_the_action(self, data, **kwargs):
        data["action"] = self.action_of(data)
        return self.complete(data)

    def complete(self, data: dict) -> dict:
        """What a subclass derives once the action is known (e.g. ``get=NAME`` names the pool)."""
        return data
