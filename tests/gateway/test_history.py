"""Issue 14: the caller's prediction history and its images, feedback tied to a prediction, migration 0002
(in-process app, each database)."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.core.db import alembic_config
from gateway.core.rate_limit import RateLimiter
from gateway.services.storage import original_name
from tests.gateway.fake_serving import FakeServing
from tests.gateway.helpers import Gateway, image_bytes


async def test_history_is_the_callers_own_newest_first_and_paginated(
    api: Gateway, fake: FakeServing, fresh_user
) -> None:
    _, headers = fresh_user
    sent = []
    for seed, name in ((1301, "first.png"), (1302, "second.jpg"), (1303, "third.gif")):
        fmt = {"png": "PNG", "jpg": "JPEG", "gif": "GIF"}[name.rsplit(".", 1)[1]]
        answer = await api.predict(headers, image_bytes(fmt, seed=seed), filename=name)
        assert answer.status_code == 200, answer.text
        sent.append(answer.json())
    page = await api.client.get("/model/predictions", params={"limit": 2}, headers=headers)
    assert page.status_code == 200
    body = page.json()
    assert (body["total"], body["limit"], body["offset"]) == (3, 2, 0)
    assert [item["prediction_id"] for item in body["items"]] == [
        sent[2]["prediction_id"],
        sent[1]["prediction_id"],
    ]
    newest = body["items"][0]
    assert newest["image_file_name"] == sent[2]["image_file_name"]
    assert newest["original_file_name"] == "third.gif"
    assert newest["prediction"] == sent[2]["prediction"]
    assert newest["score"] == sent[2]["score"]
    assert newest["top_k"] == sent[2]["top_k"]
    assert newest["model"] == sent[2]["model"]
    assert datetime.fromisoformat(newest["created_at"]).tzinfo is not None
    rest = (await api.client.get("/model/predictions?limit=2&offset=2", headers=headers)).json()
    assert [item["original_file_name"] for item in rest["items"]] == ["first.png"]
    _, other = await api.sign_up()
    assert (await api.client.get("/model/predictions", headers=other)).json() == {
        "items": [],
        "total": 0,
        "limit": 20,
        "offset": 0,
    }


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "offset=-1", "limit=x"])
async def test_history_pages_are_bounded(api: Gateway, user, query: str) -> None:
    _, headers = user
    assert (await api.client.get(f"/model/predictions?{query}", headers=headers)).status_code == 422


async def test_history_needs_a_token(api: Gateway) -> None:
    assert (await api.client.get("/model/predictions")).status_code == 401
    assert (await api.client.get("/model/predictions/1/image")).status_code == 401


async def test_a_prediction_image_is_served_to_its_owner_only(
    api: Gateway, fake: FakeServing, fresh_user
) -> None:
    public, headers = fresh_user
    data = image_bytes("JPEG", seed=1310)
    predicted = (await api.predict(headers, data, filename="cat.jpeg", content_type="image/jpeg")).json()
    url = f"/model/predictions/{predicted['prediction_id']}/image"
    image = await api.client.get(url, headers=headers)
    assert image.status_code == 200
    assert image.content == data
    assert image.headers["content-type"] == "image/jpeg"
    assert image.headers["x-content-type-options"] == "nosniff"
    _, other = await api.sign_up()
    assert (await api.client.get(url, headers=other)).status_code == 404
    assert (await api.client.get("/model/predictions/999999999/image", headers=headers)).status_code == 404
    # Uploads stored before per-user folders (flat in UPLOAD_DIR) are still found.
    stored = api.settings.upload_dir / str(public["id"]) / predicted["image_file_name"]
    legacy = stored.rename(api.settings.upload_dir / predicted["image_file_name"])
    assert (await api.client.get(url, headers=headers)).content == data
    legacy.unlink()
    gone = await api.client.get(url, headers=headers)
    assert gone.status_code == 404
    assert "no longer stored" in gone.json()["detail"]


async def test_feedback_names_its_prediction(api: Gateway, fake: FakeServing, fresh_user) -> None:
    _, headers = fresh_user
    predicted = (await api.predict(headers, image_bytes(seed=1320))).json()
    payload = {
        "score": predicted["score"],
        "predicted_class": predicted["prediction"],
        "image_file_name": predicted["image_file_name"],
        "feedback": "right",
    }
    created = (await api.client.post("/feedback/", json=payload, headers=headers)).json()
    assert created["prediction_id"] == predicted["prediction_id"]
    listed = (await api.client.get("/feedback/", headers=headers)).json()
    assert [row["prediction_id"] for row in listed] == [predicted["prediction_id"]]


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("Holiday Photo.JPG", "Holiday Photo.JPG"),
        ("../../etc/pass\x01wd.png", "passwd.png"),
        ("C:\\Users\\ann\\cat.jpeg", "cat.jpeg"),
        ("<script>x</script>.gif", "script.gif"),
        ("   ", None),
        ("", None),
        (".hidden.png", "hidden.png"),
        ("photo\u202egnp.exe.png", "photognp.exe.png"),  # a right-to-left override would disguise it
        ("a" * 400 + ".png", "a" * 251 + ".png"),
    ],
)
def test_original_file_names_are_sanitised(given: str, kept: str | None) -> None:
    assert original_name(given) == kept


async def test_original_file_name_is_stored_sanitised(api: Gateway, fake: FakeServing, fresh_user) -> None:
    _, headers = fresh_user
    await api.predict(headers, image_bytes(seed=1330), filename="../../" + "b" * 300 + ".png")
    item = (await api.client.get("/model/predictions", headers=headers)).json()["items"][0]
    assert item["original_file_name"] == "b" * 251 + ".png"


def test_rate_limiter_refills_over_its_window() -> None:
    now = [0.0]
    limiter = RateLimiter(5, 60.0, clock=lambda: now[0])
    assert [limiter.acquire("k") for _ in range(5)] == [None] * 5
    wait = limiter.acquire("k")
    assert wait == pytest.approx(12.0)  # one attempt back every 60 / 5 seconds
    assert limiter.acquire("other") is None  # keys are independent
    now[0] += 12.0
    assert limiter.acquire("k") is None
    assert limiter.acquire("k") is not None
    limiter.refund("k")
    assert limiter.acquire("k") is None


async def test_migration_0002_keeps_predictions_and_drops_unlinked_feedback(fresh_database_url: str) -> None:
    """An 0001 database with rows, upgraded the way the gateway does it at start-up."""
    config = alembic_config(fresh_database_url)
    await asyncio.to_thread(command.upgrade, config, "0001")
    engine = create_async_engine(fresh_database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO users (id, name, email, hashed_password, created_at) "
                    "VALUES (1, 'A', 'a@example.com', 'x', CURRENT_TIMESTAMP)"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO predictions (id, user_id, md5, image_file_name, model_name, model_version, "
                    "label, score, top_k, cached, created_at) VALUES (1, 1, 'm', 'm.png', 'r', 1, 'tabby', "
                    "0.5, '[]', false, CURRENT_TIMESTAMP)"
                )
            )
            for feedback_id, prediction_id in ((1, "1"), (2, "NULL")):
                await conn.execute(
                    text(
                        "INSERT INTO feedback (id, user_id, prediction_id, image_file_name, predicted_class, "
                        f"score, feedback, created_at) VALUES ({feedback_id}, 1, {prediction_id}, 'm.png', "
                        "'tabby', 0.5, '', CURRENT_TIMESTAMP)"
                    )
                )
        await asyncio.to_thread(command.upgrade, config, "0002")
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar() == "0002"
            assert (await conn.execute(text("SELECT id FROM feedback"))).scalars().all() == [1]
            row = (await conn.execute(text("SELECT id, original_file_name FROM predictions"))).one()
            assert tuple(row) == (1, None)
            indexes = await conn.run_sync(lambda sync: inspect(sync).get_indexes("predictions"))
        names = {index["name"] for index in indexes}
        assert {"ix_predictions_user_cache_key", "ix_predictions_user_history"} <= names
        assert "ix_predictions_cache_key" not in names
    finally:
        await engine.dispose()
