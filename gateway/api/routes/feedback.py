from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from gateway import crud
from gateway.api.deps import AuthenticatedRoute, CurrentUser, SessionDep
from gateway.core.metrics import FEEDBACK
from gateway.models import ErrorDetail, FeedbackCreate, FeedbackPublic

router = APIRouter(
    prefix="/feedback",
    tags=["feedback"],
    responses={401: {"model": ErrorDetail}},
    route_class=AuthenticatedRoute,
)


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    response_model=FeedbackPublic,
    responses={404: {"model": ErrorDetail}},
)
async def create_feedback(
    feedback_in: FeedbackCreate, user: CurrentUser, session: SessionDep
) -> FeedbackPublic:
    """Feedback on one of the caller's own predictions: `image_file_name` as /model/predict returned it.
    `verdict` (`correct` / `wrong`) and, for `wrong`, `correct_label` (one of the model's labels) are
    optional; they are what GET /model/evaluation counts. `feedback` stays the caller's free text."""
    try:
        row, prediction = await crud.create_feedback(session, user, feedback_in)
    except crud.PredictionNotFoundError as exc:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            "No prediction of yours has this image_file_name: use the one /model/predict returned.",
        ) from exc
    except crud.CorrectLabelIsPredictedError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            'correct_label is the label the model predicted for this image: send verdict "correct" instead.',
        ) from exc
    if row.verdict is not None:
        FEEDBACK.labels(str(prediction.model_version), prediction.model_label or "", row.verdict).inc()
    return FeedbackPublic.model_validate(row)


@router.get("/", response_model=list[FeedbackPublic])
async def list_feedback(
    user: CurrentUser,
    session: SessionDep,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[FeedbackPublic]:
    """The signed-in user's feedback, oldest first."""
    rows = await crud.list_feedback(session, user, offset, limit)
    return [FeedbackPublic.model_validate(row) for row in rows]
