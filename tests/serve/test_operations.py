"""What an operator sees: request IDs, Prometheus metrics, JSON log lines, CORS, the connection cap."""

import io
import json
import socket

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from provador.serve import create_app
from provador.serve.operations import LOG, configure_logs

IMAGE = {"images": [np.zeros((28, 28), int).tolist()]}


@pytest.fixture(scope="module")
def operated(tiny_run):
    run, data_dir = tiny_run
    with TestClient(create_app(run, data_dir=data_dir, cors=["https://class.example.org"])) as client:
        yield client, run


def samples(client) -> dict:
    """Every sample of GET /metrics, as {(name, sorted labels): value}."""
    page = client.get("/metrics")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(page.text) for s in family.samples}  # fmt: skip


def test_a_request_id_is_echoed_or_made_and_is_in_every_error_body(operated):
    client, _ = operated
    given = client.post("/v1/predict", json=IMAGE, headers={"X-Request-ID": "class-7.photo-3"})
    assert given.status_code == 200 and given.headers["x-request-id"] == "class-7.photo-3"
    made = client.get("/healthz")
    assert len(made.headers["x-request-id"]) == 32  # a uuid4, hex
    bad = client.post("/v1/predict", content=b"not json", headers={"content-type": "application/json",
                                                                    "X-Request-ID": "a b\r\nInjected: 1"})  # fmt: skip
    assert bad.status_code == 400 and "Injected" not in bad.headers["x-request-id"]  # refused: one was made
    assert bad.json()["request_id"] == bad.headers["x-request-id"]
    invalid = client.post("/v1/predict?top_k=0", json=IMAGE)  # FastAPI's own validation error
    assert invalid.status_code == 422 and invalid.json()["request_id"] == invalid.headers["x-request-id"]


def test_metrics_count_requests_by_route_and_status_latency_batches_rejects_and_the_model(operated):
    client, run = operated
    before = samples(client)
    for _ in range(3):
        assert client.post("/v1/predict", json=IMAGE).status_code == 200
    assert client.post("/v1/predict", content=b"{", headers={"content-type": "application/json"}).status_code == 400
    client.get("/no/such/path")
    after = samples(client)

    def grew(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("provador_requests_total", route="/v1/predict", method="POST", status="200") == 3
    assert grew("provador_requests_total", route="/v1/predict", method="POST", status="400") == 1
    assert grew("provador_rejects_total", route="/v1/predict", status="400") == 1
    assert grew("provador_requests_total", route="other", method="GET", status="404") == 1  # no path as a label
    assert grew("provador_request_seconds_count", route="/v1/predict") == 4
    assert grew("provador_batches_total") >= 1 and grew("provador_batched_images_total") == 3
    model = [labels for (name, labels), value in after.items() if name == "provador_model_info" and value == 1]
    assert model and dict(model[0])["model"].startswith(run.name)


def test_each_request_and_each_refusal_is_a_json_log_line_with_its_request_id(tiny_run):
    run, data_dir = tiny_run
    stream = io.StringIO()
    configure_logs("json", stream)
    try:
        with TestClient(create_app(run, data_dir=data_dir, log_requests=True)) as client:
            client.post("/v1/predict", json=IMAGE, headers={"X-Request-ID": "r-1"})
            client.post("/v1/predict", content=b"{", headers={"content-type": "application/json",
                                                               "X-Request-ID": "r-2"})  # fmt: skip
    finally:
        LOG.handlers.clear()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    events = {(line["event"], line.get("request_id")) for line in lines}
    assert ("started", None) in events and ("request", "r-1") in events and ("refused", "r-2") in events
    refused = next(line for line in lines if line.get("request_id") == "r-2")
    assert refused["status"] == 400 and refused["path"] == "/v1/predict" and refused["ms"] >= 0


def test_cors_lets_only_the_named_origin_call_the_api(operated):
    client, _ = operated
    asked = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    allowed = client.options("/v1/predict", headers={"Origin": "https://class.example.org", **asked})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://class.example.org"
    other = client.options("/v1/predict", headers={"Origin": "https://elsewhere.example", **asked})
    assert "access-control-allow-origin" not in other.headers
    answer = client.post("/v1/predict", json=IMAGE, headers={"Origin": "https://class.example.org"})
    assert "x-request-id" in answer.headers["access-control-expose-headers"].lower()


def test_serve_caps_concurrent_connections(tiny_run, monkeypatch):
    from provador.serve import lifecycle, serve

    seen = {}
    monkeypatch.setattr(lifecycle.DrainingServer, "run", lambda self, sockets: seen.update(
        limit=self.config.limit_concurrency, access_log=self.config.access_log))  # fmt: skip
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    try:
        serve(tiny_run[0], port=port, limit_concurrency=7)
    finally:
        LOG.handlers.clear()
    assert seen == {"limit": 7, "access_log": False}  # provador's own request log replaces uvicorn's
