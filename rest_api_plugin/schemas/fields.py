"""marshmallow fields for arguments as old clients send them: strings from a query string or a form."""

from __future__ import annotations

import json
import re

from marshmallow import ValidationError, fields, validate

TRUE_VALUES = {"", "on", "true", "1", "yes", "y", "t"}
FALSE_VALUES = {"off", "false", "0", "no", "n", "f"}

# Airflow's own rule for DAG, task and pool-like keys (airflow.utils.helpers.KEY_REGEX), 250 chars.
KEY_PATTERN = re.compile(r"^[\w.-]+$")


class Flag(fields.Field):
    """A checkbox: present with no value (``&json``), ``on`` (HTML forms) or ``true`` means True."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in TRUE_VALUES:
            return True
        if text in FALSE_VALUES:
            return False
        raise ValidationError("Not a boolean: use true/false, on/off or 1/0.")


class Key(fields.String):
    """An Airflow identifier: letters, digits, '_', '.', '-' and at most 250 characters."""

    def __init__(self, what: str = "id", **kwargs):
        super().__init__(
            validate=[
                validate.Length(min=1, max=250, error=f"The {what} must be 1 to 250 characters long."),
                validate.Regexp(
                    KEY_PATTERN, error=f"The {what} may only contain letters, digits, '_', '.' and '-'."
                ),
            ],
            **kwargs,
        )

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


class RunId(fields.String):
    """A DAG run's id as Airflow accepts it: ``[scheduler] allowed_run_id_pattern`` (by default letters,
    digits and ``_.~:+-``, so generated ids such as ``manual__2024-01-02T03:04:05.123456+00:00`` pass) or
    the pattern of ids Airflow generates; at most 250 characters."""

    def __init__(self, **kwargs):
        super().__init__(validate=validate.Length(min=1, max=250, error="The run_id must be 1 to 250 characters long."),
                         **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        from airflow.configuration import conf
        from airflow.models.dagrun import RUN_ID_REGEX

        text = super()._deserialize(value, attr, data, **kwargs).strip()
        allowed = conf.get("scheduler", "allowed_run_id_pattern", fallback=r"^[A-Za-z0-9_.~:+-]+$")
        if not (re.match(allowed, text) or re.match(RUN_ID_REGEX, text)):
            raise ValidationError(f"The run_id does not match the allowed pattern {allowed}.")
        return text


class LogicalDate(fields.Field):
    """A date or date-time (``2017-01-02T03:04:05``); naive values are in Airflow's default timezone."""

    def _deserialize(self, value, attr, data, **kwargs):
        from airflow.utils import timezone

        text = str(value).strip()
        if not text:
            raise ValidationError("A date is required, e.g. 2017-01-02T03:04:05.")
        try:
            parsed = timezone.parse(text)
        except Exception:
            raise ValidationError(f"Not a valid date: {text!r}. Use ISO 8601, e.g. 2017-01-02T03:04:05.")
        if not hasattr(parsed, "tzinfo"):
            raise ValidationError(f"Not a date-time: {text!r}.")
        return parsed


class JsonObject(fields.Field):
    """URL-encoded JSON that must decode to an object (a dict)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, dict):
            return value
        try:
            decoded = json.loads(value)
        except (TypeError, ValueError) as err:
            raise ValidationError(f"Not valid JSON: {err}.")
        if not isinstance(decoded, dict):
            raise ValidationError("Must be a JSON object, e.g. {\"key\": \"value\"}.")
        return decoded


class Text(fields.String):
    """A free-text string with a length bound."""

    def __init__(self, max_length: int = 5000, **kwargs):
        super().__init__(validate=validate.Length(max=max_length), **kwargs)


class PathText(Text):
    """A file or folder path: no control characters (a NUL byte makes every path function fail)."""

    def _deserialize(self, value, attr, data, **kwargs):
        from rest_api_plugin.dag_folder import CONTROL_CHARACTERS

        text = super()._deserialize(value, attr, data, **kwargs)
        if CONTROL_CHARACTERS.search(text):
            raise ValidationError("A path may not contain control characters.")
        return text
