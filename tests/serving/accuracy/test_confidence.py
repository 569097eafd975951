"""The page's "not sure" threshold (frontend/config.py UNSURE_BELOW) is where the shipped photos put it."""

from __future__ import annotations

from pathlib import Path

import pytest

from frontend.config import UNSURE_BELOW
from serving.accuracy.confidence import Calibration, calibrate_version, choose, separation


def test_choose_takes_the_best_separating_threshold() -> None:
    assert choose(right=[0.6, 0.8, 0.9], wrong=[0.1, 0.2, 0.5]) == pytest.approx(0.55)
    # one right answer under a wrong one: the lowest threshold of the best keeps it shown
    assert choose(right=[0.3, 0.7], wrong=[0.4, 0.1]) == pytest.approx(0.2)
    assert separation([0.3, 0.7], [0.4, 0.1], 0.2) == 3


@pytest.fixture(scope="module")
def calibration(efficientnet_base: Path) -> Calibration:
    return calibrate_version(efficientnet_base / "1")


@pytest.mark.slow
def test_the_threshold_is_the_calibrated_one(calibration: Calibration) -> None:
    print(calibration.to_json())
    best = separation(calibration.right_scores, calibration.wrong_scores, calibration.threshold)
    ours = separation(calibration.right_scores, calibration.wrong_scores, UNSURE_BELOW)
    # the same line within rounding across CPUs (scores differ in the last digits between AVX2 and AMX)
    assert abs(calibration.threshold - UNSURE_BELOW) <= 0.05, calibration.threshold
    assert ours >= best - 3
    below_right = sum(s < UNSURE_BELOW for s in calibration.right_scores)
    below_wrong = sum(s < UNSURE_BELOW for s in calibration.wrong_scores)
    assert below_wrong > 2 * below_right  # "not sure" means mostly wrong on these photos
    assert calibration.right > calibration.photos / 2
