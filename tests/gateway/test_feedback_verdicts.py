"""Feedback that a machine can count: `verdict` and `correct_label` on POST /feedback/ (in-process app, each
database), the old free-text-only feedback unchanged, and the Prometheus counter of verdicts."""

from __future__ import annotations

import re

import pytest

from tests.gateway.fake_serving import FakeServing
from tests.gateway.helpers import Gateway, image_bytes


async def _predicted(api: Gateway, headers: dict[str, str], seed: int) -> dict:
    response = await api.predict(headers, image_bytes(seed=seed))
    assert response.status_code == 200, response.text
    return response.json()


def _payload(predicted: dict, **fields: object) -> dict:
    return {
        "score": predicted["score"],
        "predicted_class": predicted["prediction"],
        "image_file_name": predicted["image_file_name"],
        "feedback": "",
        **fields,
    }


async def test_free_text_only_feedback_still_works(api: Gateway, fake: FakeServing, fresh_user) -> None:
    _, headers = fresh_user
    predicted = await _predicted(api, headers, 500)
    payload = _payload(predicted, feedback="correct; comment: an old client folds it into the text")
    created = await api.client.post("/feedback/", json=payload, headers=headers)
    assert created.status_code == 201, created.text
    row = created.json()
    assert row["feedback"] == payload["feedback"]
    assert (row["verdict"], row["correct_label"]) == (None, None)


async def test_verdict_and_correct_label_are_stored_and_listed(
    api: Gateway, fake: FakeServing, fresh_user
) -> None:
    _, headers = fresh_user
    predicted = await _predicted(api, headers, 501)
    assert predicted["prediction"] == "tabby"
    wrong = _payload(predicted, verdict="wrong", correct_label=" Egyptian_cat ", feedback="the ears")
    created = await api.client.post("/feedback/", json=wrong, headers=headers)
    assert created.status_code == 201, created.text
    assert {k: created.json()[k] for k in ("verdict", "correct_label", "feedback")} == {
        "verdict": "wrong",
        "correct_label": "Egyptian_cat",
        "feedback": "the ears",
    }
    right = await api.client.post("/feedback/", json=_payload(predicted, verdict="correct"), headers=headers)
    assert right.status_code == 201, right.text
    wrong_no_label = _payload(predicted, verdict="wrong")
    assert (await api.client.post("/feedback/", json=wrong_no_label, headers=headers)).status_code == 201
    listed = (await api.client.get("/feedback/", headers=headers)).json()
    assert [(f["verdict"], f["correct_label"]) for f in listed] == [
        ("wrong", "Egyptian_cat"),
        ("correct", None),
        ("wrong", None),
    ]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"verdict": "maybe"}, "'correct' or 'wrong'"),
        ({"verdict": "wrong", "correct_label": "not_a_label"}, "not one of the model's labels"),
        ({"verdict": "wrong", "correct_label": "egyptian_cat"}, "not one of the model's labels"),
        ({"verdict": "wrong", "correct_label": " "}, "not one of the model's labels"),
        ({"verdict": "correct", "correct_label": "Egyptian_cat"}, 'only for verdict "wrong"'),
        ({"correct_label": "Egyptian_cat"}, 'only for verdict "wrong"'),
        ({"verdict": "wrong", "correct_label": "tabby"}, "is the predicted class"),
    ],
)
async def test_bad_verdicts_are_422_with_a_clear_message(
    api: Gateway, fake: FakeServing, user, fields: dict, message: str
) -> None:
    _, headers = user
    predicted = await _predicted(api, headers, 502)
    response = await api.client.post("/feedback/", json=_payload(predicted, **fields), headers=headers)
    assert response.status_code == 422, response.text
    assert message in str(response.json()["detail"])
    listed = (await api.client.get("/feedback/", headers=headers)).json()
    assert all(f["image_file_name"] != predicted["image_file_name"] for f in listed)


async def test_a_correct_label_that_the_model_answered_is_422(
    api: Gateway, fake: FakeServing, fresh_user
) -> None:
    """Checked against the stored prediction too, not only the predicted_class the client sends."""
    _, headers = fresh_user
    predicted = await _predicted(api, headers, 503)
    payload = _payload(
        predicted, predicted_class="lynx", verdict="wrong", correct_label=predicted["prediction"]
    )
    response = await api.client.post("/feedback/", json=payload, headers=headers)
    assert response.status_code == 422, response.text
    assert "the label the model predicted" in response.json()["detail"]
    assert (await api.client.get("/feedback/", headers=headers)).json() == []


def _counter(text: str, version: str, label: str, verdict: str) -> float:
    pattern = (
        rf'^gateway_feedback_total\{{model_label="{re.escape(label)}",model_version="{version}",'
        rf'verdict="{verdict}"\}} (\S+)$'
    )
    found = re.search(pattern, text, flags=re.M)
    return float(found.group(1)) if found else 0.0


async def test_verdicts_move_the_prometheus_counter(api: Gateway, fake: FakeServing, fresh_user) -> None:
    _, headers = fresh_user
    predicted = await _predicted(api, headers, 504)
    version = str(predicted["model"]["version"])
    before = (await api.client.get("/metrics")).text
    for fields in (
        {"verdict": "wrong", "correct_label": "lynx"},
        {"verdict": "wrong"},
        {"feedback": "no verdict"},
    ):
        response = await api.client.post("/feedback/", json=_payload(predicted, **fields), headers=headers)
        assert response.status_code == 201, response.text
    after = (await api.client.get("/metrics")).text
    # a prediction made without a version label counts under model_label=""
    assert _counter(after, version, "", "wrong") == _counter(before, version, "", "wrong") + 2
    assert _counter(after, version, "", "correct") == _counter(before, version, "", "correct")
    refused = _payload(predicted, verdict="wrong", correct_label="no_such_label")
    assert (await api.client.post("/feedback/", json=refused, headers=headers)).status_code == 422
    last = (await api.client.get("/metrics")).text
    assert _counter(last, version, "", "wrong") == _counter(after, version, "", "wrong")
