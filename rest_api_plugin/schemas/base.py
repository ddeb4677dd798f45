"""What every argument schema shares."""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates_schema

from rest_api_plugin.airflow_compat import AIRFLOW_3
from rest_api_plugin.schemas.fields import Flag, LogicalDate

MAX_WAIT_SECONDS = 3600

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
        return {
            field.data_key or name: dict(field.metadata)
            for name, field in cls._declared_fields.items()
            if "mask" in field.metadata
        }


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
        flagged = [
            action
            for action in self.ACTIONS
            if action in attribute and data.get(attribute[action]) not in (None, False)
        ]
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


class IgnoresLegacyArguments(ArgumentsSchema):
    """Accepts arguments the original plugin had that mean nothing on Airflow 2, and lists them.

    A subclass names its ignored fields in ``IGNORED``; the ones given end up in ``args["ignored"]``.

    The contract is one document for both lines; where a line differs, a subclass declares it here, and only
    this class reads which line runs: ``IGNORED_ON_AIRFLOW_3`` names arguments ignored on Airflow 3 only (their
    help says so), ``REFUSED_ON_AIRFLOW_3`` those refused (400) there when set, with why (ignoring them would
    change what runs), ``AIRFLOW_3_ONLY`` those refused (400) on Airflow 2.
    """

    IGNORED: tuple[str, ...] = ()
    IGNORED_ON_AIRFLOW_3: tuple[str, ...] = ()
    REFUSED_ON_AIRFLOW_3: dict[str, str] = {}
    AIRFLOW_3_ONLY: tuple[str, ...] = ()

    @validates_schema
    def only_what_this_line_has(self, data, **kwargs):
        if AIRFLOW_3:
            refused = {
                name: [why] for name, why in self.REFUSED_ON_AIRFLOW_3.items() if data.get(name) not in (None, False)
            }
        else:
            refused = {
                name: [f"{name} exists on Airflow 3 only."]
                for name in self.AIRFLOW_3_ONLY
                if data.get(name) is not None
            }
        if refused:
            raise ValidationError(refused)

    @post_load
    def collect_ignored(self, data, **kwargs):
        ignored = []
        for name in (*self.IGNORED, *(self.IGNORED_ON_AIRFLOW_3 if AIRFLOW_3 else ())):
            if name in data:
                data.pop(name)
                ignored.append(self.fields[name].data_key or name)
        data["ignored"] = ignored
        return data


class Waits(ArgumentsSchema):
    """``wait=true`` waits for the job (at most ``timeout`` seconds, bounded by the CLI timeout)."""

    wait = Flag(load_default=False)
    timeout = fields.Integer(strict=False, validate=validate.Range(min=1, max=MAX_WAIT_SECONDS))


class DryRun(ArgumentsSchema):
    """``dry_run`` (the original README) or ``dryrun``: only render the templates, run nothing."""

    dry_run = Flag()
    dryrun = Flag()

    @post_load
    def merge_dry_run(self, data, **kwargs):
        data["dry_run"] = bool(data.pop("dry_run", False) or data.pop("dryrun", False))
        return data


def check_date_order(data: dict) -> None:
    if data.get("start_date") and data.get("end_date") and data["start_date"] > data["end_date"]:
        raise ValidationError("start_date is after end_date.", "end_date")
