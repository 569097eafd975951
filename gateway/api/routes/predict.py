from typing import Annotated, Any

from fastapi import APIRouter, File, HTTPException, Path, Query, UploadFile, status
from fastapi.responses import FileResponse

from gateway import crud
from gateway.api.deps import AuthenticatedRoute, CurrentUser, PredictServicesDep, SessionDep, StoreDep
from gateway.models import ErrorDetail, PredictionPage, PredictionPublic, PredictionRecord
from gateway.services.predictions import predict_upload
from gateway.services.storage import CONTENT_TYPES

router = APIRouter(prefix="/model", tags=["model"], route_class=AuthenticatedRoute)
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorDetail} for code in (400, 401, 413, 502, 503, 504, 507)
}
NOT_FOUND = "No such prediction of yours."
MAX_ID = 2**31 - 1  # the id column is a 32-bit integer on PostgreSQL


@router.post("/predict", response_model=PredictionPublic, responses=ERRORS)
async def predict(
    file: Annotated[UploadFile, File()], user: CurrentUser, services: PredictServicesDep
) -> PredictionPublic:
    """Classify an uploaded PNG/JPEG/GIF/WebP/HEIC photo. The same bytes again from the same user answer
    from the cache (`cached: true`)."""
    return await predict_upload(file, user, services)


@router.get("/predictions", response_model=PredictionPage, responses={401: {"model": ErrorDetail}})
async def list_predictions(
    user: CurrentUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> PredictionPage:
    """The signed-in user's predictions, newest first."""
    rows, total = await crud.list_predictions(session, user, offset, limit)
    return PredictionPage(
        items=[PredictionRecord.of(row) for row in rows], total=total, limit=limit, offset=offset
    )


@router.get(
    "/predictions/{prediction_id}/image",
    response_class=FileResponse,
    response_model=None,
    responses={
        200: {"content": {media: {} for media in sorted(set(CONTENT_TYPES.values()))}},
        401: {"model": ErrorDetail},
        404: {"model": ErrorDetail},
    },
)
async def prediction_image(
    prediction_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    user: CurrentUser,
    session: SessionDep,
    store: StoreDep,
) -> FileResponse:
    """The image of one of the signed-in user's predictions (404 for anyone else's, or when it is gone)."""
    prediction = await crud.get_own_prediction(session, user, prediction_id)
    if prediction is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    path = store.stored_path(prediction.user_id, prediction.image_file_name)
    ext = "." + prediction.image_file_name.rsplit(".", 1)[-1]
    if path is None or ext not in CONTENT_TYPES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "The image of this prediction is no longer stored.")
    return FileResponse(
        path,
        media_type=CONTENT_TYPES[ext],
        headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
