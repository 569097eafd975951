"""`make run` keeps its services up once they have started: a service that dies (a replica killed, a crash)
is started again after a backoff (1 s, then doubled up to 30 s while it keeps dying; back to 1 s once it
has stayed ready for a minute), with a line saying so, while the others keep serving. Only a service that
cannot start at all, before the stack was ever ready, stops the run (stack/run.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from stack.procs import Service
from stack.progress import Say, duration

FIRST_BACKOFF = 1.0
MAX_BACKOFF = 30.0
STABLE_AFTER = 60.0


@dataclass
class Keeper:
    """One service under supervision: `poll` is called about once a second with the current time."""

    name: str
    start: Callable[[], Service]
    ready: Callable[[], bool]
    ready_timeout: float
    service: Service
    say: Say
    ready_at: float | None = None
    backoff: float = FIRST_BACKOFF
    restart_at: float | None = None
    started_at: float | None = field(default=None)  # of a restart not ready yet
    restarts: int = 0

    def poll(self, now: float) -> bool:
        """One look at the service; True when it was started again (its pid changed)."""
        if self.restart_at is not None:
            if now < self.restart_at:
                return False
            self.restart_at = None
            self.service = self.start()
            self.started_at = now
            self.restarts += 1
            return True
        code = self.service.returncode
        if code is not None:
            self._schedule(now, f"{self.name} exited with code {code}")
        elif self.started_at is not None:
            if self.ready():
                self.say(f"  {self.name:<10} back, ready in {duration(now - self.started_at)}")
                self.started_at = None
                self.ready_at = now
            elif now - self.started_at > self.ready_timeout:
                self._schedule(now, f"{self.name} not ready {duration(self.ready_timeout)} after its restart")
        return False

    def _schedule(self, now: float, what: str) -> None:
        self.service.stop()  # whatever it left behind in its process group
        if self.ready_at is not None and now - self.ready_at >= STABLE_AFTER:
            self.backoff = FIRST_BACKOFF
        self.say(f"{what}; starting it again in {duration(self.backoff)} (log: {self.service.log})")
        self.restart_at = now + self.backoff
        self.backoff = min(self.backoff * 2, MAX_BACKOFF)
        self.ready_at = None
        self.started_at = None
