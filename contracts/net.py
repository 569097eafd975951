"""What counts as this machine: the one loopback test for bind addresses, client addresses and URLs."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

WILDCARDS = frozenset({"", "0.0.0.0", "::"})


def is_loopback(host: str) -> bool:
    """`127.0.0.1`, `::1`, `[::1]`, `localhost` (and any 127/8 address); not a wildcard, not a name."""
    host = host.strip().strip("[]").split("%")[0]
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    return is_loopback(urlsplit(url).hostname or "")
