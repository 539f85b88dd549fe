"""Fetching a task's file from a URL, only where ``allow_remote_urls`` is on, and only from public addresses.

The host is resolved first and every address it resolves to must be public (no loopback, private,
link-local or reserved ranges: the cloud metadata service and the server's own neighbours stay out of
reach); redirects are not followed, and the body is cut off at the file-size limit.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import httpx

from agent.server.config import ServerSettings
from agent.server.errors import FileTooLargeError, RemoteFetchError, RemoteURLsDisabledError, URLNotAllowedError


def check_url(url: str, settings: ServerSettings) -> str:
    """The URL if the server may fetch it; 403 otherwise."""
    if not settings.allow_remote_urls:
        raise RemoteURLsDisabledError("this server does not fetch URLs; upload the file instead", url=url)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise URLNotAllowedError(f"only http(s) URLs with a host can be fetched, not {url!r}", url=url)
    try:
        infos = socket.getaddrinfo(
            parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except (socket.gaierror, UnicodeError) as exc:
        raise RemoteFetchError(f"cannot resolve {parts.hostname!r}: {exc}", url=url) from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not address.is_global:
            raise URLNotAllowedError(
                f"{parts.hostname!r} resolves to {address}, which is not a public address", url=url
            )
    return url


def fetch_url(url: str, settings: ServerSettings, transport: httpx.BaseTransport | None = None) -> bytes:
    """The body at ``url`` (checked with :func:`check_url`), at most ``max_file_bytes`` of it."""
    check_url(url, settings)
    limit = settings.max_file_bytes
    try:
        with httpx.Client(timeout=settings.url_timeout_s, follow_redirects=False, transport=transport) as client:
            with client.stream("GET", url) as response:
                if response.status_code != 200:
                    raise RemoteFetchError(
                        f"fetching {url!r} answered {response.status_code}", url=url, status=response.status_code
                    )
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise FileTooLargeError(
                            f"{url!r} is larger than the limit of {limit} bytes", url=url, max_bytes=limit
                        )
                    chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise RemoteFetchError(f"fetching {url!r} failed: {exc}", url=url) from None
    return b"".join(chunks)
