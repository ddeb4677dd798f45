"""What ``data`` holds, per endpoint, for the OpenAPI document: the shapes ``services/serializers.py`` and the
handlers build. The fuzzing test checks real answers against them (schemathesis response conformance).

Fields may be added to an answer without breaking a client, so every object here accepts more properties.
"""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields


def NullableString(**kwargs) -> fields.String:  # noqa: N802 - reads as a field class where it is used
    return fields.String(allow_none=True, **kwargs)


class Data(Schema):
    class Meta:
        unknown = INCLUDE  # new fields may be added: clients must ignore what they do not know


class Version(Data):
    version = fields.String(required=True)


class DagRun(Data):
    dag_id = fields.String(required=True)
    run_id = fields.String(required=True)
    logical_date = NullableString(metadata={"format": "date-time"})
    execution_date = NullableString(metadata={"format": "date-time"})
    state = NullableString()
    run_type = fields.String()
    external_trigger = fields.Boolean(allow_none=True)
    conf = fields.Dict(allow_none=True)
    queued_at = NullableString()
    start_date = NullableString()
    end_date = NullableString()
    data_interval_start = NullableString()
    data_interval_end = NullableString()


class Paused(Data):
    dag_id = fields.String(required=True)
    is_paused = fields.Boolean(required=True)


class Task(Data):
    task_id = fields.String(required=True)
    operator = fields.String()
    upstream_task_ids = fields.List(fields.String())
    downstream_task_ids = fields.List(fields.String())


class TaskList(Data):
    dag_id = fields.String(required=True)
    tasks = fields.List(fields.Nested(Task), required=True)


class TaskInstance(Data):
    dag_id = fields.String(required=True)
    task_id = fields.String(required=True)
    run_id = fields.String(required=True)
    map_index = fields.Integer(required=True)
    state = NullableString(required=True)
    try_number = fields.Integer()
    start_date = NullableString()
    end_date = NullableString()


class FailedDependency(Data):
    dep_name = fields.String(required=True)
    reason = fields.String(required=True)


class FailedDependencies(TaskInstance):
    failed_dependencies = fields.List(fields.Nested(FailedDependency), required=True)


class Rendered(Data):
    dag_id = fields.String(required=True)
    task_id = fields.String(required=True)
    run_id = fields.String(required=True)
    rendered = fields.Dict(required=True, metadata={"description": "Template field -> rendered value, secrets "
                                                                   "masked."})


class Cleared(Data):
    dag_id = fields.String(required=True)
    dry_run = fields.Boolean(required=True)
    count = fields.Integer(required=True)
    task_instances = fields.List(fields.Nested(TaskInstance), required=True)


class Pool(Data):
    pool = fields.String(required=True)
    slots = fields.Integer(required=True)
    description = NullableString()
    include_deferred = fields.Boolean()


class PoolList(Data):
    pools = fields.List(fields.Nested(Pool), required=True)
    total_entries = fields.Integer(required=True)


class Variable(Data):
    key = fields.String(required=True)
    value = fields.Raw(metadata={"description": "The value (a JSON value with json); *** when the key names a "
                                                "secret."})


class VariableKeys(Data):
    keys = fields.List(fields.String(), required=True)
    total_entries = fields.Integer(required=True)


class VariablesImported(Data):
    imported = fields.List(fields.String(), required=True)


class Connection(Data):
    conn_id = fields.String(required=True)
    conn_type = NullableString()
    description = NullableString()
    host = NullableString()
    login = NullableString()
    password = NullableString(metadata={"description": "*** when set; never the password."})
    schema = NullableString()
    port = fields.Integer(allow_none=True)
    is_extra_encrypted = fields.Boolean()
    is_encrypted = fields.Boolean()
    uri = fields.String(metadata={"description": "The URI, password and sensitive query values masked."})
    extra = fields.Dict(allow_none=True, metadata={"description": "The extra, sensitive keys masked."})


class ConnectionList(Data):
    connections = fields.List(fields.Nested(Connection), required=True)
    total_entries = fields.Integer(required=True)


class Job(Data):
    job_id = fields.String(required=True)
    api = fields.String(required=True)
    command = fields.String(required=True, metadata={"description": "What runs, as a command line."})
    dag_id = NullableString()
    pid = fields.Integer(allow_none=True)
    started_at = fields.String()
    requested_by = NullableString()
    state = fields.String(required=True, metadata={"enum": ["running", "success", "failed", "killed", "lost"]})
    exit_code = fields.Integer(allow_none=True)
    signal = NullableString()
    ended_at = NullableString()
    stdout = NullableString(metadata={"description": "The last lines of its stdout (with job_id)."})
    stderr = NullableString(metadata={"description": "The last lines of its stderr (with job_id); null for a "
                                                     "job of an earlier version, whose one log is stdout."})


class JobList(Data):
    jobs = fields.List(fields.Nested(Job), required=True)
    total_entries = fields.Integer(required=True)
