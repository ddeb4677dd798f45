"""Arguments of the DAG-run endpoints: trigger_dag, dag_state, backfill, list_runs, states_for_dag_run (which
names its run as dag_state does) and dag_test."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from rest_api_plugin.schemas.base import (
    ArgumentsSchema,
    DryRun,
    IgnoresLegacyArguments,
    Waits,
    WithLogicalDate,
    check_date_order,
)
from rest_api_plugin.schemas.dags import REQUIRED_DAG_ID
from rest_api_plugin.schemas.fields import (
    BoundedInteger,
    DagFolderPath,
    Flag,
    JsonObject,
    Key,
    LogicalDate,
    PathText,
    RunId,
    TaskRegex,
)


class TriggerDagSchema(WithLogicalDate):
    dag_id = Key("dag_id", required=True, error_messages=REQUIRED_DAG_ID)
    run_id = RunId()
    conf = JsonObject()
    replace_microseconds = Flag()  # unset: drop them from a generated date only
    subdir = PathText(500)


class DagStateSchema(WithLogicalDate):
    dag_id = Key("dag_id", required=True, error_messages=REQUIRED_DAG_ID)
    run_id = RunId()
    subdir = PathText(500)

    @validates_schema
    def run_is_named(self, data, **kwargs):
        named = [k for k in ("run_id", "execution_date", "exec_date", "logical_date") if k in data]
        if not named:
            raise ValidationError("execution_date (or run_id) is required.", "execution_date")


# The states a DAG run may be in (Airflow's DagRunState, the same on both lines).
RUN_STATES = ("queued", "running", "success", "failed")


class RunStateField(fields.String):
    """A DAG run's state, in any case (`dags list-runs --state` lowercases it)."""

    def __init__(self, **kwargs):
        super().__init__(
            validate=validate.OneOf(RUN_STATES, error=f"state must be one of {', '.join(RUN_STATES)}."), **kwargs
        )

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip().lower()


class ListRunsSchema(ArgumentsSchema):
    """``airflow dags list-runs``: the runs of one DAG, newest first, filtered and paged."""

    dag_id = Key("dag_id", required=True, error_messages=REQUIRED_DAG_ID)
    state = RunStateField()
    start_date = LogicalDate(metadata={"description": "Only runs whose logical date is this or later, ISO 8601."})
    end_date = LogicalDate(metadata={"description": "Only runs whose logical date is this or earlier, ISO 8601."})
    no_backfill = Flag(load_default=False)
    limit = BoundedInteger(
        1, metadata={"description": "At most this many runs (unset: all of them); total_entries counts them all."}
    )
    offset = BoundedInteger(
        0, load_default=0, metadata={"description": "Skip this many runs first (with limit: the page to show)."}
    )

    @validates_schema
    def dates_in_order(self, data, **kwargs):
        check_date_order(data)


# Airflow 2 backfill arguments that Airflow 3's `backfill create` has no equivalent of, and which would change
# what runs if they were ignored: refused on Airflow 3 when set (given as false, they change nothing).
BACKFILL_REFUSED_ON_AIRFLOW_3 = {
    "task_regex": "Airflow 3 backfills whole DAG runs: it cannot backfill some tasks only.",
    "mark_success": "Airflow 3 backfills run their tasks: it cannot mark them successful without running them.",
    "ignore_dependencies": "Airflow 3 backfill runs respect task dependencies.",
    "ignore_first_depends_on_past": "Airflow 3 backfill runs respect depends_on_past.",
    "pool": "Airflow 3 backfill runs use each task's own pool.",
    "rerun_failed_tasks": "Airflow 3 does not rerun failed tasks of existing runs: reprocess_behavior=failed makes "
    "new runs for the dates whose run failed.",
    "reset_dagruns": "Airflow 3 does not reset existing runs: reprocess_behavior=completed makes new runs for "
    "the dates that already have a finished run.",
    "disable_retry": "Airflow 3 backfill runs retry their tasks as the tasks say.",
}
# ... and those that mean nothing there: the runs' own executor is the scheduler's (local), every run goes on
# whatever another does (continue_on_failures), the DAG comes from its bundle (subdir).
BACKFILL_IGNORED_ON_AIRFLOW_3 = ("local", "continue_on_failures", "subdir")


class BackfillSchema(IgnoresLegacyArguments, DryRun, Waits):
    """``airflow dags backfill`` on Airflow 2, ``airflow backfill create`` on Airflow 3 (one date is both ends
    of the range, as the Airflow 2 command takes it)."""

    dag_id = Key("dag_id", required=True, error_messages=REQUIRED_DAG_ID)
    task_regex = TaskRegex()
    start_date = LogicalDate()
    end_date = LogicalDate()
    mark_success = Flag()
    local = Flag()
    ignore_dependencies = Flag()
    ignore_first_depends_on_past = Flag()
    pool = Key("pool name")
    subdir = DagFolderPath()
    conf = JsonObject()
    rerun_failed_tasks = Flag()
    reset_dagruns = Flag()
    run_backwards = Flag()
    continue_on_failures = Flag()
    disable_retry = Flag()
    donot_pickle = Flag()
    include_adhoc = Flag()
    max_active_runs = fields.Integer(
        strict=False,
        validate=validate.Range(min=1, max=10_000),
        metadata={
            "description": "Airflow 3 only: at most this many runs of the backfill at once (default: the DAG's "
            "max_active_runs)."
        },
    )
    reprocess_behavior = fields.String(
        validate=validate.OneOf(("none", "completed", "failed")),
        metadata={
            "description": "Airflow 3 only, for dates that already have a run: none (skip them, the default), failed "
            "(a new run where the run failed) or completed (a new run where the run finished)."
        },
    )

    IGNORED = ("donot_pickle", "include_adhoc")
    IGNORED_ON_AIRFLOW_3 = BACKFILL_IGNORED_ON_AIRFLOW_3
    REFUSED_ON_AIRFLOW_3 = {
        name: f"{name} is not supported on Airflow 3. {reason}"
        for name, reason in BACKFILL_REFUSED_ON_AIRFLOW_3.items()
    }
    AIRFLOW_3_ONLY = ("max_active_runs", "reprocess_behavior")

    @validates_schema
    def dates_given_in_order(self, data, **kwargs):
        if "start_date" not in data and "end_date" not in data:
            raise ValidationError("Give start_date, end_date or both.", "start_date")
        check_date_order(data)


class DagTestSchema(WithLogicalDate, IgnoresLegacyArguments, Waits):
    """``airflow dags test``: one whole run of the DAG in one process, at the logical date given (else now, as
    the CLI takes it). On Airflow 3 ``subdir`` is ignored: the DAG comes from its bundle."""

    dag_id = Key("dag_id", required=True, error_messages=REQUIRED_DAG_ID)
    conf = JsonObject()
    mark_success_pattern = TaskRegex(
        metadata={
            "description": "A Python regular expression: the tasks whose id "
            "it matches whole are marked successful, not run."
        }
    )
    use_executor = Flag(
        metadata={
            "description": "Run the tasks with the configured executor (by default the "
            "command runs them itself, without one)."
        }
    )
    subdir = DagFolderPath(
        metadata={
            "description": "A file or folder inside the DAGs folder (ignored on Airflow 3, "
            "where the DAG comes from its bundle)."
        }
    )
    wait = Flag(load_default=True)

    IGNORED_ON_AIRFLOW_3 = ("subdir",)
