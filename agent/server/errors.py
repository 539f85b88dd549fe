"""Errors of the REST layer and the one JSON shape every error response has: ``{error: {code, message, details}}``.

Every :class:`~graph.errors.ToGError` maps to a 4xx by its class (a missing artifact is 404, an image over
the pixel limit 413, a request no tool can serve 422); anything else is a bug and answers 500 with no
internals in the body. The server's own errors carry their status (and headers such as Retry-After).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent.api import InputFileError, RunNotFoundError
from agent.decompose.base import DecompositionError
from agent.engine.resources import ResourceError
from agent.inputs import InputSpecError
from agent.pipeline import PlanningError
from agent.server.models import ErrorBody
from agent.workflows.errors import WorkflowInputError, WorkflowUnavailableError, WorkflowValidationError
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


#: Status of the errors raised below the REST layer, most specific class first.
_STATUS: tuple[tuple[type[ToGError], int], ...] = (
    (ArtifactTooLargeError, 413),
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
    409: "the task has already finished, or a workflow step's tool cannot run on this server",
    413: "the body, a file, the number of files or an image's pixels exceed the server's limits",
    415: "a file type the server does not accept, or a body that is neither JSON nor multipart",
    422: "the body or parameters are invalid, or no plan can serve the request",
    429: "the task queue is full; retry after Retry-After seconds",
    503: "the server is starting or stopping",
}


def install_error_handlers(app: FastAPI) -> None:
    """Every error becomes an :class:`ErrorBody` with the right status."""

    @app.exception_handler(ToGError)
    async def _tog(request: Request, exc: ToGError) -> JSONResponse:
        info = exc.to_dict()
        return error_response(
            status_of(exc), info["code"], info["message"], info["details"], getattr(exc, "headers", None)
        )

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
