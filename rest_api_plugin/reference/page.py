"""The REST API page: the endpoints a caller may call, in groups, each with a form built from its schema.

One context for both front ends: Airflow 2's view renders it in the webserver's layout (index.html), Airflow
3's app as a document of its own (standalone.html).
"""

from __future__ import annotations

import os

from rest_api_plugin import config, registry, security
from rest_api_plugin.reference import docs

# The page's templates (Airflow 2's view renders them too)
TEMPLATES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "templates")
FORBIDDEN = (
    "Your role does not allow you to call any REST API plugin endpoint. Ask an administrator for the "
    "can_&lt;endpoint&gt; permissions on REST API Plugin."
)


def allowed_endpoints(identity: security.Identity) -> list:
    return [endpoint for endpoint in registry.enabled() if security.may_call(identity, endpoint)]


def context(endpoints: list, api_url: str, api_url_external: str, openapi_url: str) -> dict:
    return {
        "title": "REST API",
        "groups": docs.describe_groups(endpoints),
        "endpoint_count": len(endpoints),
        "token_header": config.token_header_name(),
        "api_url": api_url,
        "api_url_external": api_url_external,
        "openapi_url": openapi_url,
    }


def _environment():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


def standalone(identity: security.Identity, api_url: str, openapi_url: str) -> tuple[str, int]:
    """The page as a whole HTML document (Airflow 3), and its status: 403 when no endpoint is allowed."""
    endpoints = allowed_endpoints(identity)
    if not endpoints:
        return f"<!doctype html><title>REST API</title><h2>REST API</h2><p>{FORBIDDEN}</p>", 403
    template = _environment().get_template("rest_api_plugin/standalone.html")
    return template.render(user_name=identity.name, **context(endpoints, api_url, api_url, openapi_url)), 200
