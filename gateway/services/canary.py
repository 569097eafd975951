"""Which version label a user's predictions ask for: STABLE_LABEL, or CANARY_LABEL for CANARY_PERCENT of
the users.

The side is a pure function of the user's subject (their random, never reused account id): the same on every
request, in every worker and every gateway pod, with no state to share. A user's bucket never changes, so
raising CANARY_PERCENT only adds users to the canary (those already there stay), and lowering it only moves
users back to stable.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

from gateway.core.config import Settings
from gateway.core.metrics import CANARY_FALLBACKS
from gateway.services.serving_client import Classification, ServingClient, ServingError

BUCKETS = 10_000  # 0.01 % steps
CANARY_SHARE = 0.5
log = logging.getLogger("gateway.canary")


def bucket(subject: str) -> int:
    """The user's place in 0..BUCKETS-1, uniform over random subjects."""
    digest = hashlib.sha256(subject.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def in_canary(subject: str, percent: float) -> bool:
    return bucket(subject) < percent * BUCKETS / 100


@dataclass(frozen=True)
class Route:
    """The label to ask for (None: no label, the latest version) and, for a canary request, the label that
    answers when the canary cannot."""

    label: str | None
    fallback: str | None = None


NO_LABELS = Route(None)


class LabelRouter:
    def __init__(self, stable_label: str, canary_label: str, canary_percent: float) -> None:
        self.stable = stable_label or None
        self.canary = canary_label or None
        self.percent = canary_percent if self.canary else 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> LabelRouter:
        return cls(settings.stable_label, settings.canary_label, settings.canary_percent)

    def shares(self) -> list[tuple[str, float]]:
        """(label, percent of users) for stable, then the canary; [] when no label is named."""
        if self.stable is None:
            return []
        canary = [(self.canary, self.percent)] if self.canary is not None else []
        return [(self.stable, 100.0 - self.percent), *canary]

    def route(self, subject: str) -> Route:
        if self.stable is None:
            return NO_LABELS
        if self.canary is not None and in_canary(subject, self.percent):
            return Route(self.canary, fallback=self.stable)
        return Route(self.stable)


async def classify(serving: ServingClient, image: bytes, route: Route) -> Classification:
    """The answer of the route's label. A canary request that fails for any reason but the caller's image
    (one the model cannot read) is asked again of the stable label, within the same deadline, and counted;
    the canary gets at most CANARY_SHARE of the deadline, so that stable still has time to answer."""
    if route.fallback is None:
        return await serving.classify(image, route.label)
    deadline = time.monotonic() + serving.timeout
    try:
        return await serving.classify(
            image, route.label, budget=serving.timeout * CANARY_SHARE, deadline=deadline
        )
    except ServingError as exc:
        if exc.users_fault:
            raise
        CANARY_FALLBACKS.labels(exc.reason).inc()
        log.warning("canary label %r did not answer (%s); asking %r", route.label, exc.reason, route.fallback)
    return await serving.classify(image, route.fallback, deadline=deadline)
