"""Arguments shared by commands that run as processes, and of the daemon and jobs endpoints."""

from __future__ import annotations

import re

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from rest_api_plugin.airflow_compat import AIRFLOW_3
from rest_api_plugin.schemas.base import ArgumentsSchema
from rest_api_plugin.schemas.fields import BoundedInteger, Flag, Key, PathText, Text

MAX_WAIT_SECONDS = 3600
QUEUES = re.compile(r"^[\w.-]+(,[\w.-]+)*$")
HOSTNAME = re.compile(r"^[A-Za-z0-9_.:\[\]-]{1,255}$")
CELERY_HOSTNAME = re.compile(r"^[\w.@%:-]{1,255}$")  # e.g. worker1@%h


class DagFolderPath(PathText):
    """``subdir``: a file or folder inside the DAGs folder (relative paths are taken from it)."""

    def __init__(self, **kwargs):
        super().__init__(1000, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        from rest_api_plugin.dag_folder import inside_dags_folder

        text = super()._deserialize(value, attr, data, **kwargs)
        path = inside_dags_folder(text) if text.strip() and len(text) <= 1000 else None
        if path is None:
            raise ValidationError("subdir must be a path inside the DAGs folder.")
        return str(path)


class WholeDagsFolder(DagFolderPath):
    """The scheduler's ``subdir``: only the DAGs folder itself. A scheduler given a part of it deactivates
    every DAG whose file lies outside that part."""

    def _deserialize(self, value, attr, data, **kwargs):
        from rest_api_plugin.dag_folder import dags_folder

        path = super()._deserialize(value, attr, data, **kwargs)
        if path != str(dags_folder()):
            raise ValidationError("The scheduler's subdir may only be the DAGs folder itself: a scheduler given a "
                                  "part of it deactivates every DAG outside that part.")
        return path


class IgnoresLegacyArguments(ArgumentsSchema):
    """Accepts arguments the original plugin had that mean nothing on Airflow 2, and lists them.

    A subclass names its ignored fields in ``IGNORED``; the ones given end up in ``args["ignored"]``.
    ``IGNORED_ON_AIRFLOW_3`` names those ignored on Airflow 3 only (their help says so: the docs are the same
    for both lines); ``AIRFLOW_3_ONLY`` those refused (400) on Airflow 2.
    """

    IGNORED: tuple[str, ...] = ()
    IGNORED_ON_AIRFLOW_3: tuple[str, ...] = ()
    AIRFLOW_3_ONLY: tuple[str, ...] = ()

    @validates_schema
    def no_airflow_3_only_argument_on_airflow_2(self, data, **kwargs):
        if not AIRFLOW_3:
            given = [name for name in self.AIRFLOW_3_ONLY if data.get(name) is not None]
            if given:
                raise ValidationError({name: [f"{name} exists on Airflow 3 only."] for name in given})

    @post_load
    def collect_ignored(self, data, **kwargs):
        ignored = []
        for name in (*self.IGNORED, *(self.IGNORED_ON_AIRFLOW_3 if AIRFLOW_3 else ())):
            if name in data:
                data.pop(name)
                ignored.append(self.fields[name].data_key or name)
        data["ignored"] = ignored
        return data


class DaemonLegacy(IgnoresLegacyArguments):
    """The original daemons' process options: the plugin manages the process itself on Airflow 2."""

    pid = PathText(1000)
    daemon = Flag()
    stdout = PathText(1000)
    stderr = PathText(1000)
    log_file = PathText(1000, data_key="log-file")

    IGNORED = ("pid", "daemon", "stdout", "stderr", "log_file")


class Waits(ArgumentsSchema):
    """``wait=true`` waits for the job (at most ``timeout`` seconds, bounded by the CLI timeout)."""

    wait = Flag(load_default=False)
    timeout = fields.Integer(strict=False, validate=validate.Range(min=1, max=MAX_WAIT_SECONDS))


class SchedulerSchema(DaemonLegacy, Waits):
    """On Airflow 3 the scheduler parses no DAG file (the dag-processor does: api=dag_processor) and pickles
    nothing: ``subdir`` and ``do_pickle`` are ignored there."""

    dag_id = Key("dag_id")  # the Airflow 1 scheduler's -d; Airflow 2's scheduler has none
    subdir = WholeDagsFolder()
    num_runs = BoundedInteger(-1)
    run_duration = BoundedInteger(-1, data_key="run-duration")
    do_pickle = Flag()
    skip_serve_logs = Flag()

    IGNORED = (*DaemonLegacy.IGNORED, "dag_id", "run_duration")
    IGNORED_ON_AIRFLOW_3 = ("subdir", "do_pickle")


class DagProcessorSchema(DaemonLegacy, Waits):
    """``airflow dag-processor``: on Airflow 2 the standalone DAG processor (``subdir``: only the DAGs folder
    itself, as for the scheduler), on Airflow 3 the one that parses every DAG bundle, or one (``bundle_name``)."""

    num_runs = BoundedInteger(-1, metadata={"description": "Parse the DAG files this many times, then exit "
                                                           "(-1, the default: run until stopped)."})
    bundle_name = Key("bundle name", metadata={"description": "Airflow 3 only: parse only this DAG bundle "
                                                               "([dag_processor] dag_bundle_config_list names them)."})
    subdir = WholeDagsFolder(metadata={"description": "Airflow 2: only the DAGs folder itself, as for the scheduler "
                                                      "(ignored on Airflow 3, which reads DAG bundles)."})

    IGNORED_ON_AIRFLOW_3 = ("subdir",)
    AIRFLOW_3_ONLY = ("bundle_name",)


class WorkerSchema(DaemonLegacy, Waits):
    queues = fields.String(validate=validate.Regexp(QUEUES, error="queues is a comma-separated list of names."))
    concurrency = fields.Integer(strict=False, validate=validate.Range(min=1, max=1000))
    hostname = fields.String(validate=validate.Regexp(CELERY_HOSTNAME, error="Not a valid Celery node name."))
    do_pickle = Flag()  # Airflow 1 only

    IGNORED = (*DaemonLegacy.IGNORED, "do_pickle")


class FlowerSchema(DaemonLegacy, Waits):
    hostname = fields.String(validate=validate.Regexp(HOSTNAME, error="Not a valid host name."))
    port = fields.Integer(strict=False, validate=validate.Range(min=1, max=65535))
    broker_api = Text(1000)
    url_prefix = Text(200)
    flower_conf = PathText(1000)  # a config file read by flower: not taken from a web request

    IGNORED = (*DaemonLegacy.IGNORED, "flower_conf")


class KerberosSchema(DaemonLegacy, Waits):
    principal = Text(500)
    keytab = PathText(1000)


class ServeLogsSchema(DaemonLegacy, Waits):
    pass


class JobsSchema(ArgumentsSchema):
    job_id = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_.-]{1,100}$", error="Not a job id."))
    lines = fields.Integer(strict=False, load_default=100, validate=validate.Range(min=1, max=10_000))


class StopJobSchema(ArgumentsSchema):
    job_id = fields.String(
        required=True,
        error_messages={"required": "job_id is required."},
        validate=validate.Regexp(r"^[A-Za-z0-9_.-]{1,100}$", error="Not a job id."),
    )


