from fastapi import APIRouter, HTTPException, status

from gateway import crud
from gateway.api.deps import CurrentUser, SessionDep
from gateway.models import ErrorDetail, UserCreate, UserPublic

router = APIRouter(prefix="/user", tags=["users"])


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    response_model=UserPublic,
    responses={400: {"model": ErrorDetail}},
)
async def create_user(user_in: UserCreate, session: SessionDep) -> UserPublic:
    try:
        user = await crud.create_user(session, user_in)
    except crud.EmailTakenError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "Email already registered.") from exc
    return UserPublic.model_validate(user)


@router.get("/me", response_model=UserPublic, responses={401: {"model": ErrorDetail}})
async def read_me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user)
