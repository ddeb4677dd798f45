"""The endpoints that read DAGs and runs in-process (issue 19): list_runs, states_for_dag_run, dag_details,
next_execution, list_import_errors and show_dag: their answers' shape, what the CLI prints, bad input, per-DAG
access and masked params."""

from __future__ import annotations

import base64
import shutil
from datetime import timedelta

import pytest

from tests.airflow_line import AIRFLOW_3, trigger
from tests.app.test_named_tokens import SCOPED, tokens_file, with_token
from tests.helpers import dag_files_restored, write_dag_file

__all__ = ["tokens_file"]  # a fixture shared with test_named_tokens

GRAPH_DAG = """
from datetime import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator

try:  # Airflow 3
    from airflow.sdk import Label, Param, TaskGroup
except ImportError:  # Airflow 2
    from airflow.models.param import Param
    from airflow.utils.edgemodifier import Label
    from airflow.utils.task_group import TaskGroup

with DAG(
    dag_id="graph_dag",
    start_date=datetime(2024, 1, 1),
    schedule="@daily",
    catchup=False,
    tags=["reading", "graph"],
    default_args={"owner": "data-team"},
    params={
        "region": "eu-west",
        "api_token": Param("tok-9f8e7d6c", type="string"),
        "settings": {"password": "pw-5a4b3c", "size": 3},
    },
):
    start = EmptyOperator(task_id="start")
    with TaskGroup("transform") as transform:
        EmptyOperator(task_id="clean") >> EmptyOperator(task_id="merge")
    start >> Label("then") >> transform >> EmptyOperator(task_id="end")
"""
SECRETS = ("tok-9f8e7d6c", "pw-5a4b3c")
LOGICAL_DATE = "2024-03-01T00:00:00+00:00"


@pytest.fixture(scope="module")
def graph_dag(app):
    """graph_dag (params, a task group, an edge label, a daily schedule), stored as the DAG processor would;
    removed afterwards."""
    with dag_files_restored():
        write_dag_file("graph_dag.py", GRAPH_DAG)
        yield "graph_dag"


def make_runs(dag_id: str = "sample_dag") -> list:
    """Three runs of ``dag_id`` a day apart (run_0 first); run_1 succeeded, with a task that ran."""
    from airflow.models import DagRun, TaskInstance
    from airflow.utils.session import create_session

    from rest_api_plugin.airflow_compat import timezone

    first = timezone.parse(LOGICAL_DATE)
    for n in range(3):
        trigger(dag_id, run_id=f"run_{n}", logical_date=first + timedelta(days=n))
    with create_session() as session:
        session.query(DagRun).filter_by(dag_id=dag_id, run_id="run_1").update({DagRun.state: "success"})
        session.query(TaskInstance).filter_by(dag_id=dag_id, run_id="run_1", task_id="extract").update(
            {TaskInstance.state: "success", TaskInstance.start_date: first, TaskInstance.end_date: first},
            synchronize_session=False,
        )
    return ["run_0", "run_1", "run_2"]


def ok(answer) -> dict:
    body = answer.get_json()
    assert answer.status_code == 200 and body["status"] == "OK", body
    return body


def refused(answer, status: int) -> dict:
    body = answer.get_json()
    assert (answer.status_code, body["status"], body["http_response_code"]) == (status, "ERROR", status), body
    return body


