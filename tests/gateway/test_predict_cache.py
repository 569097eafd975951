"""The cache hit path of POST /model/predict: in-process LRU, then the database, no image inspection, no
model server call, and the upload still stored under its own extension."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import text
from sqlmodel import select

from gateway.models import Prediction, TopK
from gateway.services.image_check import ImageChecker
from gateway.services.result_cache import ResultCache
from tests.gateway.fake_serving import FakeServing
from tests.gateway.helpers import Gateway, running_gateway
from tests.gateway.helpers import image_bytes as _image_bytes


def image_bytes(fmt: str = "PNG", seed: int = 0) -> bytes:
    """Pictures of a size no other test uses, so no other test's upload is already in the cache."""
    return _image_bytes(fmt, size=(37, 29), seed=seed)


async def _rows_of(api: Gateway, user_id: int) -> list[Prediction]:
    async with api.app.state.sessionmaker() as session:
        query = select(Prediction).where(Prediction.user_id == user_id).order_by(Prediction.id)  # type: ignore[arg-type]
        return list((await session.exec(query)).all())


async def test_same_bytes_with_another_extension_is_a_hit_stored_under_the_new_name(
    api: Gateway, fake: FakeServing, user
) -> None:
    public, headers = user
    data = image_bytes("PNG", seed=401)
    md5 = hashlib.md5(data).hexdigest()
    first = await api.predict(headers, data, filename="a.jpg", content_type="image/jpeg")
    second = await api.predict(headers, data, filename="b.png")
    assert first.status_code == second.status_code == 200, second.text
    assert first.json()["cached"] is False
    assert second.json()["cached"] is True
    assert first.json()["image_file_name"] == f"{md5}.jpg"
    assert second.json()["image_file_name"] == f"{md5}.png"
    assert (api.settings.upload_dir / str(public["id"]) / f"{md5}.jpg").read_bytes() == data
    assert (api.settings.upload_dir / str(public["id"]) / f"{md5}.png").read_bytes() == data
    assert fake.behaviour.predict_calls == 1


async def test_a_hit_skips_inspection_and_serving_and_records_the_row(
    api: Gateway, fake: FakeServing, fresh_user, monkeypatch: pytest.MonkeyPatch
) -> None:
    public, headers = fresh_user
    data = image_bytes("GIF", seed=402)
    inspected: list[int] = []
    real_check = ImageChecker.check

    async def counting_check(self: ImageChecker, raw: bytes):
        inspected.append(len(raw))
        return await real_check(self, raw)

    monkeypatch.setattr(ImageChecker, "check", counting_check)
    first = await api.predict(headers, data, filename="x.gif", content_type="image/gif")
    second = await api.predict(headers, data, filename="x.gif", content_type="image/gif")
    assert first.status_code == second.status_code == 200
    assert inspected == [len(data)]
    assert fake.behaviour.predict_calls == 1
    rows = await _rows_of(api, public["id"])
    assert [(row.cached, row.md5, row.image_file_name) for row in rows] == [
        (False, hashlib.md5(data).hexdigest(), first.json()["image_file_name"]),
        (True, hashlib.md5(data).hexdigest(), first.json()["image_file_name"]),
    ]
    assert rows[1].id == second.json()["prediction_id"]
    assert rows[1].top_k == rows[0].top_k
    assert second.json()["top_k"] == first.json()["top_k"]


async def test_a_hit_restores_a_stored_file_that_was_removed(api: Gateway, fake: FakeServing, user) -> None:
    public, headers = user
    data = image_bytes("JPEG", seed=403)
    first = await api.predict(headers, data, filename="a.jpeg", content_type="image/jpeg")
    path = api.settings.upload_dir / str(public["id"]) / first.json()["image_file_name"]
    path.unlink()
    second = await api.predict(headers, data, filename="a.jpeg", content_type="image/jpeg")
    assert second.json()["cached"] is True
    assert path.read_bytes() == data


async def test_another_worker_without_the_result_in_memory_answers_from_the_database(
    api: Gateway, gateway_settings, fake: FakeServing, user
) -> None:
    _, headers = user
    data = image_bytes("PNG", seed=404)
    first = await api.predict(headers, data)
    async with running_gateway(gateway_settings(serving_target=fake.target, result_cache_entries=0)) as other:
        assert len(other.app.state.results) == 0
        again = await other.predict(headers, data)
        and_again = await other.predict(headers, data)
    assert again.status_code == and_again.status_code == 200
    assert again.json()["cached"] is and_again.json()["cached"] is True
    assert again.json()["top_k"] == first.json()["top_k"]
    assert fake.behaviour.predict_calls == 1


async def test_the_memory_cache_stays_within_its_bound(gateway_settings, fake: FakeServing) -> None:
    async with running_gateway(gateway_settings(serving_target=fake.target, result_cache_entries=2)) as gw:
        _, headers = await gw.sign_up()
        for seed in (410, 411, 412):
            assert (await gw.predict(headers, image_bytes(seed=seed))).json()["cached"] is False
        assert len(gw.app.state.results) == 2
        # The evicted one is still a hit, from the database.
        assert (await gw.predict(headers, image_bytes(seed=410))).json()["cached"] is True
    assert fake.behaviour.predict_calls == 3


def test_result_cache_evicts_the_least_recently_used() -> None:
    cache = ResultCache(3)
    top = (TopK(label="tabby", score=0.5),)
    for n in range(3):
        cache.put((1, f"md5-{n}", "m", 1), top)
    assert cache.get((1, "md5-0", "m", 1)) == top  # now the most recent
    cache.put((1, "md5-3", "m", 1), top)
    assert len(cache) == 3
    assert cache.get((1, "md5-1", "m", 1)) is None
    assert cache.get((1, "md5-0", "m", 1)) == top
    assert cache.get((1, "md5-0", "m", 2)) is None  # another version is another key
    assert cache.get((2, "md5-0", "m", 1)) is None  # another user is another key
    for n in range(100):
        cache.put((1, f"more-{n}", "m", 1), top)
    assert len(cache) == 3


def test_result_cache_of_size_zero_keeps_nothing() -> None:
    cache = ResultCache(0)
    cache.put((1, "md5", "m", 1), (TopK(label="tabby", score=0.5),))
    assert len(cache) == 0
    with pytest.raises(ValueError, match="max_entries"):
        ResultCache(-1)


async def test_sqlite_commits_with_wal_and_synchronous_normal(api: Gateway) -> None:
    if not api.settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite only")
    async with api.app.state.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA synchronous"))).scalar() == 1  # NORMAL
