"""loadtest/measure.py: the wait between a compiled generator's warmup and its measured window."""

from __future__ import annotations

import pytest

from loadtest.measure import MAX_DRAIN_S, drain_seconds
from loadtest.tools import ToolRun


@pytest.mark.parametrize(
    ("p99_ms", "expected"),
    [(1400.0, 2.8), (20.0, 0.04), (None, 0.0), (60_000.0, MAX_DRAIN_S)],
)
def test_the_measured_window_waits_for_what_the_warmup_left_in_flight(
    p99_ms: float | None, expected: float
) -> None:
    warmup = ToolRun(figures={"p99_ms": p99_ms, "requests": 10}, cpu_seconds=0.1)
    assert drain_seconds(warmup) == pytest.approx(expected)
