"""docker/docker-compose.yml holds together: the demo services run without a profile, and the production
profile is the topology docs/deployment.md describes (two API servers behind nginx, whose config names both,
one DAGs volume mounted by every Airflow container at its DAGs folder, one database, one token, one JWT
secret, the host-bound daemons disabled). ``docker compose config -q`` checks it too where that command works
(this machine has a Docker client without the compose plugin)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from rest_api_plugin import registry

DOCKER = Path(__file__).resolve().parents[2] / "docker"
COMPOSE = DOCKER / "docker-compose.yml"
NGINX = DOCKER / "nginx.conf"
SERVICES = yaml.safe_load(COMPOSE.read_text())["services"]
PRODUCTION = {name: service for name, service in SERVICES.items() if "production" in service.get("profiles", [])}
# built from docker/Dockerfile: the containers that run Airflow
AIRFLOW = {
    name: service
    for name, service in PRODUCTION.items()
    if service.get("build", {}).get("dockerfile") == "docker/Dockerfile"
}
HOST_BOUND = {"scheduler", "dag_processor", "triggerer", "worker", "flower", "kerberos", "serve_logs"}


def command_of(service: dict) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else command


def api_servers() -> dict[str, dict]:
    return {name: service for name, service in AIRFLOW.items() if command_of(service).startswith("api-server")}


def setting(service: dict, name: str) -> str | None:
    return service.get("environment", {}).get(name)


def test_the_demo_services_need_no_profile():
    for name in ("airflow", "airflow3"):
        assert "profiles" not in SERVICES[name]
        assert command_of(SERVICES[name]) == "standalone"


def test_every_production_daemon_runs_once_as_a_service_of_its_own():
    daemons = sorted(command_of(service).split(" --")[0] for name, service in AIRFLOW.items() if name != "airflow-init")
    assert daemons == sorted(["api-server", "api-server", "scheduler", "dag-processor", "triggerer", "celery worker"])
    assert "airflow db migrate" in command_of(AIRFLOW["airflow-init"])
    images = {PRODUCTION[name]["image"] for name in ("postgres", "redis", "proxy")}
    assert any(image.startswith("postgres:") for image in images)
    assert any(image.startswith("redis:") for image in images)
    assert any(image.startswith(("nginx:", "haproxy:")) for image in images)


def test_two_api_servers_behind_the_proxy_which_names_both():
    servers = api_servers()
    assert len(servers) == 2
    proxy = PRODUCTION["proxy"]
    assert set(proxy["depends_on"]) == set(servers)
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in proxy["volumes"]
    config = NGINX.read_text()
    upstream = re.search(r"upstream\s+(\w+)\s*\{([^}]*)\}", config)
    assert upstream, "docker/nginx.conf has no upstream block"
    named = set(re.findall(r"server\s+([\w.-]+):(\d+)\s*;", upstream.group(2)))
    assert named == {(name, "8080") for name in servers}
    assert f"proxy_pass http://{upstream.group(1)};" in config
    # the legacy token header has underscores, which nginx drops unless told otherwise
    assert re.search(r"underscores_in_headers\s+on\s*;", config)


def test_one_dags_volume_mounted_by_every_airflow_container_at_its_dags_folder():
    for name, service in AIRFLOW.items():
        folder = setting(service, "AIRFLOW__CORE__DAGS_FOLDER")
        assert f"dags:{folder}" in service["volumes"], name
    assert "dags" in yaml.safe_load(COMPOSE.read_text())["volumes"]


@pytest.mark.parametrize(
    "name",
    [
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CELERY__BROKER_URL",
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__REST_API_PLUGIN__REST_API_PLUGIN_EXPECTED_HTTP_TOKEN",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__API__SECRET_KEY",
        "AIRFLOW__REST_API_PLUGIN__DISABLED_ENDPOINTS",
    ],
)
def test_the_same_setting_in_every_airflow_container(name):
    values = {service_name: setting(service, name) for service_name, service in AIRFLOW.items()}
    assert len(set(values.values())) == 1 and None not in values.values(), values


def test_secrets_come_from_the_environment_and_the_database_is_postgresql():
    server = next(iter(api_servers().values()))
    assert setting(server, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN").startswith("postgresql")
    for name, variable in (
        ("AIRFLOW__REST_API_PLUGIN__REST_API_PLUGIN_EXPECTED_HTTP_TOKEN", "REST_API_PLUGIN_TOKEN"),
        ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW_JWT_SECRET"),
        ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW_FERNET_KEY"),
    ):
        assert setting(server, name) == f"${{{variable}:-}}"
        assert name in command_of(PRODUCTION["airflow-init"])  # refused there when empty


def test_the_host_bound_daemons_are_disabled():
    disabled = setting(next(iter(api_servers().values())), "AIRFLOW__REST_API_PLUGIN__DISABLED_ENDPOINTS")
    names = {name.strip() for name in disabled.split(",")}
    assert names == HOST_BOUND
    assert names <= set(registry.BY_NAME)


def test_docker_compose_config_accepts_it():
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client on this machine")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"`docker compose` does not work here: {(probe.stderr or probe.stdout).strip()[:200]}")
    env = {
        **os.environ,
        "REST_API_PLUGIN_TOKEN": "t",
        "AIRFLOW_JWT_SECRET": "j" * 64,
        "AIRFLOW_SECRET_KEY": "s",
        "AIRFLOW_FERNET_KEY": "f",
        "AIRFLOW_ADMIN_PASSWORD": "p",
    }
    for profile in ([], ["--profile", "production"]):
        checked = subprocess.run(
            [docker, "compose", "-f", str(COMPOSE), *profile, "config", "-q"], capture_output=True, text=True, env=env
        )
        assert checked.returncode == 0, checked.stderr
