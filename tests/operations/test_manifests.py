"""The deployment files parse and agree with the code: every variable they set is one Emma reads, probes
hit real URLs, there is exactly one beat, and every process type and start script is there."""

import os
import re

import pytest
import yaml
from django.urls import Resolver404, resolve

from tests.conftest import ROOT

DOCKER = ROOT / "docker"
K8S = DOCKER / "k8s"
START_SCRIPTS = ["start-release.sh", "start-web.sh", "start-worker.sh", "start-beat.sh", "start-flower.sh"]
# Set for the images of others (PostgreSQL), not for Emma's processes.
OTHER_IMAGES = {"postgres", "redis"}


def documents(path):
    with open(path) as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def k8s_objects() -> list[dict]:
    return [doc for path in sorted(K8S.glob("*.yaml")) if path.name != "kustomization.yaml"
            for doc in documents(path)]


def of_kind(kind: str) -> dict[str, dict]:
    return {obj["metadata"]["name"]: obj for obj in k8s_objects() if obj["kind"] == kind}


def known_variables() -> set[str]:
    """Names Emma reads: the settings' env(...) calls, the README's configuration table, and the variables
    the image and its start scripts use."""
    settings_text = (ROOT / "config" / "settings" / "base.py").read_text()
    names = set(re.findall(r"""env(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]*)["']""", settings_text))
    names |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", (ROOT / "README.md").read_text()))
    for line in (DOCKER / "Dockerfile").read_text().replace("\\\n", " ").splitlines():
        if line.startswith("ENV "):
            names |= set(re.findall(r"([A-Z][A-Z0-9_]*)=", line))
    for script in DOCKER.glob("start-*.sh"):
        names |= set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", script.read_text()))
    return names


def test_every_yaml_under_docker_parses():
    paths = sorted(DOCKER.rglob("*.yaml")) + sorted(DOCKER.rglob("*.yml"))
    assert len(paths) >= 8
    for path in paths:
        assert documents(path), f"{path} is empty"


def test_kustomization_lists_every_manifest_but_the_secret_example():
    listed = set(documents(K8S / "kustomization.yaml")[0]["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}


def compose_variables() -> set[str]:
    compose = documents(DOCKER / "compose.yml")[0]
    names = set(compose["x-emma"]["environment"])
    text = (DOCKER / "compose.yml").read_text()
    names |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text))
    for name, service in compose["services"].items():
        if name not in OTHER_IMAGES:
            names |= set(service.get("environment") or {})
    return names


def k8s_variables() -> set[str]:
    names = set(of_kind("ConfigMap")["emma-config"]["data"]) | set(of_kind("Secret")["emma-secrets"]["stringData"])
    for workload in [*of_kind("Deployment").values(), *of_kind("Job").values()]:
        for container in workload["spec"]["template"]["spec"]["containers"]:
            names |= {item["name"] for item in container.get("env", [])}
            for source in container.get("envFrom", []):
                reference = source.get("configMapRef") or source.get("secretRef")
                assert reference["name"] in ("emma-config", "emma-secrets")
    return names


@pytest.mark.parametrize("variables", [compose_variables, k8s_variables], ids=["compose", "k8s"])
def test_every_variable_the_deployments_set_is_one_emma_reads(variables):
    unknown = variables() - known_variables()
    assert not unknown, f"not read by Emma (settings, README table, image or start scripts): {sorted(unknown)}"


def test_the_configmap_sets_no_secret_and_the_secret_holds_the_secrets():
    config = of_kind("ConfigMap")["emma-config"]["data"]
    secret = of_kind("Secret")["emma-secrets"]["stringData"]
    assert not {name for name in config if re.search(r"SECRET|PASSWORD|TOKEN|_KEY$|_URL$|AUTH", name)}
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "FLOWER_BASIC_AUTH"} <= set(secret)
    assert config["DJANGO_SETTINGS_MODULE"] == "config.settings.production"


def probe_paths() -> list[str]:
    paths = []
    for deployment in of_kind("Deployment").values():
        if deployment["metadata"]["name"] == "emma-flower":
            continue  # Flower's own /healthcheck
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                if "httpGet" in container.get(probe, {}):
                    paths.append(container[probe]["httpGet"]["path"])
    return paths


