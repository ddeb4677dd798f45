"""Airflow 3: the plugin as a FastAPI app, which the plugin mounts at /admin/rest_api on the API server
(``fastapi_apps``), so old clients keep their URLs. Thin by design, like the Flask view on Airflow 2: the
request goes to ``dispatch`` (in a worker thread: Airflow's calls block); the page and the OpenAPI document
come from the same registry.
"""

from __future__ import annotations

import json
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from rest_api_plugin import dispatch
from rest_api_plugin.airflow3 import fastapi_adapter
from rest_api_plugin.dispatch import API_HEADERS

log = logging.getLogger(__name__)

PREFIX = "/admin/rest_api"
API_METHODS = ("GET", "POST")


@asynccontextmanager
async def lifespan(app: FastAPI):
    """Entered when the API server starts (in each uvicorn worker), after Airflow has set up its auth manager:
    the plugin's permissions, the tokens' configuration checked, the parse server started for the first
    deploy, and the job tables prepared."""
    from rest_api_plugin import permissions, security, tokens
    from rest_api_plugin.dag_files import parsing

    app.state.auth_manager = security.auth_manager()  # what Airflow's own FastAPI dependencies look up
    tokens.check_at_start()
    try:
        await run_in_threadpool(permissions.sync_with_auth_manager)
    except Exception:
        log.exception("REST API plugin: could not create or grant its permissions")
    await run_in_threadpool(parsing.warm_up)
    try:
        from rest_api_plugin.processes import jobs

        await run_in_threadpool(jobs.engine)  # the job tables made (or upgraded), jobs of earlier versions moved in
    except Exception:
        log.exception("REST API plugin: could not prepare its job tables (tried again at the first job call)")
    yield


app = FastAPI(title="Airflow REST API Plugin", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)


def envelope_response(body: dict, status: int) -> Response:
    return Response(json.dumps(body, indent=2), status_code=status, media_type="application/json", headers=API_HEADERS)


@app.api_route("/api", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@app.api_route("/api/v1.0/{api_name}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])  # v0.0.x URLs
async def api(request: Request, api_name: str | None = None):
    try:
        call = await fastapi_adapter.api_request(request, api_name)
    except fastapi_adapter.BodyTooLarge as err:
        return envelope_response(*dispatch.too_large(err.max_bytes, err.max_parts))
    if request.method not in API_METHODS:
        return envelope_response(*dispatch.method_not_allowed(call))
    return envelope_response(*await run_in_threadpool(dispatch.handle, call))


@app.get("/openapi.json")
async def openapi_document():
    from rest_api_plugin.reference import openapi

    return Response(openapi.served(), media_type="application/json", headers={"X-Content-Type-Options": "nosniff"})


@app.get("/", response_class=HTMLResponse)
async def index(request: Request):
    from rest_api_plugin.reference import page

    call = await fastapi_adapter.api_request(request)
    identity = await run_in_threadpool(call.find_user)
    if identity is None:
        return RedirectResponse(f"/auth/login/?next={PREFIX}/", status_code=302)
    html, status = await run_in_threadpool(page.standalone, identity, f"{PREFIX}/api", f"{PREFIX}/openapi.json")
    return HTMLResponse(html, status_code=status)


class SlashRedirect:
    """``/admin/rest_api`` (no slash) -> ``/admin/rest_api/``: a mounted app answers only below its prefix, and
    the Airflow UI's catch-all would otherwise answer that URL with its own page (a root ASGI middleware)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] == PREFIX:
            query = scope.get("query_string", b"").decode("latin-1")
            location = f"{scope.get('root_path', '')}{PREFIX}/" + (f"?{query}" if query else "")
            await send(
                {
                    "type": "http.response.start",
                    "status": 307,
                    "headers": [(b"location", location.encode("latin-1")), (b"content-length", b"0")],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, send)
