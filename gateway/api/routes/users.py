from fastapi import APIRouter, HTTPException, status

from gateway import crud
from gateway.api.deps import ClientAddressDep, CurrentUser, LimitersDep, SessionDep
from gateway.api.routes.login import too_many
from gateway.core.rate_limit import acquire_all
from gateway.models import ErrorDetail, UserCreate, UserPublic

router = APIRouter(prefix="/user", tags=["users"])


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    response_model=UserPublic,
    responses={400: {"model": ErrorDetail}, 429: {"model": ErrorDetail}},
)
async def create_user(
    user_in: UserCreate, session: SessionDep, limiters: LimitersDep, client: ClientAddressDep
) -> UserPublic:
    """Register. Attempts are limited per client address and per email (429 with Retry-After)."""
    keys = [(limiters.signup_ip, client), (limiters.signup_email, crud.normalize_email(user_in.email))]
    if (wait := acquire_all(keys)) is not None:
        raise too_many(wait)
    try:
        user = await crud.create_user(session, user_in)
    except crud.EmailTakenError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "Email already registered.") from exc
    return UserPublic.model_validate(user)


@router.get("/me", response_model=UserPublic, responses={401: {"model": ErrorDetail}})
async def read_me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user)
