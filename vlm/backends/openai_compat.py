"""InternVL served by lmdeploy or vLLM, reached through their OpenAI chat-completions API.

Images travel as ``image_url`` content parts holding ``data:image/png;base64,…`` URLs, after the same
validation and limits as local backends (:func:`vlm.images.load_image`), so a corrupt image fails
before anything is sent. Transient server trouble (connection refused, 5xx, 429) is retried with
exponential backoff or after the server's ``Retry-After`` (a :mod:`tenacity` policy); what is left
surfaces as a typed :class:`BackendError` whose ``retryable`` flag tells the engine whether to try
again later. Raw ``httpx`` exceptions never escape.

How multi-image and video prompts reach InternVL differs per server, so ``prompt_style`` decides:

* ``"lmdeploy"``: the text part carries ``Image-1: <IMAGE_TOKEN>\\n…`` (``Frame1: …`` for video);
  lmdeploy's InternVL wrapper replaces each ``<IMAGE_TOKEN>`` with that image's ``<img>…</img>`` and
  reads only the first text part, so the whole prompt goes in one part.
* ``"vllm"``: the same labels with ``<image>``, the placeholder vLLM's ``InternVLChatModel`` uses for
  original checkpoints; vLLM keeps placeholders written in the text and only prepends missing ones.
* ``"vllm-hf"``: ``-hf`` checkpoints are rendered by their chat template, which turns each image part
  into ``<IMG_CONTEXT>`` where it stands, so labels go in text parts interleaved with the images.
* ``"plain"``: no labels; the server puts every image before the question (its default).
* ``"auto"`` (default): ``/v1/models`` tells the server apart (``owned_by`` is ``"lmdeploy"`` or
  ``"vllm"``; a model id or root ending in ``-hf`` means a ``-hf`` checkpoint); anything else is plain.

One image is always sent as ``[image, question]``, which every server renders as InternVL's
``<image>\\nquestion``. Video frames are sent as images (neither server takes an InternVL video
through one OpenAI part the same way) with one tile each; a request naming a video file has its
``num_segments`` frames sampled here (:func:`vlm.video.load_video_frames`). A request's ``max_tiles`` (at most
``limits.max_tiles``) is sent both ways at once: vLLM's request-level
``mm_processor_kwargs.max_dynamic_patch`` and lmdeploy's per-image ``image_url.max_dynamic_patch``;
each server ignores the other's field. Without it the server's own configured tile budget applies.
A request's ``json_schema`` goes as ``response_format`` (type ``json_schema``, strict), which both
servers enforce while decoding.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any, Literal, get_args

import httpx
from tenacity import RetryCallState, RetryError, Retrying, retry_if_exception, stop_after_attempt, wait_exponential
from tenacity.wait import wait_base

from vlm.backends.base import ChatRequest, GenerationConfig, VLMBackend
from vlm.errors import BackendError, BackendTimeoutError, TooManyImagesError, VideoInputError
from vlm.images import ImageLimits, check_images, load_image
from vlm.prompt import IMAGE_PLACEHOLDER, image_placeholders
from vlm.video import load_video_frames

logger = logging.getLogger(__name__)

PromptStyle = Literal["auto", "lmdeploy", "vllm", "vllm-hf", "plain"]
ImageFormat = Literal["png", "jpeg"]

PLACEHOLDERS = {"lmdeploy": "<IMAGE_TOKEN>", "vllm": IMAGE_PLACEHOLDER}
"""The image placeholder each server's InternVL wrapper looks for in the user's text."""


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What ``/v1/models`` told us: the model to ask for and how to lay out its prompts."""

    model: str
    style: PromptStyle


