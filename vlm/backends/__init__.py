"""Model backends behind one interface (:class:`vlm.backends.base.VLMBackend`).

Names are imported on first use, so ``import vlm.backends`` stays cheap (no torch, no httpx) until a
backend is actually needed.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vlm.backends.base import ChatRequest, GenerationConfig, Turn, VLMBackend
    from vlm.backends.openai_compat import OpenAICompatibleBackend
    from vlm.backends.transformers_backend import TransformersBackend

_EXPORTS: dict[str, str] = {
    "ChatRequest": "vlm.backends.base",
    "GenerationConfig": "vlm.backends.base",
    "Turn": "vlm.backends.base",
    "VLMBackend": "vlm.backends.base",
    "OpenAICompatibleBackend": "vlm.backends.openai_compat",
    "TransformersBackend": "vlm.backends.transformers_backend",
}

__all__ = [*_EXPORTS, "load_backend"]


def load_backend(model_or_url: str | Path, **options: Any) -> VLMBackend:
    """The backend for a model: an ``http(s)://`` URL is an lmdeploy / vLLM server
    (:class:`OpenAICompatibleBackend`), anything else a checkpoint path or hub id run in this process
    (:class:`TransformersBackend`). ``options`` go to that backend's constructor.

    >>> load_backend("http://127.0.0.1:23333").name
    'openai'
    """
    text = str(model_or_url).strip()
    if text.lower().startswith(("http://", "https://")):
        from vlm.backends.openai_compat import OpenAICompatibleBackend

        return OpenAICompatibleBackend(text, **options)
    from vlm.backends.transformers_backend import TransformersBackend

    return TransformersBackend(model_or_url, **options)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
