"""Which signed-in session a Gradio session hash belongs to (issue 21 item 9).

Gradio keys a tab's state, its event stream (`queue/data?session_hash=`) and its heartbeat by a hash the
browser chooses and sends in URLs. The first signed-in request with a hash binds it to that person's page
session; while that session lives, a request with the hash and any other cookie (or none) is refused: its
events, its stream and its heartbeat. A hash whose session ended is free again (signing out, or in again,
in the same tab). A stream someone opened with the hash before its owner signed in is not cut (the page's
own stream may be that one); the hash is the browser's random choice, in URLs only once it is in use."""

from __future__ import annotations

from collections import OrderedDict

from frontend.sessions import Sessions, SessionsUnavailableError


class TabOwners:
    def __init__(self, store: Sessions, max_tabs: int = 100_000) -> None:
        self.store = store
        self.max_tabs = max_tabs
        self._owners: OrderedDict[str, str] = OrderedDict()

    async def _live_owner(self, session_hash: str) -> str | None:
        owner = self._owners.get(session_hash)
        if owner is None:
            return None
        try:
            live = await self.store.get(owner) is not None
        except SessionsUnavailableError:
            return owner  # unknown: the hash stays its owner's
        if not live:
            self._owners.pop(session_hash, None)
            return None
        return owner

    async def admit(self, session_hash: str, session_id: str | None) -> bool:
        """May this request (its live page session, or None) use the hash? A free hash is bound when signed
        in."""
        owner = await self._live_owner(session_hash)
        if owner is None:
            if session_id is not None:
                self._owners[session_hash] = session_id
                while len(self._owners) > self.max_tabs:
                    self._owners.popitem(last=False)
            return True
        return owner == session_id