class TestListRuns:
    def test_newest_first_with_the_cli_table(self, call):
        make_runs()
        body = ok(call("list_runs", dag_id="sample_dag"))
        assert [run["run_id"] for run in body["data"]["runs"]] == ["run_2", "run_1", "run_0"]
        assert body["data"]["total_entries"] == 3
        first = body["data"]["runs"][2]
        assert first["logical_date"] == LOGICAL_DATE and first["conf"] == {}
        assert {"dag_id", "run_id", "state", "run_type", "start_date", "end_date", "run_after"} <= set(first)
        lines = body["output"]["stdout"].splitlines()
        date_column = "logical_date" if AIRFLOW_3 else "execution_date"
        assert lines[0].split() == [
            "dag_id",
            "run_id",
            "state",
            *(["run_after"] if AIRFLOW_3 else []),
            date_column,
            "start_date",
            "end_date",
        ]
        assert lines[1].split()[:3] == ["sample_dag", "run_2", "queued"]
        assert body["airflow_cmd"] == "airflow dags list-runs sample_dag"

    def test_filters_and_paging_in_one_select(self, call):
        make_runs()
        body = ok(call("list_runs", dag_id="sample_dag", state="SUCCESS"))
        assert [run["run_id"] for run in body["data"]["runs"]] == ["run_1"]
        body = ok(call("list_runs", dag_id="sample_dag", start_date="2024-03-02", end_date="2024-03-03"))
        assert [run["run_id"] for run in body["data"]["runs"]] == ["run_2", "run_1"]
        assert "--start-date 2024-03-02T00:00:00+00:00" in body["airflow_cmd"]
        body = ok(call("list_runs", dag_id="sample_dag", limit="1", offset="1"))
        assert [run["run_id"] for run in body["data"]["runs"]] == ["run_1"]
        assert body["data"]["total_entries"] == 3

    def test_the_runs_are_read_by_a_constant_number_of_queries(self, call):
        from rest_api_plugin.airflow_compat import timezone
        from tests.app.test_dags import statements_counted

        make_runs()
        with statements_counted() as counted:
            ok(call("list_runs", dag_id="sample_dag", state="queued"))
        few = counted()
        for n in range(3, 8):
            trigger("sample_dag", run_id=f"more_{n}", logical_date=timezone.parse(LOGICAL_DATE) + timedelta(days=n))
        with statements_counted() as counted:
            assert len(ok(call("list_runs", dag_id="sample_dag", state="queued"))["data"]["runs"]) == 7
        assert counted() == few

    def test_no_run_is_an_empty_list(self, call):
        body = ok(call("list_runs", dag_id="other_dag"))
        assert body["data"] == {"dag_id": "other_dag", "runs": [], "total_entries": 0}

    def test_unknown_dag_is_404(self, call):
        assert "no_such_dag" in refused(call("list_runs", dag_id="no_such_dag"), 404)["output"]

    @pytest.mark.parametrize(
        "args, field",
        [
            ({"state": "sleeping"}, "state"),
            ({"start_date": "yesterday-ish"}, "start_date"),
            ({"start_date": "2024-03-05", "end_date": "2024-03-01"}, "end_date"),
            ({"limit": "0"}, "limit"),
            ({"offset": "-1"}, "offset"),
            ({"no_backfill": "maybe"}, "no_backfill"),
        ],
    )
    def test_bad_filters_are_400(self, call, args, field):
        body = refused(call("list_runs", dag_id="sample_dag", **args), 400)
        assert field in body["output"]

    def test_dag_id_is_required(self, call):
        assert "dag_id is required" in refused(call("list_runs"), 400)["output"]


