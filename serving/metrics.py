"""Prometheus metrics, served at the monitoring config's path (default /monitoring/prometheus/metrics).

TF Serving exports names like `:tensorflow:serving:request_count`; these are the prometheus-style
equivalents:

- `tensorflow_serving_request_count_total{model_name, api, status}` — requests by gRPC status code
  name (`OK`, `NOT_FOUND`, `INVALID_ARGUMENT`, `UNAVAILABLE`, ...); `api` is `grpc` or `rest`.
- `tensorflow_serving_request_latency_seconds{model_name, api, status}` — histogram of request time.
- `tensorflow_serving_batch_size{model_name}` — histogram of the rows in each processed batch
  (before padding); `tensorflow_serving_padded_batch_size{model_name}` — after padding.
- `tensorflow_serving_batch_queue_depth{model_name}` — rows waiting in batch queues.
- `tensorflow_serving_runtime_info{model_name, version, runtime, precision, selected_by}` — 1 for each
  loaded version; `selected_by` is `flag` (`--runtime`/`--precision`) or `auto` (chosen by the accuracy
  gate and a timing at load, serving/engines/auto.py); join on model_name to split the other series by
  runtime. An info gauge rather than a label on every series keeps their names and labels as TF Serving's.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from serving.batching import BatchMetrics
from serving.servable import Servable

_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


UNKNOWN_MODEL = "unknown"


class Metrics(BatchMetrics):
    def __init__(self) -> None:
        self.known_models: Callable[[], Collection[str]] = lambda: ()
        """The models served (the manager's); any other name a request gives is counted as `unknown`, so
        no caller can add series."""
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tensorflow_serving_request_count",
            "Predict/metadata/status requests by model, API and status.",
            ["model_name", "api", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tensorflow_serving_request_latency_seconds",
            "Request latency by model, API and status.",
            ["model_name", "api", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "tensorflow_serving_batch_size",
            "Rows per processed batch (before padding).",
            ["model_name"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.padded_batch_size = Histogram(
            "tensorflow_serving_padded_batch_size",
            "Rows per processed batch after padding to an allowed batch size.",
            ["model_name"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "tensorflow_serving_batch_queue_depth",
            "Rows waiting in batch queues.",
            ["model_name"],
            registry=self.registry,
        )

        # Each series' child, looked up once: prometheus_client's labels() checks and hashes its labels on
        # every call, which the request path would pay per request.
        self._request_series: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        self._batch_series: dict[str, tuple[Any, Any]] = {}
        self._queue_series: dict[str, Any] = {}

        self.runtime_info = Gauge(
            "tensorflow_serving_runtime_info",
            "1 for each loaded model version, labelled with what runs it.",
            ["model_name", "version", "runtime", "precision", "selected_by"],
            registry=self.registry,
        )

    def _runtime_labels(self, servable: Servable) -> tuple[str, str, str, str, str]:
        spec = servable.engine.spec
        return (servable.name, str(servable.version), spec.runtime, spec.precision, servable.selected_by)

    def servable_loaded(self, servable: Servable) -> None:
        self.runtime_info.labels(*self._runtime_labels(servable)).set(1)

    def servable_unloaded(self, servable: Servable) -> None:
        self.runtime_info.remove(*self._runtime_labels(servable))

    def request(self, model: str, api: str, status: str, seconds: float) -> None:
        model = model if model in self.known_models() else UNKNOWN_MODEL
        key = (model, api, status)
        series = self._request_series.get(key)
        if series is None:
            series = self._request_series[key] = (
                self.requests.labels(model, api, status),
                self.latency.labels(model, api, status),
            )
        series[0].inc()
        series[1].observe(seconds)

    def batch_run(self, model: str, size: int, padded_size: int) -> None:
        series = self._batch_series.get(model)
        if series is None:
            series = self._batch_series[model] = (
                self.batch_size.labels(model),
                self.padded_batch_size.labels(model),
            )
        series[0].observe(size)
        series[1].observe(padded_size)

    def queued(self, model: str, delta: int) -> None:
        gauge = self._queue_series.get(model)
        if gauge is None:
            gauge = self._queue_series[model] = self.queue_depth.labels(model)
        gauge.inc(delta)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
