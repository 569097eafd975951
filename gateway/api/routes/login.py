from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm

from gateway import crud
from gateway.api.deps import SessionDep, SettingsDep
from gateway.core.security import create_access_token
from gateway.models import ErrorDetail, Token

router = APIRouter(tags=["login"])
MAX_CREDENTIAL_LENGTH = 1024


@router.post("/login", response_model=Token, responses={401: {"model": ErrorDetail}})
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep, settings: SettingsDep
) -> Token:
    """OAuth2 password flow: `username` is the email. Unknown email and wrong password look the same."""
    bad = HTTPException(
        status.HTTP_401_UNAUTHORIZED, "Incorrect email or password.", headers={"WWW-Authenticate": "Bearer"}
    )
    email, password = form.username, form.password
    if "\x00" in email or len(email) > MAX_CREDENTIAL_LENGTH or len(password) > MAX_CREDENTIAL_LENGTH:
        raise bad
    user = await crud.authenticate(session, email, password)
    if user is None or user.id is None:
        raise bad
    token = create_access_token(
        str(user.id), settings.secret_key, timedelta(minutes=settings.access_token_expire_minutes)
    )
    return Token(access_token=token)
