"""The Airflow plugin: registered through the ``airflow.plugins`` entry point.

Airflow 2 serves it as a Flask-AppBuilder view in its webserver (``airflow2/plugin.py``); Airflow 3 as a
FastAPI app its API server mounts at the same URL, /admin/rest_api, with a link in the UI's Admin menu
(``airflow3/plugin.py``). Imported by every Airflow process (scheduler and workers too), so it imports only the
front end of this Airflow, whose modules keep the webserver's imports inside their functions.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from rest_api_plugin.airflow_compat import this_line

MENU_NAME = "REST API"


class RestApiPlugin(AirflowPlugin):
    name = "rest_api_plugin"


for _attribute, _value in this_line("plugin").plugin_attributes(MENU_NAME).items():
    setattr(RestApiPlugin, _attribute, _value)
