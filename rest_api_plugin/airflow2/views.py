"""The Flask-AppBuilder view: the page at /admin/rest_api/ and the API at /admin/rest_api/api.

Thin by design: the request goes to ``dispatch``; endpoint logic lives in ``services``.
"""

from __future__ import annotations

import json
import logging

from flask import Response, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from werkzeug.exceptions import RequestEntityTooLarge

from rest_api_plugin import registry
from rest_api_plugin.dispatch import API_HEADERS
from rest_api_plugin.reference import page

log = logging.getLogger(__name__)

API_METHODS = ["GET", "POST"]


def json_response(body: dict, status: int) -> Response:
    return Response(json.dumps(body, indent=2), status=status, mimetype="application/json", headers=API_HEADERS)


def integral_payload_limit(app) -> None:
    """Airflow sets MAX_CONTENT_LENGTH to a float (``allowed_payload_size * 1024 * 1024``), and Werkzeug then
    fails to read a form body close to the limit (``TypeError: size must be an integral type``: a 500 for any
    route). The same limit as a whole number of bytes."""
    limit = app.config.get("MAX_CONTENT_LENGTH")
    if isinstance(limit, float):
        app.config["MAX_CONTENT_LENGTH"] = int(limit)


class RestApiView(BaseView):
    route_base = "/admin/rest_api"
    # FAB builds the blueprint with its own module as import name: give the folder as an absolute path.
    template_folder = page.TEMPLATES
    default_view = "index"
    class_permission_name = registry.RESOURCE
    base_permissions = registry.permissions()

    def create_blueprint(self, appbuilder, endpoint=None, static_folder=None):
        """Runs once at webserver start (in gunicorn's master with --preload, Airflow's default): exempt the API
        from Flask-WTF, sync the permissions, start the parse server, prepare the job tables."""
        blueprint = super().create_blueprint(appbuilder, endpoint=endpoint, static_folder=static_folder)
        csrf = appbuilder.get_app.extensions.get("csrf")
        if csrf is not None:  # session calls are CSRF-checked by the plugin itself (security.check_csrf)
            csrf.exempt(f"{__name__}.{RestApiView.api.__name__}")
        try:
            from rest_api_plugin import permissions

            permissions.sync(appbuilder.sm)
        except Exception:
            log.exception("REST API plugin: could not create or grant its permissions")
        from rest_api_plugin import tokens
        from rest_api_plugin.airflow2 import gunicorn_headers

        gunicorn_headers.accept_configured_token_header()  # gunicorn >= 22 drops "_" header names: keep the token's
        tokens.check_at_start()  # a bad token configuration is logged now
        integral_payload_limit(appbuilder.get_app)
        from rest_api_plugin.dag_files import parsing  # the first deploy finds the parse server ready

        parsing.warm_up()
        try:
            from rest_api_plugin.processes import jobs

            jobs.engine()  # the job tables made (or upgraded), jobs of earlier versions moved into them
        except Exception:
            log.exception("REST API plugin: could not prepare its job tables (tried again at the first job call)")
        return blueprint

    @expose("/")
    def index(self):
        """The page: the endpoints this user may call, in groups, each with a form built from its schema."""
        from rest_api_plugin.airflow2 import flask_adapter
        from rest_api_plugin.reference import page

        identity = flask_adapter.airflow_user(request)
        if identity is None:
            return redirect(self.appbuilder.get_url_for_login_with(request.full_path))
        allowed = page.allowed_endpoints(identity)
        if not allowed:
            return self.render_template("rest_api_plugin/forbidden.html"), 403
        api_url = url_for(f"{type(self).__name__}.api")
        return self.render_template(
            "rest_api_plugin/index.html",
            **page.context(
                allowed,
                api_url,
                url_for(f"{type(self).__name__}.api", _external=True),
                url_for(f"{type(self).__name__}.openapi"),
            ),
        )

    @expose("/openapi.json")
    def openapi(self):
        """The OpenAPI document, generated from the registry (docs/openapi.json holds a copy)."""
        from rest_api_plugin.reference import openapi

        return Response(openapi.served(), mimetype="application/json", headers={"X-Content-Type-Options": "nosniff"})

    @expose("/api", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    @expose("/api/v1.0/<string:api_name>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])  # v0.0.x URLs
    def api(self, api_name: str | None = None):
        from rest_api_plugin import dispatch
        from rest_api_plugin.airflow2 import api_sessions, flask_adapter

        api_sessions.stateless_unless_session_cookie(self.appbuilder.get_app, request)
        try:
            call = flask_adapter.api_request(request, api_name)  # parses the body: over the limits, an envelope
        except RequestEntityTooLarge:
            return json_response(*dispatch.too_large(request.max_content_length, request.max_form_parts))
        if request.method not in API_METHODS:
            return json_response(*dispatch.method_not_allowed(call))
        return json_response(*dispatch.handle(call))
