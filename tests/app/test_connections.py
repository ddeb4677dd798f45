"""Connections: every action read back from the database, secrets never shown."""

from __future__ import annotations

import json

import pytest


class TestConnections:
    URI = "postgres://alice:s3cr3t-pw@db.example.com:5432/warehouse"

    def test_add_with_uri_list_delete(self, call):
        from airflow.models import Connection
        from airflow.utils.session import create_session

        body = call("connections", add="", conn_id="wh", conn_uri=self.URI).get_json()
        assert body["status"] == "OK", body
        with create_session() as session:
            stored = session.query(Connection).filter_by(conn_id="wh").one()
            assert (stored.host, stored.password, stored.port) == ("db.example.com", "s3cr3t-pw", 5432)
        listed = call("connections", list="")
        assert "wh\tpostgres\tdb.example.com" in listed.get_json()["output"]["stdout"].splitlines()
        row = next(c for c in listed.get_json()["data"]["connections"] if c["conn_id"] == "wh")
        assert (row["host"], row["login"], row["password"], row["port"]) == ("db.example.com", "alice", "***", 5432)
        deleted = call("connections", delete="", conn_id="wh")
        for answer in (body, listed.get_json(), deleted.get_json()):
            assert "s3cr3t-pw" not in json.dumps(answer)
        with create_session() as session:
            assert session.query(Connection).filter_by(conn_id="wh").count() == 0

    def test_add_with_fields(self, call):
        from airflow.models import Connection

        body = call(
            "connections",
            add="",
            conn_id="api",
            conn_type="http",
            conn_host="example.com",
            conn_login="bob",
            conn_password="pw-123",
            conn_port="443",
        ).get_json()
        assert body["status"] == "OK", body
        assert "pw-123" not in json.dumps(body)
        conn = Connection.get_connection_from_secrets("api")
        assert (conn.conn_type, conn.host, conn.password, conn.port) == ("http", "example.com", "pw-123", 443)

    def test_duplicate_is_409(self, call):
        call("connections", add="", conn_id="dup", conn_uri=self.URI)
        assert call("connections", add="", conn_id="dup", conn_uri="http://other").status_code == 409

    def test_delete_missing_is_404(self, call):
        assert call("connections", delete="", conn_id="nope").status_code == 404

    @pytest.mark.parametrize(
        "args",
        [
            {"add": ""},
            {"add": "", "conn_id": "x"},
            {"add": "", "conn_id": "x", "conn_uri": "http://h", "conn_type": "http"},
            {"add": "", "delete": "", "conn_id": "x"},
            {"add": "", "conn_id": "x", "conn_uri": "http://h", "conn_port": "99999"},
        ],
    )
    def test_invalid_add_is_400(self, call, args):
        assert call("connections", **args).status_code == 400
