"""Who is calling and what they may do: Airflow users, tokens' grants and DAG scope, per-DAG access, CSRF.

Webserver-only modules (``airflow.www``) are imported inside functions: the plugin module is also
imported by the scheduler and the workers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from rest_api_plugin import config
from rest_api_plugin.airflow_compat import this_line
from rest_api_plugin.errors import Forbidden, Unauthenticated

log = logging.getLogger(__name__)
line_auth = this_line("auth")

TOKEN_FAILED = "Token Authentication Failed"
# The resource of every endpoint's permission (can_<endpoint>) in the auth manager
RESOURCE = "REST API Plugin"
CSRF_FIELD = "csrf_token"


@dataclass
class Identity:
    """``kind`` is ``token``, ``session`` (browser cookie) or ``header`` (e.g. basic auth). ``token``: the
    ``tokens.Token`` that matched (its grants, its DAGs, its answer shape); None for users, and for the
    legacy token when an Identity is made by hand."""

    kind: str
    name: str
    user: Any = None
    token: Any = None

    @property
    def is_token(self) -> bool:
        return self.kind == "token"

    @property
    def dag_scope(self) -> tuple[str, ...] | None:
        """The DAG ids or glob patterns a token is limited to (its ``dag_ids``); None: every DAG, or a user
        (whose DAGs the auth manager decides)."""
        return getattr(self.token, "dag_ids", None) if self.is_token else None

    def permitted_dag_ids(self) -> set[str] | None:
        """The DAGs this caller may read; None means all of them."""
        if self.is_token:
            return None if self.dag_scope is None else dag_ids_in_scope(self.dag_scope)
        return line_auth.readable_dag_ids(auth_manager(), self.user)


def in_dag_scope(scope: tuple[str, ...], dag_id: str) -> bool:
    """Whether ``dag_id`` is one of a token's DAG ids or matches one of its glob patterns (case-sensitive)."""
    return any(fnmatchcase(dag_id, pattern) for pattern in scope)


def dag_ids_in_scope(scope: tuple[str, ...]) -> set[str]:
    """The DAGs of the metadata database a token limited to ``scope`` may act on."""
    from airflow.models import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        return {dag_id for (dag_id,) in session.query(DagModel.dag_id) if in_dag_scope(scope, dag_id)}


def who(identity: Identity) -> str:
    """The caller as messages name it: ``The token``, ``The token token:ci``, ``User alice``."""
    if identity.is_token:
        return "The token" if identity.name == "token" else f"The token {identity.name}"
    return f"User {identity.name}"


def auth_manager():
    """Airflow's auth manager (FAB's on Airflow 2; the configured one on Airflow 3)."""
    return line_auth.auth_manager()


def has_permissions(manager=None) -> bool:
    """Whether the auth manager keeps permissions per role (FAB's does), so that each endpoint's own
    permission can be granted; an auth manager without them (Airflow 3's SimpleAuthManager) only knows roles."""
    try:
        from airflow.providers.fab.auth_manager.fab_auth_manager import FabAuthManager
    except ImportError:
        return False
    return isinstance(manager or auth_manager(), FabAuthManager)


def authenticate_user(request, token_refusal: str | None) -> Identity:
    """The Airflow user behind the request (tokens are matched first, in ``tokens.authenticate``). Without
    one: 403 ``token_refusal`` when a token path is configured (``Token Authentication Failed``, as before),
    else 401."""
    identity = request.find_user()
    if identity is not None:
        return identity
    if token_refusal:
        raise Forbidden(token_refusal)
    raise Unauthenticated(
        "Authentication required: sign in to Airflow or use one of the webserver's [api] auth_backends."
    )


def token_grants(identity: Identity) -> list[str]:
    """What a token may call: its own ``grants``, else ``[rest_api_plugin] token_grants``."""
    own = getattr(identity.token, "grants", None)
    return list(own) if own is not None else config.token_grants()


def token_may_call(identity: Identity, endpoint) -> bool:
    return token_refusal(identity, endpoint) is None


