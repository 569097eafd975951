"""gateway/services/canary.py: which users the canary label gets, and what the gateway asks the (fake) model
server for with labels configured; the real server is in test_canary_live.py."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from statistics import NormalDist

import pytest
from prometheus_client import REGISTRY
from pydantic import ValidationError

from gateway.core.config import Settings
from gateway.services.canary import LabelRouter, Route, bucket, in_canary
from tests.gateway.fake_serving import FakeServing
from tests.gateway.helpers import Gateway, image_bytes, running_gateway


def subjects(count: int, seed: int) -> list[str]:
    """Random subjects shaped like models.new_subject's (32 hex digits), the same on every run."""
    rng = random.Random(seed)
    return [f"{rng.getrandbits(128):032x}" for _ in range(count)]


def binomial_bound(n: int, p: float, confidence: float = 0.999) -> float:
    """Half-width of the two-sided `confidence` interval of a Binomial(n, p) count (normal approximation,
    good here: n·p and n·(1-p) are in the thousands)."""
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    return z * math.sqrt(n * p * (1 - p))


@pytest.mark.parametrize("percent", [10.0, 2.5, 50.0])
def test_the_canary_gets_its_share_of_users_within_sampling_error(percent: float) -> None:
    n = 20_000
    users = subjects(n, seed=int(percent * 10))
    in_it = sum(in_canary(s, percent) for s in users)
    expected = n * percent / 100
    assert abs(in_it - expected) <= binomial_bound(n, percent / 100), (in_it, expected)


def test_buckets_are_spread_evenly() -> None:
    """Ten equal ranges of buckets each hold a tenth of the users (a skewed hash would fail some share)."""
    n = 20_000
    counts = [0] * 10
    for s in subjects(n, seed=7):
        counts[bucket(s) * 10 // 10_000] += 1
    bound = binomial_bound(n, 0.1)
    assert all(abs(c - n / 10) <= bound for c in counts), counts


def test_a_user_stays_on_one_side_and_a_larger_share_only_adds_users() -> None:
    router = LabelRouter("stable", "canary", 30)
    users = subjects(2_000, seed=1)
    first = [router.route(s) for s in users]
    assert [LabelRouter("stable", "canary", 30).route(s) for s in users] == first  # no process state
    assert {r.label for r in first} == {"stable", "canary"}
    wider = LabelRouter("stable", "canary", 60)
    for s, route in zip(users, first, strict=True):
        if route.label == "canary":
            assert wider.route(s).label == "canary"


def test_zero_and_hundred_percent_and_no_labels() -> None:
    users = subjects(2_000, seed=2)
    assert {LabelRouter("stable", "canary", 0).route(s) for s in users} == {Route("stable")}
    assert {LabelRouter("stable", "canary", 100).route(s) for s in users} == {Route("canary", "stable")}
    assert {LabelRouter("stable", "", 0).route(s) for s in users} == {Route("stable")}
    assert {LabelRouter("", "", 0).route(s) for s in users} == {Route(None)}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"canary_label": "canary", "canary_percent": 10}, "CANARY_LABEL needs STABLE_LABEL"),
        ({"stable_label": "stable", "canary_label": "stable"}, "must differ"),
        ({"stable_label": "stable", "canary_percent": 10}, "CANARY_LABEL is empty"),
        ({"stable_label": "stable", "canary_label": "canary", "canary_percent": 100.5}, "less than or equal"),
        ({"stable_label": "stable", "canary_label": "canary", "canary_percent": -1}, "greater than or equal"),
        ({"stable_label": "stable/../x"}, "pattern"),
    ],
)
def test_settings_refuse_label_mistakes(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**values)  # type: ignore[arg-type]


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STABLE_LABEL", "stable")
    monkeypatch.setenv("CANARY_LABEL", "canary")
    monkeypatch.setenv("CANARY_PERCENT", "12.5")
    settings = Settings()
    assert (settings.stable_label, settings.canary_label, settings.canary_percent) == (
        "stable",
        "canary",
        12.5,
    )


# ---- through the API, against the fake model server ---------------------------------------------------


def fallbacks(reason: str) -> float:
    return REGISTRY.get_sample_value("gateway_canary_fallbacks_total", {"reason": reason}) or 0.0


