"""Errors of the REST layer and the one JSON shape every error response has: ``{error: {code, message, details}}``.

Every :class:`~graph.errors.ToGError` maps to a 4xx by its class (a missing artifact is 404, an image over
the pixel limit 413, a request no tool can serve 422); a storage failure (the task database or the artifact
files cannot be written) is a 503, or a 507 when the disk or the file-size limit is full, with Retry-After;
anything else is a bug and answers 500 with no internals in the body. The server's own errors carry their
status (and headers such as Retry-After). No message names a path on the server: the data directory is
replaced by ``<data>`` in every error body.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
from collections.abc import Iterable
from http import HTTPStatus
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent.api import InputFileError, RunNotFoundError
from agent.bounds import WorkLimitError
from agent.decompose.base import DecompositionError
from agent.engine.resources import ResourceError
from agent.inputs import InputSpecError
from agent.outcomes import UnsupportedRequestError
from agent.pipeline import PlanningError
from agent.server.models import ErrorBody
from agent.workflows.errors import WorkflowInputError, WorkflowUnavailableError, WorkflowValidationError
from graph.artifacts import ArtifactCorruptError
from graph.errors import (
    ArtifactNotFoundError,
    ArtifactTooLargeError,
    InvalidArtifactError,
    InvalidArtifactIdError,
    NoSolutionError,
    PlanValidationError,
    ToGError,
    UnknownTypeError,
)

logger = logging.getLogger(__name__)


class APIError(ToGError):
    """An error the REST layer raises itself; ``status`` and ``headers`` go into the response."""

    code = "bad_request"
    status = 400

    def __init__(self, message: str, *, headers: dict[str, str] | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.headers = headers or {}


class UnauthorizedError(APIError):
    code, status = "unauthorized", 401

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"}, **details)


class RemoteURLsDisabledError(APIError):
    code, status = "remote_urls_disabled", 403


class URLNotAllowedError(APIError):
    code, status = "url_not_allowed", 403


class TaskNotFoundError(APIError, KeyError):
    code, status = "task_not_found", 404

    def __str__(self) -> str:
        return self.message


class TaskFinishedError(APIError):
    code, status = "task_finished", 409


class PayloadTooLargeError(APIError):
    code, status = "payload_too_large", 413


class TooManyFilesError(APIError):
    code, status = "too_many_files", 413


class FileTooLargeError(APIError):
    code, status = "file_too_large", 413


class UnsupportedTypeError(APIError):
    code, status = "unsupported_type", 415


class UnsupportedMediaTypeError(APIError):
    code, status = "unsupported_media_type", 415


class InvalidInputError(APIError):
    code, status = "invalid_input", 422


class RemoteFetchError(APIError):
    code, status = "remote_fetch_failed", 422


class QueueFullError(APIError):
    code, status = "queue_full", 429

    def __init__(self, message: str, retry_after_s: int, **details: Any) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after_s)}, retry_after_s=retry_after_s, **details)


class NotReadyError(APIError):
    code, status = "not_ready", 503


class ShuttingDownError(APIError):
    """The server got SIGTERM: it takes no new tasks; a client retries against the restarted server."""

    code, status = "shutting_down", 503

    def __init__(self, message: str, retry_after_s: int, **details: Any) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after_s)}, retry_after_s=retry_after_s, **details)


class StorageError(APIError):
    """The task database or the artifact files could not be read or written; retry after Retry-After."""

    code, status = "storage_unavailable", 503
    retry_after_s = 5

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(
            message, headers={"Retry-After": str(self.retry_after_s)}, retry_after_s=self.retry_after_s, **details
        )


class StorageFullError(StorageError):
    """No space left on the server's disk, or its file-size limit reached (ENOSPC, EFBIG, EDQUOT)."""

    code, status = "insufficient_storage", 507
    retry_after_s = 30


class StoreCorruptError(StorageError):
    """The task database fails SQLite's integrity check: nothing in it can be trusted until it is recovered."""

    code, status = "store_corrupt", 503
    retry_after_s = 60


class IdempotencyKeyReusedError(APIError):
    code, status = "idempotency_key_reused", 422


class IdempotencyInProgressError(APIError):
    code, status = "idempotency_key_in_progress", 409

    def __init__(self, message: str, retry_after_s: int = 1, **details: Any) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after_s)}, retry_after_s=retry_after_s, **details)


#: errno values that mean "no room to write": the disk, a quota, or the process's file-size limit.
NO_SPACE = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})


def storage_error(exc: OSError | sqlite3.Error, what: str, *, full: bool | None = None) -> StorageError:
    """The typed error of a failed read or write of ``what``; ``full`` overrides the errno test (SQLite hides it)."""
    if isinstance(exc, sqlite3.Error):
        reason = exc.args[0] if exc.args else type(exc).__name__
    else:
        reason = os.strerror(exc.errno) if exc.errno else type(exc).__name__  # strerror only: no file names
    if full if full is not None else isinstance(exc, OSError) and exc.errno in NO_SPACE:
        return StorageFullError(
            f"the server has no room to store {what} ({reason}); retry later or ask its operator to free space",
            reason=str(reason),
        )
    return StorageError(f"the server could not store {what} ({reason}); retry in a moment", reason=str(reason))


