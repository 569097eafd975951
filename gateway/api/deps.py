"""Dependencies, as typed `Annotated` aliases. Everything comes from `app.state` (set up in the lifespan).

Every dependency is `async def`, however little it does: FastAPI runs a plain `def` dependency in its
thread pool, a thread hop per dependency per request."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Response, status
from fastapi.routing import APIRoute
from fastapi.security import OAuth2PasswordBearer
from sqlmodel.ext.asyncio.session import AsyncSession

from gateway.core.config import Settings
from gateway.core.security import InvalidTokenError, decode_access_token
from gateway.models import User
from gateway.services.auth_limits import AuthLimits
from gateway.services.grouped_db import GroupedDatabase
from gateway.services.predictions import PredictServices
from gateway.services.serving_client import ServingClient
from gateway.services.storage import UploadStore

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/login")


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        yield session


async def get_serving(request: Request) -> ServingClient:
    serving: ServingClient = request.app.state.serving
    return serving


async def get_store(request: Request) -> UploadStore:
    uploads: UploadStore = request.app.state.uploads
    return uploads


async def get_predict_services(request: Request) -> PredictServices:
    services: PredictServices = request.app.state.predict_services
    return services


async def get_limits(request: Request) -> AuthLimits:
    auth_limits: AuthLimits = request.app.state.auth_limits
    return auth_limits


async def client_address(request: Request) -> str:
    """The caller's address: the socket's peer, or what a trusted proxy forwarded (ForwardedClientMiddleware,
    PROXY_SECRET). No other forwarding header counts: uvicorn's proxy headers are off."""
    return request.client.host if request.client else "unknown"


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
TokenDep = Annotated[str, Depends(oauth2_scheme)]
ServingDep = Annotated[ServingClient, Depends(get_serving)]
StoreDep = Annotated[UploadStore, Depends(get_store)]
PredictServicesDep = Annotated[PredictServices, Depends(get_predict_services)]
LimitsDep = Annotated[AuthLimits, Depends(get_limits)]
ClientAddressDep = Annotated[str, Depends(client_address)]

CREDENTIALS_ERROR = "Could not validate credentials."


def unauthorized(detail: str = CREDENTIALS_ERROR) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


async def user_of(token: str, database: GroupedDatabase, settings: Settings) -> User:
    try:
        subject = decode_access_token(token, settings.secret_key, settings.access_token_lifetime)
    except InvalidTokenError as exc:
        raise unauthorized() from exc
    user = await database.user(subject)
    if user is None:
        raise unauthorized("The user of this token no longer exists.")
    return user


async def get_current_user(request: Request, token: TokenDep) -> User:
    """The signed-in user: found already by AuthenticatedRoute, or looked up from the bearer token. The
    token stays a dependency for the OpenAPI schema's security; the rest comes from app.state directly."""
    user = getattr(request.state, "user", None)
    if isinstance(user, User):
        return user
    state = request.app.state
    return await user_of(token, state.grouped_db, state.settings)


CurrentUser = Annotated[User, Depends(get_current_user)]


async def bearer_user(request: Request) -> User:
    """The user of the request's bearer token (401 without one, with a bad one, or for a deleted user)."""
    token = await oauth2_scheme(request)
    if token is None:  # not reached: the scheme raises 401 itself
        raise unauthorized()
    state = request.app.state
    return await user_of(token, state.grouped_db, state.settings)


class AuthenticatedRoute(APIRoute):
    """A route for signed-in users only, whose token is checked before its body is read. FastAPI reads (and
    for a form, spools to disk) the body before it resolves any dependency, CurrentUser included, so an
    anonymous upload would be stored before its 401."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def authenticate_first(request: Request) -> Response:
            request.state.user = await bearer_user(request)
            return await handle(request)

        return authenticate_first


ADMIN_ONLY = "This needs an admin account: sign in as the gateway's admin (ADMIN_EMAIL)."


async def get_admin_user(user: CurrentUser) -> User:
    """The signed-in user when an admin (`User.is_admin`); 403 for anyone else."""
    if not user.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, ADMIN_ONLY)
    return user


AdminUser = Annotated[User, Depends(get_admin_user)]
