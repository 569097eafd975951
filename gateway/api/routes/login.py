from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm

from gateway import crud
from gateway.api.deps import ClientAddressDep, LimitsDep, SessionDep, SettingsDep
from gateway.core.security import create_access_token
from gateway.models import ErrorDetail, Token

router = APIRouter(tags=["login"])
MAX_CREDENTIAL_LENGTH = 1024


@router.post(
    "/login", response_model=Token, responses={code: {"model": ErrorDetail} for code in (401, 429, 503)}
)
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
    limits: LimitsDep,
    client: ClientAddressDep,
) -> Token:
    """OAuth2 password flow: `username` is the email. Unknown email and wrong password look the same.
    Failed attempts are limited per client address and per account (429 with Retry-After), so that
    strangers failing for an account do not lock its owner out: gateway/services/auth_limits.py."""
    bad = HTTPException(
        status.HTTP_401_UNAUTHORIZED, "Incorrect email or password.", headers={"WWW-Authenticate": "Bearer"}
    )
    email, password = form.username, form.password
    if "\x00" in email or len(email) > MAX_CREDENTIAL_LENGTH or len(password) > MAX_CREDENTIAL_LENGTH:
        raise bad
    attempt = await limits.begin_sign_in(client, crud.normalize_email(email))
    try:
        user = await crud.authenticate(session, email, password)
    except Exception:
        await limits.abandon_sign_in(attempt)
        raise
    await limits.end_sign_in(attempt, succeeded=user is not None)
    if user is None:
        raise bad
    token = create_access_token(user.subject, settings.secret_key, settings.access_token_lifetime)
    return Token(access_token=token)
