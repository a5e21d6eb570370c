"""The shared HTTP edge and readiness, on a real CarnetService (PostgreSQL and RabbitMQ)."""

import io
import json
import uuid

import pytest
import requests
from nameko.containers import ServiceContainer
from nameko.rpc import rpc
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.web.handlers import HttpRequestHandler, http
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.wrappers import Response

from services.common.logging import configure_logging, current_ids
from services.common.nameko_ext.base import CarnetService
from services.common.nameko_ext.http_metrics import CarnetWebServer
from services.common.nameko_ext.relay_runner import RelayRunner
from tests.support.poll import eventually
from tests.support.ports import free_port


class ProbeService(CarnetService):
    """A service as service.py files write them: nameko's own `http`, nothing edge-specific."""

    name = "booking"  # a schema the migrations create: the store and relay need one

    @http("GET", "/things/<string:thing_id>")
    def thing(self, request, thing_id):
        return Response(json.dumps(current_ids()), 200, mimetype="application/json")

    @http("POST", "/things")
    def broken(self, request):
        raise RuntimeError("boom")

    @rpc
    def ping(self):
        return "pong"


@pytest.fixture
def captured():
    stream = io.StringIO()
    configure_logging("test", stream=stream)
    return stream


def lines(stream, event):
    out = []
    for raw in stream.getvalue().splitlines():
        line = json.loads(raw)
        if line.get("event") == event:
            out.append(line)
    return out


def start_probe(database_url, amqp_uri):
    port = free_port()
    config = {
        "AMQP_URI": amqp_uri,
        "DATABASE_URL": database_url,
        "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
    }
    container = ServiceContainer(ProbeService, config)
    container.start()
    return container, f"http://127.0.0.1:{port}"


def relay_runner(container):
    return next(d for d in container.dependencies if isinstance(d, RelayRunner))


def ready(base):
    try:
        return requests.get(f"{base}/health/ready", timeout=10)
    except requests.RequestException:
        return None


@pytest.fixture
def probe(migrated_database_url, module_broker, captured):
    container, base = start_probe(migrated_database_url, module_broker)
    try:
        yield container, base
    finally:
        container.stop()


def test_every_http_entrypoint_is_served_by_the_edge(probe):
    container, _ = probe
    servers = {type(e.server) for e in container.entrypoints if isinstance(e, HttpRequestHandler)}
    assert servers == {CarnetWebServer}


def test_every_response_returns_the_correlation_id_the_worker_ran_under(probe):
    _, base = probe
    r = requests.get(f"{base}/things/a1", headers={"X-Correlation-ID": "corr-edge-1"}, timeout=10)
    assert r.status_code == 200
    assert r.headers["X-Correlation-ID"] == "corr-edge-1"
    assert r.json()["correlation_id"] == "corr-edge-1"

    r = requests.get(f"{base}/things/a2", timeout=10)
    generated = r.headers["X-Correlation-ID"]
    assert uuid.UUID(generated) and r.json()["correlation_id"] == generated

    r = requests.get(f"{base}/things/a3", headers={"X-Correlation-ID": "x" * 500}, timeout=10)
    replaced = r.headers["X-Correlation-ID"]
    assert uuid.UUID(replaced) and r.json()["correlation_id"] == replaced

    for method, path in (("GET", "/nowhere/42"), ("POST", "/things"), ("GET", "/health/live")):
        r = requests.request(
            method, f"{base}{path}", headers={"X-Correlation-ID": "c-2"}, timeout=10
        )
        assert r.headers.get("X-Correlation-ID") == "c-2", (method, path, r.status_code)


def test_metrics_show_latency_by_route_template_and_responses_by_status_class(probe, captured):
    _, base = probe
    requests.get(f"{base}/things/raw-id-7", headers={"X-Correlation-ID": "corr-m-1"}, timeout=10)
    requests.get(f"{base}/nowhere/raw-id-8", timeout=10)
    requests.post(f"{base}/things", timeout=10)
    text = requests.get(f"{base}/metrics", timeout=10).text
    assert "raw-id-7" not in text and "raw-id-8" not in text  # templates, never raw paths

    samples = [s for family in text_string_to_metric_families(text) for s in family.samples]

    def value(name, **labels):
        return sum(
            s.value for s in samples if s.name == name and labels.items() <= s.labels.items()
        )

    hist = "carnet_http_request_duration_seconds"
    thing = {"service": "booking", "method": "GET", "route": "/things/<string:thing_id>"}
    assert value(f"{hist}_count", **thing, status_class="2xx") >= 1
    assert value(f"{hist}_bucket", **thing, status_class="2xx", le="+Inf") >= 1
    assert value(f"{hist}_count", route="unmatched", status_class="4xx") >= 1
    assert value(f"{hist}_count", route="/things", method="POST", status_class="5xx") >= 1
    for klass in ("2xx", "4xx", "5xx"):
        assert value("carnet_http_responses_total", service="booking", status_class=klass) >= 1
    assert value("carnet_http_responses_total", route="/things", status_class="5xx") >= 1

    (access,) = [x for x in lines(captured, "http.request") if x["correlation_id"] == "corr-m-1"]
    assert access["route"] == "/things/<string:thing_id>" and access["status"] == 200
    assert access["service.name"] == "booking" and access["duration_ms"] >= 0


def test_an_rpc_keeps_the_callers_correlation_id_and_ends_with_one_line(
    probe, module_broker, captured
):
    with ClusterRpcProxy(
        {"AMQP_URI": module_broker}, context_data={"correlation_id": "corr-rpc-9"}
    ) as proxy:
        assert proxy.booking.ping() == "pong"
    handled = eventually(
        lambda: [x for x in lines(captured, "rpc.handled") if x["correlation_id"] == "corr-rpc-9"],
        timeout=10,
        what="the rpc.handled line",
    )
    (line,) = handled
    assert line["service.name"] == "booking" and line["entrypoint"] == "ping"
    assert line["outcome"] == "ok" and line["duration_ms"] >= 0


def test_ready_needs_a_running_relay_but_not_leadership(
    migrated_database_url, module_broker, captured
):
    first, first_url = start_probe(migrated_database_url, module_broker)
    second, second_url = start_probe(migrated_database_url, module_broker)
    try:
        runners = [relay_runner(first), relay_runner(second)]

        def one_leads_one_stands_by():
            relays = [r.relay for r in runners]
            return all(relays) and sorted(r.stats.is_leader for r in relays) == [False, True]

        assert eventually(one_leads_one_stands_by, 60, "one leader, one standby")
        for url in (first_url, second_url):
            r = eventually(lambda url=url: (x := ready(url)) is not None and x.ok and x, 60, url)
            assert r and r.json()["checks"] == {"database": True, "broker": True, "relay": True}

        standby = next(r for r in runners if not r.relay.stats.is_leader)
        standby_url = first_url if standby is runners[0] else second_url
        standby._thread.kill()  # the loop dies; the process stays up
        r = ready(standby_url)
        assert r.status_code == 503
        assert r.json()["status"] == "not-ready" and r.json()["checks"]["relay"] is False
        assert requests.get(f"{standby_url}/health/live", timeout=10).status_code == 200
        leader_url = second_url if standby_url == first_url else first_url
        assert ready(leader_url).status_code == 200
    finally:
        for container in (first, second):
            # stop() would wait on the killed loop (and re-raise its GreenletExit): kill it.
            dead = not relay_runner(container).is_running()
            container.kill() if dead else container.stop()
