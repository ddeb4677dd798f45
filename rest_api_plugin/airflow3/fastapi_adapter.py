"""Airflow 3's API server (FastAPI/Starlette) in front of the pipeline: the ``ApiRequest`` for a Starlette
request, the Airflow user behind a JWT (``Authorization: Bearer`` from ``POST /auth/token``, or the UI's
``_token`` cookie) or HTTP Basic credentials (mapped to a user by the FAB auth manager), and the CSRF rule
for the UI's cookie.

The pipeline runs in a worker thread (``run_in_threadpool``); the two callables it gets run there too, and
reach Airflow's async token check through ``anyio.from_thread``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
import time
from io import BytesIO

from rest_api_plugin.request import ApiRequest, Upload
from rest_api_plugin.security import Identity, auth_manager

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
TOKEN_COOKIE = "_token"  # the Airflow 3 UI's JWT cookie
# A state change from the UI's cookie must carry this header: a page of another origin cannot add it without
# a CORS preflight the API server does not grant, and an HTML form cannot add it at all.
CSRF_HEADER = "X-Requested-With"
BASIC_CACHE_SECONDS = 30  # as long as the FAB auth manager caches a user (its [fab] cache_ttl default)
MAX_FORM_PARTS = 1000


class BodyTooLarge(Exception):
    def __init__(self, max_bytes: int | None, max_parts: int | None):
        super().__init__("request body too large")
        self.max_bytes, self.max_parts = max_bytes, max_parts


def payload_limit() -> int:
    """The largest body read, as Airflow 2's webserver has it: ``[webserver] allowed_payload_size`` MiB."""
    from airflow.configuration import conf

    return int(conf.getfloat("webserver", "allowed_payload_size", fallback=1.0) * 1024 * 1024)


async def api_request(request, api_name: str | None = None) -> ApiRequest:
    """The pipeline's view of a Starlette request; the form is read for GET too (old clients send GET
    requests with multipart bodies). A body over the limits raises ``BodyTooLarge``."""
    limit = payload_limit()
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit, MAX_FORM_PARTS)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(limit, MAX_FORM_PARTS)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    form, files = {}, {}
    if content_type in FORM_TYPES and body:
        form, files = await _parse_form(request, body)
    return ApiRequest(
        method=request.method,
        args={name: value for name, value in request.query_params.items()},
        form=form,
        files=files,
        headers=request.headers,
        host=request.headers.get("host", ""),
        content_type=content_type,
        read_body=lambda: body,
        find_user=lambda: airflow_user(request),
        header_values=lambda name: header_values(request, name),
        session_csrf_error=lambda: csrf_error(request),
        api_name=api_name,
    )


def header_values(request, name: str) -> list[str]:
    """Every value sent for the header ``name``, in any letter case, with "_" and "-" read alike: uvicorn
    passes each header line as it came (Starlette's ``headers.get`` would read the first one only)."""
    wanted = name.lower().replace("_", "-")
    return [value for key, value in request.headers.items() if key.lower().replace("_", "-") == wanted]


async def _parse_form(request, body: bytes) -> tuple[dict, dict]:
    from starlette.datastructures import UploadFile
    from starlette.requests import Request

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    replay = Request(request.scope, receive)
    try:
        parsed = await replay.form(max_files=MAX_FORM_PARTS, max_fields=MAX_FORM_PARTS)
    except Exception as err:  # starlette's MultiPartException: too many parts, or a malformed body
        if "Too many" in str(err):
            raise BodyTooLarge(None, MAX_FORM_PARTS) from err
        return {}, {}
    form, files = {}, {}
    for name, value in parsed.multi_items():
        if not isinstance(name, str) or not name or name in form or name in files:
            continue  # one value per name, as Airflow 2's webserver reads them
        if isinstance(value, UploadFile):
            files[name] = Upload(filename=value.filename or "", stream=BytesIO(await value.read()))
        else:
            form[name] = value
    return form, files


# --- who is calling ---


def airflow_user(request) -> Identity | None:
    """The user behind ``Authorization: Bearer JWT`` or ``Basic``, else behind the UI's ``_token`` cookie."""
    from rest_api_plugin.errors import Forbidden, Unauthenticated

    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    scheme = scheme.lower()
    try:
        if scheme == "bearer" and credentials.strip():
            return _identity("header", _user_from_jwt(credentials.strip()))
        if scheme == "basic" and credentials.strip():
            user = _user_from_basic(credentials.strip())
            return _identity("header", user) if user is not None else None
        cookie = request.cookies.get(TOKEN_COOKIE)
        if cookie:
            return _identity("session", _user_from_jwt(cookie))
    except _TokenRefused as refused:
        raise (Unauthenticated if refused.status == 401 else Forbidden)(refused.detail) from refused
    return None


class _TokenRefused(Exception):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


def _user_from_jwt(token: str):
    """Airflow's own check of its JWT (expired: 401, invalid: 403), run on the server's event loop."""
    from airflow.api_fastapi.core_api.security import resolve_user_from_token
    from anyio import from_thread
    from fastapi import HTTPException

    try:
        return from_thread.run(resolve_user_from_token, token)
    except HTTPException as err:
        raise _TokenRefused(err.status_code, f"JWT refused: {err.detail}") from err


_BASIC_CACHE: dict[str, tuple[float, object]] = {}
_BASIC_LOCK = threading.Lock()
_BASIC_KEY = os.urandom(32)  # the cache keeps no password, nor a hash anyone else could reproduce


def _user_from_basic(credentials: str):
    """The FAB user with these Basic credentials, or None. A password check costs ~150 ms (scrypt) and a
    database write, so a user is remembered for ``BASIC_CACHE_SECONDS`` by a keyed digest of the credentials."""
    try:
        username, _, password = base64.b64decode(credentials, validate=True).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    key = hmac.new(_BASIC_KEY, f"{username}\0{password}".encode(), hashlib.sha256).hexdigest()
    now = time.monotonic()
    with _BASIC_LOCK:
        cached = _BASIC_CACHE.get(key)
    if cached and cached[0] > now:
        return cached[1]
    manager = auth_manager()
    flask_app = getattr(manager, "flask_app", None)
    if flask_app is None or not username:
        return None  # only the FAB auth manager knows passwords
    with flask_app.app_context():
        user = manager.security_manager.auth_user_db(username, password, rotate_session_id=False)
        if user is not None:
            _ = user.perms  # load the permissions while the session that read the user is open
    if user is None:
        raise_if_the_database_is_away()  # FAB answers None for a database error too: that is a 503, not a 403
    else:
        with _BASIC_LOCK:
            _BASIC_CACHE[key] = (now + BASIC_CACHE_SECONDS, user)
    return user


def raise_if_the_database_is_away() -> None:
    """The metadata database's own error (the dispatcher answers it with 503) if it does not answer."""
    from airflow.utils.session import create_session
    from sqlalchemy import text

    with create_session() as session:
        session.execute(text("SELECT 1"))


def _identity(kind: str, user) -> Identity:
    return Identity(kind=kind, name=user.get_name() or str(user.get_id()), user=user)


def csrf_error(request) -> str | None:
    """A state change from the UI's cookie: from this very origin (``Sec-Fetch-Site: same-origin``; a
    same-site page on another port or subdomain is refused too) and with the ``X-Requested-With`` header."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site.strip().lower() != "same-origin":
        return f"the request comes from {site!r}, not from this page"
    if not request.headers.get(CSRF_HEADER):
        return f"the {CSRF_HEADER} header is missing (the REST API page sends it)"
    return None
