"""Which device the current tool call runs on, set by the engine for GPU-hinted tools.

A tool that loads a model reads :func:`current_device` in ``forward`` (or passes it to a provider that
keeps one model per device), so the engine can spread calls over several GPUs without the tool knowing
how many there are.

    >>> with use_device("cuda:1"):
    ...     current_device()
    'cuda:1'
    >>> current_device()
    'cpu'
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_DEVICE: ContextVar[str] = ContextVar("tog_device", default="cpu")


def current_device() -> str:
    return _DEVICE.get()


@contextmanager
def use_device(device: str) -> Iterator[None]:
    token = _DEVICE.set(device)
    try:
        yield
    finally:
        _DEVICE.reset(token)