@pytest.fixture
def labelled_api(
    gateway_settings: Callable[..., Settings], fake: FakeServing
) -> Callable[..., AbstractAsyncContextManager[Gateway]]:
    """The app with label settings, against the fake server (version 3 unlabelled, stable 3, canary 4)."""
    fake.reset(labels={"stable": 3, "canary": 4})

    def start(**labels: object) -> AbstractAsyncContextManager[Gateway]:
        return running_gateway(gateway_settings(serving_target=fake.target, **labels))

    return start


async def test_without_labels_no_request_names_one(api: Gateway, fake: FakeServing, fresh_user) -> None:
    _, headers = fresh_user
    response = await api.predict(headers, image_bytes(seed=101))
    assert response.status_code == 200, response.text
    assert response.json()["model"] == {"name": "resnet50", "version": 3, "label": None}
    assert fake.behaviour.asked_labels == [""]
    assert fake.behaviour.metadata_calls == 0


async def test_a_canary_user_is_answered_by_the_canary_and_history_says_so(labelled_api, fake) -> None:
    async with labelled_api(stable_label="stable", canary_label="canary", canary_percent=100) as api:
        _, headers = await api.sign_up()
        first = (await api.predict(headers, image_bytes(seed=102))).json()
        assert first["model"] == {"name": "resnet50", "version": 4, "label": "canary"}
        again = (await api.predict(headers, image_bytes(seed=102))).json()
        assert again["cached"] is True
        assert again["model"] == first["model"]
        history = (await api.client.get("/model/predictions", headers=headers)).json()["items"]
        assert [item["model"] for item in history] == [first["model"], first["model"]]
    assert fake.behaviour.asked_labels == ["canary"]  # the repeat was answered from the cache of version 4


async def test_a_stable_user_asks_for_the_stable_label(labelled_api, fake) -> None:
    async with labelled_api(stable_label="stable", canary_label="canary", canary_percent=0) as api:
        _, headers = await api.sign_up()
        body = (await api.predict(headers, image_bytes(seed=103))).json()
    assert body["model"] == {"name": "resnet50", "version": 3, "label": "stable"}
    assert fake.behaviour.asked_labels == ["stable"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"labels": {"stable": 3}}, "unknown_label"),
        ({"mode": "unavailable", "down_labels": {"canary"}}, "unavailable"),
        ({"mode": "not_found", "down_labels": {"canary"}}, "not_found"),
        ({"mode": "slow", "delay": 2.0, "down_labels": {"canary"}}, "deadline_exceeded"),
    ],
)
async def test_a_canary_that_cannot_answer_falls_back_to_stable_and_is_counted(
    labelled_api, fake: FakeServing, change: dict[str, object], reason: str
) -> None:
    before = fallbacks(reason)
    async with labelled_api(
        stable_label="stable", canary_label="canary", canary_percent=100, serving_timeout_seconds=3.0
    ) as api:
        _, headers = await api.sign_up()
        fake.behaviour.__dict__.update(change)
        response = await api.predict(headers, image_bytes(seed=104))
        assert response.status_code == 200, response.text
        assert response.json()["model"] == {"name": "resnet50", "version": 3, "label": "stable"}
        history = (await api.client.get("/model/predictions", headers=headers)).json()["items"]
        assert history[0]["model"]["label"] == "stable"
    *canary, stable = fake.behaviour.asked_labels  # an UNAVAILABLE call is tried twice (the replica retry)
    assert (set(canary), stable) == ({"canary"}, "stable")
    assert fallbacks(reason) == before + 1


async def test_an_image_the_model_cannot_read_does_not_fall_back(labelled_api, fake: FakeServing) -> None:
    before = sum(fallbacks(r) for r in ("invalid_image", "invalid_argument", "error"))
    async with labelled_api(stable_label="stable", canary_label="canary", canary_percent=100) as api:
        _, headers = await api.sign_up()
        fake.behaviour.mode = "invalid"
        response = await api.predict(headers, image_bytes(seed=105))
    assert response.status_code == 400
    assert response.json()["detail"] == "The model could not read this image."
    assert fake.behaviour.asked_labels == ["canary"]
    assert sum(fallbacks(r) for r in ("invalid_image", "invalid_argument", "error")) == before


async def test_an_unknown_stable_label_is_a_clear_503(labelled_api, fake: FakeServing) -> None:
    async with labelled_api(stable_label="blue") as api:
        _, headers = await api.sign_up()
        response = await api.predict(headers, image_bytes(seed=106))
    assert response.status_code == 503
    assert response.json()["detail"] == "Model 'resnet50' has no version labelled 'blue' on the model server."
