"""marshmallow fields for arguments as old clients send them: strings from a query string or a form."""

from __future__ import annotations

import json
import re

from marshmallow import ValidationError, fields, validate

TRUE_VALUES = {"", "on", "true", "1", "yes", "y", "t"}
FALSE_VALUES = {"off", "false", "0", "no", "n", "f"}

# Airflow's own rule for DAG, task and pool-like keys (airflow.utils.helpers.KEY_REGEX), 250 chars.
KEY_PATTERN = re.compile(r"^[\w.-]+$")


# Integer columns of Airflow's database are 32-bit: a larger number is a 400, never an OverflowError.
INT32_MAX = 2**31 - 1


class BoundedInteger(fields.Integer):
    """An integer argument between ``minimum`` and ``maximum`` (at most the database's 32-bit limit)."""

    def __init__(self, minimum: int, maximum: int = INT32_MAX, error: str | None = None, **kwargs):
        kwargs.setdefault("strict", False)
        super().__init__(validate=validate.Range(min=minimum, max=maximum, error=error), **kwargs)


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
                validate.Regexp(KEY_PATTERN, error=f"The {what} may only contain letters, digits, '_', '.' and '-'."),
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
        super().__init__(
            validate=validate.Length(min=1, max=250, error="The run_id must be 1 to 250 characters long."), **kwargs
        )

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
        from rest_api_plugin.airflow_compat import timezone

        text = str(value).strip()
        if not text:
            raise ValidationError("A date is required, e.g. 2017-01-02T03:04:05.")
        try:
            parsed = timezone.parse(text)
        except Exception:
            raise ValidationError(f"Not a valid date: {text!r}. Use ISO 8601, e.g. 2017-01-02T03:04:05.") from None
        if not hasattr(parsed, "tzinfo"):
            raise ValidationError(f"Not a date-time: {text!r}.")
        return parsed


# JSON nested deeper than this is refused before it is decoded (Python's decoder recurses: 5,000 levels of
# "[" are a RecursionError, and whatever stores it recurses again).
MAX_JSON_DEPTH = 64
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def json_too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON ``text`` nests arrays and objects more than ``limit`` levels deep (strings skipped)."""
    depth = 0
    for bracket in _JSON_BRACKET.finditer(_JSON_STRING.sub("", text)):
        depth += 1 if bracket.group() in "[{" else -1
        if depth > limit:
            return True
    return False


def decode_json(text) -> object:
    """``json.loads`` for a request's text: a ValidationError for bad or too deeply nested JSON."""
    if not isinstance(text, str):
        raise ValidationError("Not valid JSON: expected text.")
    if json_too_deep(text):
        raise ValidationError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep is refused.")
    try:
        return json.loads(text)
    except ValueError as err:
        raise ValidationError(f"Not valid JSON: {err}.") from err


class JsonObject(fields.Field):
    """URL-encoded JSON that must decode to an object (a dict)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, dict):
            return value
        decoded = decode_json(value)
        if not isinstance(decoded, dict):
            raise ValidationError('Must be a JSON object, e.g. {"key": "value"}.')
        return decoded


class JsonObjectText(JsonObject):
    """A JSON object kept as the text it came in (e.g. a connection's extra), once checked."""

    def _deserialize(self, value, attr, data, **kwargs):
        super()._deserialize(value, attr, data, **kwargs)
        return value


class Text(fields.String):
    """A free-text string with a length bound."""

    def __init__(self, max_length: int = 5000, **kwargs):
        super().__init__(validate=validate.Length(max=max_length), **kwargs)


class PathText(Text):
    """A file or folder path: no control characters (a NUL byte makes every path function fail)."""

    def _deserialize(self, value, attr, data, **kwargs):
        from rest_api_plugin.dag_files.dag_folder import CONTROL_CHARACTERS

        text = super()._deserialize(value, attr, data, **kwargs)
        if CONTROL_CHARACTERS.search(text):
            raise ValidationError("A path may not contain control characters.")
        return text


class DagFolderPath(PathText):
    """``subdir``: a file or folder inside the DAGs folder (relative paths are taken from it)."""

    def __init__(self, **kwargs):
        super().__init__(1000, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        from rest_api_plugin.dag_files.dag_folder import resolved_inside_dags_folder

        text = super()._deserialize(value, attr, data, **kwargs)
        path = resolved_inside_dags_folder(text) if text.strip() and len(text) <= 1000 else None
        if path is None:
            raise ValidationError("subdir must be a path inside the DAGs folder.")
        return str(path)


class WholeDagsFolder(DagFolderPath):
    """The scheduler's ``subdir``: only the DAGs folder itself. A scheduler given a part of it deactivates
    every DAG whose file lies outside that part."""

    def _deserialize(self, value, attr, data, **kwargs):
        from rest_api_plugin.dag_files.dag_folder import dags_folder

        path = super()._deserialize(value, attr, data, **kwargs)
        if path != str(dags_folder()):
            raise ValidationError(
                "The scheduler's subdir may only be the DAGs folder itself: a scheduler given a "
                "part of it deactivates every DAG outside that part."
            )
        return path


class TaskRegex(Text):
    """A Python regular expression over task ids."""

    def __init__(self, **kwargs):
        super().__init__(1000, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            re.compile(text)
        except re.error as err:
            raise ValidationError(f"Not a valid regular expression: {err}.") from err
        return text
