"""The request as the pipeline sees it, whichever web framework received it.

A thin adapter per framework (``flask_adapter`` for Airflow 2's webserver) builds an ``ApiRequest``; from then
on nothing in ``dispatch``, ``security`` or the services touches the framework. What only the framework can
answer (which Airflow user a session cookie or an ``Authorization`` header belongs to, whether a session's
CSRF proof holds) comes in as two callables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, Callable, Mapping, Optional

if TYPE_CHECKING:
    from rest_api_plugin.security import Identity


@dataclass
class Upload:
    """A file part of a multipart body."""

    filename: str
    stream: BinaryIO


@dataclass
class ApiRequest:
    method: str
    args: Mapping[str, str]  # the query string, one value per name
    form: Mapping[str, str]  # form fields (urlencoded or multipart), one value per name
    files: Mapping[str, Upload]
    headers: Mapping[str, str]  # looked up case-insensitively
    host: str  # the Host the client addressed, with its port
    content_type: str  # the body's media type, without parameters
    read_body: Callable[[], bytes]
    # the Airflow user behind a session cookie or an Authorization header, or None
    find_user: Callable[[], Optional["Identity"]]
    # every value the client sent for a header, named in any letter case, "_" and "-" read alike (a WSGI server
    # gives one value, joined with "," when the header came several times; an ASGI server each one)
    header_values: Callable[[str], list[str]]
    # for a session caller: why its CSRF proof does not hold, or None when it does
    session_csrf_error: Callable[[], Optional[str]] = field(default=lambda: "no CSRF check for this front end")
    api_name: Optional[str] = None  # when the URL names the endpoint (/api/v1.0/NAME)

    def control_value(self, name: str) -> str:
        """A field that steers the plugin (``api``, ``output_format``), from the query string or the form,
        whatever the method: old clients send GET requests with form bodies."""
        return (self.args.get(name) or self.form.get(name) or "").strip().lower()

    def all_arguments(self) -> dict[str, str]:
        """Query-string and form arguments alike; the form wins on a clash."""
        return {**self.args, **self.form}
