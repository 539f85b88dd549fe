"""A fake OpenAI-compatible chat server on loopback, for testing the served-model backend offline.

It speaks just enough of the lmdeploy / vLLM API (``GET /v1/models``, ``POST /v1/chat/completions`` with
and without ``stream``) to prove what a client really sent: every request body is recorded, and the
default answer describes the images it received after decoding them with PIL. It can be scripted to
fail (503, 500, 429 with ``Retry-After``, 400, malformed JSON) or to stall, so retries and timeouts
can be tested against a real socket.

>>> import httpx
>>> with FakeOpenAIServer() as server:
...     httpx.get(server.url + "/v1/models").json()["data"][0]["id"]
'fake-internvl'
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[dict[str, Any]], str]

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    at: float  # time.monotonic() on arrival


@dataclass
class Failure:
    """A scripted failure: an HTTP error status, or any status with a raw ``body`` sent as is."""

    status: int
    message: str = "scripted failure"
    retry_after: str | None = None
    style: str = "openai"  # "openai": {"error": {...}}; "flat": lmdeploy / older vLLM {"object": "error", ...}
    body: bytes | None = None
    path: str = CHAT_PATH  # which endpoint fails


def user_text(body: dict[str, Any]) -> str:
    """The text parts of the last user message, joined in order."""
    content = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
    if isinstance(content, str):
        return content
    return "".join(part["text"] for part in content if part["type"] == "text")


def image_parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``image_url`` objects of the last user message, in order."""
    content = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
    if isinstance(content, str):
        return []
    return [part["image_url"] for part in content if part["type"] == "image_url"]


def decoded_images(body: dict[str, Any]) -> list[Any]:
    """Decode every ``data:`` image URL of the last user message with PIL (raises if one is damaged)."""
    from PIL import Image

    images = []
    for part in image_parts(body):
        match = re.fullmatch(r"data:image/(png|jpeg);base64,(.+)", part["url"], flags=re.S)
        if match is None:
            raise ValueError(f"not a base64 image data URL: {part['url'][:40]!r}")
        image = Image.open(io.BytesIO(base64.b64decode(match.group(2), validate=True)))
        image.load()
        images.append(image)
    return images


def describe_images(body: dict[str, Any]) -> str:
    """Default answer: how many images arrived, their decoded sizes, and the question text."""
    sizes = ",".join(f"{im.width}x{im.height}" for im in decoded_images(body))
    return f"images={len(image_parts(body))} sizes={sizes} text={user_text(body)}"


class FakeOpenAIServer:
    """In-process fake of an lmdeploy / vLLM server; use as a context manager (see module docstring).

    ``owned_by`` is what ``/v1/models`` reports ("vllm", "lmdeploy", ...), which lets a client tell
    the servers apart. Assign :attr:`responder` to script answers and :attr:`delay` (seconds) to stall
    them; :attr:`models` is the list ``/v1/models`` returns.
    """

    def __init__(
        self,
        responder: Responder = describe_images,
        model: str = "fake-internvl",
        owned_by: str = "vllm",
        root: str | None = None,
    ) -> None:
        self.responder = responder
        self.delay = 0.0
        self.models = [{"id": model, "object": "model", "created": 0, "owned_by": owned_by, "root": root or model}]
        self.max_in_flight = 0
        self._in_flight = 0
        self._failures: list[Failure] = []
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- scripting -----------------------------------------------------------------------------
    def fail(self, status: int, times: int = 1, **options: Any) -> None:
        """Answer the next ``times`` chat (or ``path=``) requests with HTTP ``status`` (see :class:`Failure`)."""
        with self._lock:
            self._failures.extend(Failure(status, **options) for _ in range(times))

    def send_malformed(self, times: int = 1) -> None:
        """Answer the next ``times`` chat requests with ``200`` and a body that is not JSON."""
        self.fail(200, times, body=b'{"choices": [ this is not json')

    # --- inspection ----------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def chat_bodies(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path == CHAT_PATH and r.body is not None]

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake server is not running; use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> FakeOpenAIServer:
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True, name="fake-openai"
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that time out close their socket mid-answer; that is expected here, not an error."""


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAIServer
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean."""

    def do_GET(self) -> None:
        self._record(None)
        failure = self._take_failure()
        if failure is not None:
            self._send_error(failure)
        elif self.path == MODELS_PATH:
            self._send_json(200, {"object": "list", "data": self.fake.models})
        else:
            self._send_error(Failure(404, f"no route {self.path}"))

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            body = json.loads(raw)
        except ValueError:
            self._record(None)
            self._send_error(Failure(400, "request body is not JSON"))
            return
        self._record(body)
        if self.path != CHAT_PATH:
            self._send_error(Failure(404, f"no route {self.path}"))
            return
        fake = self.fake
        failure = self._take_failure()
        with fake._lock:
            fake._in_flight += 1
            fake.max_in_flight = max(fake.max_in_flight, fake._in_flight)
        try:
            if fake.delay:
                fake._closing.wait(fake.delay)
            if failure is not None:
                self._send_error(failure)
                return
            try:
                answer = fake.responder(body)
            except Exception as exc:  # a scripted responder that rejects the request -> a 400 for the client
                self._send_error(Failure(400, f"fake server could not answer: {exc}"))
                return
            if body.get("stream"):
                self._send_stream(answer, body)
            else:
                self._send_json(200, _completion(answer, body))
        finally:
            with fake._lock:
                fake._in_flight -= 1

    # --- helpers -------------------------------------------------------------------------------
    def _take_failure(self) -> Failure | None:
        with self.fake._lock:
            for index, failure in enumerate(self.fake._failures):
                if failure.path == self.path:
                    return self.fake._failures.pop(index)
        return None

    def _record(self, body: dict[str, Any] | None) -> None:
        recorded = RecordedRequest(self.command, self.path, dict(self.headers), body, time.monotonic())
        with self.fake._lock:
            self.fake._requests.append(recorded)

    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, failure: Failure) -> None:
        if failure.body is not None:
            data = failure.body
            self.send_response(failure.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if failure.style == "flat":
            payload: dict[str, Any] = {"object": "error", "message": failure.message, "code": failure.status}
        else:
            payload = {"error": {"message": failure.message, "type": "error", "code": failure.status}}
        data = json.dumps(payload).encode()
        self.send_response(failure.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if failure.retry_after is not None:
            self.send_header("Retry-After", failure.retry_after)
        self.end_headers()
        self.wfile.write(data)

    def _send_stream(self, answer: str, body: dict[str, Any]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        pieces = re.findall(r"\S+\s*|\s+", answer) or [""]
        events = [{"role": "assistant", "content": ""}] + [{"content": p} for p in pieces]
        for index, delta in enumerate(events):
            finish = "stop" if index == len(events) - 1 else None
            chunk = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "model": body.get("model"),
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            self.wfile.write(b": keep-alive comment\n\n" if index == 1 else b"")
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


def _completion(answer: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
