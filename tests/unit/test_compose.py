"""docker-compose.yml cannot run here (no Docker engine), so it is kept correct by checking it
against the code: services per chain, commands the CLI knows, env vars that are real settings."""

import re

import pytest
import yaml

from pipeline.cli import main as cli
from pipeline.devenv.kafka import KAFKA_VERSION
from pipeline.paths import DEPLOY_DIR, REPO_ROOT
from pipeline.settings import Settings, iter_knobs
from pipeline.topology import load_topology

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
PIPELINE_SERVICES = {n: s for n, s in SERVICES.items() if s.get("image") == "alert-pipeline:latest"}
KNOB_ENV_VARS = {env for _, env, _, _ in iter_knobs()}


def test_broker_is_the_same_kafka_as_dev_and_ci_in_kraft_mode():
    kafka = SERVICES["kafka"]
    assert kafka["image"] == f"apache/kafka:{KAFKA_VERSION}"
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "ZOOKEEPER" not in " ".join(env)
    assert "healthcheck" in kafka


def published(port: str) -> tuple[str, str, str]:
    """A compose port mapping as (host address, host port, container port); "" is every interface."""
    parts = str(port).split(":")
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return "", parts[0], parts[0]


def test_host_ports_match_the_default_settings():
    defaults = Settings()
    host_ports = {s: [published(p)[1] for p in svc.get("ports", [])] for s, svc in SERVICES.items()}
    assert str(defaults.dev.kafka_port) in host_ports["kafka"]
    assert defaults.kafka.bootstrap_servers.endswith(f":{defaults.dev.kafka_port}")
    assert str(defaults.dev.redis_port) in host_ports["redis"]
    assert str(defaults.bridge.port) in host_ports["bridge"]
    assert str(defaults.dev.nats_port) in host_ports["nats"]
    bridge_env = SERVICES["bridge"]["environment"]
    assert bridge_env["PIPELINE_BRIDGE__PORT"] == str(defaults.bridge.port)


def test_every_chain_has_one_worker_service():
    topology = load_topology(REPO_ROOT / "topologies" / "default.yaml")
    workers = {s["command"][1]: name for name, s in PIPELINE_SERVICES.items() if s["command"][0] == "worker"}
    assert set(workers) == {chain.name for chain in topology.chains()}
    assert "bridge" in PIPELINE_SERVICES and PIPELINE_SERVICES["bridge"]["command"] == ["bridge"]


@pytest.mark.parametrize("name", sorted(PIPELINE_SERVICES))
def test_pipeline_services_run_known_commands_with_real_settings(name):
    service = PIPELINE_SERVICES[name]
    assert service["command"][0] in cli.commands, f"{name}: `pipeline {service['command'][0]}` does not exist"
    assert service["build"]["dockerfile"] == "deploy/Dockerfile"
    for var in service["environment"]:
        assert var in KNOB_ENV_VARS, f"{name}: {var} is not a setting of pipeline/settings.py"
    assert service["environment"]["PIPELINE_KAFKA__BOOTSTRAP_SERVERS"] == "kafka:9092"
    # Every process must wait for the topics it uses.
    if name != "topology":
        assert service["depends_on"]["topology"]["condition"] == "service_completed_successfully"


def test_containers_reach_the_internal_listener_and_redis():
    kafka_env = SERVICES["kafka"]["environment"]
    assert "PLAINTEXT://kafka:9092" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]
    redis_url = PIPELINE_SERVICES["bridge"]["environment"]["PIPELINE_REDIS__URL"]
    assert re.fullmatch(r"redis://redis:6379/\d+", redis_url)


def test_dockerfile_copies_what_the_package_reads_at_run_time():
    dockerfile = (DEPLOY_DIR / "Dockerfile").read_text()
    for folder in ("pipeline", "connectors", "schemas", "topologies", "deploy"):
        assert re.search(rf"^COPY {folder} {folder}$", dockerfile, re.M), folder
    assert 'ENTRYPOINT ["pipeline"]' in dockerfile


def test_redis_requires_a_password_that_every_process_reads_from_the_shared_secret():
    redis = SERVICES["redis"]
    assert redis["command"][:2] == ["redis-server", "/secrets/redis.conf"]
    assert redis["depends_on"]["redis-secret"]["condition"] == "service_completed_successfully"
    maker = " ".join(SERVICES["redis-secret"]["command"])
    assert "requirepass" in maker and "/secrets/redis_password" in maker and "/dev/urandom" in maker
    assert "redis_password" in " ".join(redis["healthcheck"]["test"])
    for name, service in PIPELINE_SERVICES.items():
        assert service["environment"]["PIPELINE_REDIS__PASSWORD_FILE"] == "/secrets/redis_password", name
        assert "redis-secrets:/secrets:ro" in service["volumes"], name


def test_the_bridge_is_reachable_only_from_loopback_or_only_with_credentials():
    """Anyone reaching the bridge can read every alert and silence everything, so the shipped file either
    publishes it on the host's loopback only, or gives it a web configuration with credentials."""
    bridge = SERVICES["bridge"]
    env = bridge["environment"]
    insecure = str(env.get("PIPELINE_WEB__INSECURE", "false")).lower() == "true"
    has_web_config = bool(env.get("PIPELINE_WEB__CONFIG_FILE"))
    addresses = [published(port)[0] for port in bridge.get("ports", [])]
    assert addresses, "the bridge publishes no port"
    if not has_web_config:
        assert all(address in ("127.0.0.1", "::1", "[::1]") for address in addresses), (
            f"the bridge is published on {addresses} without a web configuration")
    if env.get("PIPELINE_BRIDGE__HOST", "127.0.0.1") not in ("127.0.0.1", "::1", "localhost") and not has_web_config:
        # without it the bridge refuses to start on 0.0.0.0 (pipeline.web.config.listen_refusal)
        assert insecure, "the bridge listens on a non-loopback address without credentials and would refuse to start"
    # no pipeline service other than the bridge serves HTTP to the host
    for name, service in PIPELINE_SERVICES.items():
        if name != "bridge":
            assert not service.get("ports"), f"{name} publishes {service['ports']}"


def test_the_sources_runner_runs_poll_and_stream_sources_beside_a_nats_server():
    sources = PIPELINE_SERVICES["sources"]
    assert sources["command"] == ["sources", "run"]
    assert sources["environment"]["PIPELINE_SOURCES__PORT"] == str(Settings().sources.port)
    assert sources["depends_on"]["nats"]["condition"] == "service_healthy"
    assert "--jetstream" in SERVICES["nats"]["command"]


def test_postgres_is_debians_major_version_and_migrated_before_the_pipeline_starts():
    from pipeline.devenv.postgres import PG_MAJOR

    postgres = SERVICES["postgres"]
    assert postgres["image"].startswith(f"postgres:{PG_MAJOR}")
    assert [p.split(":")[0] for p in postgres["ports"]] == [str(Settings().dev.postgres_port)]
    assert "healthcheck" in postgres
    migrate = SERVICES["migrate"]
    assert migrate["command"] == ["db", "migrate"] and "migrate" in cli.commands["db"].commands
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    env = PIPELINE_SERVICES["bridge"]["environment"]
    assert env["PIPELINE_HISTORY__DSN"].startswith("postgresql://pipeline@postgres:5432/")
    assert env["PIPELINE_HISTORY__ENABLED"] == "true"  # the history worker service runs only then
    assert PIPELINE_SERVICES["bridge"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
