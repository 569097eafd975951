import logging

from fastapi import APIRouter, status

from gateway import crud
from gateway.api.deps import ClientAddressDep, CurrentUser, LimitsDep, SessionDep
from gateway.models import ErrorDetail, SignUpAccepted, UserCreate, UserPublic

router = APIRouter(prefix="/user", tags=["users"])
log = logging.getLogger("gateway.users")


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    response_model=SignUpAccepted,
    responses={429: {"model": ErrorDetail}, 503: {"model": ErrorDetail}},
)
async def create_user(
    user_in: UserCreate, session: SessionDep, limits: LimitsDep, client: ClientAddressDep
) -> SignUpAccepted:
    """Register, then sign in with the same email and password. The answer is the same whether the email
    was free (the account now exists) or had an account already (which is left as it was), so it tells no
    one who has an account. Attempts are limited per client address and per email (429 with Retry-After)."""
    email = crud.normalize_email(user_in.email)
    await limits.register(client, email)
    try:
        await crud.create_user(session, user_in)
    except crud.EmailTakenError:
        log.info("registration for an email that has an account: nothing changed")
    return SignUpAccepted(name=user_in.name, email=email)


@router.get("/me", response_model=UserPublic, responses={401: {"model": ErrorDetail}})
async def read_me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user)
