"""Each model version judged by its users (GET /model/evaluation).

A version is a (model_name, model_version, model_label) triple: the same version asked for as `stable` and
as `canary` is judged twice. Counting happens in SQL (GROUP BY):
- `predictions`: every Prediction row of the version, cache hits included (each is an answer a user got);
- `feedback`: predictions with a verdict, each counted once, by its latest verdict (one user sending
  `wrong` five times on one prediction counts once, as whatever they said last); `correct` among them;
- `confused`: the latest `wrong` verdicts that name the right label, as (what the model answered, what the
  user says is right) pairs, the TOP_CONFUSED most frequent per version (a window function picks them;
  among pairs as frequent, the one reported last first: no tie depends on a database's collation).
Latency percentiles are computed here in Python over each version's LATENCY_WINDOW most recent timed
predictions (`serving_ms` is None on cache hits, which are left out): SQLite has no percentile function,
and a bounded window keeps the answer's cost flat as the table grows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

from sqlalchemy import Row, Select, Subquery, case, func, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from gateway.models import ConfusedPair, EvaluationReport, Feedback, Prediction, VersionEvaluation

LATENCY_WINDOW = 1000
TOP_CONFUSED = 5
Z_95 = NormalDist().inv_cdf(0.975)  # 1.959964…

VersionKey = tuple[str, int, str | None]
AnySelect = Select[*tuple[Any, ...]]


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval of a binomial proportion (95 % by default); None without trials. Unlike
    p ± z·sqrt(p(1-p)/n), it stays inside [0, 1] and is not zero-width at 0/n or n/n."""
    if trials <= 0:
        return None
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be within 0..{trials}, got {successes}")
    p = successes / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation between the closest ranks (numpy's default);
    None for no values."""
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within 0..100, got {q}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _latest_verdicts() -> Subquery:
    """Each prediction's latest feedback that has a verdict (its id), as a subquery."""
    return (
        select(func.max(Feedback.id).label("id"))
        .where(col(Feedback.verdict).is_not(None), col(Feedback.prediction_id).is_not(None))
        .group_by(col(Feedback.prediction_id))
        .subquery()
    )


async def _rows(session: AsyncSession, statement: AnySelect) -> Sequence[Row[*tuple[Any, ...]]]:
    """Core rows (SQLModel's `exec` types at most four columns; the connection runs any statement)."""
    connection = await session.connection()
    return (await connection.execute(statement)).all()


async def evaluation_report(session: AsyncSession, model_name: str | None = None) -> EvaluationReport:
    """Every version that answered a prediction (of `model_name` only, when given), sorted by model name,
    version and label (no label first)."""
    name, version, label = (
        col(Prediction.model_name),
        col(Prediction.model_version),
        col(Prediction.model_label),
    )

    def scoped(statement: AnySelect) -> AnySelect:
        return statement.where(name == model_name) if model_name is not None else statement

    counted = await _rows(
        session, scoped(select(name, version, label, func.count()).group_by(name, version, label))
    )
    predictions: dict[VersionKey, int] = {(n, v, lb): int(c) for n, v, lb, c in counted}

    latest = _latest_verdicts()
    judged = (
        select(
            name,
            version,
            label,
            func.count(),
            func.sum(case((col(Feedback.verdict) == "correct", 1), else_=0)),
        )
        .join(Feedback, col(Feedback.prediction_id) == col(Prediction.id))
        .join(latest, latest.c.id == col(Feedback.id))
        .group_by(name, version, label)
    )
    verdicts: dict[VersionKey, tuple[int, int]] = {
        (n, v, lb): (int(total), int(correct or 0))
        for n, v, lb, total, correct in await _rows(session, scoped(judged))
    }

    pairs_count = func.count().label("pairs")
    rank = (
        func.row_number()
        .over(
            partition_by=(name, version, label),
            order_by=(pairs_count.desc(), func.max(col(Feedback.id)).desc()),
        )
        .label("pair_rank")
    )
    ranked = scoped(
        select(name, version, label, col(Prediction.label), col(Feedback.correct_label), pairs_count, rank)
        .join(Feedback, col(Feedback.prediction_id) == col(Prediction.id))
        .join(latest, latest.c.id == col(Feedback.id))
        .where(
            col(Feedback.verdict) == "wrong",
            col(Feedback.correct_label).is_not(None),
            col(Feedback.correct_label) != col(Prediction.label),
        )
        .group_by(name, version, label, col(Prediction.label), col(Feedback.correct_label))
    ).subquery()
    top = select(ranked).where(ranked.c.pair_rank <= TOP_CONFUSED).order_by(ranked.c.pair_rank)
    confused: dict[VersionKey, list[ConfusedPair]] = {}
    for n, v, lb, predicted, actual, count, _rank in await _rows(session, top):
        confused.setdefault((n, v, lb), []).append(
            ConfusedPair(predicted=predicted, actual=actual, count=int(count))
        )

    versions = []
    for key in sorted(predictions, key=lambda k: (k[0], k[1], k[2] is not None, k[2] or "")):
        n, v, lb = key
        timings = await _rows(
            session,
            select(col(Prediction.serving_ms))
            .where(
                name == n,
                version == v,
                label.is_not_distinct_from(lb),
                col(Prediction.serving_ms).is_not(None),
            )
            .order_by(col(Prediction.id).desc())
            .limit(LATENCY_WINDOW),
        )
        latencies = [float(ms) for (ms,) in timings]
        total, correct = verdicts.get(key, (0, 0))
        interval = wilson_interval(correct, total)
        versions.append(
            VersionEvaluation(
                model_name=n,
                model_version=v,
                model_label=lb,
                predictions=predictions[key],
                feedback=total,
                feedback_rate=total / predictions[key],
                correct=correct,
                accuracy=correct / total if total else None,
                accuracy_low=interval[0] if interval else None,
                accuracy_high=interval[1] if interval else None,
                confused=confused.get(key, []),
                latency_ms_p50=percentile(latencies, 50),
                latency_ms_p95=percentile(latencies, 95),
            )
        )
    return EvaluationReport(versions=versions)
