"""Airflow 3's app for the tests: Airflow's own FastAPI app factory behind Starlette's test client, with the
small part of Flask's test client API the suite uses (``open``, ``get``, ``post``; ``get_json``,
``get_data``, ``mimetype``...), so the same tests run on both lines."""

from __future__ import annotations

import json
from contextlib import contextmanager


class Answer:
    """A response, read the way Flask's test responses are."""

    def __init__(self, response):
        self.response = response
        self.status_code = response.status_code
        self.headers = response.headers
        self.mimetype = response.headers.get("content-type", "").split(";")[0].strip()

    def get_json(self):
        return json.loads(self.response.content)

    def get_data(self, as_text: bool = False):
        return self.response.text if as_text else self.response.content

    @property
    def data(self) -> bytes:
        return self.response.content

    @property
    def location(self) -> str | None:
        return self.response.headers.get("location")


class Client:
    """One browser or script: it keeps its cookies. A form carrying ``csrf_token``, or an ``X-CSRFToken``
    header, stands for a post from the REST API page, which on Airflow 3 proves itself with the
    ``X-Requested-With`` header instead."""

    def __init__(self, app):
        from fastapi.testclient import TestClient

        self.client = TestClient(app, base_url="http://localhost", follow_redirects=False)

    def open(self, path, method="GET", query_string=None, data=None, headers=None, content_type=None, **kwargs):
        if isinstance(headers, list):  # (name, value) pairs, sent as they are: a header may come twice
            return Answer(self.client.request(method, path, headers=headers, params=query_string))
        headers = dict(headers or {})
        if headers.get("X-CSRFToken"):  # the page's script: on Airflow 3 it proves itself with this header
            headers.setdefault("X-Requested-With", "XMLHttpRequest")
        if content_type:
            headers["Content-Type"] = content_type
        request = {"headers": headers}
        if query_string:  # httpx would replace a query already in ``path`` by an empty one
            request["params"] = {k: v for k, v in query_string.items() if v is not None}
        if isinstance(data, dict):
            files = {name: (value[1], value[0]) for name, value in data.items() if isinstance(value, tuple)}
            fields = {name: value for name, value in data.items() if not isinstance(value, tuple)}
            if fields.get("csrf_token"):
                headers.setdefault("X-Requested-With", "XMLHttpRequest")
            if files:
                request.update(files=files, data=fields)
            else:
                request["data"] = fields
        elif data is not None:
            request["content"] = data.encode() if isinstance(data, str) else data
        return Answer(self.client.request(method, path, **request))

    def get(self, path, **kwargs):
        return self.open(path, "GET", **kwargs)

    def post(self, path, **kwargs):
        return self.open(path, "POST", **kwargs)

    def get_cookie(self, name):
        value = self.client.cookies.get(name)
        return None if value is None else type("Cookie", (), {"value": value})()


class Airflow3App:
    """What the ``app`` fixture gives on Airflow 3: a test client per call, and FAB's security manager."""

    def __init__(self):
        from airflow.api_fastapi.app import create_app
        from fastapi.testclient import TestClient

        self.fastapi_app = create_app(apps="all")
        self._lifespan = TestClient(self.fastapi_app)
        self._lifespan.__enter__()  # starts the app: the plugin creates its permissions

    def test_client(self) -> Client:
        return Client(self.fastapi_app)

    @contextmanager
    def security_manager(self):
        from airflow.api_fastapi.app import get_auth_manager

        manager = get_auth_manager()
        with manager.flask_app.app_context():
            yield manager.security_manager

    def close(self) -> None:
        self._lifespan.__exit__(None, None, None)
