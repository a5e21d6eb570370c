"""deploy/k8s renders with `kubectl kustomize`, its built-in objects validate offline against
Kubernetes' own schemas, and what docs/kubernetes.md promises holds in every rendered overlay."""

from __future__ import annotations

import base64
import math
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from services.cli.secrets_cmd import generate, render
from services.common.broker import queue_name
from services.common.config import SERVICES

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy/k8s"
KUBECTL = shutil.which("kubectl")
# kubectl's version on this machine (the oldest cluster aimed at), and the newest schemas
# kubernetes-validate ships.
SCHEMA_VERSIONS = ("1.32.0", "1.37.0")
TARGETS = ("base", "overlays/dev", "overlays/production", "overlays/production-keda")
PRODUCTION = ("overlays/production", "overlays/production-keda")
# Their schemas come with the operators' CRDs, not with Kubernetes: checked field by field here.
CRD_KINDS = {
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"),
    ("postgresql.cnpg.io/v1", "Cluster"),
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("keda.sh/v1alpha1", "TriggerAuthentication"),
}
VAR_REF = re.compile(r"\$\((\w+)\)")

pytestmark = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl is not installed: deploy/k8s cannot be rendered without it"
)

Doc = dict[str, Any]


def kustomize(target: Path) -> list[Doc]:
    """One target's rendered objects."""
    out = subprocess.run(
        [str(KUBECTL), "kustomize", str(target)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, f"kubectl kustomize {target.name}: {out.stderr}"
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Doc]]:
    """Every target, from a copy whose dev secret files hold fresh values, as an operator's."""
    copy = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S, copy, ignore=shutil.ignore_patterns("secrets"))
    dotenv = copy / "dotenv"
    dotenv.write_text(render(generate()))  # what `carnet secrets init` writes
    broker = {"RABBITMQ_USER": "dev-user", "RABBITMQ_PASSWORD": generate()["POSTGRES_PASSWORD"]}
    script = copy / "overlays/dev/write-secrets.sh"
    subprocess.run(["sh", str(script), str(dotenv)], env={**os.environ, **broker}, check=True)
    with ThreadPoolExecutor(len(TARGETS)) as pool:
        return dict(zip(TARGETS, pool.map(lambda t: kustomize(copy / t), TARGETS), strict=True))


def compose() -> dict[str, Any]:
    """docker-compose.yml's services: what each container gets there."""
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def of_kind(docs: list[Doc], kind: str) -> dict[str, Doc]:
    """The objects of one kind, by name."""
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def pod_spec(workload: Doc) -> Doc:
    """A Deployment's or a Job's pod spec."""
    return workload["spec"]["template"]["spec"]


def container_env(docs: list[Doc], container: Doc) -> tuple[list[str], dict[str, str]]:
    """Names in the order the kubelet defines them (envFrom first), and the literal values."""
    maps, names, literal = of_kind(docs, "ConfigMap"), [], {}
    for source in container.get("envFrom", []):
        assert "configMapRef" in source, "secrets are read key by key, never wholesale"
        data = maps[source["configMapRef"]["name"]]["data"]
        names += list(data)
        literal.update(data)
    for var in container.get("env", []):
        names.append(var["name"])
        if "value" in var:
            literal[var["name"]] = var["value"]
    return names, literal


def secret_refs(container: Doc) -> list[Doc]:
    """Every secretKeyRef of a container."""
    env = container.get("env", [])
    return [v["valueFrom"]["secretKeyRef"] for v in env if "secretKeyRef" in v.get("valueFrom", {})]


def workloads(docs: list[Doc]) -> dict[str, Doc]:
    """Each Deployment's container by service, and the migration Job's as `migrate`."""
    found = {n: pod_spec(d)["containers"][0] for n, d in of_kind(docs, "Deployment").items()}
    found["migrate"] = pod_spec(of_kind(docs, "Job")["carnet-migrate"])["containers"][0]
    return found


def schema_problem(doc: Doc, version: str) -> str:
    """Where a built-in object breaks its schema, in one line (empty: it does not)."""
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        where = "/".join(str(p) for p in error.path)
        return f"{doc['kind']}/{doc['metadata']['name']} at {where}: {error.message}"
    return ""


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
@pytest.mark.parametrize("target", TARGETS)
def test_every_built_in_object_validates_strictly(rendered, target: str, version: str) -> None:
    for doc in rendered[target]:
        group = doc["apiVersion"].rpartition("/")[0]
        if "." in group and not group.endswith(".k8s.io"):
            assert (doc["apiVersion"], doc["kind"]) in CRD_KINDS, f"unchecked kind {doc['kind']}"
            continue
        assert not (problem := schema_problem(doc, version)), problem


