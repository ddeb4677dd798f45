"""What ``data`` holds, per endpoint: the one description of every answer. The dispatcher dumps each handler's
result through the schema the registry declares for it, and the OpenAPI document is generated from the same
schemas, so the answers and the docs cannot drift apart.

Handlers gather values (Airflow's model objects, or mappings of plain values); these schemas choose the fields
and their form: dates as ISO 8601, states as text, and the few attributes whose name differs by Airflow line
read through ``airflow_compat``. A mapping with a key its schema does not declare is a programming error
(``UndeclaredField``), so a field cannot reach an answer without reaching the docs.

Fields may be added to an answer without breaking a client, so every object here accepts more properties.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

from marshmallow import INCLUDE, Schema, fields, pre_dump

from rest_api_plugin.airflow_compat import dag_is_active, run_after, run_logical_date
from rest_api_plugin.masking import MASK, mask_mapping, mask_uri


class UndeclaredField(Exception):
    """A handler answered a field its data schema does not declare."""


class Getter(fields.Field):
    """Mixed into a field: its value is ``getter(obj)`` where given (what is not an attribute of the same name
    on every Airflow line, or needs a model's method), else read as marshmallow reads it (the attribute, or
    the mapping's key). The field class it is mixed with gives the value's form and its OpenAPI type."""

    def __init__(self, getter: Callable[[Any], Any] | None = None, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.getter = getter

    def get_value(self, obj, attr, accessor=None, default=fields.missing_):
        if self.getter is not None:
            return self.getter(obj)
        return super().get_value(obj, attr, accessor, default)


class When(Getter, fields.String):
    """A moment as ISO 8601 (``datetime.isoformat``), or null; text (a job record's) is shown as it is."""

    def __init__(self, getter=None, **kwargs):
        super().__init__(getter, allow_none=True, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return value.isoformat() if hasattr(value, "isoformat") else value


class Text(Getter, fields.String):
    """``str()`` of the value (Airflow's states are string enums), or null."""

    def __init__(self, getter=None, **kwargs):
        kwargs.setdefault("allow_none", True)
        super().__init__(getter, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value)


class Truth(Getter, fields.Boolean):
    """``bool()`` of the value (a column may hold null)."""

    def _serialize(self, value, attr, obj, **kwargs):
        return bool(value)


class Strings(Getter, fields.List):
    """A list of strings, read by ``getter``."""

    def __init__(self, getter=None, **kwargs):
        super().__init__(getter, fields.String(), **kwargs)


class Object(Getter, fields.Dict):
    """A JSON object, read by ``getter``."""


def NullableString(**kwargs) -> fields.String:  # noqa: N802 - reads as a field class where it is used
    return fields.String(allow_none=True, **kwargs)


class Data(Schema):
    class Meta:
        unknown = INCLUDE  # new fields may be added: clients must ignore what they do not know

    @pre_dump
    def declared_only(self, data, **kwargs):
        if isinstance(data, Mapping):
            declared = {field.data_key or name for name, field in self.fields.items()}
            undeclared = sorted(set(data) - declared)
            if undeclared:
                raise UndeclaredField(f"{type(self).__name__} does not declare {', '.join(undeclared)}")
        return data


class Merged:
    """``obj``'s attributes with ``extra`` over them: one object to dump where an answer adds fields to a
    model's (a task instance and its failed dependencies)."""

    def __init__(self, obj, **extra):
        self._obj, self._extra = obj, extra

    def __getattr__(self, name):
        if name in self._extra:
            return self._extra[name]
        return getattr(self._obj, name)


class Version(Data):
    version = fields.String(required=True)


class DagRun(Data):
    dag_id = fields.String(required=True)
    run_id = fields.String(required=True)
    logical_date = When(run_logical_date, metadata={"format": "date-time"})
    execution_date = When(run_logical_date, metadata={"format": "date-time"})
    state = Text()
    run_type = Text(allow_none=False)
    # Airflow 3 has no such column: a run is external when neither the scheduler nor a backfill made it
    external_trigger = Truth(
        lambda run: getattr(run, "external_trigger", str(run.run_type) not in ("scheduled", "backfill")),
        allow_none=True,
    )
    conf = Object(lambda run: run.conf or {}, allow_none=True)
    queued_at = When()
    start_date = When()
    end_date = When()
    data_interval_start = When()
    data_interval_end = When()
    run_after = When(run_after, metadata={"description": "Airflow 3: when the run may start (null on Airflow 2)."})


class RunList(Data):
    dag_id = fields.String(required=True)
    runs = fields.List(fields.Nested(DagRun), required=True, metadata={"description": "Newest first."})
    total_entries = fields.Integer(required=True)


class Dag(Data):
    dag_id = fields.String(required=True)
    is_paused = Truth()
    is_active = Truth(dag_is_active)
    fileloc = NullableString()
    owners = Strings(lambda dag: [owner.strip() for owner in (dag.owners or "").split(",") if owner.strip()])
    description = NullableString()
    timetable_description = NullableString()
    tags = Strings(lambda dag: sorted(dag.tags))
    next_dagrun = When()
    last_parsed_time = When()


class DagImportError(Data):
    filename = fields.String(required=True)
    bundle_name = NullableString(metadata={"description": "Airflow 3: the DAG bundle of the file."})
    timestamp = When()
    stacktrace = fields.String()


class ImportErrorList(Data):
    import_errors = fields.List(fields.Nested(DagImportError), required=True)
    total_entries = fields.Integer(required=True)


class DagDetails(Data):
    dag_id = fields.String(required=True)
    fileloc = NullableString(metadata={"description": "The DAG's file."})
    owners = fields.List(fields.String(), required=True)
    tags = fields.List(fields.String(), required=True)
    schedule = NullableString(
        metadata={
            "description": "The schedule (Airflow 2: schedule_interval; Airflow 3: "
            "the timetable's summary); null: none."
        }
    )
    timetable_description = NullableString()
    description = NullableString()
    is_paused = fields.Boolean(required=True)
    is_active = fields.Boolean(required=True)
    last_parsed_time = When(metadata={"description": "When its file was last parsed into the database."})
    next_dagrun = When(metadata={"description": "The logical date of its next scheduled run."})
    next_dagrun_data_interval_start = When()
    next_dagrun_data_interval_end = When()
    next_dagrun_create_after = When(metadata={"description": "When the scheduler may create that run."})
    max_active_runs = fields.Integer(allow_none=True)
    max_active_tasks = fields.Integer(allow_none=True)
    params = fields.Dict(
        keys=fields.String(),
        metadata={"description": "The DAG's params, name -> default value; *** for a name that names a secret."},
    )
    attributes = fields.Dict(
        keys=fields.String(),
        required=True,
        metadata={
            "description": "Every attribute as airflow dags details shows it (Airflow's own DAG schema on each "
            "line, so its fields differ between Airflow 2 and 3)."
        },
    )


class NextExecution(Data):
    logical_date = When()
    data_interval_start = When()
    data_interval_end = When()
    run_after = When(metadata={"description": "Airflow 3: when the run may start."})
    partition_key = NullableString(
        metadata={"description": "Airflow 3, a partitioned schedule: the run's partition key."}
    )


class NextExecutions(Data):
    dag_id = fields.String(required=True)
    is_paused = fields.Boolean(
        required=True,
        metadata={"description": "A paused DAG's next runs are shown as if it ran, as the CLI shows them."},
    )
    next_executions = fields.List(
        fields.Nested(NextExecution),
        required=True,
        metadata={"description": "Up to num_executions runs; fewer when the schedule has no more (@once, None)."},
    )


class GraphNode(Data):
    id = fields.String(required=True)
    label = fields.String(required=True)
    kind = fields.String(
        required=True, metadata={"enum": ["task", "join"], "description": "A task, or a task group's join point."}
    )
    group = NullableString(metadata={"description": "The task group it belongs to (null: the DAG's root)."})


class GraphEdge(Data):
    source = fields.String(required=True)
    target = fields.String(required=True)
    label = NullableString()


class DagGraph(Data):
    dag_id = fields.String(required=True)
    nodes = fields.List(fields.Nested(GraphNode), required=True)
    edges = fields.List(fields.Nested(GraphEdge), required=True)
    svg = fields.String(
        metadata={"description": "With format=svg: the picture, an SVG document drawn by Graphviz's dot."}
    )


class DagList(Data):
    dags = fields.List(fields.Nested(Dag), required=True)
    total_entries = fields.Integer(required=True)
    import_errors = fields.List(fields.Nested(DagImportError), metadata={"description": "With report=true."})


class Paused(Data):
    dag_id = fields.String(required=True)
    is_paused = fields.Boolean(required=True)


class Task(Data):
    task_id = fields.String(required=True)
    operator = Text(lambda task: task.task_type, allow_none=False)
    upstream_task_ids = Strings(lambda task: sorted(task.upstream_task_ids))
    downstream_task_ids = Strings(lambda task: sorted(task.downstream_task_ids))


class TaskList(Data):
    dag_id = fields.String(required=True)
    tasks = fields.List(fields.Nested(Task), required=True)


class TaskInstance(Data):
    dag_id = fields.String(required=True)
    task_id = fields.String(required=True)
    run_id = fields.String(required=True)
    map_index = fields.Integer(required=True)
    state = Text(required=True)
    try_number = fields.Integer()
    start_date = When()
    end_date = When()


class RunTaskStates(Data):
    dag_id = fields.String(required=True)
    run_id = fields.String(required=True)
    logical_date = When(metadata={"format": "date-time"})
    state = Text(metadata={"description": "The run's state."})
    task_instances = fields.List(
        fields.Nested(TaskInstance),
        required=True,
        metadata={"description": "Every task instance of the run, by task_id and map_index."},
    )


class FailedDependency(Data):
    dep_name = fields.String(required=True)
    reason = fields.String(required=True)


class FailedDependencies(TaskInstance):
    failed_dependencies = fields.List(fields.Nested(FailedDependency), required=True)


class Rendered(Data):
    dag_id = fields.String(required=True)
    task_id = fields.String(required=True)
    run_id = fields.String(required=True)
    rendered = fields.Dict(required=True, metadata={"description": "Template field -> rendered value, secrets masked."})


class Cleared(Data):
    dag_id = fields.String(required=True)
    dry_run = fields.Boolean(required=True)
    count = fields.Integer(required=True)
    task_instances = fields.List(fields.Nested(TaskInstance), required=True)


class Pool(Data):
    pool = fields.String(required=True)
    slots = fields.Integer(required=True)
    description = NullableString()
    include_deferred = Truth(lambda pool: getattr(pool, "include_deferred", False))


class PoolList(Data):
    pools = fields.List(fields.Nested(Pool), required=True)
    total_entries = fields.Integer(required=True)


class Variable(Data):
    key = fields.String(required=True)
    value = fields.Raw(metadata={"description": "The value (a JSON value with json); *** when the key names a secret."})


class VariableKeys(Data):
    keys = fields.List(fields.String(), required=True)
    total_entries = fields.Integer(required=True)


class VariablesImported(Data):
    imported = fields.List(fields.String(), required=True)


class VariablesExported(Data):
    """Every variable, key -> value (a JSON value where it holds JSON), secrets masked: a free-form object,
    whose keys are the variables' (none is declared)."""

    def dump(self, obj, *, many=None):
        return dict(obj)


class ConnectionSummary(Data):
    """A connection as a listing shows it: without its URI and extra, which Connection.get_uri would parse for
    every row (slowly, with a warning each time)."""

    conn_id = fields.String(required=True)
    conn_type = NullableString()
    description = NullableString()
    host = NullableString()
    login = NullableString()
    password = Text(
        lambda conn: MASK if conn._password else None,  # the stored column: never decrypted
        metadata={"description": "*** when set; never the password."},
    )
    schema = NullableString()
    port = fields.Integer(allow_none=True)
    is_extra_encrypted = Truth()
    is_encrypted = Truth()


class Connection(ConnectionSummary):
    uri = Text(
        lambda conn: mask_uri(conn.get_uri()),
        allow_none=False,
        metadata={"description": "The URI, password and sensitive query values masked."},
    )
    extra = Object(
        lambda conn: mask_mapping(conn.extra_dejson) if conn.extra else None,
        allow_none=True,
        metadata={"description": "The extra, sensitive keys masked."},
    )


class ConnectionList(Data):
    connections = fields.List(fields.Nested(ConnectionSummary), required=True)
    total_entries = fields.Integer(required=True)


class Job(Data):
    job_id = fields.String(required=True)
    api = fields.String(required=True)
    command = fields.String(required=True, metadata={"description": "What runs, as a command line."})
    dag_id = NullableString()
    pid = fields.Integer(allow_none=True)
    started_at = fields.String()
    requested_by = NullableString()
    stop_requested_at = NullableString(metadata={"description": "When stop_job asked it to stop."})
    stop_requested_by = NullableString(metadata={"description": "Who asked it to stop."})
    state = fields.String(required=True, metadata={"enum": ["running", "success", "failed", "killed", "lost"]})
    exit_code = fields.Integer(allow_none=True)
    signal = NullableString()
    ended_at = NullableString()
    task_state = NullableString(
        metadata={
            "description": "Airflow 3, an ended test job: the task's last state, "
            "read in its log (tasks test exits 0 whatever it is)."
        }
    )
    stdout = NullableString(metadata={"description": "The last lines of its stdout (with job_id)."})
    stderr = NullableString(
        metadata={
            "description": "The last lines of its stderr (with job_id); null for a "
            "job of an earlier version, whose one log is stdout."
        }
    )


class JobList(Data):
    jobs = fields.List(fields.Nested(Job), required=True)
    total_entries = fields.Integer(required=True)


class DeployedDag(Data):
    filename = fields.String(required=True, metadata={"description": "The file's name in the DAGs folder."})
    path = fields.String(required=True, metadata={"description": "Its path relative to the DAGs folder."})
    dag_ids = fields.List(fields.String(), required=True)
    backup = NullableString(metadata={"description": "Where the file it replaced is kept, if any."})
    paused = fields.Dict(
        keys=fields.String(), values=fields.Boolean(), metadata={"description": "dag_id -> whether it is paused now."}
    )
    deactivated = fields.List(
        fields.String(), metadata={"description": "DAGs the replaced file defined and the new one does not."}
    )


class DeletedDag(Data):
    dag_id = fields.String(required=True)
    records_removed = fields.Integer(required=True)
    file_removed = fields.Boolean(required=True)
    fileloc = NullableString(metadata={"description": "Its file, relative to the DAGs folder."})
    backup = NullableString(metadata={"description": "Where the removed file is kept."})


class RefreshedDag(Data):
    dag_id = fields.String(required=True)
    fileloc = NullableString(metadata={"description": "Its file, relative to the DAGs folder."})
    dag_ids_in_file = fields.List(fields.String(), required=True)
    deactivated = fields.List(fields.String())


class RefreshedDags(Data):
    dag_ids = fields.List(fields.String(), required=True)
    import_errors = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={"description": "File (relative to the DAGs folder) -> Airflow's message."},
    )
    dag_ids_by_file = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class DagTestTaskInstance(Data):
    task_id = fields.String(required=True)
    map_index = fields.Integer(required=True)
    state = Text(required=True)
    try_number = fields.Integer()
    start_date = When()
    end_date = When()


class DagTest(Job):
    """A dag_test job; once it ended (``wait``, the default), the run that ``airflow dags test`` made."""

    run_id = NullableString(metadata={"description": "The run the command made (once it ended)."})
    logical_date = When(
        metadata={"format": "date-time", "description": "The run's logical date, as the command was given it."}
    )
    dag_run_state = NullableString(metadata={"description": "The run's state once the command ended."})
    task_instances = fields.List(
        fields.Nested(DagTestTaskInstance),
        metadata={"description": "Every task instance of the run, with its state, once the command ended."},
    )


class ComponentHealth(Data):
    status = NullableString(
        metadata={
            "enum": ["healthy", "unhealthy"],
            "description": (
                "healthy when a job of the component is alive (running, and its last heartbeat within the threshold); "
                "null when the component is not in use (a triggerer that never ran, Airflow 2's DAG processor inside "
                "the scheduler) or the database could not be read."
            ),
        }
    )
    alive_jobs = fields.Integer(
        allow_none=True, metadata={"description": "How many of its jobs are alive, as airflow jobs check counts them."}
    )
    latest_heartbeat = When(
        metadata={"format": "date-time", "description": "The latest heartbeat of its most recent job."}
    )
    hostname = NullableString(metadata={"description": "Where its most recent job runs (or ran)."})
    job_id = fields.Integer(allow_none=True, metadata={"description": "Its most recent job (Airflow's job table)."})
    health_check_threshold = fields.Float(
        allow_none=True, metadata={"description": "Seconds since the last heartbeat after which a job is not alive."}
    )
    in_use = fields.Boolean(
        metadata={
            "description": "false: this Airflow runs no such component (Airflow 2 without a standalone DAG processor)."
        }
    )


class MetadatabaseHealth(Data):
    status = fields.String(required=True, metadata={"enum": ["healthy", "unhealthy"]})
    error = NullableString(metadata={"description": "Why it is unhealthy (the error's type)."})


class Health(Data):
    metadatabase = fields.Nested(MetadatabaseHealth, required=True)
    scheduler = fields.Nested(ComponentHealth, required=True)
    triggerer = fields.Nested(ComponentHealth, required=True)
    dag_processor = fields.Nested(ComponentHealth, required=True)


# What `airflow plugins --output json` dumps of a plugin besides its name and source, on either line.
PLUGIN_PARTS = (
    "hooks",
    "executors",
    "macros",
    "admin_views",
    "flask_blueprints",
    "fastapi_apps",
    "fastapi_root_middlewares",
    "external_views",
    "react_apps",
    "menu_links",
    "appbuilder_views",
    "appbuilder_menu_items",
    "global_operator_extra_links",
    "operator_extra_links",
    "ti_deps",
    "timetables",
    "listeners",
    "priority_weight_strategies",
)


def PluginParts(**kwargs) -> fields.List:  # noqa: N802 - reads as a field class where it is used
    """One attribute of a plugin, as ``airflow plugins --output json`` shows it: a list (a class by its
    qualified name, another object as ``<its class object>``); only the attributes of this Airflow line."""
    return fields.List(fields.Raw(), **kwargs)


class Plugin(Data):
    """A loaded plugin, as ``airflow plugins --output json`` shows it: Airflow 2 and Airflow 3 dump different
    attributes (hooks, executors and ti_deps are Airflow 2's; fastapi_apps, fastapi_root_middlewares,
    external_views and react_apps Airflow 3's)."""

    name = fields.String(required=True)
    source = NullableString(
        metadata={
            "description": "Where it was loaded from: its entry point (package) or its file in the plugins folder."
        }
    )
    hooks = PluginParts()
    executors = PluginParts()
    macros = PluginParts()
    admin_views = PluginParts()
    flask_blueprints = PluginParts()
    fastapi_apps = PluginParts()
    fastapi_root_middlewares = PluginParts()
    external_views = PluginParts()
    react_apps = PluginParts()
    menu_links = PluginParts()
    appbuilder_views = PluginParts()
    appbuilder_menu_items = PluginParts()
    global_operator_extra_links = PluginParts()
    operator_extra_links = PluginParts()
    ti_deps = PluginParts()
    timetables = PluginParts()
    listeners = PluginParts()
    priority_weight_strategies = PluginParts()


class PluginList(Data):
    plugins = fields.List(fields.Nested(Plugin), required=True)
    total_entries = fields.Integer(required=True)


class Provider(Data):
    package_name = fields.String(required=True)
    version = fields.String(required=True)
    description = fields.String(required=True)


class ProviderList(Data):
    providers = fields.List(fields.Nested(Provider), required=True)
    total_entries = fields.Integer(required=True)
