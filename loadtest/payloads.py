"""Request bodies built once, byte for byte, so the load generators spend little CPU per request."""

from __future__ import annotations

import base64
import json
from urllib.parse import urlencode

BOUNDARY = "loadtest-0b9c4e2a7f"
MULTIPART_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
FORM_TYPE = "application/x-www-form-urlencoded"


def multipart_file(
    content: bytes, filename: str, field: str = "file", content_type: str = "image/jpeg"
) -> bytes:
    """A multipart/form-data body with one file field (use with `MULTIPART_TYPE`)."""
    head = (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    return head + content + f"\r\n--{BOUNDARY}--\r\n".encode()


def login_form(email: str, password: str) -> bytes:
    """The OAuth2 password form of `POST /login` (use with `FORM_TYPE`)."""
    return urlencode({"username": email, "password": password}).encode()


def rest_predict(image: bytes) -> bytes:
    """TF Serving's REST row format with one binary value."""
    return json.dumps({"instances": [{"b64": base64.b64encode(image).decode()}]}).encode()
