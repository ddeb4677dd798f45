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

    @classmethod
    def argument_names(cls) -> set[str]:
        """The names a request may use for this endpoint's arguments."""
        return {field.data_key or name for name, field in cls._declared_fields.items()}


class WithLogicalDate(ArgumentsSchema):
    """Accepts the date as ``execution_date`` (the original plugin), ``exec_date`` or ``logical_date``."""

    execution_date = LogicalDate()
    exec_date = LogicalDate()
    logical_date = LogicalDate()

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


def one_action(data: dict, actions: tuple[str, ...]) -> str | None:
    """The single action flag set in ``data``; more than one is a ValidationError."""
    chosen = [name for name in actions if data.get(name) not in (None, False)]
    if len(chosen) > 1:
        raise ValidationError(f"Choose one action, not {', '.join(chosen)}.", "_schema")
    return chosen[0] if chosen else None
