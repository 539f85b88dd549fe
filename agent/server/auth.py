"""Bearer-token auth: on when the server has API keys (``TOG_SERVER_API_KEYS``), off otherwise.

Off is only allowed on loopback: ``tog serve`` refuses a public bind without keys (see
:meth:`~agent.server.config.ServerSettings.bind_problem`). Keys are compared in constant time.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated

from fastapi import Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from agent.server.errors import UnauthorizedError

_bearer = HTTPBearer(
    auto_error=False, description="one of the server's API keys (TOG_SERVER_API_KEYS), when it has any"
)


def bearer_auth(keys: Sequence[str]) -> Callable[..., Awaitable[None]]:
    """A dependency that lets a request through when ``keys`` is empty or it carries one of them.

    Without keys the dependency takes no credentials, so the OpenAPI schema declares no security scheme.
    """
    accepted = [k.encode("utf-8") for k in keys]
    if not accepted:

        async def open_access() -> None:
            return None

        return open_access

    async def check(credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]) -> None:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise UnauthorizedError("this server needs an API key: send 'Authorization: Bearer <key>'")
        given = credentials.credentials.encode("utf-8")
        if not any(hmac.compare_digest(given, key) for key in accepted):
            raise UnauthorizedError("the API key is not one this server accepts")

    return check
