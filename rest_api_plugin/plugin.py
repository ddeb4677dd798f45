"""The Airflow plugin: registered through the ``airflow.plugins`` entry point.

Imported by every Airflow process (scheduler and workers too), so it imports only the view class,
whose module keeps webserver-only imports inside its methods.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from rest_api_plugin.views import RestApiView


class RestApiPlugin(AirflowPlugin):
    name = "rest_api_plugin"
    appbuilder_views = [{"name": "REST API", "category": "Admin", "view": RestApiView()}]
