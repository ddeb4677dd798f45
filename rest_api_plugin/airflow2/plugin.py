"""What the plugin adds to Airflow 2: a Flask-AppBuilder view of the webserver, under Admin."""

from __future__ import annotations


def plugin_attributes(menu_name: str) -> dict:
    """The AirflowPlugin's attributes on this line."""
    from rest_api_plugin.airflow2.views import RestApiView

    return {"appbuilder_views": [{"name": menu_name, "category": "Admin", "view": RestApiView()}]}
