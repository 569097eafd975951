from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm

from gateway import crud
from gateway.api.deps import ClientAddressDep, LimitersDep, SessionDep, SettingsDep
from gateway.core.rate_limit import acquire_all, retry_after_header
from gateway.core.security import create_access_token
from gateway.models import ErrorDetail, Token

router = APIRouter(tags=["login"])
MAX_CREDENTIAL_LENGTH = 1024


def too_many(wait: float) -> HTTPException:
    retry = retry_after_header(wait)
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        f"Too many attempts. Try again in {retry} seconds.",
        headers={"Retry-After": retry},
    )


@router.post(
    "/login", response_model=Token, responses={401: {"model": ErrorDetail}, 429: {"model": ErrorDetail}}
)
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
    limiters: LimitersDep,
    client: ClientAddressDep,
) -> Token:
    """OAuth2 password flow: `username` is the email. Unknown email and wrong password look the same.
    Failed attempts are limited per client address and per account (429 with Retry-After); an attempt is
    counted before the password is checked and given back when it succeeds."""
    bad = HTTPException(
        status.HTTP_401_UNAUTHORIZED, "Incorrect email or password.", headers={"WWW-Authenticate": "Bearer"}
    )
    email, password = form.username, form.password
    if "\x00" in email or len(email) > MAX_CREDENTIAL_LENGTH or len(password) > MAX_CREDENTIAL_LENGTH:
        raise bad
    keys = [(limiters.login_ip, client), (limiters.login_account, crud.normalize_email(email))]
    if (wait := acquire_all(keys)) is not None:
        raise too_many(wait)
    user = await crud.authenticate(session, email, password)
    if user is None or user.id is None:
        raise bad
    for limiter, key in keys:
        limiter.refund(key)
    token = create_access_token(user.subject, settings.secret_key, settings.access_token_lifetime)
    return Token(access_token=token)
