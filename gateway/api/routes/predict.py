from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, File, HTTPException, Path, Query, Request, Response, UploadFile, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from starlette.datastructures import UploadFile as FormFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway import crud
from gateway.api.deps import (
    AuthenticatedRoute,
    CurrentUser,
    PredictServicesDep,
    SessionDep,
    StoreDep,
    bearer_user,
)
from gateway.models import ErrorDetail, PredictionPage, PredictionPublic, PredictionRecord
from gateway.services.predictions import predict_upload
from gateway.services.storage import CONTENT_TYPES

router = APIRouter(prefix="/model", tags=["model"], route_class=AuthenticatedRoute)
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorDetail} for code in (400, 401, 413, 502, 503, 504, 507)
}
NOT_FOUND = "No such prediction of yours."
MAX_ID = 2**31 - 1  # the id column is a 32-bit integer on PostgreSQL


MISSING_FILE = {"type": "missing", "loc": ("body", "file"), "msg": "Field required"}
NOT_A_FILE = {"type": "value_error", "loc": ("body", "file"), "msg": "Expected a file, received a text field"}


async def predict(
    file: Annotated[UploadFile, File()], user: CurrentUser, services: PredictServicesDep
) -> PredictionPublic:
    """Classify an uploaded PNG/JPEG/GIF/WebP/HEIC photo. The same bytes again from the same user answer
    from the cache (`cached: true`)."""
    return await predict_upload(file, user, services)


def _no_file_chosen(value: object) -> bool:
    """What a browser's form sends for a file input left empty (FastAPI takes it for a missing field)."""
    return isinstance(value, FormFile) and value.filename == "" and value.size == 0


class PredictRoute(AuthenticatedRoute):
    """`predict` with its parameters found directly, not by FastAPI's per-request machinery (telemetry,
    exit stacks, dependency solving, response validation): the gateway's hot route, where that machinery
    cost as much CPU as the route's own work. The signature above still makes its OpenAPI entry, and the
    answers have FastAPI's statuses and error locations: 401 before the body is read, 400 for a body that
    is no form, 422 without a file (an empty one included, as a browser sends when none was chosen), the
    JSON of `PredictionPublic`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        async def handle(request: Request) -> Response:
            user = await bearer_user(request)
            try:
                form = await request.form()
            except StarletteHTTPException:  # the form's own 400, the body limit's 413
                raise
            except Exception as exc:
                raise HTTPException(400, "There was an error parsing the body") from exc
            try:
                upload = form.get("file")
                if upload is None or upload == "" or _no_file_chosen(upload):
                    raise RequestValidationError([MISSING_FILE])
                if not isinstance(upload, FormFile):  # a plain field
                    raise RequestValidationError([NOT_A_FILE])
                services = request.app.state.predict_services
                prediction = await self.endpoint(file=upload, user=user, services=services)
            finally:
                await form.close()
            return Response(prediction.model_dump_json(), media_type="application/json")

        return handle


router.add_api_route(
    "/predict",
    predict,
    methods=["POST"],
    response_model=PredictionPublic,
    responses=ERRORS,
    route_class_override=PredictRoute,
)


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
