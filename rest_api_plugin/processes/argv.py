"""How a user value becomes part of an ``airflow ...`` command: one argument, never an option (shared by the
commands that run and by the envelope's ``airflow_cmd``)."""

from __future__ import annotations

from rest_api_plugin.errors import BadRequest


def positional(value) -> str:
    """A user value where the command expects a positional argument: never an option."""
    text = str(value)
    if text.startswith("-"):
        raise BadRequest(f"Invalid argument {text!r}: a value may not start with '-'")
    return text


def option(flag: str, value) -> list[str]:
    """``[]`` when unset, ``[flag]`` for True, ``[flag=VALUE]`` for a value: one argument either way."""
    if value is None or value is False:
        return []
    if value is True:
        return [flag]
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return [f"{flag}={text}"]


def map_index_option(args: dict) -> list[str]:
    """``--map-index=N`` for a mapped task instance (``map_index`` 0 or more), nothing for an unmapped one."""
    return option("--map-index", args["map_index"]) if args.get("map_index", -1) >= 0 else []


def display_run(args: dict) -> list[str]:
    """The run as the CLI names it, for a displayed command: its logical date, else its run_id."""
    return [args["logical_date"].isoformat()] if args.get("logical_date") else [args.get("run_id", "")]


def run_argument(args: dict) -> list[str]:
    """The run as the CLI names it, as one positional argument: its logical date, else its run_id."""
    if args.get("logical_date"):
        return [positional(args["logical_date"].isoformat())]
    return [positional(args["run_id"])] if args.get("run_id") else []
