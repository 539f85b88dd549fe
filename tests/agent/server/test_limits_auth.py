"""Auth on and off, and every limit answering its documented 4xx with a JSON error body."""

from __future__ import annotations

import base64
import io
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from server_support import png_bytes, serve, wait_for
from typer.testing import CliRunner

from agent.server.config import ServerSettings, is_loopback
from agent.server.errors import FileTooLargeError, RemoteFetchError, URLNotAllowedError
from agent.server.remote import fetch_url


@pytest.fixture
def limited(data_dir: Path) -> Iterator[TestClient]:
    test_client, agent = serve(
        data_dir,
        max_request_bytes=64 * 1024,
        max_file_bytes=20_000,
        max_files=2,
        max_pixels=1_000_000,
        max_request_chars=200,
        allowed_types=["image"],
    )
    with test_client:
        yield test_client
    agent.close()


def error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["message"]
    return body["error"]


def upload(client: TestClient, *files: tuple[str, bytes], request: str = "make it grey") -> httpx.Response:
    return client.post(
        "/v1/tasks",
        data={"request": request},
        files=[("files", (name, content, "application/octet-stream")) for name, content in files],
    )


def test_without_keys_no_auth_is_needed_and_none_is_documented(client: TestClient) -> None:
    assert client.post("/v1/tasks", json={"request": "quick"}).status_code == 202
    assert "securitySchemes" not in client.get("/openapi.json").json().get("components", {})