@pytest.mark.parametrize("target", TARGETS)
def test_each_service_runs_as_compose_runs_it_with_every_variable(rendered, target: str) -> None:
    docs, services = rendered[target], compose()
    found = workloads(docs)
    assert set(found) == {*SERVICES, "migrate"}
    for name, container in found.items():
        spec = services[name]
        assert container["command"] == spec["command"], name
        names, _ = container_env(docs, container)
        missing = set(spec["environment"]) - set(names)
        assert not missing, f"{name} lacks what docker-compose.yml passes it: {sorted(missing)}"
        for i, var in enumerate(container.get("env", [])):  # $(X) expands only what came before
            before = names[: len(names) - len(container["env"]) + i]
            for ref in VAR_REF.findall(var.get("value", "")):
                assert ref in before, f"{name}: {var['name']} uses $({ref}) before it is defined"


def test_the_base_settings_are_composes_values(rendered) -> None:
    docs, services = rendered["base"], compose()
    for name, container in workloads(docs).items():
        _, literal = container_env(docs, container)
        for key, value in services[name]["environment"].items():
            if key in literal and "${" not in str(value) and "$(" not in literal[key]:
                assert literal[key] == str(value), f"{name}: {key}"


@pytest.mark.parametrize("target", TARGETS)
def test_every_pod_is_probed_locked_down_sized_and_named(rendered, target: str) -> None:
    docs = rendered[target]
    for name, workload in {**of_kind(docs, "Deployment"), **of_kind(docs, "Job")}.items():
        pod, container = pod_spec(workload), pod_spec(workload)["containers"][0]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod["automountServiceAccountToken"] is False, name
        ctx = container["securityContext"]
        assert ctx["allowPrivilegeEscalation"] is False and ctx["readOnlyRootFilesystem"], name
        assert ctx["capabilities"]["drop"] == ["ALL"], name
    for name, workload in of_kind(docs, "Deployment").items():
        container = pod_spec(workload)["containers"][0]
        _, literal = container_env(docs, container)
        port = int(literal[f"{name.upper()}_HTTP_ADDRESS"].rpartition(":")[2])
        assert container["ports"] == [{"name": "http", "containerPort": port}], name
        for probe, path in (("readinessProbe", "/health/ready"), ("livenessProbe", "/health/live")):
            assert container[probe]["httpGet"] == {"path": path, "port": "http"}, (name, probe)
        assert container["resources"]["requests"]["cpu"], name
        instance = {"fieldRef": {"fieldPath": "metadata.name"}}
        assert {"name": "CARNET_INSTANCE_ID", "valueFrom": instance} in container["env"], name
        ports = of_kind(docs, "Service")[name]["spec"]["ports"]
        assert ports == [{"name": "http", "port": port, "targetPort": "http"}], name


def bench_cpu_requests() -> dict[str, str]:
    """CPU requests from docs/benchmarks.md: ms per booking x the highest rate held / 2 replicas
    (the best rate of the search when its confirmations did not hold it: the page says so)."""
    text = (ROOT / "docs/benchmarks.md").read_text()
    found = re.search(r"\*\*Highest rate held: (\d+) bookings/s\*\*", text) or re.search(
        r"The best rate held in the search, (\d+)/s, held in only \d+ of \d+ confirmation", text
    )
    held = int(found[1])
    table = text.split("| CPU per booking, ms (step and drain)", 1)[1].split("\n\n", 1)[0]
    ms = {m[1]: float(m[2]) for m in re.finditer(r"^\| (\w+) \| ([\d.]+) \|", table, re.M)}
    per_replica = held / 2  # the rate held, split over the base's 2 replicas
    return {s: f"{math.ceil(ms[s] * per_replica / 10) * 10}m" for s in SERVICES}


def test_cpu_requests_are_the_measured_cpu_per_booking_at_the_rate_held(rendered) -> None:
    docs = rendered["base"]
    found = workloads(docs)
    have = {n: found[n]["resources"]["requests"]["cpu"] for n in SERVICES}
    assert have == bench_cpu_requests(), "docs/benchmarks.md changed: docs/kubernetes.md#resources"


