"""The predict use case: check the upload, answer from the caller's cache or the model server, store, record.

Order: extension (400), size (413), then the caller's own cache — the in-process LRU, then the database.
The cache is per user: another user's upload of the same bytes is never a hit, so no answer tells anyone
what others uploaded. The same md5 means the same bytes, which passed the image checks when this user's
first prediction of them was made, so a hit skips them; a miss checks the image (400, before any decode
for limits read from the header) and asks the model server, sending it the upload or, for a photo larger
than it takes or in a format it does not decode, a reduced JPEG. The stored file is always the upload. Only
an answered request is stored: the file is written after the model answered (507 when the disk is full),
and removed again if its row cannot be. The row is committed in a group with the other requests' rows
in flight (services/grouped_db.py) before the answer is sent.

With STABLE_LABEL set, each request names a version label, the user's side (gateway/services/canary.py): the
cache is looked up for the version that label points at, and the row records the label and version that
answered (stable, when a canary request fell back).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from starlette.datastructures import UploadFile

from gateway.core.config import Settings
from gateway.core.metrics import PREDICTION_CACHE, PREDICTIONS
from gateway.models import ModelInfo, PredictionPublic, TopK, User, prediction_values
from gateway.services import canary
from gateway.services.grouped_db import GroupedDatabase
from gateway.services.image_check import ImageChecker
from gateway.services.result_cache import ResultCache
from gateway.services.serving_client import ServingClient
from gateway.services.storage import (
    UNSUPPORTED,
    UploadRejectedError,
    UploadStore,
    allowed_extension,
    md5_hex,
    original_name,
    read_limited,
)

log = logging.getLogger("gateway.predict")


@dataclass(frozen=True)
class PredictServices:
    """What the predict use case works with, set up once in the lifespan: one dependency of the route, not
    six (FastAPI resolves every dependency of every request on its own)."""

    settings: Settings
    serving: ServingClient
    store: UploadStore
    checker: ImageChecker
    results: ResultCache
    database: GroupedDatabase


async def cached_result(
    database: GroupedDatabase, results: ResultCache, user_id: int, md5: str, model_name: str, version: int
) -> tuple[TopK, ...] | None:
    """This user's known top-k for these bytes and model version: from memory, else from the database."""
    key = (user_id, md5, model_name, version)
    if (top_k := results.get(key)) is not None:
        return top_k
    stored = await database.cached(key)
    if stored is None:
        return None
    top_k = tuple(TopK.model_validate(item) for item in stored)
    results.put(key, top_k)
    return top_k


async def predict_upload(upload: UploadFile, user: User, services: PredictServices) -> PredictionPublic:
    settings, serving, results, database = (
        services.settings,
        services.serving,
        services.results,
        services.database,
    )
    assert user.id is not None
    ext = allowed_extension(upload.filename)
    if ext is None:
        raise UploadRejectedError(400, UNSUPPORTED)
    data = await read_limited(upload, settings.max_upload_bytes)
    md5 = md5_hex(data)

    route = canary.LabelRouter.from_settings(settings).route(user.subject)
    version = await serving.version_for(route.label)
    top_k: tuple[TopK, ...] | None = None
    if version is not None:
        top_k = await cached_result(database, results, user.id, md5, serving.model_name, version)
    cached = top_k is not None
    serving_ms: float | None = None
    if top_k is not None:
        PREDICTION_CACHE.labels("hit").inc()
        assert version is not None
        model = ModelInfo(name=serving.model_name, version=version, label=route.label)
    else:
        PREDICTION_CACHE.labels("miss").inc()
        result = await canary.classify(serving, await services.checker.check(data), route)
        top_k = tuple(
            TopK(label=label, score=score) for label, score in zip(result.labels, result.scores, strict=True)
        )
        model = ModelInfo(name=result.model_name, version=result.model_version, label=result.label)
        serving_ms = result.serving_ms

    file_name, created = await services.store.save(user.id, data, md5, ext)
    try:
        prediction_id = await database.record(
            prediction_values(
                user_id=user.id,
                md5=md5,
                image_file_name=file_name,
                original_file_name=original_name(upload.filename),
                model_name=model.name,
                model_version=model.version,
                model_label=model.label,
                label=top_k[0].label,
                score=top_k[0].score,
                top_k=[item.model_dump() for item in top_k],
                cached=cached,
                serving_ms=serving_ms,
            ),
        )
    except BaseException:
        if created:  # no row refers to it: leave nothing behind
            await services.store.remove(user.id, file_name)
        raise
    if not cached:  # only once the row is committed, so memory never knows more than the database
        results.put((user.id, md5, model.name, model.version), top_k)
    PREDICTIONS.labels(str(model.version), model.label or "").inc()
    return PredictionPublic(
        prediction=top_k[0].label,
        score=top_k[0].score,
        image_file_name=file_name,
        top_k=list(top_k),
        model=model,
        cached=cached,
        prediction_id=prediction_id,
    )
