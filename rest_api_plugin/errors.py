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


class UnsupportedMediaType(ApiError):
    status = 415


class TooManyRequests(ApiError):
    """A limit was reached (e.g. too many jobs running): try again later."""

    status = 429


class NotImplementedOnThisAirflow(ApiError):
    """The endpoint has no equivalent on the Airflow that runs (e.g. ``run`` on Airflow 3): the message says
    what to use instead."""

    status = 501


class ServiceUnavailable(ApiError):
    status = 503


DATABASE_UNAVAILABLE = (
    "The metadata database is unreachable (or refused the query); nothing was done. Try again in a moment."
)
DATABASE_LOCKED = (
    "The metadata database is busy: SQLite lets one write in at a time and this one waited too "
    "long; nothing was done. Try again in a moment (PostgreSQL or MySQL take concurrent writes)."
)


def database_unavailable_message(err: BaseException) -> str:
    """What a caller is told when the database cannot answer now: SQLite's lock says so, with the hint."""
    return DATABASE_LOCKED if "database is locked" in str(err) else DATABASE_UNAVAILABLE


def is_database_unavailable(err: BaseException) -> bool:
    """Whether ``err`` says the metadata database cannot be reached now (connection refused or lost, pool
    exhausted), as opposed to a bug: the caller may simply try again."""
    from sqlalchemy import exc

    if isinstance(err, (exc.OperationalError, exc.InterfaceError, exc.TimeoutError)):
        return True
    return isinstance(err, exc.DBAPIError) and bool(err.connection_invalidated)


class Misconfigured(ApiError):
    """A setting or a folder the operator controls is wrong: the message names it, so they can fix it."""

    status = 500
