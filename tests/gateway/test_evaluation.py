"""GET /model/evaluation: each model version judged by its users' verdicts (in-process app, each database),
for admins only; and the interval and percentile it reports, against textbook values."""

from __future__ import annotations

import math
import uuid
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pytest

from contracts import demo
from gateway.models import Prediction
from gateway.services.evaluation import TOP_CONFUSED, percentile, wilson_interval
from tests.gateway.fake_serving import FakeServing
from tests.gateway.helpers import Gateway, image_bytes, running_gateway, unique_email

# ---- the interval and the percentiles --------------------------------------------------------------


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        (8, 10, 0.490, 0.943),  # Wilson (1927) / Newcombe (1998), the usual worked example
        (0, 10, 0.000, 0.278),
        (10, 10, 0.722, 1.000),
        (1, 2, 0.095, 0.905),
        (81, 263, 0.255, 0.366),  # Newcombe's table I example 81/263
    ],
)
def test_wilson_interval_matches_textbook_values(
    successes: int, trials: int, low: float, high: float
) -> None:
    interval = wilson_interval(successes, trials)
    assert interval is not None
    assert interval == (pytest.approx(low, abs=5e-4), pytest.approx(high, abs=5e-4))


def test_wilson_interval_without_trials_or_out_of_range() -> None:
    assert wilson_interval(0, 0) is None
    with pytest.raises(ValueError, match=r"within 0\.\.10"):
        wilson_interval(11, 10)


