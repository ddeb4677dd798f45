"""Long-running Airflow processes as background jobs: scheduler, DAG processor, celery worker and flower,
kerberos, the log server, the triggerer; and the jobs and stop_job endpoints, which show and stop only the
caller's jobs (see ``jobs.py``)."""

from __future__ import annotations

import importlib.util

from rest_api_plugin import security
from rest_api_plugin.airflow_compat import this_line
from rest_api_plugin.errors import Conflict, Forbidden
from rest_api_plugin.processes import commands, jobs
from rest_api_plugin.processes.argv import option, positional
from rest_api_plugin.processes.jobs import run_job
from rest_api_plugin.result import CallContext, Result

line_commands = this_line("commands")

KERBEROS_MISSING = "kerberos is not available: pip install 'apache-airflow[kerberos]'"
CELERY_MISSING = "The celery commands are not available: pip install 'apache-airflow-providers-celery'"


# --- the equivalent CLI commands ---


def scheduler_argv(args: dict) -> list[str]:
    return [
        "scheduler",
        *option("--num-runs", args.get("num_runs")),
        *option("--do-pickle", args.get("do_pickle")),  # ignored on Airflow 3 (the schema)
        *option("--skip-serve-logs", args.get("skip_serve_logs")),
        *option("--subdir", args.get("subdir")),  # ignored on Airflow 3 (the schema)
    ]


def dag_processor_argv(args: dict) -> list[str]:
    return [
        "dag-processor",
        *option("--num-runs", args.get("num_runs")),
        *option("--bundle-name", args.get("bundle_name")),  # Airflow 3
        *option("--subdir", args.get("subdir")),  # Airflow 2
    ]


def worker_argv(args: dict) -> list[str]:
    return [
        "celery",
        "worker",
        *option("--queues", args.get("queues")),
        *option("--concurrency", args.get("concurrency")),
        *option("--celery-hostname", args.get("hostname")),
    ]


def flower_argv(args: dict) -> list[str]:
    return [
        "celery",
        "flower",
        *option("--hostname", args.get("hostname")),
        *option("--port", args.get("port")),
        *option("--broker-api", args.get("broker_api")),
        *option("--url-prefix", args.get("url_prefix")),
    ]


def kerberos_argv(args: dict) -> list[str]:
    principal = [positional(args["principal"])] if args.get("principal") else []
    return ["kerberos", *option("--keytab", args.get("keytab")), *principal]


def triggerer_argv(args: dict) -> list[str]:
    return [
        "triggerer",
        *option("--capacity", args.get("capacity")),
        *option("--skip-serve-logs", args.get("skip_serve_logs")),
        *option("--queues", args.get("queues")),  # Airflow 3 only (the schema refuses it on Airflow 2)
    ]


# --- endpoints ---


def scheduler(args: dict, ctx: CallContext) -> Result:
    return run_job("scheduler", scheduler_argv(args), args, ctx)


def dag_processor(args: dict, ctx: CallContext) -> Result:
    line_commands.check_dag_processor()  # Airflow 2: the standalone DAG processor must be on, and not on SQLite
    return run_job("dag_processor", dag_processor_argv(args), args, ctx)


def _require_celery() -> None:
    from airflow.configuration import conf

    if importlib.util.find_spec("airflow.providers.celery") is None:
        raise Conflict(CELERY_MISSING)
    executor = conf.get("core", "executor")
    if "celery" not in executor.lower():
        raise Conflict(
            f"airflow celery needs a Celery executor ([core] executor = CeleryExecutor); this Airflow uses {executor}"
        )
    try:
        importlib.import_module("airflow.providers.celery.executors.celery_executor")
    except Exception as err:
        raise Conflict(
            f"The celery provider does not load ({type(err).__name__}: {err}): "
            "install a celery version that matches apache-airflow-providers-celery"
        ) from err


def worker(args: dict, ctx: CallContext) -> Result:
    _require_celery()
    return run_job("worker", worker_argv(args), args, ctx)


def flower(args: dict, ctx: CallContext) -> Result:
    _require_celery()
    return run_job("flower", flower_argv(args), args, ctx)


def kerberos(args: dict, ctx: CallContext) -> Result:
    if importlib.util.find_spec("kerberos") is None:
        raise Conflict(KERBEROS_MISSING)
    return run_job("kerberos", kerberos_argv(args), args, ctx)


def serve_logs(args: dict, ctx: CallContext) -> Result:
    return run_job("serve_logs", commands.serve_logs_argv(), args, ctx)


def triggerer(args: dict, ctx: CallContext) -> Result:
    return run_job("triggerer", triggerer_argv(args), args, ctx)


def list_jobs(args: dict, ctx: CallContext) -> Result:
    if args.get("job_id"):
        job = jobs.describe(jobs.find(args["job_id"], ctx.identity), tail_lines=args["lines"])
        return Result(output=_with_output(job), data=job)
    found, total = jobs.page_for(ctx.identity, limit=args.get("limit"), offset=args.get("offset") or 0)
    return Result(
        output="\n".join(_summary(job) for job in found) or "No jobs", data={"jobs": found, "total_entries": total}
    )


def _summary(job: dict) -> str:
    ended = f" exit_code={job['exit_code']}" if job["exit_code"] is not None else ""
    ended += f" signal={job['signal']}" if job["signal"] else ""
    return f"{job['job_id']}: {job['state']}{ended} pid={job['pid']} started={job['started_at']} {job['command']}"


def _with_output(job: dict) -> str:
    """The summary, then the job's stdout and stderr as two labelled sections."""
    if job["stderr"] is None:
        sections = [("stdout and stderr (one log: a job started by an earlier version)", job["stdout"])]
    else:
        sections = [("stdout", job["stdout"]), ("stderr", job["stderr"])]
    return "\n".join([_summary(job), *(f"--- {label} ---\n{text}".rstrip("\n") for label, text in sections)])


def stop_job(args: dict, ctx: CallContext) -> Result:
    record = jobs.find(args["job_id"], ctx.identity)
    if not jobs.may_stop(ctx.identity, record):
        raise Forbidden(
            f"{security.who(ctx.identity)} may not stop job {record['job_id']}: it was started by "
            f"{record.get('requested_by')}, and stopping it needs edit access to DAG {record['dag_id']}"
        )
    job, said = jobs.stop(record, requested_by=ctx.identity.name)
    if job["state"] == "running":  # its runner has not recorded the end yet: it acts on the request when it can
        return Result(
            output=f"Job {job['job_id']}: stop requested, not ended yet: {_summary(job)}", data=job, http_status=202
        )
    return Result(output=f"{said}: {_summary(job)}", data=job)
