"""health, plugins and providers: answered in-process, read-only, authenticated like every endpoint."""

from __future__ import annotations

import pytest

from tests.airflow_line import AIRFLOW_3

COMPONENTS = ("scheduler", "triggerer", "dag_processor")


def job_row(job_type: str, seconds_ago: float, state: str = "running", hostname: str = "host-a"):
    """A row of Airflow's job table, as a component's job writes it, with its last heartbeat ``seconds_ago``."""
    from datetime import timedelta

    from airflow.jobs.job import Job
    from airflow.utils.session import create_session

    from rest_api_plugin.airflow_compat import timezone

    with create_session() as session:
        job = Job()
        job.job_type, job.state, job.hostname = job_type, state, hostname
        job.latest_heartbeat = timezone.utcnow() - timedelta(seconds=seconds_ago)
        session.add(job)
        session.flush()
        return job.id


@pytest.fixture
def no_jobs(app):
    """An empty job table, before and after the test."""
    from airflow.jobs.job import Job
    from airflow.utils.session import create_session

    def empty():
        with create_session() as session:
            session.query(Job).delete()

    empty()
    yield
    empty()


class TestHealth:
    def test_nothing_running(self, call, no_jobs):
        body = call("health").get_json()
        assert body["status"] == "OK", body
        data = body["data"]
        assert data["metadatabase"] == {"status": "healthy", "error": None}
        assert data["scheduler"]["status"] == "unhealthy" and data["scheduler"]["alive_jobs"] == 0
        assert data["triggerer"]["status"] is None  # as Airflow's /health: a triggerer that never ran
        assert data["dag_processor"]["status"] == ("unhealthy" if AIRFLOW_3 else None)
        assert data["dag_processor"]["in_use"] is AIRFLOW_3
        stdout = body["output"]["stdout"]
        assert stdout.startswith("metadatabase: healthy\n")
        assert "scheduler: No alive jobs found." in stdout and "triggerer: No alive jobs found." in stdout
        assert body["airflow_cmd"] == "airflow jobs check --allow-multiple --limit=100"

    def test_an_alive_scheduler_and_a_dead_triggerer(self, call, no_jobs):
        alive = job_row("SchedulerJob", seconds_ago=1)
        job_row("TriggererJob", seconds_ago=3600, hostname="host-b")
        data = call("health").get_json()["data"]
        scheduler, triggerer = data["scheduler"], data["triggerer"]
        assert (scheduler["status"], scheduler["alive_jobs"], scheduler["job_id"]) == ("healthy", 1, alive)
        assert scheduler["hostname"] == "host-a" and scheduler["latest_heartbeat"]
        assert scheduler["health_check_threshold"] > 1
        assert (triggerer["status"], triggerer["alive_jobs"], triggerer["hostname"]) == ("unhealthy", 0, "host-b")
        stdout = call("health").get_json()["output"]["stdout"]
        assert "scheduler: Found one alive job. Latest heartbeat: " in stdout
        assert "triggerer: No alive jobs found. Latest heartbeat: " in stdout

    def test_two_alive_schedulers_and_an_ended_one(self, call, no_jobs):
        job_row("SchedulerJob", seconds_ago=1)
        job_row("SchedulerJob", seconds_ago=2)
        job_row("SchedulerJob", seconds_ago=1, state="success")
        body = call("health").get_json()
        assert body["data"]["scheduler"]["alive_jobs"] == 2
        assert "scheduler: Found 2 alive jobs." in body["output"]["stdout"]

    def test_the_threshold_is_airflows_setting(self, call, no_jobs, monkeypatch):
        """Airflow reads it once per process (health_check_threshold is cached), as its own /health does."""
        from airflow.jobs.job import health_check_threshold

        monkeypatch.setenv("AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD", "5")
        health_check_threshold.cache_clear()
        job_row("SchedulerJob", seconds_ago=10)
        try:
            scheduler = call("health").get_json()["data"]["scheduler"]
        finally:
            monkeypatch.undo()
            health_check_threshold.cache_clear()
        assert (scheduler["status"], scheduler["health_check_threshold"]) == ("unhealthy", 5.0)

    def test_a_database_that_does_not_answer_is_reported(self, call, no_jobs, monkeypatch):
        from sqlalchemy.exc import OperationalError

        from rest_api_plugin.services import about

        def unreachable(*args, **kwargs):
            raise OperationalError("SELECT 1", {}, Exception("connection refused"))

        monkeypatch.setattr(about, "component_health", unreachable)
        body = call("health").get_json()
        assert body["status"] == "OK" and body["http_response_code"] == 200, body
        assert body["data"]["metadatabase"] == {"status": "unhealthy", "error": "OperationalError"}
        assert body["data"]["scheduler"]["status"] is None
        assert "scheduler: unknown" in body["output"]["stdout"]

    def test_arguments_are_refused_when_strict(self, call, monkeypatch):
        monkeypatch.setenv("AIRFLOW__REST_API_PLUGIN__STRICT_ARGUMENTS", "True")
        assert call("health", job_type="SchedulerJob").status_code == 400


class TestPlugins:
    def test_this_plugin_is_loaded_with_its_source(self, call):
        body = call("plugins").get_json()
        assert body["status"] == "OK", body
        plugins = {plugin["name"]: plugin for plugin in body["data"]["plugins"]}
        assert body["data"]["total_entries"] == len(plugins)
        ours = plugins["rest_api_plugin"]
        assert "rest-api-plugin" in ours["source"] or "rest_api_plugin" in ours["source"], ours
        if AIRFLOW_3:
            assert ours["fastapi_apps"] and "hooks" not in ours
        else:
            assert ours["appbuilder_views"] and ours["hooks"] == []
        stdout = body["output"]["stdout"]
        assert stdout.splitlines()[0].split("|")[0].strip() == "name" and "rest_api_plugin" in stdout
        assert body["airflow_cmd"] == "airflow plugins"


class TestProviders:
    def test_each_provider_with_its_version(self, call):
        from airflow.providers_manager import ProvidersManager

        body = call("providers").get_json()
        assert body["status"] == "OK", body
        listed = {p["package_name"]: p for p in body["data"]["providers"]}
        installed = ProvidersManager().providers
        assert set(listed) == set(installed) and body["data"]["total_entries"] == len(installed)
        for name, provider in listed.items():
            assert provider["version"] == str(installed[name].version) and "`" not in provider["description"]
        stdout = body["output"]["stdout"]
        assert stdout.startswith("package_name") and all(name in stdout for name in listed)
        assert body["airflow_cmd"] == "airflow providers list"


@pytest.mark.parametrize("api", ["health", "plugins", "providers"])
@pytest.mark.parametrize("who", ["viewer", "limited", "admin"])
def test_read_only_callers_and_a_user_of_one_dag_may_read_them(call, api, who):
    """They touch no DAG: any caller with the endpoint's permission may call them, even one that reaches one
    DAG only."""
    assert call(api, who=who).status_code == 200


@pytest.mark.parametrize("api", ["health", "plugins", "providers"])
def test_not_without_authentication(call, api):
    body = call(api, who="anonymous").get_json()
    assert body["http_response_code"] == 403 and "data" not in body or body["data"] is None