def test_percentile_interpolates_like_numpy() -> None:
    values = [12.0, 3.5, 7.0, 40.0, 9.25, 1.0, 18.0]
    for q in (0, 10, 50, 95, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert percentile([5.0], 95) == 5.0
    assert percentile([], 50) is None


# ---- who may read it -------------------------------------------------------------------------------


async def test_evaluation_is_for_admins_only(api: Gateway, admin_headers: dict[str, str], fresh_user) -> None:
    assert (await api.client.get("/model/evaluation")).status_code == 401
    _, headers = fresh_user
    refused = await api.client.get("/model/evaluation", headers=headers)
    assert refused.status_code == 403
    assert "admin" in refused.json()["detail"]
    allowed = await api.client.get("/model/evaluation", headers=admin_headers)
    assert allowed.status_code == 200, allowed.text
    assert isinstance(allowed.json()["versions"], list)


async def test_registration_cannot_make_an_admin(api: Gateway) -> None:
    email = unique_email()
    body = {"name": "Mallory", "email": email, "password": "s3cret-pass", "is_admin": True}
    assert (await api.client.post("/user/", json=body)).status_code == 201
    headers = await api.login(email, "s3cret-pass")
    assert (await api.client.get("/model/evaluation", headers=headers)).status_code == 403


async def test_the_configured_admin_email_becomes_admin_at_start_up(
    api: Gateway, gateway_settings, fake: FakeServing
) -> None:
    """A user who registered before their email was made ADMIN_EMAIL gets the flag when the gateway starts
    (their password stays theirs)."""
    email = unique_email()
    created = await api.client.post("/user/", json={"name": "Ops", "email": email, "password": "ops-pass-1"})
    assert created.status_code == 201
    headers = await api.login(email, "ops-pass-1")
    assert (await api.client.get("/model/evaluation", headers=headers)).status_code == 403
    settings = gateway_settings(serving_target=fake.target, admin_email=email, admin_password="another-pass")
    async with running_gateway(settings) as restarted:
        again = await restarted.login(email, "ops-pass-1")
        assert (await restarted.client.get("/model/evaluation", headers=again)).status_code == 200
    # the demo admin (contracts.demo) is still an admin as well
    demo_headers = await api.login(demo.ADMIN_EMAIL, demo.ADMIN_PASSWORD)
    assert (await api.client.get("/model/evaluation", headers=demo_headers)).status_code == 200


# ---- the figures, against a hand count -------------------------------------------------------------


@dataclass(frozen=True)
class Made:
    """A prediction the test stores: which version and label answered, what, and how fast."""

    version: int
    label: str | None
    predicted: str
    serving_ms: float | None  # None: a cache hit


STABLE, CANARY = "stable", "canary"
MADE = [
    # version 1 as stable: 9 predictions, one of them a cache hit
    Made(1, STABLE, "tabby", 12.0),
    Made(1, STABLE, "tabby", 15.0),
    Made(1, STABLE, "tabby", None),
    Made(1, STABLE, "lynx", 30.0),
    Made(1, STABLE, "lynx", 11.0),
    Made(1, STABLE, "tiger_cat", 19.0),
    Made(1, STABLE, "tiger_cat", 14.0),
    Made(1, STABLE, "Persian_cat", 40.0),
    Made(1, STABLE, "Egyptian_cat", 9.0),
    # version 2 as canary
    Made(2, CANARY, "tabby", 21.0),
    Made(2, CANARY, "tabby", 25.0),
    Made(2, CANARY, "lynx", 22.0),
    Made(2, CANARY, "lynx", None),
    # version 2 asked for without a label (before the canary was configured)
    Made(2, None, "tabby", 18.0),
    Made(2, None, "tabby", 17.0),
    Made(1, STABLE, "lynx", 13.0),
]
# (index into MADE, verdict, correct_label, free text), in the order sent
SENT: list[tuple[int, str | None, str | None, str]] = [
    (0, "correct", None, ""),
    (1, "wrong", "tiger_cat", ""),
    (2, "wrong", "tiger_cat", "first thought"),
    (2, "correct", None, "changed my mind"),  # the latest verdict on index 2 counts, once
    (3, "wrong", "Egyptian_cat", ""),
    (3, "wrong", "Egyptian_cat", "again"),  # repeated: still one
    (3, "wrong", "Egyptian_cat", "and again"),
    (4, "wrong", "tabby", ""),
    (5, "wrong", "tabby", ""),
    (6, "wrong", "Egyptian_cat", ""),
    (7, "wrong", "Siamese_cat", ""),
    (8, "wrong", None, "no idea what it is"),  # wrong, naming no label: counted, not confused
    (9, "correct", None, ""),
    (10, "wrong", "Egyptian_cat", ""),
    (11, None, None, "just a comment"),  # free text only: not a verdict
    (13, "correct", None, ""),
    (15, "wrong", "Egyptian_cat", ""),  # (lynx, Egyptian_cat) a second time: the most confused pair
]


def hand_count(model_name: str) -> list[dict]:
    """What the report must say, counted here from MADE and SENT."""
    latest: dict[int, tuple[str, str | None, int]] = {}  # verdict, right label, when it was sent
    for sent_at, (index, verdict, correct_label, _text) in enumerate(SENT):
        if verdict is not None:
            latest[index] = (verdict, correct_label, sent_at)
    expected = []
    keys = sorted({(m.version, m.label) for m in MADE}, key=lambda k: (k[0], k[1] is not None, k[1] or ""))
    for version, label in keys:
        mine = [i for i, m in enumerate(MADE) if (m.version, m.label) == (version, label)]
        judged = [i for i in mine if i in latest]
        correct = sum(latest[i][0] == "correct" for i in judged)
        wrong = [i for i in judged if latest[i][0] == "wrong" and latest[i][1] is not None]
        pairs = Counter((MADE[i].predicted, latest[i][1]) for i in wrong)
        last_sent = {
            (MADE[i].predicted, latest[i][1]): latest[i][2] for i in sorted(wrong, key=lambda i: latest[i][2])
        }
        # the most frequent first; among as frequent, the one whose verdict came last
        top = sorted(pairs.items(), key=lambda item: (-item[1], -last_sent[item[0]]))[:TOP_CONFUSED]
        timed = [MADE[i].serving_ms for i in mine if MADE[i].serving_ms is not None]
        interval = wilson_interval(correct, len(judged))
        expected.append(
            {
                "model_name": model_name,
                "model_version": version,
                "model_label": label,
                "predictions": len(mine),
                "feedback": len(judged),
                "feedback_rate": len(judged) / len(mine),
                "correct": correct,
                "accuracy": correct / len(judged) if judged else None,
                "accuracy_low": interval[0] if interval else None,
                "accuracy_high": interval[1] if interval else None,
                "confused": [{"predicted": p, "actual": a, "count": c} for (p, a), c in top],
                "latency_ms_p50": float(np.percentile(timed, 50)) if timed else None,
                "latency_ms_p95": float(np.percentile(timed, 95)) if timed else None,
            }
        )
    return expected


def _close(actual: object, expected: object) -> bool:
    if isinstance(expected, float) and isinstance(actual, float):
        return math.isclose(actual, expected, rel_tol=1e-9)
    return actual == expected


async def test_the_figures_match_a_hand_count(
    api: Gateway, fake: FakeServing, admin_headers: dict[str, str]
) -> None:
    model_name = f"judged-{uuid.uuid4().hex[:8]}"  # this test's rows only (the session's database is shared)
    users = [await api.sign_up(), await api.sign_up()]
    sessionmaker = api.app.state.sessionmaker
    names = []
    async with sessionmaker() as session:
        for index, made in enumerate(MADE):
            user, _headers = users[index % 2]
            name = f"{uuid.uuid4().hex}.png"
            names.append(name)
            session.add(
                Prediction(
                    user_id=user["id"],
                    md5=name[:32],
                    image_file_name=name,
                    model_name=model_name,
                    model_version=made.version,
                    model_label=made.label,
                    label=made.predicted,
                    score=0.5,
                    top_k=[{"label": made.predicted, "score": 0.5}],
                    cached=made.serving_ms is None,
                    serving_ms=made.serving_ms,
                )
            )
        await session.commit()
    for index, verdict, correct_label, text in SENT:
        _user, headers = users[index % 2]
        payload = {
            "score": 0.5,
            "predicted_class": MADE[index].predicted,
            "image_file_name": names[index],
            "feedback": text,
            "verdict": verdict,
            "correct_label": correct_label,
        }
        response = await api.client.post("/feedback/", json=payload, headers=headers)
        assert response.status_code == 201, response.text

    report = await api.client.get(
        "/model/evaluation", headers=admin_headers, params={"model_name": model_name}
    )
    assert report.status_code == 200, report.text
    versions = report.json()["versions"]
    expected = hand_count(model_name)
    assert [(v["model_version"], v["model_label"]) for v in versions] == [(1, STABLE), (2, None), (2, CANARY)]
    for got, want in zip(versions, expected, strict=True):
        assert got.keys() == want.keys()
        mismatched = {k: (got[k], want[k]) for k in want if not _close(got[k], want[k])}
        assert not mismatched, f"version {want['model_version']} {want['model_label']}: {mismatched}"

    stable = versions[0]
    assert (stable["predictions"], stable["feedback"], stable["correct"]) == (10, 10, 2)  # judged once each
    assert [(c["predicted"], c["actual"], c["count"]) for c in stable["confused"]] == [
        ("lynx", "Egyptian_cat", 2),
        ("Persian_cat", "Siamese_cat", 1),
        ("tiger_cat", "Egyptian_cat", 1),
        ("tiger_cat", "tabby", 1),
        ("lynx", "tabby", 1),
    ]  # six pairs: (tabby, tiger_cat), the oldest of the single ones, is past the top five

    everything = (await api.client.get("/model/evaluation", headers=admin_headers)).json()["versions"]
    assert [v for v in everything if v["model_name"] == model_name] == versions


async def test_predictions_through_the_api_report_their_latency(
    api: Gateway, fake: FakeServing, fresh_user, admin_headers: dict[str, str]
) -> None:
    """The gateway's own timing of the model server (Prediction.serving_ms) feeds the percentiles; a cache
    hit is counted as a prediction but has no timing."""
    _, headers = fresh_user
    data = image_bytes(seed=610)
    first = (await api.predict(headers, data)).json()
    assert (await api.predict(headers, data)).json()["cached"] is True
    model = first["model"]
    report = await api.client.get(
        "/model/evaluation", headers=admin_headers, params={"model_name": model["name"]}
    )
    (version,) = [
        v
        for v in report.json()["versions"]
        if (v["model_version"], v["model_label"]) == (model["version"], model.get("label"))
    ]
    assert version["predictions"] >= 2
    assert version["latency_ms_p50"] is not None
    assert 0 < version["latency_ms_p50"] <= version["latency_ms_p95"]
