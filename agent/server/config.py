"""Settings of the REST server (``tog serve``): where it listens, who may call it, and what a request may ask.

:class:`ServerSettings` is the ``server`` section of :class:`agent.config.ToGSettings`, set by
``TOG_SERVER_<FIELD>`` variables (the API keys as ``TOG_SERVER_API_KEYS=key1,key2``).

    >>> ServerSettings(api_keys="a, b").api_keys
    ['a', 'b']
    >>> ServerSettings().bind_problem()  # loopback without keys is fine
    >>> ServerSettings(host="0.0.0.0").bind_problem() is not None
    True
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import NoDecode

from graph.artifacts import DEFAULT_MAX_PIXELS
from graph.types import FILE_TYPES, ResourceType

MiB = 1 << 20

#: File types a client may upload unless configured otherwise.
DEFAULT_UPLOAD_TYPES = sorted(FILE_TYPES, key=lambda t: t.value)


def _comma_list(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class ServerSettings(BaseModel):
    """The REST server's settings; limits are enforced before anything is stored or queued."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="127.0.0.1", description="address to bind; anything but loopback needs API keys")
    port: int = Field(default=8000, ge=1, le=65535)
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        repr=False,
        description="bearer tokens any of which is accepted (TOG_SERVER_API_KEYS=key1,key2); none = no auth",
    )
    insecure: bool = Field(default=False, description="allow a non-loopback bind without API keys (not recommended)")
    max_request_bytes: int = Field(default=100 * MiB, ge=1024, description="largest request body (413 beyond)")
    max_file_bytes: int = Field(default=50 * MiB, ge=1, description="largest single uploaded file (413 beyond)")
    max_files: int = Field(default=8, ge=0, description="most files in one task (413 beyond)")
    max_pixels: int = Field(
        default=DEFAULT_MAX_PIXELS,
        ge=1,
        description="largest image, width x height, read from the header before decoding (413 beyond)",
    )
    max_request_chars: int = Field(default=20_000, ge=1, description="longest request text (422 beyond)")
    allowed_types: Annotated[list[ResourceType], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_UPLOAD_TYPES),
        description="file types that may be uploaded (415 otherwise), comma-separated in the environment",
    )
    allow_remote_urls: bool = Field(
        default=False,
        description="let a task name a file by http(s) URL for the server to fetch (public addresses only); off: 403",
    )
    url_timeout_s: float = Field(default=10.0, gt=0, description="time limit of one remote fetch")
    queue_size: int = Field(default=64, ge=1, description="tasks waiting for a worker before 429")
    workers: int = Field(default=2, ge=1, description="tasks run at once")
    retry_after_s: int = Field(default=2, ge=1, description="Retry-After of a 429")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="origins allowed by CORS, comma-separated; empty = no CORS headers"
    )
    sse_poll_s: float = Field(
        default=1.0,
        gt=0,
        le=5,
        description=(
            "how often an event stream re-reads the store when nothing woke it: events recorded by this process "
            "wake it at once; this bounds the delay for events written by another server process"
        ),
    )
    sse_heartbeat_s: float = Field(default=15.0, gt=0, description="comment line sent on an idle event stream")
    shutdown_grace_s: float = Field(
        default=30.0,
        ge=0,
        description=(
            "on SIGTERM: how long running tasks may go on finishing; then they end interrupted (queued tasks stay "
            "queued for the next start, and no task starts after the signal)"
        ),
    )
    idempotency_ttl_s: float = Field(
        default=24 * 3600.0,
        ge=60,
        description="how long the response to an Idempotency-Key is kept for a retried submission to get it again",
    )

    @field_validator("api_keys", "allowed_types", "cors_origins", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _comma_list(value)

    def bind_problem(self, host: str | None = None) -> str | None:
        """Why binding ``host`` (default: :attr:`host`) would be unsafe, or None."""
        host = host or self.host
        if self.api_keys or self.insecure or is_loopback(host):
            return None
        return (
            f"refusing to serve on {host!r} without API keys: anyone who can reach it could run tools and read "
            "results. Set TOG_SERVER_API_KEYS=<secret>[,<secret>...], bind 127.0.0.1, or pass --insecure"
        )


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost``, 127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