class TestStatesForDagRun:
    def test_every_task_instance_of_the_run(self, call):
        make_runs()
        body = ok(call("states_for_dag_run", dag_id="sample_dag", run_id="run_1"))
        data = body["data"]
        assert (data["dag_id"], data["run_id"], data["state"]) == ("sample_dag", "run_1", "success")
        assert data["logical_date"] == "2024-03-02T00:00:00+00:00"
        assert [(ti["task_id"], ti["map_index"], ti["state"]) for ti in data["task_instances"]] == [
            ("extract", -1, "success"),
            ("load", -1, None),
        ]
        lines = body["output"]["stdout"].splitlines()
        assert lines[0].split() == [
            "dag_id",
            "logical_date" if AIRFLOW_3 else "execution_date",
            "task_id",
            "state",
            "start_date",
            "end_date",
        ]
        assert lines[1].split()[:4] == ["sample_dag", "2024-03-02T00:00:00+00:00", "extract", "success"]

    def test_a_run_with_mapped_task_instances_gets_the_map_index_column(self, call):
        from airflow.models import TaskInstance
        from airflow.utils.session import create_session

        make_runs()
        with create_session() as session:  # load as if mapped: its instance 0
            session.query(TaskInstance).filter_by(dag_id="sample_dag", run_id="run_1", task_id="load").update(
                {TaskInstance.map_index: 0}, synchronize_session=False
            )
        body = ok(call("states_for_dag_run", dag_id="sample_dag", run_id="run_1"))
        assert [(ti["task_id"], ti["map_index"]) for ti in body["data"]["task_instances"]] == [
            ("extract", -1),
            ("load", 0),
        ]
        lines = body["output"]["stdout"].splitlines()
        assert lines[0].split()[-1] == "map_index" and lines[2].split()[-1] == "0"

    def test_the_run_by_its_logical_date_as_dag_state_finds_it(self, call):
        make_runs()
        body = ok(call("states_for_dag_run", dag_id="sample_dag", execution_date="2024-03-02T00:00:00"))
        assert body["data"]["run_id"] == "run_1"
        assert body["airflow_cmd"] == "airflow tasks states-for-dag-run sample_dag 2024-03-02T00:00:00+00:00"

    @pytest.mark.parametrize(
        "args",
        [
            {"dag_id": "no_such_dag", "run_id": "run_1"},
            {"dag_id": "sample_dag", "run_id": "no_such_run"},
            {"dag_id": "sample_dag", "execution_date": "2020-01-01"},
        ],
    )
    def test_unknown_dag_or_run_is_404(self, call, args):
        make_runs()
        refused(call("states_for_dag_run", **args), 404)

    def test_the_run_must_be_named(self, call):
        assert (
            "execution_date (or run_id) is required"
            in refused(call("states_for_dag_run", dag_id="sample_dag"), 400)["output"]
        )


class TestDagDetails:
    def test_the_attributes_the_cli_shows_and_the_first_fields(self, call, graph_dag):
        body = ok(call("dag_details", dag_id=graph_dag))
        data = body["data"]
        assert data["dag_id"] == "graph_dag"
        assert data["fileloc"].endswith("graph_dag.py")
        assert data["owners"] == ["data-team"] and data["tags"] == ["graph", "reading"]
        # Airflow 3 summarizes the timetable: @daily is a CronTriggerTimetable there
        assert data["schedule"] == ("0 0 * * *" if AIRFLOW_3 else "@daily")
        assert data["is_paused"] is True and data["is_active"] is True
        assert data["last_parsed_time"] and data["next_dagrun"] and data["next_dagrun_create_after"]
        attributes = data["attributes"]
        assert attributes["dag_id"] == "graph_dag" and attributes["fileloc"] == data["fileloc"]
        assert ("is_stale" if AIRFLOW_3 else "is_active") in attributes
        lines = body["output"]["stdout"].splitlines()
        assert lines[0].split() == ["property_name", "property_value"]
        assert any(line.split() == ["dag_id", "graph_dag"] for line in lines)
        assert body["airflow_cmd"] == "airflow dags details graph_dag"

    def test_params_whose_name_names_a_secret_are_masked(self, call, graph_dag):
        body = ok(call("dag_details", dag_id=graph_dag))
        assert body["data"]["params"] == {
            "region": "eu-west",
            "api_token": "***",
            "settings": {"password": "***", "size": 3},
        }
        text = str(body)
        assert not any(secret in text for secret in SECRETS)

    def test_a_dag_without_schedule(self, call):
        data = ok(call("dag_details", dag_id="sample_dag"))["data"]
        assert data["schedule"] is None and data["next_dagrun"] is None and data["params"] == {}
        assert data["description"] == "Two tasks: extract then load."

    def test_unknown_dag_is_404(self, call):
        refused(call("dag_details", dag_id="no_such_dag"), 404)

    def test_a_bad_dag_id_is_400(self, call):
        assert "dag_id" in refused(call("dag_details", dag_id="no such dag"), 400)["output"]


