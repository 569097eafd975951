"""The predict path's grouped database work (gateway/services/grouped_db.py) on the real database:
SQLite, and PostgreSQL with TEST_DATABASE_URL."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from sqlalchemy.exc import IntegrityError

from gateway import crud
from gateway.models import PredictionValues, prediction_values
from tests.gateway.fake_serving import FakeServing
from tests.gateway.helpers import Gateway, image_bytes

NO_SUCH_USER = 2**31 - 2


def _row(user_id: int, n: int) -> PredictionValues:
    return prediction_values(
        user_id=user_id,
        md5=f"{n:032x}",
        image_file_name=f"{n:032x}.png",
        model_name="m",
        model_version=1,
        label="tabby",
        score=0.5,
        top_k=[{"label": "tabby", "score": 0.5}],
    )


async def test_concurrent_predictions_of_several_users_each_get_their_own_row(
    api: Gateway, fake: FakeServing
) -> None:
    users = [await api.sign_up() for _ in range(3)]
    uploads = [(headers, image_bytes("PNG", seed=7100 + i)) for i, (_, headers) in enumerate(users * 4)]
    answers = await asyncio.gather(*(api.predict(headers, data) for headers, data in uploads))
    assert [answer.status_code for answer in answers] == [200] * len(uploads)
    ids = [answer.json()["prediction_id"] for answer in answers]
    assert len(set(ids)) == len(ids)
    for index, (_, headers) in enumerate(users):
        listed = await api.client.get("/model/predictions", headers=headers)
        mine = {ids[i] for i in range(index, len(uploads), len(users))}
        assert {item["prediction_id"] for item in listed.json()["items"]} == mine


async def test_a_row_the_database_refuses_fails_alone_and_the_rest_of_its_group_is_stored(
    api: Gateway, fresh_user: tuple[dict, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    public, _ = fresh_user
    database = api.app.state.grouped_db
    groups: list[int] = []
    add = database.statements.add

    async def counted(rows: Sequence[PredictionValues]) -> list[int]:
        groups.append(len(rows))
        return await add(rows)

    monkeypatch.setattr(database.statements, "add", counted)
    first = asyncio.create_task(database.record(_row(public["id"], 9000)))
    await asyncio.sleep(0)  # the runner is busy with `first`: the next three form one group
    results = await asyncio.gather(
        database.record(_row(public["id"], 9001)),
        database.record(_row(NO_SUCH_USER, 9002)),  # a user deleted meanwhile: the foreign key refuses it
        database.record(_row(public["id"], 9003)),
        return_exceptions=True,
    )
    first_id = await first
    assert groups == [1, 3, 1, 1, 1]  # the group of three refused, then each row in its own transaction
    assert isinstance(results[1], IntegrityError)
    stored = {first_id, results[0], results[2]}
    assert all(isinstance(prediction_id, int) for prediction_id in stored)
    history = await api.client.get("/model/predictions", headers=fresh_user[1])
    assert {item["prediction_id"] for item in history.json()["items"]} == stored  # 9000, 9001, 9003


async def test_a_deleted_user_is_refused_by_the_grouped_lookup_at_once(
    api: Gateway, fresh_user: tuple[dict, dict[str, str]]
) -> None:
    public, headers = fresh_user
    database = api.app.state.grouped_db
    assert (await api.client.get("/user/me", headers=headers)).status_code == 200
    async with api.app.state.sessionmaker() as session:
        user = await crud.get_user_by_email(session, public["email"])
        assert user is not None
        await session.delete(user)
        await session.commit()
    assert await database.user(user.subject) is None
    answer = await api.predict(headers, image_bytes("PNG", seed=7200))
    assert answer.status_code == 401
