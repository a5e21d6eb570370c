"""docker-compose.yml cannot run here, so its promises are checked by reading it."""

import re
from pathlib import Path

import yaml

from services.common.config import SERVICES

ROOT = Path(__file__).resolve().parents[2]
ENV_REF = re.compile(r"\$\{(\w+)(?::[^}]*)?\}")


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def env_read_by(svc: str) -> set[str]:
    """Every variable a service's config.yaml reads: what its container must be given."""
    return set(ENV_REF.findall((ROOT / "services" / svc / "config.yaml").read_text()))


def service_dirs() -> set[str]:
    return {p.parent.name for p in (ROOT / "services").glob("*/service.py")}


def test_every_service_in_services_has_a_container():
    assert service_dirs() == set(SERVICES)
    assert service_dirs() <= set(compose()["services"])


def test_infrastructure_containers_exist_with_healthchecks():
    services = compose()["services"]
    for name in ("postgres", "rabbitmq", "mailpit", *SERVICES):
        assert "healthcheck" in services[name], name
    assert "management" in services["rabbitmq"]["image"]


def test_every_env_var_a_config_reads_is_set_in_its_container():
    services = compose()["services"]
    for svc in SERVICES:
        wanted = env_read_by(svc)
        have = set(services[svc]["environment"])
        assert wanted <= have, f"{svc} misses {sorted(wanted - have)}"


def test_services_wait_for_healthy_dependencies_and_migrations():
    services = compose()["services"]
    for svc in SERVICES:
        deps = services[svc]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy"
        assert deps["rabbitmq"]["condition"] == "service_healthy"
        assert deps["migrate"]["condition"] == "service_completed_successfully"


def test_each_service_runs_its_own_config_and_connects_as_its_own_role():
    services = compose()["services"]
    for svc in SERVICES:
        cmd = services[svc]["command"]
        assert cmd == ["carnet", "run", svc]  # one line and exit 2 when it cannot start
        assert f"carnet_{svc}:" in services[svc]["environment"]["DATABASE_URL"]
        assert f"{svc.upper()}_DB_PASSWORD" in services["migrate"]["environment"]


def test_each_service_connects_to_the_broker_as_its_own_user_made_by_broker_setup():
    services = compose()["services"]
    assert "carnet broker setup" in " ".join(services["migrate"]["command"])
    for svc in SERVICES:
        uri = services[svc]["environment"]["AMQP_URI"]
        assert uri.startswith(f"amqp://carnet_{svc}:${{{svc.upper()}_AMQP_PASSWORD:?"), uri
        assert "guest" not in uri
        assert f"{svc.upper()}_AMQP_PASSWORD" in services["migrate"]["environment"]


def test_image_is_multi_stage_and_runs_as_non_root():
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert dockerfile.count("FROM ") >= 2
    user_lines = [line for line in dockerfile.splitlines() if line.startswith("USER ")]
    assert user_lines and user_lines[-1].split()[1] not in ("root", "0")


def test_the_migration_job_also_applies_the_broker_policies():
    migrate = compose()["services"]["migrate"]
    command = " ".join(migrate["command"])
    assert "carnet db migrate" in command and "carnet broker setup" in command
    assert migrate["depends_on"]["rabbitmq"]["condition"] == "service_healthy"


def test_the_broker_caps_message_size_as_deployed():
    volumes = compose()["services"]["rabbitmq"]["volumes"]
    assert "./deploy/rabbitmq/rabbitmq.conf:/etc/rabbitmq/conf.d/20-carnet.conf:ro" in volumes
    conf = (ROOT / "deploy" / "rabbitmq" / "rabbitmq.conf").read_text()
    assert "max_message_size = 1048576" in conf
