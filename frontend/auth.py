"""Same-origin routes that sign in, register and sign out, and set or clear the session cookie.

Passwords travel only here (a `fetch` from the page), never through a Gradio event: Gradio's events may be
recorded or replayed, these are not. The cookie is HttpOnly (no script reads it) and SameSite=Strict (no
other site's page sends it); these routes also take JSON only and refuse another origin, so no other site can
sign a browser in or out.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response
from pydantic import BaseModel, Field

from frontend.config import Settings
from frontend.gateway_client import GatewayClient, GatewayError
from frontend.sessions import COOKIE, UNAVAILABLE, Session, Sessions, SessionsUnavailableError

log = logging.getLogger(__name__)


class Credentials(BaseModel):
    email: str = Field("", max_length=320)
    password: str = Field("", max_length=1024)


class NewAccount(Credentials):
    name: str = Field("", max_length=200)


class AuthAnswer(BaseModel):
    ok: bool
    message: str = ""


def client_address(request: Request, proxy_secret: str | None) -> str | None:
    """The browser's address: the socket's peer, or what a proxy in front of the page says, if it knows
    the secret (the gateway's own rule, so one X-Forwarded-For convention holds end to end)."""
    given = request.headers.get("x-proxy-secret")
    if proxy_secret and given and hmac.compare_digest(given.encode(), proxy_secret.encode()):
        last = request.headers.get("x-forwarded-for", "").rsplit(",", 1)[-1].strip()
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:
            pass
    return request.client.host if request.client else None


def same_origin(
    request: Request,
    content_type: Annotated[str, Header()] = "",
    origin: Annotated[str | None, Header()] = None,
) -> None:
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise HTTPException(415, "Send JSON.")
    host = request.headers.get("host", "")
    if origin is not None and origin.split("://", 1)[-1] != host:
        raise HTTPException(403, "Not from this page.")


def auth_router(client: GatewayClient, store: Sessions, settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/auth", dependencies=[Depends(same_origin)])

    def set_cookie(response: Response, session_id: str, session: Session) -> None:
        response.set_cookie(
            COOKIE,
            session_id,
            max_age=max(1, int(session.expires_at - time.time())),
            path="/",
            httponly=True,
            samesite="strict",
            secure=settings.session_cookie_secure,
        )

    async def open_session(request: Request, response: Response, token: str) -> AuthAnswer:
        user = await client.me(token)
        try:
            await store.end(request.cookies.get(COOKIE))
            session_id, session = await store.create(token, user.name, user.email, user.is_admin)
        except SessionsUnavailableError as exc:
            log.error("the session store (REDIS_URL) is unavailable: %s", exc)
            return AuthAnswer(ok=False, message=UNAVAILABLE)
        set_cookie(response, session_id, session)
        return AuthAnswer(ok=True)

    @router.post("/sign-in", response_model=AuthAnswer)
    async def sign_in(body: Credentials, request: Request, response: Response) -> AuthAnswer:
        email = body.email.strip()
        if not email or not body.password:
            return AuthAnswer(ok=False, message="Enter your email and password.")
        try:
            token = await client.login(email, body.password, client_address(request, settings.proxy_secret))
            return await open_session(request, response, token)
        except GatewayError as exc:
            return AuthAnswer(ok=False, message=exc.message)

    @router.post("/register", response_model=AuthAnswer)
    async def register(body: NewAccount, request: Request, response: Response) -> AuthAnswer:
        name, email = body.name.strip(), body.email.strip()
        if not name or not email or not body.password:
            return AuthAnswer(ok=False, message="Enter your name, email and a password.")
        address = client_address(request, settings.proxy_secret)
        try:
            await client.register(name, email, body.password, address)
            token = await client.login(email, body.password, address)
            return await open_session(request, response, token)
        except GatewayError as exc:
            return AuthAnswer(ok=False, message=exc.message)

    @router.post("/sign-out", response_model=AuthAnswer)
    async def sign_out(request: Request, response: Response) -> AuthAnswer:
        try:
            await store.end(request.cookies.get(COOKIE))
        except SessionsUnavailableError as exc:  # the cookie goes anyway; its entry expires with the token
            log.error("the session store (REDIS_URL) is unavailable; a session ends only here: %s", exc)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return AuthAnswer(ok=True)

    return router