def committed_matches(values: set[str]) -> str:
    """Lines of tracked files that hold any of these values (empty: none)."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git work tree: cannot tell what is committed")
    args = [a for v in sorted(values) for a in ("-e", v)]
    out = subprocess.run(
        ["git", "grep", "--untracked", "-I", "-n", "-F", *args], cwd=ROOT, capture_output=True
    )
    return out.stdout.decode(errors="replace")


@pytest.mark.parametrize("target", TARGETS)
def test_no_rendered_secret_holds_a_value_committed_in_git(rendered, target: str) -> None:
    values = set()
    for secret in of_kind(rendered[target], "Secret").values():
        assert "stringData" not in secret, secret["metadata"]["name"]
        for key, raw in secret.get("data", {}).items():
            value = base64.b64decode(raw).decode()
            assert value == value.strip(), f"{secret['metadata']['name']}.{key}: whitespace"
            if value and key != "username":  # a user name is not a secret
                values.add(value)
    assert not values or not committed_matches(values)


def test_every_secret_key_a_pod_reads_is_made_in_dev_and_named_in_the_docs(rendered) -> None:
    docs_text = (ROOT / "docs/kubernetes.md").read_text()
    dev = rendered["overlays/dev"]
    made = {n.rsplit("-", 1)[0]: s["data"] for n, s in of_kind(dev, "Secret").items()}
    for container in workloads(dev).values():
        for ref in secret_refs(container):
            base_name = ref["name"].rsplit("-", 1)[0]
            assert ref.get("optional") or ref["key"] in made[base_name], ref
    for container in workloads(rendered["overlays/production"]).values():
        for ref in secret_refs(container):
            assert f"`{ref['name']}`" in docs_text and f"`{ref['key']}`" in docs_text, ref


@pytest.mark.parametrize("target", PRODUCTION)
def test_production_keeps_two_replicas_each_against_the_operators(rendered, target: str) -> None:
    docs = rendered[target]
    scaled = {
        o["spec"]["scaleTargetRef"]["name"]: o for o in of_kind(docs, "ScaledObject").values()
    }
    pdbs = of_kind(docs, "PodDisruptionBudget")
    for name, deployment in of_kind(docs, "Deployment").items():
        replicas = scaled[name]["spec"]["minReplicaCount"] if name in scaled else None
        assert (replicas or deployment["spec"]["replicas"]) >= 2, name
        assert pdbs[name]["spec"]["minAvailable"] == 1, name
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert pdbs[name]["spec"]["selector"]["matchLabels"].items() <= labels.items(), name
    assert all(d["metadata"].get("namespace") == "carnet" for d in docs if d["kind"] != "Namespace")
    (pg,) = of_kind(docs, "Cluster").values()
    (mq,) = of_kind(docs, "RabbitmqCluster").values()
    assert pg["spec"]["instances"] == 3 and pg["spec"]["enableSuperuserAccess"] is True
    assert pg["spec"]["minSyncReplicas"] == pg["spec"]["maxSyncReplicas"] == 1
    assert pg["spec"]["bootstrap"]["initdb"]["database"] == "carnet"
    assert mq["spec"]["replicas"] == 3
    conf = (ROOT / "deploy/rabbitmq/rabbitmq.conf").read_text().splitlines()
    settings = [line for line in conf if line.strip() and not line.startswith("#")]
    assert all(s in mq["spec"]["rabbitmq"]["additionalConfig"] for s in settings)
    (common,) = [m for n, m in of_kind(docs, "ConfigMap").items() if n.startswith("carnet-common")]
    # The relay (in each service) and the migrations talk to the primary, never a standby.
    assert common["data"]["CARNET_POSTGRES_HOST"] == f"{pg['metadata']['name']}-rw"
    assert common["data"]["CARNET_RABBITMQ_HOST"] == mq["metadata"]["name"]
    refs = {r["name"] for c in workloads(docs).values() for r in secret_refs(c)}
    operators = {f"{pg['metadata']['name']}-superuser", f"{mq['metadata']['name']}-default-user"}
    assert operators <= refs and not of_kind(docs, "Secret")


def test_dev_runs_one_replica_each_without_pdbs_on_postgres_and_rabbitmq(rendered) -> None:
    docs = rendered["overlays/dev"]
    assert {d["spec"]["replicas"] for d in of_kind(docs, "Deployment").values()} == {1}
    assert not of_kind(docs, "PodDisruptionBudget") and not of_kind(docs, "Cluster")
    (common,) = [m for n, m in of_kind(docs, "ConfigMap").items() if n.startswith("carnet-common")]
    assert common["data"]["CARNET_POSTGRES_HOST"] == "postgres"
    assert common["data"]["CARNET_RABBITMQ_HOST"] == "rabbitmq"


def test_the_migration_job_migrates_then_sets_up_the_broker(rendered) -> None:
    for target in TARGETS:
        job = of_kind(rendered[target], "Job")["carnet-migrate"]
        command = pod_spec(job)["containers"][0]["command"]
        assert command[-1] == "carnet db migrate && carnet broker setup", target
        assert pod_spec(job)["restartPolicy"] == "Never"


def test_keda_scales_each_consumer_on_its_own_queues_only(rendered) -> None:
    docs = rendered["overlays/production-keda"]
    auths, deployments = of_kind(docs, "TriggerAuthentication"), of_kind(docs, "Deployment")
    (mq,) = of_kind(docs, "RabbitmqCluster").values()
    assert not of_kind(rendered["overlays/production"], "ScaledObject")
    for scaled in of_kind(docs, "ScaledObject").values():
        name = scaled["spec"]["scaleTargetRef"]["name"]
        assert "replicas" not in deployments[name]["spec"], f"{name}: KEDA owns its replicas"
        assert scaled["spec"]["minReplicaCount"] >= 2
        (trigger,) = scaled["spec"]["triggers"]
        meta = trigger["metadata"]
        assert trigger["type"] == "rabbitmq" and meta["protocol"] == "http"
        assert meta["mode"] == "QueueLength" and meta["useRegex"] == "true"
        pattern = re.compile(meta["queueName"])
        for service in SERVICES:
            assert bool(pattern.match(queue_name(service, "handler"))) == (service == name)
        auth = auths[trigger["authenticationRef"]["name"]]
        assert {r["name"] for r in auth["spec"]["secretTargetRef"]} == {
            f"{mq['metadata']['name']}-default-user"
        }
