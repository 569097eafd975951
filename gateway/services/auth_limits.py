"""Who may try to sign in or register now: the rule over the buckets (gateway/core/rate_limit.py).

Sign-in, in this order:
1. Refuse by address first: an address out of failed sign-ins (LOGIN_FAILURES_PER_IP) gets 429 unchecked.
2. An account's bucket (LOGIN_FAILURES_PER_ACCOUNT) is spent only by a wrong password, from any address.
3. While it is empty (strangers failed for it), an address that is not hammering, i.e. one that failed fewer
   than LOGIN_QUIET_IP_FAILURES times in the window on any account, still has its password checked: the
   owner signs in. A guesser's extra tries on a locked account are bounded by the addresses it owns, each
   LOGIN_QUIET_IP_FAILURES per window on all accounts together.
A correct password gives back what the attempt held; a wrong one keeps it spent and also spends the
address's quiet attempt. Registration spends one attempt per address and per email, whatever the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core.config import Settings
from gateway.core.rate_limit import Bucket, Limiter, Spend


class TooManyAttemptsError(Exception):
    def __init__(self, wait: float) -> None:
        super().__init__(f"retry in {wait:.1f}s")
        self.wait = wait


@dataclass(frozen=True)
class SignIn:
    """An attempt that was let through, and what it holds."""

    held: list[Spend]
    quiet: Spend
    account_held: bool


class AuthLimits:
    def __init__(self, settings: Settings, limiter: Limiter) -> None:
        window = settings.auth_rate_window_seconds
        self.limiter = limiter
        self.login_ip = Bucket("login-ip", settings.login_failures_per_ip, window)
        self.login_account = Bucket("login-account", settings.login_failures_per_account, window)
        self.login_quiet_ip = Bucket("login-quiet-ip", settings.login_quiet_ip_failures, window)
        self.signup_ip = Bucket("signup-ip", settings.signups_per_ip, window)
        self.signup_email = Bucket("signup-email", settings.signups_per_email, window)

    async def begin_sign_in(self, client: str, account: str) -> SignIn:
        ip, quiet = (self.login_ip, client), (self.login_quiet_ip, client)
        held = [ip, (self.login_account, account)]
        if (wait := await self.limiter.acquire(held)) is None:
            return SignIn(held, quiet, account_held=True)
        held = [ip, quiet]  # refused by the address (it stays refused) or by the account
        if (wait_quiet := await self.limiter.acquire(held)) is None:
            return SignIn(held, quiet, account_held=False)
        raise TooManyAttemptsError(min(wait, wait_quiet))

    async def end_sign_in(self, attempt: SignIn, *, succeeded: bool) -> None:
        if succeeded:
            await self.limiter.refund(attempt.held)
        elif attempt.account_held:
            await self.limiter.take([attempt.quiet])

    async def abandon_sign_in(self, attempt: SignIn) -> None:
        """The password could not be checked (the database failed): the attempt does not count."""
        await self.limiter.refund(attempt.held)

    async def register(self, client: str, email: str) -> None:
        wait = await self.limiter.acquire([(self.signup_ip, client), (self.signup_email, email)])
        if wait is not None:
            raise TooManyAttemptsError(wait)

    async def close(self) -> None:
        await self.limiter.close()
