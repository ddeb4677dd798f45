"""No server-side session for API calls that came without one, as Airflow does for its own REST API.

A call authenticated by an ``Authorization`` header logs the user in for that request (Airflow's basic-auth
backend calls ``login_user``), which marks the Flask session as modified; Airflow's session interface would
then store a new session (a row of the ``session`` table with the default database backend) and set a
cookie, once per call: a script polling the API would grow that table without end. Airflow skips saving for
``/api/v1`` (``airflow.www.session.SessionExemptMixin``); the plugin's API gets the same treatment for every
call that carried no session cookie (token, basic auth, anonymous). Calls made from the browser, with the
session cookie, keep their session as before.
"""

from __future__ import annotations

from flask import request as current_request

_FLAG = "rest_api_plugin.stateless"  # in the request's WSGI environ: scoped to that one request
_MARK = "_rest_api_plugin_skips_stateless_calls"


def _skip_saving_for_stateless_calls(app) -> None:
    """The app's session interface saves nothing for calls marked stateless. Done on the first API call, not
    at start: Airflow installs its session interface after the plugins are loaded. Idempotent."""
    interface = app.session_interface
    original = interface.save_session
    if getattr(original, _MARK, False):
        return

    def save_session(app, session, response):
        if current_request and current_request.environ.get(_FLAG):
            return None
        return original(app, session, response)

    setattr(save_session, _MARK, True)
    interface.save_session = save_session  # the instance attribute shadows the class's method


def stateless_unless_session_cookie(app, request) -> None:
    """A call that brought no session cookie leaves none behind."""
    _skip_saving_for_stateless_calls(app)
    if app.config.get("SESSION_COOKIE_NAME", "session") not in request.cookies:
        request.environ[_FLAG] = True