def test_web_probes_hit_the_health_urls_that_exist():
    web = of_kind("Deployment")["emma-web"]["spec"]["template"]["spec"]["containers"][0]
    assert web["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert web["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    for path in probe_paths():
        try:
            resolve(path)
        except Resolver404:
            pytest.fail(f"probe path {path} is not in config/urls.py")
    # The probes' Host header must be an allowed host in production.
    host = web["livenessProbe"]["httpGet"]["httpHeaders"][0]["value"]
    assert host in of_kind("ConfigMap")["emma-config"]["data"]["DJANGO_ALLOWED_HOSTS"].split(",")


def test_workers_are_probed_by_a_celery_ping_to_their_own_node():
    for name in ("emma-worker", "emma-worker-maintenance"):
        container = of_kind("Deployment")[name]["spec"]["template"]["spec"]["containers"][0]
        command = " ".join(container["livenessProbe"]["exec"]["command"])
        assert "inspect ping -d celery@$HOSTNAME" in command


def test_exactly_one_beat_everywhere():
    beat = of_kind("Deployment")["emma-beat"]
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"]["type"] == "Recreate"
    assert not [hpa for hpa in of_kind("HorizontalPodAutoscaler").values()
                if hpa["spec"]["scaleTargetRef"]["name"] == "emma-beat"]
    compose = documents(DOCKER / "compose.yml")[0]["services"]
    assert compose["beat"]["deploy"]["replicas"] == 1
    assert sum(1 for service in compose.values() if service.get("command") == ["docker/start-beat.sh"]) == 1


def consumed_queues(deployment: str) -> set[str]:
    """The queues a worker Deployment consumes, as docker/start-worker.sh reads its variables: CELERY_QUEUES
    (only these), CELERY_EXCLUDE_QUEUES (all but these), else every queue in settings. A queue the
    manifest names must be one settings declare."""
    from django.conf import settings

    container = of_kind("Deployment")[deployment]["spec"]["template"]["spec"]["containers"][0]
    env = {item["name"]: item["value"] for item in container.get("env", [])}
    declared = set(settings.CELERY_QUEUE_NAMES)
    only = set(env["CELERY_QUEUES"].split(",")) if env.get("CELERY_QUEUES") else declared
    excluded = set(env["CELERY_EXCLUDE_QUEUES"].split(",")) if env.get("CELERY_EXCLUDE_QUEUES") else set()
    unknown = (only | excluded) - declared
    assert not unknown, f"{deployment} names queues that settings do not declare: {unknown}"
    return only - excluded


def test_the_worker_scales_on_cpu_and_every_queue_has_a_worker():
    hpa = of_kind("HorizontalPodAutoscaler")["emma-worker"]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "emma-worker"}
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    from django.conf import settings

    # The maintenance queue on its worker with the backups volume, and only there; every other queue on
    # the scaled workers.
    assert consumed_queues("emma-worker-maintenance") == {"maintenance"}
    assert consumed_queues("emma-worker") == set(settings.CELERY_QUEUE_NAMES) - {"maintenance"}


def test_compose_services_have_health_checks_and_flower_and_release():
    services = documents(DOCKER / "compose.yml")[0]["services"]
    assert {"postgres", "redis", "release", "web", "worker", "beat", "flower"} <= set(services)
    assert "pgvector" in services["postgres"]["image"]
    for name in ("postgres", "redis", "web", "worker", "beat", "flower"):
        assert services[name].get("healthcheck"), f"{name} has no health check"


def test_start_scripts_exist_and_are_executable():
    for name in START_SCRIPTS:
        path = DOCKER / name
        assert path.is_file() and os.access(path, os.X_OK), f"{path} missing or not executable"
        assert path.read_text().startswith("#!/bin/sh")
    for deployment in [*of_kind("Deployment").values(), *of_kind("Job").values()]:
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert (ROOT / container["command"][0]).is_file()


def test_the_image_is_multi_stage_non_root_and_has_no_build_tools():
    text = (DOCKER / "Dockerfile").read_text()
    final = text.split("\nFROM ")[-1]
    assert text.count("\nFROM ") >= 1 and " AS build" in text
    assert "USER emma" in final and "build-essential" not in final and "gcc" not in final
    assert "postgresql-client-${PG_MAJOR}" in final


def test_procfile_has_the_release_web_worker_beat_and_flower_processes():
    lines = [line for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()]
    processes = dict(line.split(":", 1) for line in lines)
    assert list(processes) == ["release", "web", "worker", "beat", "flower"]
    assert "setup_periodic_tasks" in processes["release"] and "migrate" in processes["release"]
    assert "--basic-auth" in processes["flower"]
    # No queue list to keep in step with settings: a worker without -Q consumes every queue they declare.
    assert " -Q" not in processes["worker"]
