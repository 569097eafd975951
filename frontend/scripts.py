"""The browser side of signing in, registering and signing out: a same-origin `fetch` to `frontend.auth`,
which sets or clears the HttpOnly session cookie. The password goes in that request only, never into a
Gradio event; the event that follows gets the answer's message (empty on success)."""

from __future__ import annotations

import json


def _post(route: str, fields: dict[str, str]) -> str:
    """A Gradio `js=` function for an event with inputs [auth_note, owner]; returns them, the note set."""
    read = ", ".join(
        f"{name}: (document.querySelector('#{elem_id} input, #{elem_id} textarea') || {{}}).value || ''"
        for name, elem_id in fields.items()
    )
    return f"""async (note, owner) => {{
  let message = "";
  try {{
    const response = await fetch({json.dumps(route)}, {{
      method: "POST",
      credentials: "same-origin",
      headers: {{"Content-Type": "application/json"}},
      body: JSON.stringify({{{read}}}),
    }});
    const answer = await response.json();
    message = answer.ok ? "" : (answer.message || "Sign-in failed; please try again.");
  }} catch (error) {{
    message = "The page cannot be reached right now; please try again in a moment.";
  }}
  return [message, owner];
}}"""


SIGN_IN = _post("auth/sign-in", {"email": "sign-in-email", "password": "sign-in-password"})
REGISTER = _post(
    "auth/register", {"name": "register-name", "email": "register-email", "password": "register-password"}
)
SIGN_OUT = _post("auth/sign-out", {})