class OpenAICompatibleBackend(VLMBackend):
    """Chat with an InternVL model behind an lmdeploy or vLLM server.

    ``model=None`` asks the server (``GET /v1/models``, first id). ``timeout`` bounds each wait for
    the server (for streams, each wait between chunks); ``max_retries`` more attempts follow a
    retryable failure, ``backoff · 2^attempt`` seconds apart (a 429/503 ``Retry-After`` up to
    ``max_retry_after`` seconds is honoured instead). At most ``max_concurrency`` requests of a batch
    are in flight at once.

    >>> import sys; sys.path.insert(0, "tests/vlm")
    >>> from fake_openai_server import FakeOpenAIServer
    >>> from PIL import Image
    >>> with FakeOpenAIServer() as server, OpenAICompatibleBackend(server.url) as backend:
    ...     backend.chat([Image.new("RGB", (64, 48))], "What is this?")
    'images=1 sizes=64x48 text=What is this?'
    """

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        backoff: float = 0.5,
        limits: ImageLimits | None = None,
        image_format: ImageFormat = "png",
        *,
        prompt_style: PromptStyle = "auto",
        max_concurrency: int = 8,
        max_retry_after: float = 10.0,
    ) -> None:
        if timeout <= 0 or max_retries < 0 or backoff < 0 or max_concurrency < 1:
            raise ValueError("timeout must be > 0, max_retries and backoff >= 0, max_concurrency >= 1")
        if image_format not in ("png", "jpeg"):
            raise ValueError(f"image_format must be 'png' or 'jpeg', not {image_format!r}")
        if prompt_style not in get_args(PromptStyle):
            raise ValueError(f"unknown prompt_style {prompt_style!r}")
        self.base_url = _api_root(base_url)
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.limits = limits or ImageLimits()
        self.image_format = image_format
        self.prompt_style = prompt_style
        self.max_concurrency = max_concurrency
        self.max_retry_after = max_retry_after
        self._sleep: Callable[[float], None] = time.sleep  # tests may swap in a fake clock
        self._model = model
        self._server: ServerInfo | None = None
        self._server_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency),
        )

    # --- public interface -----------------------------------------------------------------------
    @property
    def model(self) -> str:
        """The served model's id (asked of the server once if not given)."""
        return self._model or self.server_info().model

    def server_info(self) -> ServerInfo:
        """Model id and prompt style, from ``/v1/models`` once and then cached."""
        with self._server_lock:
            if self._server is None:
                self._server = self._discover()
            return self._server

    def batch_chat(self, requests: Sequence[ChatRequest]) -> list[str]:
        """Answer every request (concurrently, at most ``max_concurrency`` at once), in order.

        All images are validated before the first request leaves; if several requests fail, the
        error of the earliest one is raised after the others have finished.
        """
        if not requests:
            return []
        bodies = self._bodies(requests, stream=False)
        if len(bodies) == 1:
            return [self._complete(bodies[0])]
        pool = self._executor()
        futures: list[Future[str]] = [pool.submit(self._complete, body) for body in bodies]
        answers: list[str] = []
        first_error: BaseException | None = None
        for future in futures:
            try:
                answers.append(future.result())
            except BaseException as exc:
                first_error = first_error or exc
        if first_error is not None:
            raise first_error
        return answers

    def stream(self, request: ChatRequest) -> Iterator[str]:
        """Yield the answer's text deltas as the server produces them (server-sent events).

        The images are checked when this is called; the request is sent on first iteration.
        """
        (body,) = self._bodies([request], stream=True)
        return self._stream_deltas(body)

    def close(self) -> None:
        self._client.close()
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None

    # --- request building -----------------------------------------------------------------------
    def _bodies(self, requests: Sequence[ChatRequest], stream: bool) -> list[dict[str, Any]]:
        # Images first: a bad image must fail before any request (even model discovery) is sent.
        encoded = [self._encode_images(request) for request in requests]
        labelled = any(_labelled(len(urls), _is_video(r)) for r, urls in zip(requests, encoded))
        needs_style = labelled and self.prompt_style == "auto"
        style = self.server_info().style if needs_style else self.prompt_style
        model = self.model
        return [_body(model, r, urls, style, stream) for r, urls in zip(requests, encoded)]

    def _encode_images(self, request: ChatRequest) -> list[str]:
        if request.video is not None and request.images:
            raise VideoInputError(
                "a request takes either video frames as images or a video path, not both",
                video=str(request.video),
            )
        if request.max_tiles is not None and request.max_tiles > self.limits.max_tiles:
            raise TooManyImagesError(
                f"{request.max_tiles} tiles per image requested; the limit is {self.limits.max_tiles}",
                tiles=request.max_tiles,
                limit=self.limits.max_tiles,
            )
        if request.video is not None:  # frames sampled here; num_segments is already bounded
            sources = load_video_frames(request.video, request.num_segments)
        else:
            check_images(request.images, self.limits)
            sources = request.images
        return [self._data_url(load_image(source, self.limits)) for source in sources]

    def _data_url(self, image: Any) -> str:
        buffer = io.BytesIO()
        if self.image_format == "jpeg":
            image.save(buffer, format="JPEG", quality=95)
        else:
            image.save(buffer, format="PNG")
        return f"data:image/{self.image_format};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"

    # --- transport ------------------------------------------------------------------------------
    def _complete(self, body: dict[str, Any]) -> str:
        response = self._send("POST", "/chat/completions", body, stream=False)
        data = _json(response, self.base_url)
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise BackendError(
                f"{self.base_url} answered without choices[0].message.content: {_snippet(response.text)}"
            ) from None
        if not isinstance(content, str):
            raise BackendError(f"{self.base_url} answered with no text content: {_snippet(response.text)}")
        return content

    def _stream_deltas(self, body: dict[str, Any]) -> Iterator[str]:
        response = self._send("POST", "/chat/completions", body, stream=True)
        finished = False
        try:
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue  # blank separators, ": comments", "event:" / "id:" fields
                payload = line[5:].strip()
                if payload == "[DONE]":
                    return
                chunk = _parse_json(payload, self.base_url)
                if isinstance(chunk, dict) and ("error" in chunk or chunk.get("object") == "error"):
                    raise BackendError(f"{self.base_url} failed mid-stream: {_error_message(chunk)}")
                choices = chunk.get("choices") if isinstance(chunk, dict) else None
                for choice in choices if isinstance(choices, list) else []:
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        yield text
                    finished = finished or choice.get("finish_reason") is not None
        except httpx.TimeoutException as exc:
            raise BackendTimeoutError(
                f"{self.base_url} sent nothing for {self.timeout}s in the middle of a stream"
            ) from exc
        except (httpx.TransportError, httpx.StreamError) as exc:
            raise BackendError(f"the stream from {self.base_url} broke: {exc}", retryable=True) from exc
        except httpx.HTTPError as exc:
            raise BackendError(f"the stream from {self.base_url} failed: {exc}", retryable=False) from exc
        finally:
            response.close()
        if not finished:
            raise BackendError(f"the stream from {self.base_url} ended before the answer did", retryable=True)

    def _discover(self) -> ServerInfo:
        try:
            response = self._send("GET", "/models", None, stream=False)
        except BackendError as exc:
            if exc.retryable or self._model is None:
                raise  # nothing is cached, so a server that comes back is asked again
            logger.warning("%s does not list its models; sending prompts in the plain style", self.base_url)
            return ServerInfo(self._model, "plain")
        data = _json(response, self.base_url)
        cards = data.get("data") if isinstance(data, dict) else None
        if not isinstance(cards, list) or not cards or not all(isinstance(c, dict) and "id" in c for c in cards):
            raise BackendError(f"{self.base_url}/models lists no models: {_snippet(response.text)}")
        card = next((c for c in cards if c["id"] == self._model), cards[0])
        model = self._model or str(card["id"])
        style = self.prompt_style if self.prompt_style != "auto" else _style_of(card)
        return ServerInfo(model, style)

    def _send(self, method: str, path: str, body: dict[str, Any] | None, stream: bool) -> httpx.Response:
        """One request with retries (policy: :meth:`_retrying`); the caller closes a streamed response."""
        try:
            return self._retrying()(self._attempt, method, path, body, stream)
        except RetryError as exc:
            failure = exc.last_attempt.exception()
            if not isinstance(failure, BackendError):  # only BackendErrors are retried
                raise
            details = {k: v for k, v in failure.details.items() if k != "retryable"}
            attempts = exc.last_attempt.attempt_number
            raise BackendError(
                f"{failure.message} (gave up after {attempts} attempts)", retryable=True, **details
            ) from None

    def _retrying(self) -> Retrying:
        """The retry policy, built per request so changed attributes (``max_retries``, ``backoff``) apply.

        A retryable failure is tried again up to ``max_retries`` times; a non-retryable one, a timeout
        (the server already had ``timeout`` seconds) and a ``Retry-After`` beyond ``max_retry_after`` end
        it at once, as does a closed backend (the next attempt refuses to send).
        """
        attempts = self.max_retries + 1
        return Retrying(
            retry=retry_if_exception(self._worth_retrying),
            stop=stop_after_attempt(attempts),
            wait=_RetryAfterOrBackoff(self.backoff),
            sleep=self._sleep,
            before_sleep=partial(_log_retry, attempts),
        )

    def _worth_retrying(self, exc: BaseException) -> bool:
        if not isinstance(exc, BackendError) or not exc.retryable or isinstance(exc, BackendTimeoutError):
            return False
        retry_after = exc.details.get("retry_after")
        # A server asking for a longer pause than is worth blocking for gets its answer straight away.
        return retry_after is None or retry_after <= self.max_retry_after

    def _attempt(self, method: str, path: str, body: dict[str, Any] | None, stream: bool) -> httpx.Response:
        """One try: the response, or a typed error whose ``retryable`` / ``retry_after`` steer the retries."""
        if self._client.is_closed:
            raise BackendError(f"the backend for {self.base_url} is closed", retryable=False)
        try:
            request = self._client.build_request(method, path, json=body)
            response = self._client.send(request, stream=stream)
        except httpx.TimeoutException as exc:
            raise BackendTimeoutError(
                f"{self.base_url}{path} did not answer within {self.timeout}s", timeout=self.timeout
            ) from exc
        except httpx.TransportError as exc:
            raise BackendError(f"cannot reach {self.base_url}: {exc}", retryable=True) from exc
        except httpx.HTTPError as exc:  # decoding trouble, redirect loops: not worth retrying
            raise BackendError(f"{self.base_url}{path} failed: {exc}", retryable=False) from exc
        if response.status_code < 400:
            return response
        raise self._failure(response, path)

    def _failure(self, response: httpx.Response, path: str) -> BackendError:
        """A typed error for an HTTP error status; ``details["retry_after"]`` holds a 429/503's ``Retry-After``."""
        try:
            text = response.read().decode("utf-8", errors="replace")
        except httpx.HTTPError:
            text = ""  # the status alone still says what happened
        finally:
            response.close()
        status = response.status_code
        message = _error_message(_maybe_json(text)) or _snippet(text) or response.reason_phrase
        retryable = status == 429 or status >= 500
        retry_after = _retry_after(response.headers.get("Retry-After")) if status in (429, 503) else None
        verb = "is unavailable" if retryable else "rejected the request"
        details: dict[str, Any] = {"status": status}
        if retry_after is not None:
            details["retry_after"] = retry_after
        return BackendError(f"{self.base_url}{path} {verb} (HTTP {status}): {message}", retryable, **details)

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="openai-backend")
            return self._pool


