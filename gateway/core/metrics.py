"""Prometheus metrics. With PROMETHEUS_MULTIPROC_DIR set (several uvicorn workers), /metrics merges
every worker's values through prometheus-client's multiprocess collector. Who may read them (METRICS_TOKEN,
else loopback) is `access`, the one rule for the API port's /metrics and for the metrics port's."""

from __future__ import annotations

import hmac
import os
from enum import Enum

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from contracts.net import is_loopback

HTTP_LATENCY = Histogram(
    "gateway_http_request_duration_seconds",
    "HTTP request latency by route and status.",
    ["method", "route", "status"],
)
SERVING_LATENCY = Histogram(
    "gateway_serving_call_duration_seconds",
    "gRPC call latency to the model server by method and code.",
    ["method", "code"],
)
PREDICTION_CACHE = Counter(
    "gateway_prediction_cache_total",
    "Prediction cache lookups by result (hit or miss).",
    ["result"],
)
PREDICTIONS = Counter(
    "gateway_predictions_total",
    "Answered predictions by the model version and the version label that answered ('' without labels).",
    ["model_version", "model_label"],
)
CANARY_FALLBACKS = Counter(
    "gateway_canary_fallbacks_total",
    "Canary requests answered by the stable label instead, by why the canary did not answer.",
    ["reason"],
)

FEEDBACK = Counter(
    "gateway_feedback_total",
    "Feedback stored with a verdict, by the model version and label of its prediction and the verdict "
    "(model_label is empty when the gateway asked for no label).",
    ["model_version", "model_label", "verdict"],
)


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


class Access(Enum):
    ALLOWED = "allowed"
    UNAUTHORIZED = "unauthorized"  # 401: a token is set and this request did not present it
    HIDDEN = "hidden"  # 404: no token is set and the client is not on loopback


def access(token: str | None, authorization: str, client: str | None) -> Access:
    """With METRICS_TOKEN set, `Authorization: Bearer <token>` from anyone; without it, loopback clients."""
    if token:
        expected = f"Bearer {token}"
        if hmac.compare_digest(authorization.encode(), expected.encode()):
            return Access.ALLOWED
        return Access.UNAUTHORIZED
    return Access.ALLOWED if client is not None and is_loopback(client) else Access.HIDDEN
