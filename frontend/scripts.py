"""The browser side of signing in, registering and signing out: a same-origin `fetch` to `frontend.auth`,
which sets or clears the HttpOnly session cookie. The password goes in that request only, never into a
Gradio event; the event that follows gets the answer's message (empty on success).

The script is a file of the page's origin (`SCRIPT_PATH`, named in Gradio's `head`), not Gradio `js=`
event code: Gradio runs that through `new Function`, which a strict Content-Security-Policy refuses
(`frontend.headers`). It listens on the document for the three buttons and for Enter in the forms, sends the
request, then puts the answer's message into the hidden note box and clicks the hidden button whose event
(`AUTH_DONE` or `SIGNED_OUT`) the page handles in Python.
"""

from __future__ import annotations

import json

SCRIPT_PATH = "/page-script.js"

SIGN_IN_BUTTON = "sign-in-button"
REGISTER_BUTTON = "register-button"
SIGN_OUT_BUTTON = "sign-out-button"
NOTE = "auth-note"
AUTH_DONE = "auth-done"
SIGNED_OUT = "signed-out-done"

FORMS = {
    SIGN_IN_BUTTON: {
        "route": "auth/sign-in",
        "fields": {"email": "sign-in-email", "password": "sign-in-password"},
        "done": AUTH_DONE,
    },
    REGISTER_BUTTON: {
        "route": "auth/register",
        "fields": {"name": "register-name", "email": "register-email", "password": "register-password"},
        "done": AUTH_DONE,
    },
    SIGN_OUT_BUTTON: {"route": "auth/sign-out", "fields": {}, "done": SIGNED_OUT},
}
ENTER_SENDS = {
    "sign-in-email": SIGN_IN_BUTTON,
    "sign-in-password": SIGN_IN_BUTTON,
    "register-password": REGISTER_BUTTON,
}

SCRIPT = f"""(() => {{
  "use strict";
  const FORMS = {json.dumps(FORMS)};
  const ENTER_SENDS = {json.dumps(ENTER_SENDS)};
  const BUTTONS = Object.keys(FORMS).map((id) => "#" + id).join(", ");
  const FIELDS = Object.keys(ENTER_SENDS).map((id) => "#" + id).join(", ");
  const read = (id) =>
    (document.querySelector("#" + id + " input, #" + id + " textarea") || {{}}).value || "";
  let busy = false;

  function deliver(doneId, message) {{
    const note = document.querySelector("#{NOTE} textarea, #{NOTE} input");
    const done = document.getElementById(doneId);
    if (!note || !done) return;
    note.value = message;
    note.dispatchEvent(new Event("input", {{bubbles: true}}));
    done.click();
  }}

  async function send(buttonId) {{
    const form = FORMS[buttonId];
    if (busy || !form) return;
    busy = true;
    let message = "";
    try {{
      const body = {{}};
      for (const [name, id] of Object.entries(form.fields)) body[name] = read(id);
      const response = await fetch(form.route, {{
        method: "POST",
        credentials: "same-origin",
        headers: {{"Content-Type": "application/json"}},
        body: JSON.stringify(body),
      }});
      const answer = await response.json();
      message = answer.ok ? "" : (answer.message || "Sign-in failed; please try again.");
    }} catch (error) {{
      message = "The page cannot be reached right now; please try again in a moment.";
    }} finally {{
      busy = false;
    }}
    deliver(form.done, message);
  }}

  document.addEventListener("click", (event) => {{
    const button = event.target instanceof Element ? event.target.closest(BUTTONS) : null;
    if (button) send(button.id);
  }});
  document.addEventListener("keydown", (event) => {{
    if (event.key !== "Enter" || event.isComposing || event.shiftKey) return;
    const field = event.target instanceof Element ? event.target.closest(FIELDS) : null;
    if (!field) return;
    event.preventDefault();
    send(ENTER_SENDS[field.id]);
  }});
}})();
"""