def test_with_keys_every_v1_route_and_metrics_need_a_bearer_token(data_dir: Path) -> None:
    test_client, agent = serve(data_dir, api_keys=["s3cret", "second"])
    with test_client as client:
        missing = client.post("/v1/tasks", json={"request": "quick"})
        assert error(missing, 401)["code"] == "unauthorized" and missing.headers["www-authenticate"] == "Bearer"
        assert error(client.get("/v1/tasks", headers={"Authorization": "Bearer nope"}), 401)["code"] == "unauthorized"
        assert client.get("/v1/tasks", headers={"Authorization": "Basic czNjcmV0"}).status_code == 401
        assert client.get("/metrics").status_code == 401
        assert client.get("/v1/artifacts/image-0123456789abcdef").status_code == 401  # before any lookup
        ok = client.post("/v1/tasks", json={"request": "quick"}, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 202
        wait_for(client, ok.json()["id"], ("succeeded",), Authorization="Bearer second")
        assert client.get("/metrics", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200  # probes
        schema = client.get("/openapi.json").json()
        assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    agent.close()


def test_keys_come_from_tog_server_api_keys(monkeypatch) -> None:
    from agent.config import ToGSettings

    monkeypatch.setenv("TOG_SERVER_API_KEYS", "sk-first, sk-second ,")
    assert ToGSettings().server.api_keys == ["sk-first", "sk-second"]
    assert "sk-first" not in repr(ToGSettings())
    assert ServerSettings(api_keys="a, b").api_keys == ["a", "b"]


def test_a_public_bind_without_keys_is_refused() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.org")
    assert ServerSettings(host="127.0.0.1").bind_problem() is None
    assert "TOG_SERVER_API_KEYS" in ServerSettings(host="0.0.0.0").bind_problem()
    assert ServerSettings(host="0.0.0.0", api_keys=["k"]).bind_problem() is None
    assert ServerSettings(host="0.0.0.0", insecure=True).bind_problem() is None
    from agent.cli import app

    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--port", "8765"], env={"TOG_SERVER_API_KEYS": ""})
    assert result.exit_code == 2 and "refusing to serve on '0.0.0.0'" in result.output


def test_a_body_over_the_limit_is_413_from_the_header_or_the_stream(limited: TestClient) -> None:
    big = json.dumps({"request": "x" * 100_000})
    assert (
        error(limited.post("/v1/tasks", content=big, headers={"Content-Type": "application/json"}), 413)["code"]
        == "payload_too_large"
    )

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        for _ in range(100):
            yield b" " * 1024

    assert (
        error(limited.post("/v1/tasks", content=chunks(), headers={"Content-Type": "application/json"}), 413)["code"]
        == "payload_too_large"
    )
    assert limited.get("/v1/tasks").json()["items"] == []


def test_file_count_size_pixels_and_type_limits(limited: TestClient) -> None:
    small = png_bytes((8, 8))
    assert error(upload(limited, ("a.png", small), ("b.png", small), ("c.png", small)), 413)["code"] == "too_many_files"
    noisy = Image.fromarray(np.random.default_rng(0).integers(0, 256, (120, 120, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    noisy.save(buffer, format="PNG")
    assert len(buffer.getvalue()) > 20_000
    assert error(upload(limited, ("noise.png", buffer.getvalue())), 413)["code"] == "file_too_large"
    wide = io.BytesIO()
    Image.new("L", (1500, 1000)).save(wide, format="PNG", optimize=True)  # 1.5 Mpx in a few KB
    assert len(wide.getvalue()) < 20_000
    too_many_pixels = error(upload(limited, ("wide.png", wide.getvalue())), 413)
    assert too_many_pixels["code"] == "artifact_too_large" and too_many_pixels["details"]["max_pixels"] == 1_000_000
    assert error(upload(limited, ("clip.wav", b"RIFF....WAVE")), 415)["details"]["allowed"] == ["image"]
    assert error(upload(limited, ("data.xyz", b"?")), 415)["code"] == "unsupported_type"
    assert error(upload(limited, ("photo.png", b"not a png at all")), 422)["code"] == "invalid_artifact"
    assert limited.get("/v1/tasks").json()["items"] == []  # none of them became a task


def test_json_body_limits(limited: TestClient) -> None:
    def post(**body) -> httpx.Response:
        return limited.post("/v1/tasks", json={"request": "make it grey", **body})

    encoded = base64.b64encode(png_bytes((8, 8))).decode()
    assert error(post(files=[{"name": f"{i}.png", "data": encoded} for i in range(3)]), 413)["code"] == "too_many_files"
    assert error(post(files=[{"name": "big.png", "data": "A" * 40_000}]), 413)["code"] == "file_too_large"
    assert error(post(files=[{"name": "p.png", "data": "@@not base64@@"}]), 422)["code"] == "invalid_input"
    assert error(post(files=[{"name": "p.png"}]), 422)["code"] == "invalid_request"  # neither data nor url
    assert error(post(files=[{"name": "../../p.png", "data": encoded}]), 422)["code"] == "invalid_request"
    assert error(post(files=[{"name": "p", "type": "bboxes", "data": encoded}]), 415)["code"] == "unsupported_type"
    assert error(limited.post("/v1/tasks", json={"request": "x" * 201}), 422)["details"]["max_chars"] == 200
    assert error(limited.post("/v1/tasks", json={"request": "   "}), 422)["code"] == "invalid_input"
    assert error(limited.post("/v1/tasks", json={"files": []}), 422)["code"] == "invalid_request"
    assert (
        error(limited.post("/v1/tasks", content=b"{nope", headers={"Content-Type": "application/json"}), 422)["code"]
        == "invalid_request"
    )
    assert (
        error(limited.post("/v1/tasks", content=b"request=x", headers={"Content-Type": "text/plain"}), 415)["code"]
        == "unsupported_media_type"
    )


def test_literal_resources_are_values_never_paths(limited: TestClient, tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(png_bytes())

    def post(resource: dict) -> httpx.Response:
        return limited.post("/v1/tasks", json={"request": "make it grey", "resources": [resource]})

    assert error(post({"name": "x", "type": "image", "value": str(secret)}), 422)["code"] == "invalid_input"
    assert (
        error(post({"name": "x", "type": "image", "value": "image-0123456789abcdef"}), 422)["code"] == "invalid_input"
    )
    stored = upload(limited, ("p.png", png_bytes()))
    photo_id = wait_for(limited, stored.json()["id"], ("succeeded",))["inputs"][0]["id"]
    assert post({"name": "again", "type": "image", "value": photo_id}).status_code == 202  # a stored artifact is fine
    assert error(post({"name": "x", "type": "audio", "value": photo_id}), 422)["code"] == "invalid_input"  # wrong type
    assert error(post({"name": "n", "type": "number", "value": "three"}), 422)["code"] == "invalid_input"
    assert error(post({"name": "n", "type": "number", "value": True}), 422)["code"] == "invalid_input"
    assert error(post({"name": "b", "type": "bboxes", "value": {"x1": 1}}), 422)["code"] == "invalid_input"
    assert error(post({"name": "t", "type": "no-such-type", "value": "x"}), 422)["code"] == "invalid_request"


def test_artifact_ids_are_opaque(limited: TestClient) -> None:
    for path in (
        "/v1/artifacts/..%2F..%2Fetc%2Fpasswd",
        "/v1/artifacts/image-..%2F..%2Fsecret",
        "/v1/artifacts/%2Fetc%2Fpasswd",
        "/v1/artifacts/IMAGE-0123456789ABCDEF",
    ):
        response = limited.get(path)
        assert response.status_code in (404, 422) and "error" in response.json(), path
    assert error(limited.get("/v1/artifacts/image-0123456789abcdef"), 404)["code"] == "artifact_not_found"
    assert error(limited.get("/v1/artifacts/image-0123456789abcdef/meta"), 404)["code"] == "artifact_not_found"


def test_remote_urls_are_off_unless_enabled_and_never_reach_private_addresses(data_dir: Path) -> None:
    body = {"request": "make it grey", "files": [{"name": "p.png", "url": "http://127.0.0.1:9/p.png"}]}
    test_client, agent = serve(data_dir)
    with test_client as client:
        assert error(client.post("/v1/tasks", json=body), 403)["code"] == "remote_urls_disabled"
    agent.close()
    test_client, agent = serve(data_dir, allow_remote_urls=True)
    with test_client as client:
        for url in (
            "http://127.0.0.1:9/p.png",
            "http://10.1.2.3/p.png",
            "http://169.254.169.254/latest",
            "http://[::1]/p.png",
            "file:///etc/passwd",
            "ftp://example.org/p.png",
        ):
            response = client.post("/v1/tasks", json={**body, "files": [{"name": "p.png", "url": url}]})
            assert error(response, 403)["code"] in ("url_not_allowed",), url
    agent.close()


def test_an_enabled_fetch_is_bounded(monkeypatch) -> None:
    public = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 443))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: public)
    photo = png_bytes()

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/p.png":
            return httpx.Response(200, content=photo)
        if request.url.path == "/big":
            return httpx.Response(200, content=b"x" * 5000)
        return httpx.Response(302, headers={"Location": "http://127.0.0.1/"})

    settings = ServerSettings(allow_remote_urls=True, max_file_bytes=4096)
    transport = httpx.MockTransport(answer)
    assert fetch_url("https://images.example/p.png", settings, transport) == photo
    with pytest.raises(FileTooLargeError):
        fetch_url("https://images.example/big", settings, transport)
    with pytest.raises(RemoteFetchError, match="302"):  # redirects are not followed
        fetch_url("https://images.example/elsewhere", settings, transport)
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda *args, **kwargs: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.168.0.7", 443))],
    )
    with pytest.raises(URLNotAllowedError, match="not a public address"):
        fetch_url("https://images.example/p.png", settings, transport)


def test_a_full_queue_is_429_with_retry_after_and_records_nothing(data_dir: Path) -> None:
    test_client, agent = serve(data_dir, workers=1, queue_size=1, retry_after_s=3)
    with test_client as client:
        running = client.post("/v1/tasks", json={"request": "slow"}).json()["id"]
        wait_for(client, running, ("running",))
        waiting = client.post("/v1/tasks", json={"request": "quick"})
        assert waiting.status_code == 202
        full = client.post("/v1/tasks", json={"request": "quick"})
        assert error(full, 429)["code"] == "queue_full" and full.headers["retry-after"] == "3"
        assert error(upload(client, ("p.png", png_bytes())), 429)["details"]["retry_after_s"] == 3
        assert len(client.get("/v1/tasks").json()["items"]) == 2
        assert client.get("/readyz").status_code == 503  # not taking tasks now
        assert 'tog_tasks_rejected_total{reason="queue_full"} 2.0' in client.get("/metrics").text
        client.delete(f"/v1/tasks/{running}")
        wait_for(client, waiting.json()["id"], ("succeeded",))
        assert client.post("/v1/tasks", json={"request": "quick"}).status_code == 202  # room again
    agent.close()


def test_plans_beyond_the_worker_count_are_429(client: TestClient) -> None:
    plans = client.app.state.tog.plans
    for _ in range(2):
        assert plans.acquire(blocking=False)
    try:
        assert error(client.post("/v1/plan", json={"request": "quick"}), 429)["code"] == "queue_full"
    finally:
        plans.release()
        plans.release()
    assert client.post("/v1/plan", json={"request": "quick"}).status_code == 200


def test_cors_is_off_unless_origins_are_configured(client: TestClient, tmp_path: Path) -> None:
    preflight = {"Origin": "http://ui.example", "Access-Control-Request-Method": "POST"}
    assert "access-control-allow-origin" not in client.options("/v1/tasks", headers=preflight).headers
    test_client, agent = serve(tmp_path / "cors", cors_origins="http://ui.example")
    with test_client as cors:
        allowed = cors.options("/v1/tasks", headers=preflight)
        assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == "http://ui.example"
        other = cors.options("/v1/tasks", headers={**preflight, "Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers
    agent.close()


def test_every_error_status_is_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"401", "403", "413", "415", "422", "429"} <= set(paths["/v1/tasks"]["post"]["responses"])
    assert {"404", "409"} <= set(paths["/v1/tasks/{task_id}"]["delete"]["responses"])
    body = paths["/v1/tasks"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "multipart/form-data"}
    assert body["application/json"]["schema"] == {"$ref": "#/components/schemas/TaskCreate"}
