"""Signed-in sessions: a random id (the HttpOnly cookie's value) -> the gateway token.

The token never reaches the browser, a URL or Gradio's per-tab state; every handler finds the person from
the cookie of its own request, so knowing another tab's session hash gives nothing.

Kept in this process (`SessionStore`), or with REDIS_URL in Redis (`RedisSessionStore`), where every page
process and a restarted one find them. Both have the same async interface (`Sessions`); the Redis one raises
`SessionsUnavailableError` while Redis cannot be reached, and the page then says that signing in is
unavailable (it fails closed: nobody is taken for signed in).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

COOKIE = "page_session"
UNAVAILABLE = "Signing in is unavailable right now; please try again in a moment."
REDIS_TIMEOUT_S = 2.0


class SessionsUnavailableError(Exception):
    """The shared session store (Redis) cannot be reached."""


@dataclass(frozen=True)
class Session:
    token: str
    name: str
    email: str
    expires_at: float  # Unix time
    is_admin: bool = False  # shows the Evaluation tab; the gateway itself refuses its data to others

    def as_dict(self) -> dict[str, Any]:
        """What the handlers take: {"token", "name", "email", "expires_at", "is_admin"}."""
        return {
            "token": self.token,
            "name": self.name,
            "email": self.email,
            "expires_at": self.expires_at,
            "is_admin": self.is_admin,
        }


def token_expiry(token: str) -> float | None:
    """The `exp` of a JWT, read (not verified: the gateway verifies it) to know when the session ends."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    exp = payload.get("exp") if isinstance(payload, dict) else None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


def new_session(token: str, name: str, email: str, is_admin: bool, max_seconds: float) -> Session:
    """Ends with the token, and at the latest `max_seconds` from now."""
    now = time.time()
    expires = min(token_expiry(token) or now + max_seconds, now + max_seconds)
    return Session(token, name, email, expires, is_admin)


class Sessions(Protocol):
    async def create(
        self, token: str, name: str, email: str, is_admin: bool = False
    ) -> tuple[str, Session]: ...

    async def get(self, session_id: str | None) -> Session | None:
        """The live session under this id, or None."""

    async def end(self, session_id: str | None) -> None: ...

    async def close(self) -> None: ...


class SessionStore:
    """In this process: a restart signs everyone out, and another page process knows none of them."""

    def __init__(self, max_seconds: float, max_sessions: int) -> None:
        self.max_seconds = max_seconds
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    async def create(self, token: str, name: str, email: str, is_admin: bool = False) -> tuple[str, Session]:
        session = new_session(token, name, email, is_admin, self.max_seconds)
        session_id = secrets.token_urlsafe(32)
        self._sessions[session_id] = session
        self._purge(time.time())
        while len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)
        return session_id, session

    async def get(self, session_id: str | None) -> Session | None:
        """The live session under this id; an ended one is dropped."""
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        if session.expires_at <= time.time():
            del self._sessions[session_id]
            return None
        return session

    async def end(self, session_id: str | None) -> None:
        if session_id:
            self._sessions.pop(session_id, None)

    async def close(self) -> None:
        return None

    def __len__(self) -> int:
        return len(self._sessions)

    def _purge(self, now: float) -> None:
        for session_id in [i for i, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[session_id]


class RedisSessionStore:
    """In Redis (REDIS_URL): `<prefix><SHA-256 of the cookie value>` -> the session (the gateway token, with
    the name and email the page shows), expiring with it. Only the hash of a cookie is stored, so a dump of
    Redis names no cookie that would sign anyone in; the tokens in it are the gateway's, which expire."""

    def __init__(self, url: str, prefix: str, max_seconds: float) -> None:
        self.prefix = prefix
        self.max_seconds = max_seconds
        self.client = Redis.from_url(
            url, socket_connect_timeout=REDIS_TIMEOUT_S, socket_timeout=REDIS_TIMEOUT_S
        )

    def key(self, session_id: str) -> str:
        return self.prefix + hashlib.sha256(session_id.encode()).hexdigest()

    async def create(self, token: str, name: str, email: str, is_admin: bool = False) -> tuple[str, Session]:
        session = new_session(token, name, email, is_admin, self.max_seconds)
        session_id = secrets.token_urlsafe(32)
        value = json.dumps(session.as_dict())
        try:
            await self.client.set(self.key(session_id), value, pxat=math.ceil(session.expires_at * 1000))
        except (RedisError, OSError) as exc:
            raise SessionsUnavailableError(f"{type(exc).__name__}: {exc}") from exc
        return session_id, session

    async def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        try:
            value = await self.client.get(self.key(session_id))
        except (RedisError, OSError) as exc:
            raise SessionsUnavailableError(f"{type(exc).__name__}: {exc}") from exc
        if value is None:
            return None
        try:
            data = json.loads(value)
            session = Session(
                str(data["token"]),
                str(data["name"]),
                str(data["email"]),
                float(data["expires_at"]),
                bool(data["is_admin"]),
            )
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires_at > time.time() else None

    async def end(self, session_id: str | None) -> None:
        if not session_id:
            return
        try:
            await self.client.delete(self.key(session_id))
        except (RedisError, OSError) as exc:
            raise SessionsUnavailableError(f"{type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        await self.client.aclose()