class TestNextExecution:
    def test_the_next_runs_of_a_paused_dag_with_the_cli_reminder(self, call):
        body = ok(call("next_execution", dag_id="other_dag", num_executions="3"))
        runs = body["data"]["next_executions"]
        assert body["data"]["is_paused"] is True and len(runs) == 3
        starts = [run["data_interval_start"] for run in runs]
        assert starts == sorted(starts) and len(set(starts)) == 3
        # Airflow 3's @daily triggers at a moment: its data interval is empty
        assert all(run["data_interval_end"] >= run["data_interval_start"] for run in runs)
        if AIRFLOW_3:
            assert all(run["run_after"] for run in runs)
        assert body["output"]["stdout"].splitlines() == [run["logical_date"] for run in runs]
        assert body["output"]["stderr"] == "[INFO] Please be reminded this DAG is PAUSED now.\n"
        assert body["airflow_cmd"] == "airflow dags next-execution --num-executions 3 other_dag"

    def test_one_by_default_and_no_reminder_when_active(self, call):
        ok(call("unpause", dag_id="other_dag"))
        body = ok(call("next_execution", dag_id="other_dag"))
        assert len(body["data"]["next_executions"]) == 1 and body["data"]["is_paused"] is False
        assert body["output"]["stderr"] == ""

    def test_a_dag_without_schedule_has_none(self, call):
        body = ok(call("next_execution", dag_id="sample_dag", num_executions="2"))
        assert body["data"]["next_executions"] == []
        assert body["output"]["stdout"] == "None\n"
        assert "No following schedule can be found" in body["output"]["stderr"]

    @pytest.mark.parametrize("value", ["0", "-1", "1001", "many"])
    def test_a_bad_count_is_400(self, call, value):
        assert (
            "num_executions" in refused(call("next_execution", dag_id="other_dag", num_executions=value), 400)["output"]
        )

    def test_unknown_dag_is_404(self, call):
        refused(call("next_execution", dag_id="no_such_dag"), 404)


@pytest.fixture
def import_errors(app):
    """An import error in sample_dag's file and one in a file holding no DAG the limited callers may read."""
    from airflow.models import DagModel
    from airflow.utils.session import create_session

    from rest_api_plugin.airflow_compat import import_error_model, timezone

    model_class = import_error_model()
    with create_session() as session:
        model = session.get(DagModel, "sample_dag")
        sample_file = model.relative_fileloc if AIRFLOW_3 else model.fileloc
        for filename in (sample_file, "elsewhere/secret_dag.py"):
            extra = {"bundle_name": "dags-folder"} if AIRFLOW_3 else {}
            session.add(
                model_class(
                    filename=filename,
                    stacktrace=f"Traceback\n  Error in {filename}",
                    timestamp=timezone.utcnow(),
                    **extra,
                )
            )
    yield sample_file
    with create_session() as session:
        session.query(model_class).delete()


class TestListImportErrors:
    def test_every_error_for_who_may_read_every_dag(self, call, import_errors):
        body = ok(call("list_import_errors"))
        assert body["data"]["total_entries"] == 2
        assert sorted(error["filename"] for error in body["data"]["import_errors"]) == sorted(
            [import_errors, "elsewhere/secret_dag.py"]
        )
        lines = body["output"]["stdout"].splitlines()
        assert lines[0].split() == [*(["bundle_name"] if AIRFLOW_3 else []), "filepath", "error"]
        assert any("Error in elsewhere/secret_dag.py" in line for line in lines)

    def test_a_caller_limited_to_one_dag_sees_its_files_errors_only(self, call, import_errors):
        body = ok(call("list_import_errors", who="limited"))
        assert [error["filename"] for error in body["data"]["import_errors"]] == [import_errors]
        assert "secret_dag" not in str(body)

    def test_a_token_limited_to_some_dags_sees_their_files_errors_only(self, call, import_errors, tokens_file):
        body = ok(with_token(call, SCOPED, "list_import_errors"))
        assert [error["filename"] for error in body["data"]["import_errors"]] == [import_errors]
        assert "secret_dag" not in str(body)

    def test_none_is_an_empty_list(self, call):
        body = ok(call("list_import_errors"))
        assert body["data"] == {"import_errors": [], "total_entries": 0}
        assert body["output"]["stdout"] == ""


