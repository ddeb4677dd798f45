"""version and rest_api_plugin_version."""

from __future__ import annotations

from rest_api_plugin.result import CallContext, Result


def airflow_version(args: dict, ctx: CallContext) -> Result:
    from airflow import __version__

    return Result(output=__version__, data={"version": __version__})


def plugin_version(args: dict, ctx: CallContext) -> Result:
    from rest_api_plugin import __version__

    return Result(output=__version__, data={"version": __version__})
