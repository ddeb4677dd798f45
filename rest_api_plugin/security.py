"""Who is calling and what they may do: legacy token, Airflow users, per-DAG access, CSRF.

Webserver-only modules (``airflow.www``) are imported inside functions: the plugin module is also
imported by the scheduler and the workers.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import Any

from rest_api_plugin import config
from rest_api_plugin.airflow_compat import AIRFLOW_3
from rest_api_plugin.errors import Forbidden, Unauthenticated

log = logging.getLogger(__name__)

TOKEN_FAILED = "Token Authentication Failed"
# The resource of every endpoint's permission (can_<endpoint>) in the auth manager
RESOURCE = "REST API Plugin"
CSRF_FIELD = "csrf_token"


@dataclass
class Identity:
    """``kind`` is ``token``, ``session`` (browser cookie) or ``header`` (e.g. basic auth)."""

    kind: str
    name: str
    user: Any = None

    @property
    def is_token(self) -> bool:
        return self.kind == "token"

    def permitted_dag_ids(self) -> set[str] | None:
        """The DAGs this caller may read; None means all of them."""
        if self.is_token:
            return None
        if AIRFLOW_3:
            return set(auth_manager().get_authorized_dag_ids(user=self.user, method="GET"))
        return set(auth_manager().get_permitted_dag_ids(methods=["GET"], user=self.user))


def auth_manager():
    """Airflow's auth manager (FAB's on Airflow 2; the configured one on Airflow 3)."""
    if AIRFLOW_3:
        from airflow.api_fastapi.app import get_auth_manager
    else:
        from airflow.www.extensions.init_auth_manager import get_auth_manager
    return get_auth_manager()


def has_permissions(manager=None) -> bool:
    """Whether the auth manager keeps permissions per role (FAB's does), so that each endpoint's own
    permission can be granted; an auth manager without them (Airflow 3's SimpleAuthManager) only knows roles."""
    try:
        from airflow.providers.fab.auth_manager.fab_auth_manager import FabAuthManager
    except ImportError:
        return False
    return isinstance(manager or auth_manager(), FabAuthManager)


def token_matches(presented: str | None, expected: str | None) -> bool:
    if not expected or presented is None:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


def authenticate(request) -> Identity:
    """The caller's identity: a valid token, else an Airflow user; otherwise 403 (token on) or 401."""
    expected = config.expected_token()
    name = config.token_header_name()
    # one header by either spelling: gunicorn (Airflow 2) hands the underscore one over hyphenated, uvicorn
    # (Airflow 3) as sent, and new clients may send the hyphenated one
    presented = request.headers.get(name)
    if presented is None:
        presented = request.headers.get(name.replace("_", "-"))
    if token_matches(presented, expected):
        return Identity(kind="token", name="token")
    identity = request.find_user()
    if identity is not None:
        return identity
    if expected:
        raise Forbidden(TOKEN_FAILED)
    raise Unauthenticated(
        "Authentication required: sign in to Airflow or use one of the webserver's [api] auth_backends."
    )


def token_may_call(endpoint) -> bool:
    grants = config.token_grants()
    return "all" in grants or endpoint.name in grants or ("read" in grants and endpoint.read_only)


def user_may_call(endpoint, user) -> bool:
    """The endpoint's own permission (``can_<name>`` on ``REST API Plugin``), as the auth manager grants it.
    An auth manager without per-role permissions answers for any signed-in role: there, state changes are for
    admins only (``may_write``)."""
    return bool(
        auth_manager().is_authorized_custom_view(method=endpoint.permission, resource_name=RESOURCE, user=user)
    )


def may_call(identity: Identity, endpoint) -> bool:
    """Whether the caller may call the endpoint at all (the page lists only these)."""
    if identity.is_token:
        return token_may_call(endpoint)
    if not user_may_call(endpoint, identity.user):
        return False
    return has_permissions() or endpoint.read_only or is_admin(identity)


def authorize(identity: Identity, endpoint) -> None:
    if not (token_may_call(endpoint) if identity.is_token else user_may_call(endpoint, identity.user)):
        who = "The token" if identity.is_token else f"User {identity.name}"
        raise Forbidden(f"{who} is not allowed to call {endpoint.name} ({endpoint.permission})")


def authorize_write(identity: Identity, endpoint) -> None:
    """A state change under an auth manager without per-role permissions (SimpleAuthManager) needs an admin."""
    if identity.is_token or has_permissions() or is_admin(identity):
        return
    raise Forbidden(f"User {identity.name} may not change state with {endpoint.name}: this Airflow's auth manager "
                    "has no per-endpoint permissions, so state changes are for admins only")


def may_access_dag(identity: Identity, method: str, dag_id: str | None = None, entity=None) -> bool:
    """Whether the caller may ``method`` (GET, PUT, POST, DELETE) the DAG ``dag_id``, or its ``entity`` (a
    ``DagAccessEntity`` such as ``RUN``); without ``dag_id``: every DAG. The token may do everything."""
    if identity.is_token:
        return True
    from rest_api_plugin.airflow_compat import DagDetails

    manager = auth_manager()
    if AIRFLOW_3 and dag_id is None and entity is None and hasattr(manager, "security_manager"):
        # Airflow 3's FAB manager reads a GET without a DAG id as "may list DAGs" (any one DAG is enough):
        # every DAG is the DAGs resource itself
        return bool(manager.is_authorized_custom_view(method=method, resource_name="DAGs", user=identity.user))
    return bool(
        manager.is_authorized_dag(
            method=method,
            access_entity=entity,
            details=DagDetails(id=dag_id) if dag_id else None,
            user=identity.user,
        )
    )


def is_admin(identity: Identity) -> bool:
    """The token, or an admin: a FAB user holding ``AUTH_ROLE_ADMIN`` ("Admin"), or a SimpleAuthManager user
    whose role is admin."""
    if identity.is_token:
        return True
    role = getattr(identity.user, "role", None)  # SimpleAuthManager: one role name per user
    if isinstance(role, str):
        return role.upper() == "ADMIN"
    return any(r.name == _fab_admin_role() for r in getattr(identity.user, "roles", None) or ())


def _fab_admin_role() -> str:
    try:
        return auth_manager().security_manager.auth_role_admin
    except Exception:  # Airflow 3 reaches FAB's security manager only inside its Flask app's context
        from airflow.configuration import conf

        return conf.get("fab", "auth_role_admin", fallback="Admin") or "Admin"


def authorize_dag(identity: Identity, endpoint, args: dict) -> None:
    """The auth manager's DAG-level check, as the stable API makes it for the same operation."""
    dag_id = args.get("dag_id")
    if identity.is_token or endpoint.dag_access is None or not dag_id:
        return
    access = endpoint.dag_access
    if not may_access_dag(identity, access.method, dag_id, access.entity):
        raise Forbidden(f"User {identity.name} may not {access.method} DAG {dag_id}")


def _is_cross_site(request) -> bool:
    """Whether the browser says this request comes from another site: ``Sec-Fetch-Site: cross-site``, or an
    ``Origin`` that is not this webserver's (its Host, or ``[webserver] base_url``). Scripts send neither."""
    if request.headers.get("Sec-Fetch-Site", "").strip().lower() == "cross-site":
        return True
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    from urllib.parse import urlsplit

    from airflow.configuration import conf

    own = {request.host.lower(), urlsplit(conf.get("webserver", "base_url", fallback="") or "").netloc.lower()}
    return origin.strip().lower() == "null" or urlsplit(origin.strip()).netloc.lower() not in own


def check_csrf(identity: Identity, request) -> None:
    """A state change authenticated by a credential the browser adds by itself (its session cookie, Basic
    credentials it cached, a proxy's login) must come from this site; with only a session cookie it must also
    be a POST carrying the page's CSRF token. The token header is never added by a browser on its own."""
    if identity.kind not in ("session", "header"):
        return
    if _is_cross_site(request):
        raise Forbidden("A state-changing call from another site is refused (Origin / Sec-Fetch-Site)")
    if identity.kind != "session":
        return
    if request.method != "POST":
        raise Forbidden("A state-changing call from a browser session must be a POST with a CSRF token")
    error = request.session_csrf_error()
    if error:
        raise Forbidden(f"CSRF check failed: {error}")
