"""Password hashing (Argon2 via pwdlib, off the event loop) and JWT access tokens (HS256 only)."""

from __future__ import annotations

import asyncio
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache

from jose import jwt
from jose.exceptions import JOSEError
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

ALGORITHM = "HS256"
SUBJECT = re.compile(r"[0-9a-f]{32}")  # models.new_subject; a str pattern's [0-9] is ASCII only
CLOCK_SKEW = timedelta(seconds=30)  # between the gateway processes' clocks
VERIFIED_TOKENS = 4096  # tokens whose signature was checked, remembered per process (~1 MB)
# OWASP's Argon2id baseline (19 MiB, 2 passes, 1 lane): a login costs tens of ms of one core, not hundreds.
password_hash = PasswordHash((Argon2Hasher(time_cost=2, memory_cost=19456, parallelism=1),))


class InvalidTokenError(Exception):
    pass


@cache
def _dummy_hash() -> str:
    return password_hash.hash("not-a-real-password")


def normalize_password(password: str) -> str:
    """The one rule for registration and login alike: Unicode NFKC (the same characters typed on another
    keyboard or OS match, as NIST SP 800-63B advises); nothing stripped, case kept."""
    return unicodedata.normalize("NFKC", password)


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(password_hash.hash, normalize_password(password))


async def verify_password(password: str, hashed: str | None) -> bool:
    """With no user (hashed=None), verify against a dummy hash anyway so both failures take as long."""
    password = normalize_password(password)
    if hashed is None:
        await asyncio.to_thread(password_hash.verify, password, await asyncio.to_thread(_dummy_hash))
        return False
    return await asyncio.to_thread(password_hash.verify, password, hashed)


def create_access_token(subject: str, secret_key: str, expires: timedelta) -> str:
    now = datetime.now(UTC)
    token: str = jwt.encode(
        {"sub": subject, "iat": now, "exp": now + expires}, secret_key, algorithm=ALGORITHM
    )
    return token


def decode_access_token(token: str, secret_key: str, lifetime: timedelta) -> str:
    """The token's subject: a user's random subject (32 lower-case hex digits, ASCII only). InvalidTokenError
    for a bad signature, another algorithm, no or past expiry, an issue time in the future, or a lifetime
    longer than the one this gateway gives (beyond CLOCK_SKEW either way)."""
    subject, issued, expires = _verified_claims(token, secret_key)
    now = datetime.now(UTC).timestamp()
    skew = CLOCK_SKEW.total_seconds()
    if expires < now:
        raise InvalidTokenError("Signature has expired.")
    if issued > now + skew or expires > now + lifetime.total_seconds() + skew or expires < issued:
        raise InvalidTokenError("issued in the future, or valid for longer than tokens are given")
    return subject


@lru_cache(maxsize=VERIFIED_TOKENS)
def _verified_claims(token: str, secret_key: str) -> tuple[str, float, float]:
    """The subject, issue and expiry times of a token whose signature and claims' form check out. A client
    sends the same token with every request, so the verified ones are remembered (an invalid one raises,
    which is never cached); the times are checked against the clock at every use."""
    try:
        claims = jwt.decode(
            token,
            secret_key,
            algorithms=[ALGORITHM],
            options={"require_exp": True, "require_iat": True, "require_sub": True},
        )
    except (JOSEError, ValueError, TypeError, KeyError) as exc:  # malformed tokens raise a few kinds
        raise InvalidTokenError(str(exc)) from exc
    subject, issued, expires = claims.get("sub"), claims.get("iat"), claims.get("exp")
    if not isinstance(subject, str) or not SUBJECT.fullmatch(subject):
        raise InvalidTokenError("not a subject")
    if not all(isinstance(value, int | float) and not isinstance(value, bool) for value in (issued, expires)):
        raise InvalidTokenError("iat and exp must be numbers")
    return subject, float(issued), float(expires)
