"""Signed-in sessions, kept in this process: a random id (the HttpOnly cookie's value) -> the gateway token.

The token never reaches the browser, a URL or Gradio's per-tab state; every handler finds the person from
the cookie of its own request, so knowing another tab's session hash gives nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

COOKIE = "page_session"


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


class SessionStore:
    def __init__(self, max_seconds: float, max_sessions: int) -> None:
        self.max_seconds = max_seconds
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def create(self, token: str, name: str, email: str, is_admin: bool = False) -> tuple[str, Session]:
        now = time.time()
        expires = min(token_expiry(token) or now + self.max_seconds, now + self.max_seconds)
        session = Session(token, name, email, expires, is_admin)
        session_id = secrets.token_urlsafe(32)
        self._sessions[session_id] = session
        self._purge(now)
        while len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
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

    def end(self, session_id: str | None) -> None:
        if session_id:
            self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._sessions)

    def _purge(self, now: float) -> None:
        for session_id in [i for i, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[session_id]