class _RetryAfterOrBackoff(wait_base):
    """Wait what a 429/503's ``Retry-After`` asked for, else ``backoff · 2^(attempt-1)`` seconds."""

    def __init__(self, backoff: float) -> None:
        self._backoff = wait_exponential(multiplier=backoff, exp_base=2, min=0)

    def __call__(self, retry_state: RetryCallState) -> float:
        failure = retry_state.outcome.exception() if retry_state.outcome is not None else None
        retry_after = failure.details.get("retry_after") if isinstance(failure, BackendError) else None
        return float(retry_after) if retry_after is not None else self._backoff(retry_state)


def _log_retry(attempts: int, retry_state: RetryCallState) -> None:
    failure = retry_state.outcome.exception() if retry_state.outcome is not None else None
    wait = retry_state.next_action.sleep if retry_state.next_action is not None else 0.0
    message = failure.message if isinstance(failure, BackendError) else str(failure)
    logger.info("%s; retrying in %.2fs (attempt %d of %d)", message, wait, retry_state.attempt_number + 1, attempts)


# --- pure helpers -------------------------------------------------------------------------------
def _api_root(base_url: str) -> str:
    """``http://host:23333`` and ``http://host:23333/v1/`` both mean ``http://host:23333/v1``."""
    root = base_url.strip().rstrip("/")
    if not re.match(r"https?://[^/]+", root):
        raise ValueError(f"base_url must be an http(s) URL such as http://127.0.0.1:23333, not {base_url!r}")
    return root if root.endswith("/v1") else root + "/v1"