def token_refusal(identity: Identity, endpoint) -> str | None:
    """Why the token may not call the endpoint, or None. A token limited to some DAGs may not call an endpoint
    that acts on every DAG (``Endpoint.dag_scope == "every_dag"``: the daemons, refresh_all_dags)."""
    grants = token_grants(identity)
    if not ("all" in grants or endpoint.name in grants or ("read" in grants and not endpoint.may_change_state)):
        return f"{who(identity)} is not allowed to call {endpoint.name} ({endpoint.permission})"
    if identity.dag_scope is not None and endpoint.dag_scope == "every_dag":
        return (
            f"{who(identity)} is limited to some DAGs ({', '.join(identity.dag_scope) or 'none'}), and "
            f"{endpoint.name} acts on every DAG: it needs a token without dag_ids"
        )
    return None


def user_may_call(endpoint, user) -> bool:
    """The endpoint's own permission (``can_<name>`` on ``REST API Plugin``), as the auth manager grants it.
    An auth manager without per-role permissions answers for any signed-in role: there, state changes are for
    admins only (``may_write``)."""
    return bool(auth_manager().is_authorized_custom_view(method=endpoint.permission, resource_name=RESOURCE, user=user))


def may_call(identity: Identity, endpoint) -> bool:
    """Whether the caller may call the endpoint at all (the page lists only these)."""
    if identity.is_token:
        return token_may_call(identity, endpoint)
    if not user_may_call(endpoint, identity.user):
        return False
    return has_permissions() or not endpoint.may_change_state or is_admin(identity)


def authorize(identity: Identity, endpoint) -> None:
    if identity.is_token:
        refusal = token_refusal(identity, endpoint)
        if refusal:
            raise Forbidden(refusal)
    elif not user_may_call(endpoint, identity.user):
        raise Forbidden(f"{who(identity)} is not allowed to call {endpoint.name} ({endpoint.permission})")


def authorize_write(identity: Identity, endpoint) -> None:
    """A state change under an auth manager without per-role permissions (SimpleAuthManager) needs an admin."""
    if identity.is_token or has_permissions() or is_admin(identity):
        return
    raise Forbidden(
        f"User {identity.name} may not change state with {endpoint.name}: this Airflow's auth manager "
        "has no per-endpoint permissions, so state changes are for admins only"
    )


def may_access_dag(identity: Identity, method: str, dag_id: str | None = None, entity=None) -> bool:
    """Whether the caller may ``method`` (GET, PUT, POST, DELETE) the DAG ``dag_id``, or its ``entity`` (a
    ``DagAccessEntity`` such as ``RUN``); without ``dag_id``: every DAG. A token may do everything on the DAGs
    of its scope (``dag_ids``; without one, on every DAG): what it may call at all its grants decide."""
    if identity.is_token:
        scope = identity.dag_scope
        return scope is None or (dag_id is not None and in_dag_scope(scope, dag_id))
    from rest_api_plugin.airflow_compat import DagDetails

    manager = auth_manager()
    if dag_id is None and entity is None:
        every_dag = line_auth.may_access_every_dag(manager, method, identity.user)
        if every_dag is not None:
            return every_dag
    return bool(
        manager.is_authorized_dag(
            method=method,
            access_entity=entity,
            details=DagDetails(id=dag_id) if dag_id else None,
            user=identity.user,
        )
    )


def is_admin(identity: Identity) -> bool:
    """A token for every DAG (one limited to some DAGs is not), or an admin: a FAB user holding
    ``AUTH_ROLE_ADMIN`` ("Admin"), or a SimpleAuthManager user whose role is admin."""
    if identity.is_token:
        return identity.dag_scope is None
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
    """The auth manager's DAG-level check, as the stable API makes it for the same operation; for a token, its
    DAG scope."""
    dag_id = args.get("dag_id")
    if endpoint.dag_scope != "dag_id" or not dag_id:  # the others' DAGs: their handlers check each one
        return
    access = endpoint.dag_access
    if not may_access_dag(identity, access.method, dag_id, access.entity):
        raise Forbidden(f"{who(identity)} may not {access.method} DAG {dag_id}")


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
