from typing import Annotated

from fastapi import APIRouter, File, UploadFile

from gateway.api.deps import (
    CurrentUser,
    ResultCacheDep,
    ServingDep,
    SessionDep,
    SettingsDep,
    StoreDep,
)
from gateway.models import ErrorDetail, PredictionPublic
from gateway.services.predictions import predict_upload

router = APIRouter(prefix="/model", tags=["model"])
ERRORS = {code: {"model": ErrorDetail} for code in (400, 401, 413, 502, 503, 504)}


@router.post("/predict", response_model=PredictionPublic, responses=ERRORS)
async def predict(
    file: Annotated[UploadFile, File()],
    user: CurrentUser,
    session: SessionDep,
    serving: ServingDep,
    store: StoreDep,
    settings: SettingsDep,
    results: ResultCacheDep,
) -> PredictionPublic:
    """Classify an uploaded PNG/JPEG/GIF. The same bytes again answer from the cache (`cached: true`)."""
    return await predict_upload(file, user, session, serving, store, settings, results)
