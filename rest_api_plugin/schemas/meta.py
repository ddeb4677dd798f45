"""Endpoints without arguments."""

from __future__ import annotations

from rest_api_plugin.schemas.base import ArgumentsSchema


class NoArgumentsSchema(ArgumentsSchema):
    pass
