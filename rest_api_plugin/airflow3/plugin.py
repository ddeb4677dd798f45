"""What the plugin adds to Airflow 3: a FastAPI app the API server mounts at the old URL, a middleware that
sends /admin/rest_api to /admin/rest_api/, and a link in the UI's Admin menu."""

from __future__ import annotations


def plugin_attributes(menu_name: str) -> dict:
    """The AirflowPlugin's attributes on this line (appbuilder_menu_items would make the API server build a
    Flask app: the menu link is an external view)."""
    from rest_api_plugin.airflow3.fastapi_app import PREFIX, SlashRedirect, app

    return {
        "fastapi_apps": [{"app": app, "url_prefix": PREFIX, "name": menu_name}],
        "fastapi_root_middlewares": [{"middleware": SlashRedirect, "name": f"{menu_name}: {PREFIX} -> {PREFIX}/"}],
        "external_views": [{"name": menu_name, "href": f"{PREFIX}/", "destination": "nav", "category": "admin"}],
    }
