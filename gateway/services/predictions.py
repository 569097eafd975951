"""The predict use case: check the upload, store it, answer from the cache or the model server, record."""

from __future__ import annotations

import asyncio
import logging

from fastapi import UploadFile
from sqlmodel.ext.asyncio.session import AsyncSession

from gateway import crud
from gateway.core.config import Settings
from gateway.core.metrics import PREDICTION_CACHE
from gateway.models import ModelInfo, Prediction, PredictionPublic, TopK, User
from gateway.services.serving_client import ServingClient
from gateway.services.storage import (
    UNSUPPORTED,
    UploadRejectedError,
    UploadStore,
    allowed_extension,
    inspect_image,
    md5_hex,
    read_limited,
)

log = logging.getLogger("gateway.predict")


async def predict_upload(
    upload: UploadFile,
    user: User,
    session: AsyncSession,
    serving: ServingClient,
    store: UploadStore,
    settings: Settings,
) -> PredictionPublic:
    ext = allowed_extension(upload.filename)
    if ext is None:
        raise UploadRejectedError(400, UNSUPPORTED)
    data = await read_limited(upload, settings.max_upload_bytes)
    await asyncio.to_thread(inspect_image, data, settings.max_image_pixels)
    md5 = md5_hex(data)
    file_name = await store.save(data, ext)

    version = await serving.latest_version()
    cached = None
    if version is not None:
        cached = await crud.find_cached_prediction(session, md5, serving.model_name, version)
    if cached is not None:
        PREDICTION_CACHE.labels("hit").inc()
        top_k = [TopK.model_validate(item) for item in cached.top_k]
        model = ModelInfo(name=cached.model_name, version=cached.model_version)
    else:
        PREDICTION_CACHE.labels("miss").inc()
        result = await serving.classify(data)
        top_k = [
            TopK(label=label, score=score) for label, score in zip(result.labels, result.scores, strict=True)
        ]
        model = ModelInfo(name=result.model_name, version=result.model_version)

    assert user.id is not None
    record = await crud.add_prediction(
        session,
        Prediction(
            user_id=user.id,
            md5=md5,
            image_file_name=file_name,
            model_name=model.name,
            model_version=model.version,
            label=top_k[0].label,
            score=top_k[0].score,
            top_k=[item.model_dump() for item in top_k],
            cached=cached is not None,
        ),
    )
    assert record.id is not None
    return PredictionPublic(
        prediction=top_k[0].label,
        score=top_k[0].score,
        image_file_name=file_name,
        top_k=top_k,
        model=model,
        cached=cached is not None,
        prediction_id=record.id,
    )
