"""The Airflow plugin: registered through the ``airflow.plugins`` entry point.

Airflow 2 serves it as a Flask-AppBuilder view in its webserver; Airflow 3 as a FastAPI app its API server
mounts at the same URL, /admin/rest_api, with a link in the UI's Admin menu. Imported by every Airflow process
(scheduler and workers too), so it imports only the front end of this Airflow, whose modules keep the
webserver's imports inside their functions.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from rest_api_plugin.airflow_compat import AIRFLOW_3

MENU_NAME = "REST API"

if AIRFLOW_3:
    from rest_api_plugin.fastapi_app import PREFIX, SlashRedirect, app
else:
    from rest_api_plugin.views import RestApiView


class RestApiPlugin(AirflowPlugin):
    name = "rest_api_plugin"
    if AIRFLOW_3:
        fastapi_apps = [{"app": app, "url_prefix": PREFIX, "name": MENU_NAME}]
        fastapi_root_middlewares = [{"middleware": SlashRedirect, "name": f"{MENU_NAME}: {PREFIX} -> {PREFIX}/"}]
        # a link in the UI's Admin menu (appbuilder_menu_items would make the API server build a Flask app)
        external_views = [{"name": MENU_NAME, "href": f"{PREFIX}/", "destination": "nav", "category": "admin"}]
    else:
        appbuilder_views = [{"name": MENU_NAME, "category": "Admin", "view": RestApiView()}]
