"""How much load each of `make bench`'s measurements gets."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Plan:
    batch_sizes: tuple[int, ...]
    """a: the batch sizes timed in process."""
    inprocess_seconds: float
    """a: seconds per batch size."""
    concurrency: int
    """b, c, d and the floors: clients in the closed loop."""
    model_requests: int
    """b, c: at most this many requests (the model's path)."""
    model_seconds: float
    """b, c: and at most this long."""
    cached_requests: int
    """d and the floors: at most this many requests."""
    cached_seconds: float
    """d and the floors: and at most this long."""
    warmup_requests: int
    """before each measured load (Python clients; wrk warms up for `warmup_seconds`)."""
    warmup_seconds: float
    cached_pool: int = 8
    """d: the pictures asked again and again."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


FULL = Plan(
    batch_sizes=(1, 4, 8, 16),
    inprocess_seconds=10.0,
    concurrency=16,
    model_requests=2000,
    model_seconds=30.0,
    cached_requests=30000,
    cached_seconds=15.0,
    warmup_requests=48,
    warmup_seconds=3.0,
)
QUICK = Plan(
    batch_sizes=(1, 8),
    inprocess_seconds=2.0,
    concurrency=16,
    model_requests=48,
    model_seconds=10.0,
    cached_requests=400,
    cached_seconds=3.0,
    warmup_requests=16,
    warmup_seconds=1.0,
)