def _style_of(card: dict[str, Any]) -> PromptStyle:
    owner = str(card.get("owned_by", "")).lower()
    if owner == "lmdeploy":
        return "lmdeploy"
    if owner == "vllm":
        names = (str(card.get("id", "")), str(card.get("root") or ""))
        return "vllm-hf" if any(n.lower().rstrip("/").endswith("-hf") for n in names) else "vllm"
    return "plain"


def _body(model: str, request: ChatRequest, urls: list[str], style: PromptStyle, stream: bool) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    if request.system_message:
        messages.append({"role": "system", "content": request.system_message})
    for turn in request.history:
        messages.append({"role": "user", "content": turn.question})
        messages.append({"role": "assistant", "content": turn.answer})
    video = _is_video(request)
    max_tiles = 1 if video else request.max_tiles
    messages.append({"role": "user", "content": _user_content(request.question, urls, style, video, max_tiles)})
    body: dict[str, Any] = {"model": model, "messages": messages, "stream": stream}
    body.update(_sampling(request.generation))
    if request.generation.json_schema is not None:
        body["response_format"] = response_format(request.generation.json_schema)
    if max_tiles is not None and urls:
        body["mm_processor_kwargs"] = {"max_dynamic_patch": max_tiles}
    return body


def _is_video(request: ChatRequest) -> bool:
    return request.kind == "video" or request.video is not None


