"""``Idempotency-Key`` on the routes that create something: ``POST /v1/tasks``, ``/v1/workflows/run`` and
``/v1/artifacts``.

A client that cannot tell whether its request arrived (a read timeout, a dropped connection) sends it again
with the same key and gets the first response back instead of creating a second task. Per key and caller
(the bearer token, hashed) the task store keeps the fingerprint of the first request and, once it has been
handled, its response, for ``idempotency_ttl_s`` (24 h by default). The same key with a different request is
a 422. A retry that arrives while the first request is still being handled here waits for it (at most
``wait_s``; then 409 with Retry-After). Only successful responses are kept: a request that failed leaves no
trace, so its retry is handled afresh.

The fingerprint is of what the request means (its text, resources and the ids of its stored files), not of
its bytes: a multipart body's boundary changes with every send.

    >>> fingerprint({"b": [1, 2], "a": "x"}) == fingerprint({"a": "x", "b": [1, 2]})
    True
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from agent.server.errors import IdempotencyInProgressError, IdempotencyKeyReusedError, StorageError
from agent.server.tasks import KeyCompletion, StoredResponse, TaskStore

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
#: Set on a response that repeats the one stored for the key.
REPLAYED = "Idempotent-Replayed"
#: Visible ASCII, 1 to 255 characters (a UUID is the usual choice).
KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
#: How often expired keys are dropped while the server runs.
PURGE_EVERY_S = 3600.0

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=HEADER,
        pattern=KEY_PATTERN,
        description="a unique key per submission (a UUID); sending the same request again with it returns the "
        "first response instead of doing the work twice (kept 24 h; the same key with another request is a 422)",
    ),
]


def fingerprint(value: Any) -> str:
    """SHA-256 of ``value`` as canonical JSON."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Claim:
    """The right to handle the first request with a key, and to store its response."""

    scope: str
    key: str

    def completion(self, status: int, body: BaseModel, headers: dict[str, str] | None = None) -> KeyCompletion:
        return KeyCompletion(
            scope=self.scope, key=self.key, status=status, body=body.model_dump_json(), headers=headers or {}
        )


class Idempotency:
    """Claims, stored responses and the in-process waits of concurrent retries; use on the event loop only."""

    def __init__(self, store: TaskStore, ttl_s: float, wait_s: float = 10.0) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.wait_s = wait_s
        self._inflight: dict[tuple[str, str], asyncio.Event] = {}
        self._purged = time.monotonic()  # the app purges at start-up; then at most hourly, as keys come in

    async def begin(self, request: Request, route: str, key: str | None, print_: str) -> Claim | JSONResponse | None:
        """None without a key; the stored response to send again; or a :class:`Claim` to complete or release.

        Raises 422 when the key came with a different request, 409 when its first request is still running.
        """
        if key is None:
            return None
        scope = f"{route} {_caller(request)}"
        slot = (scope, key)
        if time.monotonic() - self._purged > PURGE_EVERY_S:
            self._purged = time.monotonic()
            await run_in_threadpool(self.store.purge_keys, self.ttl_s)
        deadline = asyncio.get_running_loop().time() + self.wait_s
        while True:
            running = self._inflight.get(slot)
            if running is not None:  # its first request is being handled here: wait for that one
                left = deadline - asyncio.get_running_loop().time()
                try:
                    await asyncio.wait_for(running.wait(), max(0.0, left))
                except TimeoutError:
                    raise _in_progress(key) from None
                continue
            self._inflight[slot] = asyncio.Event()  # set before the first await: no race on this loop
            try:
                stored = await run_in_threadpool(self.store.claim_key, scope, key, print_, self.ttl_s)
            except BaseException:  # failed, or cancelled after the thread finished (anyio waits): undo any claim
                self.release(Claim(scope, key))
                raise
            if stored is None:
                return Claim(scope, key)
            self._done(slot)
            return _answer(stored, key, print_)

    async def complete(self, claim: Claim | None, status: int, body: BaseModel, headers: dict[str, str]) -> None:
        """Store the response of a claimed key (nothing without a claim)."""
        if claim is None:
            return
        try:
            await run_in_threadpool(self.store.complete_key, claim.completion(status, body, headers))
        except StorageError:
            self.release(claim)  # the response went out unstored: a retry does the (idempotent) work again
            raise
        self._done((claim.scope, claim.key))

    def done(self, claim: Claim | None) -> None:
        """The claimed request finished and its response is stored (by :meth:`TaskStore.create`)."""
        if claim is not None:
            self._done((claim.scope, claim.key))

    def release(self, claim: Claim | None) -> None:
        """The claimed request failed: forget the key, so that a retry is handled afresh."""
        if claim is None:
            return
        try:
            self.store.release_key(claim.scope, claim.key)
        except StorageError as exc:  # the claim stays; the next start drops unfinished claims
            logger.warning("idempotency key not released: %s", exc.message)
        self._done((claim.scope, claim.key))

    def _done(self, slot: tuple[str, str]) -> None:
        event = self._inflight.pop(slot, None)
        if event is not None:
            event.set()


def _caller(request: Request) -> str:
    """Who is asking, as far as keys go: a hash of the bearer token (keys of different callers never meet)."""
    token = request.headers.get("authorization", "")
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:16] if token else "-"


def _answer(stored: StoredResponse, key: str, print_: str) -> JSONResponse:
    if stored.fingerprint != print_:
        raise IdempotencyKeyReusedError(
            f"the Idempotency-Key {key!r} was already used with a different request; use a new key for a new request",
            key=key,
        )
    if stored.status is None or stored.body is None:
        raise _in_progress(key)
    return JSONResponse(
        json.loads(stored.body), status_code=stored.status, headers={**stored.headers, REPLAYED: "true"}
    )


def _in_progress(key: str) -> IdempotencyInProgressError:
    return IdempotencyInProgressError(
        f"a request with the Idempotency-Key {key!r} is still being handled; retry in a moment to get its response",
        key=key,
    )
