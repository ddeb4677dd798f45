"""Task endpoints answered from the metadata database."""

from __future__ import annotations

from rest_api_plugin.result import CallContext, Result
from rest_api_plugin.services import serializers
from rest_api_plugin.services.dags import find_run, get_serialized_dag, get_task


def task_state(args: dict, ctx: CallContext) -> Result:
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    dag_id, task_id = args["dag_id"], args["task_id"]
    with create_session() as session:
        run = find_run(dag_id, args, session)
        get_task(get_serialized_dag(dag_id), task_id)
        ti = (
            session.query(TaskInstance)
            .filter_by(dag_id=dag_id, task_id=task_id, run_id=run.run_id, map_index=args["map_index"])
            .one_or_none()
        )
        if ti is None:  # the run exists but this task has no instance yet: the CLI prints None
            data = {"dag_id": dag_id, "task_id": task_id, "run_id": run.run_id,
                    "map_index": args["map_index"], "state": None}
        else:
            data = serializers.task_instance(ti)
    return Result(output=str(data["state"]), data=data)
