"""What an operator sees of a running server: request IDs, Prometheus metrics, JSON log lines.

One ASGI middleware, outermost after draining, does all three for every request (the lean
predict path included): it takes the caller's `X-Request-ID` (or makes one), returns it in the
response and in error bodies, times the request, counts it by route and status in the app's own
Prometheus registry, answers `GET /metrics`, and writes one log line per request.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import uuid

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("provador_request_id", default=None)
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # what a caller's ID may be: it is echoed into headers and logs
# The routes metrics are labelled with; any other path counts as "other" (a scanner's thousand
# paths must not make a thousand time series).
ROUTES = ("/v1/predict", "/v1/model", "/v1/collect", "/v1/samples/random", "/healthz", "/metrics", "/docs",
          "/openapi.json", "/")  # fmt: skip
LOG = logging.getLogger("provador.serve")


def request_id() -> str | None:
    """The ID of the request being answered (for error bodies)."""
    return REQUEST_ID.get()


class Metrics:
    """The server's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("provador_requests", "HTTP requests answered, by route, method and status",
                                ["route", "method", "status"], registry=self.registry)  # fmt: skip
        self.latency = Histogram(
            "provador_request_seconds", "Time to answer a request, by route", ["route"], registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )  # fmt: skip
        self.rejects = Counter("provador_rejects", "Requests refused with a 4xx or 5xx, by route and status",
                               ["route", "status"], registry=self.registry)  # fmt: skip
        self.model = Gauge("provador_model_info", "The model served (always 1)", ["model"], registry=self.registry)
        self.batcher = None  # set once the app has started: its counters are read at each scrape
        self.registry.register(_BatcherCollector(self))

    def served(self, model_id: str, batcher) -> None:
        self.model.labels(model_id).set(1)
        self.batcher = batcher

    def page(self) -> bytes:
        return generate_latest(self.registry)


class _BatcherCollector:
    """The dynamic batcher's own counters, read when Prometheus scrapes (no cost per request)."""

    def __init__(self, metrics: Metrics):
        self.metrics = metrics

    def collect(self):
        batcher = self.metrics.batcher
        batches = CounterMetricFamily("provador_batches", "Model calls made by the dynamic batcher")
        images = CounterMetricFamily("provador_batched_images", "Images answered by the model, over all batches")
        batches.add_metric([], batcher.batches if batcher else 0)
        images.add_metric([], batcher.images if batcher else 0)
        yield batches
        yield images


class Operations:
    """ASGI middleware: request ID, metrics and a log line for every HTTP request; GET /metrics."""

    def __init__(self, app, metrics: Metrics, log_requests: bool = False):
        """`log_requests`: a line for every request (`serve --access-log`); refusals always get one."""
        self.app, self.metrics, self.log_requests = app, metrics, log_requests
        self._counted: dict[tuple, tuple] = {}  # (route, method, status) → its counters: a label lookup takes a lock

    def _count(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        children = self._counted.get(key)
        if children is None:
            m = self.metrics
            rejects = m.rejects.labels(route, str(status)) if status >= 400 else None
            children = self._counted[key] = (m.requests.labels(route, method, str(status)), m.latency.labels(route),
                                             rejects)  # fmt: skip
        requests, latency, rejects = children
        requests.inc()
        latency.observe(seconds)
        if rejects is not None:
            rejects.inc()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        rid = given if _VALID_ID.fullmatch(given) else uuid.uuid4().hex
        token = REQUEST_ID.set(rid)
        path, method = scope["path"], scope["method"]
        route = path if path in ROUTES else "/static" if path.startswith("/static/") else "other"
        started, status = time.perf_counter(), 500

        async def send_with_id(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", rid.encode())]}
            await send(message)

        try:
            if path == "/metrics" and method == "GET":
                body = self.metrics.page()
                await send_with_id({"type": "http.response.start", "status": 200, "headers": [
                    (b"content-type", b"text/plain; version=0.0.4; charset=utf-8"),
                    (b"content-length", str(len(body)).encode())]})  # fmt: skip
                await send({"type": "http.response.body", "body": body})
            else:
                await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            self._count(route, method, status, seconds)
            if self.log_requests or status >= 400:
                LOG.info("request" if status < 400 else "refused", extra={"fields": {"request_id": rid, "method": method, "path": path,
                                                      "status": status, "ms": round(seconds * 1000, 2)}})  # fmt: skip
            REQUEST_ID.reset(token)


class JsonLines(logging.Formatter):
    """One JSON object per line: time, level, event, and the record's `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname.lower(),
                "event": record.getMessage(), **getattr(record, "fields", {})}  # fmt: skip
        return json.dumps(line, ensure_ascii=False)


class HumanLines(logging.Formatter):
    """`time level event key=value …`, for a person reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in getattr(record, "fields", {}).items())
        return f"{self.formatTime(record, '%H:%M:%S')} {record.levelname.lower():<7} {record.getMessage()} {fields}"


def configure_logs(log_format: str = "json", stream=None) -> None:
    """Send provador's server log to `stream` (standard error) in `json` lines or `text`."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLines() if log_format == "json" else HumanLines())
    LOG.handlers[:] = [handler]
    LOG.setLevel(logging.INFO)
    LOG.propagate = False


def log(event: str, **fields) -> None:
    """A log line of the server's own (start-up, drain): with the request ID when inside one."""
    rid = REQUEST_ID.get()
    LOG.info(event, extra={"fields": {**({"request_id": rid} if rid else {}), **fields}})