class TestShowDag:
    def test_the_dot_text_nodes_and_edges(self, call, graph_dag):
        body = ok(call("show_dag", dag_id=graph_dag))
        dot = body["output"]["stdout"]
        assert dot.startswith("digraph graph_dag {\n\tgraph [label=graph_dag labelloc=t rankdir=LR]\n")
        assert "\tsubgraph cluster_transform {\n" in dot
        assert '\tstart -> "transform.upstream_join_id" [label=then]\n' in dot
        data = body["data"]
        assert {(node["id"], node["kind"], node["group"]) for node in data["nodes"]} == {
            ("start", "task", None),
            ("end", "task", None),
            ("transform.clean", "task", "transform"),
            ("transform.merge", "task", "transform"),
            ("transform.upstream_join_id", "join", "transform"),
            ("transform.downstream_join_id", "join", "transform"),
        }
        assert {"source": "start", "target": "transform.upstream_join_id", "label": "then"} in data["edges"]
        assert {"source": "transform.clean", "target": "transform.merge", "label": None} in data["edges"]
        assert "svg" not in data
        assert body["airflow_cmd"] == "airflow dags show graph_dag"

    @pytest.mark.skipif(not shutil.which("dot"), reason="Graphviz's dot is not installed (apt-get install graphviz)")
    def test_svg_is_drawn_by_graphviz(self, call):
        body = ok(call("show_dag", dag_id="sample_dag", format="svg"))
        svg = body["data"]["svg"]
        assert "<svg" in svg and ">extract</text>" in svg and ">load</text>" in svg
        assert body["airflow_cmd"] == "airflow dags show sample_dag --save sample_dag.svg"

    def test_svg_without_graphviz_is_409_saying_what_to_install(self, call, monkeypatch):
        monkeypatch.setenv("PATH", "/nonexistent")
        body = refused(call("show_dag", dag_id="sample_dag", format="svg"), 409)
        assert "apt-get install graphviz" in body["output"]

    def test_a_bad_format_is_400(self, call):
        assert "format must be dot" in refused(call("show_dag", dag_id="sample_dag", format="png"), 400)["output"]

    def test_unknown_dag_is_404(self, call):
        refused(call("show_dag", dag_id="no_such_dag"), 404)

    @pytest.mark.skipif(
        not __import__("importlib").util.find_spec("graphviz"),
        reason="the graphviz Python package (Airflow's optional extra) is not installed",
    )
    def test_the_dot_text_is_airflows_own(self, call, graph_dag):
        """Where Airflow can draw the graph itself, its render_dag writes exactly the same text."""
        from airflow.models.serialized_dag import SerializedDagModel
        from airflow.utils.dot_renderer import render_dag

        for dag_id in (graph_dag, "sample_dag", "other_dag"):
            expected = render_dag(SerializedDagModel.get_dag(dag_id)).source
            assert ok(call("show_dag", dag_id=dag_id))["output"]["stdout"] == expected


class TestPerDagAccess:
    """User "limited" reads sample_dag only, and so does the named token "scoped": the endpoints that name a DAG
    refuse other_dag, before reading it."""

    CALLS = {
        "list_runs": {},
        "states_for_dag_run": {"run_id": "run_1"},
        "dag_details": {},
        "next_execution": {},
        "show_dag": {},
    }

    @pytest.mark.parametrize("api", sorted(CALLS))
    def test_the_readable_dag(self, call, api):
        make_runs("sample_dag")
        ok(call(api, who="limited", dag_id="sample_dag", **self.CALLS[api]))

    @pytest.mark.parametrize("api", sorted(CALLS))
    def test_another_dag_is_403(self, call, api):
        body = refused(call(api, who="limited", dag_id="other_dag", **self.CALLS[api]), 403)
        assert "other_dag" in body["output"]

    @pytest.mark.parametrize("api", sorted(CALLS))
    def test_a_token_limited_to_some_dags(self, call, tokens_file, api):
        """A named token with dag_ids ["sample_*"]: sample_dag yes, other_dag 403."""
        make_runs("sample_dag")
        ok(with_token(call, SCOPED, api, dag_id="sample_dag", **self.CALLS[api]))
        refused(with_token(call, SCOPED, api, dag_id="other_dag", **self.CALLS[api]), 403)


def test_the_picture_data_url_the_page_shows():
    """The page shows data.svg as an <img> of a base64 data URL: what it builds decodes back to the SVG."""
    svg = '<svg xmlns="http://www.w3.org/2000/svg"><text>é</text></svg>'
    assert base64.b64decode(base64.b64encode(svg.encode())).decode() == svg
