"""Arguments of the About endpoints: version, rest_api_plugin_version, health, plugins and providers take
none."""

from __future__ import annotations

from rest_api_plugin.schemas.base import ArgumentsSchema


class NoArgumentsSchema(ArgumentsSchema):
    pass
