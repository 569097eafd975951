"""The one throughput loop counts what it ran (speed itself is measured by benchmarks, not asserted)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from serving.engines.timing import throughput


class Counting:
    def __init__(self) -> None:
        self.calls = 0
        self.threads: set[int] = set()
        self._lock = threading.Lock()

    def __call__(self, batch: Sequence[bytes]) -> None:
        with self._lock:
            self.calls += 1
            self.threads.add(threading.get_ident())


def test_calls_mode_runs_each_caller_exactly_that_often() -> None:
    counting = Counting()
    measured = throughput(counting, [[b"a", b"b"], [b"c", b"d"]], threads=3, calls=4, rounds=2)
    assert counting.calls == 1 + 3 * 4 * 2  # one warm-up call, then threads x calls x rounds
    assert (measured.threads, measured.batch_size) == (3, 2)
    assert measured.images_per_second > 0
    assert measured.cpu_ms_per_image >= 0


def test_seconds_mode_makes_at_least_two_calls_per_caller() -> None:
    counting = Counting()
    throughput(counting, [[b"a"]], threads=2, seconds=0.0)
    assert counting.calls >= 1 + 2 * 2


@pytest.mark.parametrize("bounds", [{}, {"calls": 1, "seconds": 1.0}])
def test_exactly_one_bound_is_given(bounds: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="either calls"):
        throughput(Counting(), [[b"a"]], **bounds)  # type: ignore[arg-type]
