"""Creates the plugin's permissions at webserver start and grants them to the configured roles.

One action per endpoint (``can_trigger_dag``...) on one resource (``REST API Plugin``). Admin gets all;
``read_roles`` get the read-only endpoints, ``write_roles`` get every endpoint. Idempotent. Endpoints in
``disabled_endpoints`` get no permission (one made before they were disabled stays, unused).

Deploying a file that defines a new DAG needs create access on it (``can_create`` on ``DAGs``, or on
``DAG:<id>``), which Airflow's FAB roles do not have: Admin and the ``write_roles`` get it here.
"""

from __future__ import annotations

import logging

from rest_api_plugin import config, registry

log = logging.getLogger(__name__)

# Airflow creates these after the plugins are loaded (auth manager init), so on a fresh database the
# plugin creates them first; Airflow then adds their usual permissions and keeps the plugin's grants.
AIRFLOW_DEFAULT_ROLES = ("Admin", "Op", "User", "Viewer", "Public")

MENU_ACCESS = "menu_access"
MENU_ITEM = "REST API"
CREATE_DAGS = ("can_create", "DAGs")  # airflow.security.permissions: ACTION_CAN_CREATE, RESOURCE_DAG


def sync(security_manager) -> None:
    permissions = {
        endpoint.name: security_manager.create_permission(endpoint.permission, registry.RESOURCE)
        for endpoint in registry.enabled()
    }
    menu = security_manager.create_permission(MENU_ACCESS, MENU_ITEM)
    create_dags = security_manager.create_permission(*CREATE_DAGS)
    unknown = config.disabled_endpoints() - registry.BY_NAME.keys()
    if unknown:
        log.warning(
            "REST API plugin: [rest_api_plugin] disabled_endpoints names unknown endpoints: %s",
            ", ".join(sorted(unknown)),
        )
    every = list(permissions)
    grants = {"Admin": every}
    for role_name in config.read_roles():
        grants.setdefault(role_name, []).extend(e.name for e in registry.enabled() if not e.may_change_state)
    for role_name in config.write_roles():
        grants.setdefault(role_name, []).extend(every)
    writers = {"Admin", *config.write_roles()}
    for role_name, names in grants.items():
        role = security_manager.find_role(role_name)
        if role is None and role_name in AIRFLOW_DEFAULT_ROLES:
            role = security_manager.add_role(role_name)
        if role is None:
            log.warning("REST API plugin: role %s does not exist; no permissions granted to it", role_name)
            continue
        extra = [create_dags] if role_name in writers else []
        for permission in [menu, *extra, *(permissions[name] for name in dict.fromkeys(names))]:
            security_manager.add_permission_to_role(role, permission)


def sync_with_auth_manager() -> None:
    """Airflow 3: the same, through the FAB auth manager's security manager, which lives in its own Flask app
    (it reads that app's config). Nothing to do under an auth manager without permissions."""
    from rest_api_plugin import security

    manager = security.auth_manager()
    if not security.has_permissions(manager):
        log.info(
            "REST API plugin: %s keeps no per-role permissions; state changes are for admins", type(manager).__name__
        )
        return
    with manager.flask_app.app_context():
        sync(manager.security_manager)
