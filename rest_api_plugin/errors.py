"""Errors a handler raises; the dispatcher turns each into an ERROR envelope with its HTTP status."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    status = 500

    def __init__(self, message: str, data: Any = None):
        super().__init__(message)
        self.message = message
        self.data = data


class BadRequest(ApiError):
    status = 400


class Unauthenticated(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class PayloadTooLarge(ApiError):
    status = 413


class Misconfigured(ApiError):
    """A setting or a folder the operator controls is wrong: the message names it, so they can fix it."""

    status = 500
