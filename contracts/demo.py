"""The local demo account: what `make run` signs you in with, and what works only while the gateway binds
loopback (anywhere else the gateway refuses to start with these values)."""

from __future__ import annotations

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin"
SECRET_KEY = "local-demo-only-change-me-0f8e1c2b7a9d4e6f"
SIGN_IN_HINT = f"sign in as {ADMIN_EMAIL} with the password {ADMIN_PASSWORD}"
