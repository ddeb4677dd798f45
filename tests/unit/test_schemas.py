"""Argument schemas: what old clients send, what is refused, without a database."""

from __future__ import annotations

import json

import pytest
from marshmallow import ValidationError

from rest_api_plugin.schemas.connections import ConnectionsSchema
from rest_api_plugin.schemas.fields import MAX_JSON_DEPTH, json_too_deep
from rest_api_plugin.schemas.pools import PoolSchema
from rest_api_plugin.schemas.runs import DagStateSchema, TriggerDagSchema
from rest_api_plugin.schemas.variables import VariablesSchema


@pytest.mark.parametrize(
    "value, expected",
    [("", True), ("on", True), ("true", True), ("1", True), ("off", False), ("false", False), ("0", False)],
)
def test_flags_as_browsers_and_scripts_send_them(value, expected):
    assert PoolSchema().load({"include_deferred": value})["include_deferred"] is expected


def test_a_flag_with_another_value_is_refused():
    with pytest.raises(ValidationError):
        PoolSchema().load({"include_deferred": "maybe"})


@pytest.mark.parametrize("spelling", ["execution_date", "exec_date", "logical_date"])
def test_the_date_in_any_of_its_spellings(spelling):
    args = DagStateSchema().load({"dag_id": "d", spelling: "2024-01-02T03:04:05"})
    assert args["logical_date"].isoformat() == "2024-01-02T03:04:05+00:00"
    assert "execution_date" not in args and "exec_date" not in args


def test_two_dates_that_disagree():
    with pytest.raises(ValidationError):
        DagStateSchema().load({"dag_id": "d", "execution_date": "2024-01-02", "logical_date": "2024-01-03"})


@pytest.mark.parametrize("dag_id", ["", "a b", "x;rm", "../up", "a" * 251])
def test_dag_ids_airflow_would_refuse(dag_id):
    with pytest.raises(ValidationError):
        TriggerDagSchema().load({"dag_id": dag_id})


def test_generated_run_ids_are_accepted():
    args = DagStateSchema().load({"dag_id": "d", "run_id": "manual__2024-01-02T03:04:05.123456+00:00"})
    assert args["run_id"].startswith("manual__")


class TestActions:
    @pytest.mark.parametrize(
        "given, action",
        [
            ({}, "list"),
            ({"list": ""}, "list"),
            ({"get": "p"}, "get"),
            ({"cmd": "get", "pool_name": "p"}, "get"),
            ({"delete": "p"}, "delete"),
            ({"cmd": "set", "pool_name": "p", "slot_count": "3"}, "set"),
        ],
    )
    def test_pool(self, given, action):
        args = PoolSchema().load(given)
        assert args["action"] == action
        if action in ("get", "delete"):
            assert args["pool_name"] == "p"

    def test_pool_description_in_the_original_spelling(self):
        args = PoolSchema().load({"cmd": "set", "pool_name": "p", "slot_count": "1", "description": "d"})
        assert args["pool_description"] == "d"

    @pytest.mark.parametrize(
        "given",
        [{"get": "a", "delete": "b"}, {"cmd": "set", "get": "p"}, {"cmd": "unknown"}, {"cmd": "set", "pool_name": "p"}],
    )
    def test_pool_refused(self, given):
        with pytest.raises(ValidationError):
            PoolSchema().load(given)

    def test_variables_import_and_key(self):
        assert VariablesSchema().load({"import": '{"a": 1}'})["import"] == {"a": 1}
        assert VariablesSchema().load({"get": "k"})["key"] == "k"
        assert VariablesSchema().load({"export": ""})["action"] == "export"

    def test_connections(self):
        assert ConnectionsSchema().load({})["action"] == "list"
        args = ConnectionsSchema().load({"add": "on", "conn_id": "c", "conn_uri": "http://h"})
        assert args["action"] == "add"
        with pytest.raises(ValidationError):
            ConnectionsSchema().load({"add": "on", "delete": "on", "conn_id": "c"})


class TestJson:
    def test_depth(self):
        assert not json_too_deep("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)
        assert json_too_deep("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))
        assert not json_too_deep(json.dumps({"s": "[[[[{{{{" * 100}))

    def test_conf_must_be_an_object(self):
        with pytest.raises(ValidationError):
            TriggerDagSchema().load({"dag_id": "d", "conf": "[1]"})
        assert TriggerDagSchema().load({"dag_id": "d", "conf": '{"k": "v"}'})["conf"] == {"k": "v"}

    def test_conn_extra_stays_text(self):
        args = ConnectionsSchema().load({"add": "", "conn_id": "c", "conn_type": "http", "conn_extra": '{"a": 1}'})
        assert args["conn_extra"] == '{"a": 1}'


def test_argument_names_use_the_data_key():
    assert "import" in VariablesSchema.argument_names() and "import_" not in VariablesSchema.argument_names()


def test_every_integer_argument_is_bounded():
    """An unbounded integer reaches the database as an OverflowError (a 500): every one has both bounds."""
    from marshmallow import fields, validate

    from rest_api_plugin import registry

    for endpoint in registry.ENDPOINTS:
        for name, field in endpoint.schema().fields.items():
            if isinstance(field, fields.Integer):
                ranges = [v for v in field.validators if isinstance(v, validate.Range)]
                assert ranges and ranges[0].min is not None and ranges[0].max is not None, (endpoint.name, name)