#: Status of the errors raised below the REST layer, most specific class first.
_STATUS: tuple[tuple[type[ToGError], int], ...] = (
    (ArtifactTooLargeError, 413),
    (ArtifactCorruptError, 410),
    (ArtifactNotFoundError, 404),
    (RunNotFoundError, 404),
    (InvalidArtifactIdError, 404),
    (InvalidArtifactError, 422),
    (ResourceError, 422),
    (InputFileError, 422),
    (InputSpecError, 422),
    (UnknownTypeError, 422),
    (PlanValidationError, 422),
    (DecompositionError, 422),
    (PlanningError, 422),
    (UnsupportedRequestError, 422),
    (WorkLimitError, 422),
    (NoSolutionError, 422),
    (WorkflowValidationError, 422),
    (WorkflowInputError, 422),
    (WorkflowUnavailableError, 409),
)


def status_of(exc: ToGError) -> int:
    if isinstance(exc, APIError):
        return exc.status
    return next((status for cls, status in _STATUS if isinstance(exc, cls)), 400)


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = ErrorBody.model_validate({"error": {"code": code, "message": message, "details": details or {}}})
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


#: The OpenAPI entry of an error status: the ErrorBody model and what the status means here.
def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"model": ErrorBody, "description": _MEANING.get(status, HTTPStatus(status).phrase)}
        for status in statuses
    }


_MEANING = {
    401: "no or a wrong bearer token (only when the server has API keys)",
    403: "remote URLs are disabled, or the URL points at a non-public address",
    404: "no such task or artifact",
    409: "the task has already finished, a workflow step's tool cannot run on this server, or a request with the "
    "same Idempotency-Key is still being handled (retry after Retry-After seconds)",
    410: "the stored bytes of the artifact are damaged (they no longer match its checksum); upload it again",
    413: "the body, a file, the number of files or an image's pixels exceed the server's limits",
    415: "a file type the server does not accept, or a body that is neither JSON nor multipart",
    422: "the body or parameters are invalid, no plan can serve the request, or the Idempotency-Key was used "
    "with a different body",
    429: "the task queue is full; retry after Retry-After seconds",
    503: "the server is starting or stopping, or its storage failed; retry after Retry-After seconds",
    507: "the server's disk (or file-size limit) is full; retry after Retry-After seconds",
}


def install_error_handlers(app: FastAPI, redact: Iterable[str | Path] = ()) -> None:
    """Every error becomes an :class:`ErrorBody` with the right status; ``redact``: server paths kept out of it."""
    scrub = Redactor(redact)

    def respond(status: int, info: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
        return error_response(status, info["code"], scrub.text(info["message"]), scrub.value(info["details"]), headers)

    @app.exception_handler(ToGError)
    async def _tog(request: Request, exc: ToGError) -> JSONResponse:
        return respond(status_of(exc), exc.to_dict(), getattr(exc, "headers", None))

    @app.exception_handler(sqlite3.Error)
    async def _database(request: Request, exc: sqlite3.Error) -> JSONResponse:
        logger.error("database error on %s %s: %s", request.method, request.url.path, exc)
        error = storage_error(exc, "the request")
        return respond(error.status, error.to_dict(), error.headers)

    @app.exception_handler(OSError)
    async def _os(request: Request, exc: OSError) -> JSONResponse:
        logger.error("storage error on %s %s: %s", request.method, request.url.path, exc)
        error = storage_error(exc, "the request")
        return respond(error.status, error.to_dict(), error.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        where = "; ".join(f"{'.'.join(p['loc'])}: {p['msg']}" for p in problems[:5])
        return error_response(422, "invalid_request", f"the request is not valid: {where}", {"errors": problems})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        phrase = HTTPStatus(exc.status_code).phrase if exc.status_code in HTTPStatus._value2member_map_ else "error"
        code = phrase.lower().replace(" ", "_").replace("-", "_")
        message = exc.detail if isinstance(exc.detail, str) else phrase
        return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "the server failed; the error is logged")


class Redactor:
    """Replaces the server's own directories in error texts by ``<data>``: a message never shows a server path."""

    def __init__(self, roots: Iterable[str | Path]) -> None:
        forms = {str(Path(root).absolute()) for root in roots} | {str(Path(root).resolve()) for root in roots}
        self.roots = sorted((f for f in forms if len(f) > 1), key=len, reverse=True)  # absolute only: never "data"

    def text(self, text: str) -> str:
        for root in self.roots:
            text = text.replace(root, "<data>")
        return text

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value


class CatchAllMiddleware:
    """Answers an unhandled exception with the JSON 500 itself instead of letting it reach the server.

    Starlette re-raises a 500's exception after sending the response (so that the server logs it), and
    uvicorn then closes the connection: the client's next keep-alive request would be reset. Innermost
    of the user middlewares, so the metrics still count the 500.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            logger.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:  # a stream broke after its headers went out: nothing to answer with
                return
            response = error_response(500, "internal_error", "the server failed; the error is logged")
            await response(scope, receive, send)
