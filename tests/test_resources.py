"""Pools, variables and connections: every action read back from the database, secrets never shown."""

from __future__ import annotations

import json

import pytest


def stored_pool(name):
    from airflow.models import Pool

    return Pool.get_pool(name)


class TestPool:
    def test_original_readme_set_example(self, call):
        body = call("pool", cmd="set", pool_name="myTestpool", slot_count="10",
                    description="myTestpoolDescription").get_json()
        assert body["status"] == "OK", body
        pool = stored_pool("myTestpool")
        assert (pool.slots, pool.description) == (10, "myTestpoolDescription")

    def test_pool_description_spelling_and_update(self, call):
        call("pool", cmd="set", pool_name="p", slot_count="1", pool_description="one")
        call("pool", cmd="set", pool_name="p", slot_count="2", pool_description="two")
        assert (stored_pool("p").slots, stored_pool("p").description) == (2, "two")

    def test_get_list_delete(self, call):
        call("pool", cmd="set", pool_name="p", slot_count="3", pool_description="d")
        assert call("pool", get="p").get_json()["data"]["slots"] == 3
        names = [p["pool"] for p in call("pool").get_json()["data"]["pools"]]
        assert names == ["default_pool", "p"]
        assert call("pool", delete="p").get_json()["status"] == "OK"
        assert stored_pool("p") is None

    def test_missing_pool_is_404(self, call):
        assert call("pool", get="nope").status_code == 404
        assert call("pool", delete="nope").status_code == 404

    def test_default_pool_cannot_be_deleted(self, call):
        assert call("pool", delete="default_pool").status_code == 409
        assert stored_pool("default_pool") is not None

    @pytest.mark.parametrize(
        "args, field",
        [
            ({"cmd": "set", "pool_name": "p"}, "slot_count"),
            ({"cmd": "set", "pool_name": "p", "slot_count": "many"}, "slot_count"),
            ({"cmd": "set", "pool_name": "p", "slot_count": "-5"}, "slot_count"),
            ({"cmd": "set", "slot_count": "1"}, "pool_name"),
            ({"cmd": "drop"}, "cmd"),
            ({"cmd": "set", "pool_name": "bad name!", "slot_count": "1"}, "pool_name"),
        ],
    )
    def test_invalid_set_is_400_and_changes_nothing(self, call, args, field):
        body = call("pool", **args).get_json()
        assert body["http_response_code"] == 400
        assert field in body["data"]["errors"]
        assert call("pool").get_json()["data"]["total_entries"] == 1

    def test_two_actions_are_400(self, call):
        assert call("pool", get="a", delete="b").status_code == 400


class TestVariables:
    def test_original_readme_set_example(self, call):
        from airflow.models import Variable

        body = call("variables", cmd="set", key="myVar1", value="myValue1").get_json()
        assert body["status"] == "OK", body
        assert Variable.get("myVar1") == "myValue1"

    def test_get_with_json_and_default(self, call):
        call("variables", cmd="set", key="cfg", value='{"a": [1, 2]}')
        assert call("variables", get="cfg").get_json()["output"]["stdout"] == '{"a": [1, 2]}\n'
        body = call("variables", get="cfg", json="").get_json()
        assert body["data"]["value"] == {"a": [1, 2]}
        assert call("variables", get="absent", default="fallback").get_json()["output"]["stdout"] == "fallback\n"

    def test_missing_variable_is_404(self, call):
        assert call("variables", get="absent").status_code == 404
        assert call("variables", delete="absent").status_code == 404

    def test_delete_and_list(self, call):
        from airflow.models import Variable

        call("variables", cmd="set", key="a", value="1")
        call("variables", cmd="set", key="b", value="2")
        assert call("variables").get_json()["data"]["keys"] == ["a", "b"]
        call("variables", delete="a")
        assert Variable.get("a", default_var=None) is None

    def test_import_and_export_as_json(self, call):
        from airflow.models import Variable

        answer = call("variables", method="POST", data={"import": json.dumps({"x": "1", "y": {"deep": True}})})
        assert answer.status_code == 200, answer.get_json()
        assert Variable.get("y", deserialize_json=True) == {"deep": True}
        exported = call("variables", export="").get_json()
        assert exported["data"] == {"x": 1, "y": {"deep": True}}

    def test_import_from_a_json_body_or_a_file(self, call):
        import io

        from airflow.models import Variable

        answer = call("variables", method="POST", cmd="import", data=json.dumps({"from_body": "b"}),
                      headers={"Content-Type": "application/json"})
        assert answer.status_code == 200, answer.get_json()
        answer = call("variables", method="POST", cmd="import",
                      data={"import": (io.BytesIO(b'{"from_file": 7}'), "vars.json")})
        assert answer.status_code == 200, answer.get_json()
        assert (Variable.get("from_body"), Variable.get("from_file")) == ("b", "7")

    @pytest.mark.parametrize("payload", ["{broken", "[1, 2]"])
    def test_bad_import_is_400(self, call, payload):
        assert call("variables", method="POST", data={"import": payload}).status_code == 400

    def test_set_with_json_flag_needs_json(self, call):
        assert call("variables", cmd="set", key="k", value="{nope", json="").status_code == 400

    def test_sensitive_values_are_masked_everywhere(self, call):
        from airflow.models import Variable

        body = call("variables", cmd="set", key="db_password", value="hunter2").get_json()
        assert Variable.get("db_password") == "hunter2"
        assert "hunter2" not in json.dumps(body)
        for args in ({"get": "db_password"}, {"export": ""}, {}):
            assert "hunter2" not in call("variables", **args).get_data(as_text=True)


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

        body = call("connections", add="", conn_id="api", conn_type="http", conn_host="example.com",
                    conn_login="bob", conn_password="pw-123", conn_port="443").get_json()
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
