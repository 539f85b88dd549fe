"""The web console: ``/`` serves a static page (``agent/server/static``) that talks to the server through the
public REST API and SSE only, as any client would.

The page and its assets are public even when the server has API keys: they hold no data, and the page asks
for a key before its first API call. A strict Content-Security-Policy keeps it self-contained: it can load
nothing from other origins, so it works offline and a stored result cannot inject scripts into it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from agent.server.errors import APIError

STATIC_DIR = Path(__file__).with_name("static")
#: The files the page is made of and their content types; nothing else under static/ is served.
ASSETS: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
#: Same-origin everything; blob: for artifacts fetched with the bearer header and shown or downloaded.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' blob: data:; media-src 'self' blob:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
}


class AssetNotFoundError(APIError):
    code, status = "not_found", 404


def _asset(name: str) -> FileResponse:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise AssetNotFoundError(f"the console has no file {name!r}", name=name)
    return FileResponse(STATIC_DIR / name, media_type=media_type, headers=_HEADERS)


def console_routes() -> APIRouter:
    """``GET /`` (the page) and ``GET /static/{name}`` (its script and style); left out of the OpenAPI schema."""
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    def console() -> FileResponse:
        return _asset("index.html")

    @router.get("/static/{name}")
    def static_asset(name: str) -> FileResponse:
        return _asset(name)

    return router
