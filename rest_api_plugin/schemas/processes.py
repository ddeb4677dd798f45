"""Arguments of the daemon and jobs endpoints (what commands run as processes share is in base.py)."""

from __future__ import annotations

import re

from marshmallow import fields, validate

from rest_api_plugin.schemas.base import ArgumentsSchema, IgnoresLegacyArguments, Waits
from rest_api_plugin.schemas.fields import BoundedInteger, Flag, Key, PathText, Text, WholeDagsFolder

QUEUES = re.compile(r"^[\w.-]+(,[\w.-]+)*$")
HOSTNAME = re.compile(r"^[A-Za-z0-9_.:\[\]-]{1,255}$")
CELERY_HOSTNAME = re.compile(r"^[\w.@%:-]{1,255}$")  # e.g. worker1@%h


class DaemonLegacy(IgnoresLegacyArguments):
    """The original daemons' process options: the plugin manages the process itself on Airflow 2."""

    pid = PathText(1000)
    daemon = Flag()
    stdout = PathText(1000)
    stderr = PathText(1000)
    log_file = PathText(1000, data_key="log-file")

    IGNORED = ("pid", "daemon", "stdout", "stderr", "log_file")


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

    num_runs = BoundedInteger(
        -1,
        metadata={
            "description": "Parse the DAG files this many times, then exit (-1, the default: run until stopped)."
        },
    )
    bundle_name = Key(
        "bundle name",
        metadata={
            "description": "Airflow 3 only: parse only this DAG bundle "
            "([dag_processor] dag_bundle_config_list names them)."
        },
    )
    subdir = WholeDagsFolder(
        metadata={
            "description": "Airflow 2: only the DAGs folder itself, as for the scheduler "
            "(ignored on Airflow 3, which reads DAG bundles)."
        }
    )

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


class TriggererSchema(DaemonLegacy, Waits):
    """``airflow triggerer``: runs the deferred tasks' triggers (``capacity``: at most that many at once)."""

    capacity = BoundedInteger(
        1, metadata={"description": "The most triggers it runs at once (default: [triggerer] capacity)."}
    )
    skip_serve_logs = Flag()
    queues = fields.String(
        validate=validate.Regexp(QUEUES, error="queues is a comma-separated list of names."),
        metadata={
            "description": "Airflow 3 only: the comma-separated task queues whose "
            "triggers it runs (default: every queue)."
        },
    )

    AIRFLOW_3_ONLY = ("queues",)


class JobsSchema(ArgumentsSchema):
    job_id = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_.-]{1,100}$", error="Not a job id."))
    lines = fields.Integer(strict=False, load_default=100, validate=validate.Range(min=1, max=10_000))
    limit = BoundedInteger(
        1,
        metadata={
            "description": "At most this many jobs, newest first (unset: all of them); total_entries counts them all."
        },
    )
    offset = BoundedInteger(
        0, load_default=0, metadata={"description": "Skip this many jobs first (with limit: the page to show)."}
    )


class StopJobSchema(ArgumentsSchema):
    job_id = fields.String(
        required=True,
        error_messages={"required": "job_id is required."},
        validate=validate.Regexp(r"^[A-Za-z0-9_.-]{1,100}$", error="Not a job id."),
    )
