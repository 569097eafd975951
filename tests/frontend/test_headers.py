"""The page's CSP nonces (frontend.headers): every script tag of an HTML answer gets the answer's own nonce,
text inside a script that looks like a tag does not, and other answers pass unchanged."""

from __future__ import annotations

import re

import httpx
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from frontend.headers import SecurityHeadersMiddleware, _add_nonce

PAGE = (
    '<html><head><script>window.c = {"s": "<script>alert(1)</script\\u003e"};</script>'
    '<SCRIPT type="module" src="./a.js"></SCRIPT><script\ndata-x>1</script></head>'
    "<body><scripts-not-a-tag></scripts-not-a-tag></body></html>"
)


def app() -> SecurityHeadersMiddleware:
    async def page(_request: object) -> HTMLResponse:
        return HTMLResponse(PAGE)

    async def data(_request: object) -> JSONResponse:
        return JSONResponse({"html": "<script>x</script>"})

    return SecurityHeadersMiddleware(Starlette(routes=[Route("/", page), Route("/data", data)]))


def test_only_real_script_tags_get_the_nonce() -> None:
    out = _add_nonce(PAGE.encode(), "N").decode()
    assert out.count('nonce="N"') == 3
    assert '<script nonce="N">window.c = {"s": "<script>alert(1)</script\\u003e"};' in out
    assert '<SCRIPT nonce="N" type="module"' in out
    assert "<scripts-not-a-tag>" in out


async def test_each_html_answer_has_its_own_nonce_and_other_answers_none() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app()), base_url="http://page") as client:
        first, second = await client.get("/"), await client.get("/")
        data = await client.get("/data")
    nonces = []
    for answer in (first, second):
        csp = answer.headers["content-security-policy"]
        (nonce,) = re.findall(r"'nonce-([^']+)'", csp)
        assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]
        assert answer.text.count(f'nonce="{nonce}"') == 3
        assert int(answer.headers["content-length"]) == len(answer.content)
        nonces.append(nonce)
    assert nonces[0] != nonces[1]
    assert "nonce" not in data.headers["content-security-policy"]
    assert data.json() == {"html": "<script>x</script>"}
    assert data.headers["x-frame-options"] == "DENY"
