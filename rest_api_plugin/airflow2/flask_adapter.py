"""Airflow 2's webserver (Flask) in front of the pipeline: the ``ApiRequest`` for a Flask request, the Airflow
user behind its session cookie or ``Authorization`` header, and Flask-WTF's CSRF check for sessions.

Imported by the view at request time only: Flask-login and the webserver's auth backends exist only there.
"""

from __future__ import annotations

from rest_api_plugin.request import ApiRequest, Upload
from rest_api_plugin.security import CSRF_FIELD, Identity, auth_manager

CSRF_HEADERS = ("X-CSRFToken", "X-CSRF-Token")
# auth backends that do not judge an Authorization header (the session one reads the cookie)
NOT_HEADER_BACKENDS = ("session", "default", "deny_all")


def api_request(request, api_name: str | None = None) -> ApiRequest:
    """The pipeline's view of a Flask request (its form and files already parsed)."""
    return ApiRequest(
        method=request.method,
        args=_named(request.args),
        form=_named(request.form),
        files={
            name: Upload(filename=upload.filename or "", stream=upload.stream)
            for name, upload in request.files.items()
            if isinstance(name, str)
        },
        headers=request.headers,
        host=request.host,
        content_type=request.mimetype,
        read_body=request.get_data,
        find_user=lambda: airflow_user(request),
        header_values=lambda name: header_values(request, name),
        session_csrf_error=lambda: csrf_error(request),
        api_name=api_name,
    )


def header_values(request, name: str) -> list[str]:
    """The header's value, in a list: both spellings ("_", "-") are one WSGI environ key, whose values the server
    (gunicorn, Werkzeug) joined with "," when the header came several times. Werkzeug lists environ headers
    under their hyphenated names."""
    return request.headers.getlist(name.replace("_", "-"))


def _named(values) -> dict[str, str]:
    """One value per name; a multipart part without a name (Werkzeug keys it None) is no argument."""
    return {name: value for name, value in values.to_dict().items() if isinstance(name, str)}


def airflow_user(request) -> Identity | None:
    """The signed-in user of the browser session, or the user an ``Authorization`` header names according
    to the webserver's ``[api] auth_backends`` (basic auth, Kerberos...)."""
    from flask import Response, current_app

    manager = auth_manager()
    if request.authorization is None and not request.headers.get("Authorization"):
        if manager.is_logged_in() and not _is_anonymous(manager.get_user()):
            return _identity("session", manager)
        return None
    for backend in getattr(current_app, "api_auth", []):
        if backend.__name__.rsplit(".", 1)[-1] in NOT_HEADER_BACKENDS:
            continue
        answer = backend.requires_authentication(lambda: Response(status=200))()
        if getattr(answer, "status_code", None) == 200 and manager.is_logged_in():
            return _identity("header", manager)
    return None


def _is_anonymous(user) -> bool:
    return user is None or getattr(user, "is_anonymous", False)


def _identity(kind: str, manager) -> Identity:
    user = manager.get_user()
    return Identity(kind=kind, name=manager.get_user_name() or str(user), user=user)


def csrf_error(request) -> str | None:
    """Flask-WTF's check of the page's CSRF token (form field ``csrf_token`` or an ``X-CSRFToken`` header)."""
    from flask_wtf.csrf import validate_csrf
    from wtforms import ValidationError

    token = request.form.get(CSRF_FIELD) or next(
        (request.headers[h] for h in CSRF_HEADERS if request.headers.get(h)), None
    )
    try:
        validate_csrf(token)
    except ValidationError as err:
        return str(err)
    return None
