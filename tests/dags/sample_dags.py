"""DAGs the test suite and the demo webserver use."""

from datetime import datetime

from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.operators.empty import EmptyOperator

with DAG(
    dag_id="sample_dag",
    start_date=datetime(2024, 1, 1),
    schedule=None,
    catchup=False,
    tags=["rest_api_plugin"],
    description="Two tasks: extract then load.",
) as sample_dag:
    extract = BashOperator(task_id="extract", bash_command="echo extract {{ ds }}")
    load = EmptyOperator(task_id="load")
    extract >> load

with DAG(
    dag_id="other_dag",
    default_args={"start_date": datetime(2024, 1, 1)},
    schedule="@daily",
    catchup=False,
    tags=["rest_api_plugin"],
) as other_dag:
    EmptyOperator(task_id="only_task")