def _labelled(count: int, video: bool) -> bool:
    """Several images get ``Image-k:`` labels and every video frame a ``Framek:`` label."""
    return count > 1 or (video and count > 0)


def _user_content(
    question: str, urls: list[str], style: PromptStyle, video: bool, max_tiles: int | None
) -> str | list[dict[str, Any]]:
    if not urls:
        return question
    image_parts = []
    for url in urls:
        image_url: dict[str, Any] = {"url": url}
        if max_tiles is not None:
            image_url["max_dynamic_patch"] = max_tiles  # lmdeploy reads it per image
        image_parts.append({"type": "image_url", "image_url": image_url})
    if not _labelled(len(urls), video) or style in ("plain", "auto"):
        return [*image_parts, {"type": "text", "text": question}]
    # InternVL's own layout, "Image-1: <image>\nImage-2: <image>\n" (or "Frame1: …"), from vlm.prompt.
    prefix = image_placeholders(len(urls), "video" if video else "images")
    if style == "vllm-hf":
        labels = prefix.split(IMAGE_PLACEHOLDER + "\n")[:-1]
        parts: list[dict[str, Any]] = []
        for label, part in zip(labels, image_parts):
            parts += [{"type": "text", "text": label}, part]
        return [*parts, {"type": "text", "text": question}]
    placeholder = PLACEHOLDERS[style]
    if placeholder in question:  # the caller placed the images themselves
        return [*image_parts, {"type": "text", "text": question}]
    return [*image_parts, {"type": "text", "text": prefix.replace(IMAGE_PLACEHOLDER, placeholder) + question}]


def _sampling(config: GenerationConfig) -> dict[str, Any]:
    """OpenAI (plus lmdeploy / vLLM extension) sampling fields; greedy is temperature 0."""
    fields: dict[str, Any] = {"max_tokens": config.max_new_tokens}
    if config.do_sample:
        fields["temperature"] = config.temperature
        fields["top_p"] = config.top_p
        if config.top_k is not None:
            fields["top_k"] = config.top_k
    else:
        fields["temperature"] = 0.0
    if config.repetition_penalty != 1.0:
        fields["repetition_penalty"] = config.repetition_penalty
    if config.seed is not None:
        fields["seed"] = config.seed
    stop = getattr(config, "stop", None)  # not every GenerationConfig carries stop strings
    if stop:
        fields["stop"] = list(stop)
    return fields


def response_format(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's structured-output request for ``schema`` (vLLM and lmdeploy decode with it), named after
    the schema's title.

    >>> response_format({"title": "Plan draft", "type": "object"})["json_schema"]["name"]
    'Plan_draft'
    """
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", str(schema.get("title") or "answer")).strip("_")[:64] or "answer"
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _parse_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise BackendError(f"{where} answered with malformed JSON: {_snippet(text)}") from None


def _json(response: httpx.Response, where: str) -> Any:
    return _parse_json(response.text, where)


def _error_message(payload: Any) -> str:
    """The server's own words: OpenAI's ``{"error": {"message"}}`` or lmdeploy/vLLM's flat form."""
    if not isinstance(payload, dict):
        return ""
    error = payload.get("error")
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    if isinstance(error, str) and error:
        return error
    for key in ("message", "detail"):
        if payload.get(key):
            return str(payload[key])
    return ""


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _snippet(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"
