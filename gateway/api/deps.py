"""Dependencies, as typed `Annotated` aliases. Everything comes from `app.state` (set up in the lifespan)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlmodel.ext.asyncio.session import AsyncSession

from gateway import crud
from gateway.core.config import Settings
from gateway.core.rate_limit import RateLimiter
from gateway.core.security import InvalidTokenError, decode_access_token
from gateway.models import User
from gateway.services.image_check import ImageChecker
from gateway.services.result_cache import ResultCache
from gateway.services.serving_client import ServingClient
from gateway.services.storage import UploadStore

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/login")


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        yield session


def get_serving(request: Request) -> ServingClient:
    serving: ServingClient = request.app.state.serving
    return serving


def get_store(request: Request) -> UploadStore:
    uploads: UploadStore = request.app.state.uploads
    return uploads


def get_results(request: Request) -> ResultCache:
    results: ResultCache = request.app.state.results
    return results


def get_checker(request: Request) -> ImageChecker:
    image_checker: ImageChecker = request.app.state.image_checker
    return image_checker


def get_limiters(request: Request) -> AuthLimiters:
    auth_limiters: AuthLimiters = request.app.state.auth_limiters
    return auth_limiters


def client_address(request: Request) -> str:
    """The caller's address: the socket's peer, or what a trusted proxy forwarded (ForwardedClientMiddleware,
    PROXY_SECRET). No other forwarding header counts: uvicorn's proxy headers are off."""
    return request.client.host if request.client else "unknown"


class AuthLimiters:
    """The sign-in and registration rate limits of this worker."""

    def __init__(self, settings: Settings) -> None:
        window = settings.auth_rate_window_seconds
        self.login_ip = RateLimiter(settings.login_failures_per_ip, window)
        self.login_account = RateLimiter(settings.login_failures_per_account, window)
        self.signup_ip = RateLimiter(settings.signups_per_ip, window)
        self.signup_email = RateLimiter(settings.signups_per_email, window)


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
TokenDep = Annotated[str, Depends(oauth2_scheme)]
ServingDep = Annotated[ServingClient, Depends(get_serving)]
StoreDep = Annotated[UploadStore, Depends(get_store)]
ResultCacheDep = Annotated[ResultCache, Depends(get_results)]
CheckerDep = Annotated[ImageChecker, Depends(get_checker)]
LimitersDep = Annotated[AuthLimiters, Depends(get_limiters)]
ClientAddressDep = Annotated[str, Depends(client_address)]

CREDENTIALS_ERROR = "Could not validate credentials."


async def get_current_user(session: SessionDep, token: TokenDep, settings: SettingsDep) -> User:
    def unauthorized(detail: str = CREDENTIALS_ERROR) -> HTTPException:
        return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})

    try:
        subject = decode_access_token(token, settings.secret_key, settings.access_token_lifetime)
    except InvalidTokenError as exc:
        raise unauthorized() from exc
    user = await crud.get_user_by_subject(session, subject)
    if user is None:
        raise unauthorized("The user of this token no longer exists.")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]
