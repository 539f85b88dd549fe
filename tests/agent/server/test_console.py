"""The web console's page and assets over HTTP (no browser): served at ``/``, typed, self-contained, public.

The browser tests (test_console_browser.py) drive the page itself; these check what any client of the
server sees and hold without Chromium installed.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from server_support import serve

from agent.server.routes_console import ASSETS, STATIC_DIR

#: XML namespace names are identifiers that are never fetched; the SVG one is how script makes SVG elements.
NAMESPACES = {"http://www.w3.org/2000/svg"}


class _Page(HTMLParser):
    """The parts of index.html the checks need: referenced URLs, form controls, label targets, ids."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.controls: list[dict[str, str | None]] = []
        self.label_for: set[str] = set()
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.append(str(attributes["id"]))
        for name in ("src", "href", "action", "poster"):
            if attributes.get(name):
                self.urls.append(str(attributes[name]))
        if tag == "label" and attributes.get("for"):
            self.label_for.add(str(attributes["for"]))
        if tag in ("input", "textarea", "select") and attributes.get("type") not in ("radio", "checkbox"):
            self.controls.append(attributes)


def page() -> _Page:
    parser = _Page()
    parser.feed((STATIC_DIR / "index.html").read_text(encoding="utf-8"))
    return parser


def test_the_page_is_served_at_the_root_with_a_strict_content_security_policy(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert '<script src="static/app.js" defer></script>' in response.text
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("name", "media_type"), [("index.html", "text/html"), ("app.js", "text/javascript"), ("app.css", "text/css")]
)
def test_each_asset_has_its_content_type(client: TestClient, name: str, media_type: str) -> None:
    response = client.get(f"/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == f"{media_type}; charset=utf-8"
    assert response.content == (STATIC_DIR / name).read_bytes()


def test_only_the_listed_assets_are_served(client: TestClient) -> None:
    assert sorted(p.name for p in STATIC_DIR.iterdir() if p.is_file()) == sorted(ASSETS)
    for path in ("/static/missing.js", "/static/..%2Froutes_console.py", "/static/%2e%2e%2fapp.py"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
    assert client.get("/static/../app.py").status_code == 404


def test_every_url_the_page_references_is_its_own_and_is_served(client: TestClient) -> None:
    urls = page().urls
    assert urls, "the page references its script and style"
    for url in urls:
        if url.startswith("#"):
            continue
        assert "//" not in url and ":" not in url, f"{url} is not a relative same-origin URL"
        assert client.get("/" + url).status_code == 200, url


@pytest.mark.parametrize("name", sorted(ASSETS))
def test_no_asset_names_an_external_url(name: str) -> None:
    text = (STATIC_DIR / name).read_text(encoding="utf-8")
    external = set(re.findall(r"https?://[^\s\"'`)<>]+", text)) - NAMESPACES
    assert not external, f"{name} refers to {sorted(external)}: the console must work offline"
    assert not re.search(r"@import|url\(\s*['\"]?(//|[a-z]+:)", text), f"{name} loads a remote style or font"
    assert not re.search(r"""(src|href)\s*=\s*["']//""", text), f"{name} has a protocol-relative URL"


def test_every_form_control_has_a_label_and_ids_are_unique() -> None:
    parsed = page()
    for control in parsed.controls:
        labelled = control.get("id") in parsed.label_for or control.get("aria-label") or control.get("aria-labelledby")
        assert labelled, f"control {control} has no label"
    assert len(parsed.ids) == len(set(parsed.ids))
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    assert 'role="status" aria-live="polite"' in html and 'name="viewport"' in html and '<html lang="en">' in html


def test_the_console_is_left_out_of_the_api_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths and not any(p.startswith("/static") for p in paths)


def test_with_keys_the_page_is_public_and_the_api_needs_the_token(data_dir: Path) -> None:
    test_client, agent = serve(data_dir, api_keys=["s3cret"])
    with test_client as client:
        assert client.get("/").status_code == 200
        assert all(client.get(f"/static/{name}").status_code == 200 for name in ASSETS)
        assert client.get("/v1/tools").status_code == 401
        assert client.get("/v1/tools", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    agent.close()
