"""Masking, output shapes and timestamps: pure functions, checked without a database."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from rest_api_plugin.masking import MASK, mask_arguments, mask_extra, mask_uri
from rest_api_plugin.output import shape
from rest_api_plugin.result import Result
from rest_api_plugin.schemas.envelope import ENVELOPE_SCHEMAS


@pytest.mark.parametrize(
    "uri, masked",
    [
        ("postgres://u:p@h:5432/db", "postgres://u:***@h:5432/db"),
        ("postgres://u:head@tail@h/db", "postgres://u:***@h/db"),
        ("http://h/x?token=abc&region=eu", "http://h/x?token=***&region=eu"),
        (
            "http://h/?__extra__=%7B%22api_key%22%3A+%22k%22%7D",
            "http://h/?__extra__=%7B%22api_key%22%3A+%22%2A%2A%2A%22%7D",
        ),
        ("http://h", "http://h"),
        ("not a uri", "not a uri"),
    ],
)
def test_mask_uri(uri, masked):
    assert mask_uri(uri) == masked


def test_mask_extra():
    assert json.loads(mask_extra('{"api_key": "k", "nested": {"password": "p"}, "region": "eu"}')) == {
        "api_key": MASK,
        "nested": {"password": MASK},
        "region": "eu",
    }
    assert mask_extra("not json at all") == MASK
    assert mask_extra("") == ""


def test_mask_arguments_as_the_schemas_declare():
    from rest_api_plugin.schemas.connections import ConnectionsSchema
    from rest_api_plugin.schemas.variables import VariablesSchema

    shown = mask_arguments(
        {
            "api": "connections",
            "conn_password": "pw",
            "conn_uri": "x://u:pw@h",
            "conn_extra": '{"token": "t", "region": "eu"}',
            "csrf_token": "t",
        },
        ConnectionsSchema.masks(),
    )
    assert shown == {
        "api": "connections",
        "conn_password": MASK,
        "conn_uri": "x://u:***@h",
        "conn_extra": '{"token": "***", "region": "eu"}',
    }
    variables = VariablesSchema.masks()
    assert mask_arguments({"key": "db_secret", "value": "v", "import": "{}"}, variables) == {
        "key": "db_secret",
        "value": MASK,
        "import": "<2 characters>",
    }
    assert mask_arguments({"key": "colour", "value": "blue"}, variables) == {"key": "colour", "value": "blue"}


def test_sensitive_names_are_masked_whatever_the_schema():
    assert mask_arguments({"my_token": "t", "api_key": "k", "name": "n"}) == {
        "my_token": MASK,
        "api_key": MASK,
        "name": "n",
    }


class TestOutput:
    RESULT = Result(output="line one\nline two", stderr="careful")

    def test_streams(self):
        assert shape(self.RESULT, True, "streams") == {
            "stdout": "line one\nline two\n",
            "stderr": "careful\n",
            "stdin": "",
        }

    def test_text(self):
        assert shape(self.RESULT, True, "text") == "line one\nline two\ncareful"

    def test_py3_bytes(self):
        assert shape(self.RESULT, True, "streams_py3_bytes")["stdout"] == "b'line one\\n'b'line two\\n'"

    def test_plugin_endpoints_keep_a_string(self):
        assert shape(self.RESULT, False, "streams") == "line one\nline two\ncareful"

    def test_stdout_as_airflow_1_printed_it(self):
        assert shape(Result(output="queued, {}", stdout="queued"), True, "streams")["stdout"] == "queued\n"


def test_timestamps():
    moment = datetime(2016, 11, 29, 14, 22, 26, 123456, tzinfo=timezone.utc)
    envelope = {"call_time": moment, "response_time": moment, "status": "OK"}
    assert ENVELOPE_SCHEMAS["rfc1123"].dump(envelope)["call_time"] == "Tue, 29 Nov 2016 14:22:26 GMT"
    assert ENVELOPE_SCHEMAS["iso8601"].dump(envelope)["call_time"] == "2016-11-29T14:22:26.123456+00:00"
