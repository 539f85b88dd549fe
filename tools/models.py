"""Where tools get their models: one shared InternVL backend (and text LLM) per process.

Tools never import ``agent/`` (the dependency runs ``graph`` ← ``tools`` ← ``agent``), so the model a
tool uses comes from this small provider instead. Either code configures it::

    configure_vlm(TransformersBackend("/models/InternVL3-8B-hf"))   # or an OpenAICompatibleBackend, a fake
    configure_llm(OpenAICompatibleBackend("http://llm:8000"))       # optional: a separate text model

or, when nothing is configured explicitly, it is read from the environment on first use:

============================  ==================================================================
``TOG_VLM_URL``               an lmdeploy / vLLM server hosting InternVL (OpenAI chat API); wins
                              over ``TOG_VLM_MODEL``. With ``TOG_VLM_API_KEY`` (bearer token) and
                              ``TOG_VLM_SERVED_MODEL`` (the model id; else the server's first).
``TOG_VLM_MODEL``             a checkpoint directory or hub id run in this process
                              (:func:`vlm.backends.load_backend`), with ``TOG_VLM_DEVICE`` (auto,
                              cpu, cuda:0; auto by default), ``TOG_VLM_DTYPE`` (auto, bf16, …) and
                              ``TOG_VLM_TRUST_REMOTE_CODE=1`` for original (non ``-hf``) checkpoints.
``TOG_VLM_MAX_TILES``         the tile ceiling per image (1–40, default 24, so document tools can
                              read small print; the other tools ask for 12 tiles at most).
``TOG_LLM_URL``               an OpenAI-compatible server for the text tools (any LLM: vLLM,
                              lmdeploy, llama.cpp, …), with ``TOG_LLM_API_KEY`` and
                              ``TOG_LLM_SERVED_MODEL``. Without it the InternVL model answers text.
============================  ==================================================================

Nothing set means no model: :func:`vlm_status` is ``(False, "no InternVL model configured (set
TOG_VLM_MODEL or TOG_VLM_URL)")``, the InternVL tools report it from ``available()``, and the registry
leaves them out of the tool graph. A model is never faked and never downloaded unless named.

One backend per process (a GPU worker process owns one device), built once under a lock and shared
by every tool and thread. Building it is cheap (a checkpoint's ``config.json`` is read, a server is
not contacted); the weights load on the first request. A build that fails (a missing checkpoint, a
bad setting) is remembered with its reason until the settings change. Backends built from the
environment belong to the provider, which closes them when it is reconfigured; a backend passed to
:func:`configure_vlm` stays the caller's to close.

The text LLM is the same :class:`~vlm.backends.base.VLMBackend` interface used without images, so an
InternVL backend and a plain LLM server are interchangeable for the text tools.

:func:`model_errors` turns the runtime's typed errors into tool errors, the same way for every tool.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tools.errors import ToolError, ToolExecutionError, ToolInputError, ToolUnavailableError
from vlm.errors import (
    BackendError,
    CheckpointError,
    GroundingParseError,
    ImageInputError,
    PromptError,
    TooManyImagesError,
    VideoInputError,
    VLMError,
)

if TYPE_CHECKING:
    from vlm.backends.base import VLMBackend

__all__ = [
    "DEFAULT_MAX_TILES",
    "LLM_UNCONFIGURED",
    "VLM_UNCONFIGURED",
    "ModelOutputError",
    "configure_llm",
    "configure_vlm",
    "get_llm",
    "get_vlm",
    "llm_status",
    "model_errors",
    "non_empty",
    "required_text",
    "vlm_status",
]

logger = logging.getLogger(__name__)

VLM_UNCONFIGURED = "no InternVL model configured (set TOG_VLM_MODEL or TOG_VLM_URL)"
LLM_UNCONFIGURED = (
    "no LLM configured for text tools (set TOG_LLM_URL, or TOG_VLM_MODEL / TOG_VLM_URL to use InternVL for text)"
)
#: Tile ceiling of backends built from the environment: enough for the document tools' 24 tiles.
DEFAULT_MAX_TILES = 24

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


class ModelOutputError(ToolExecutionError):
    """The model answered, but not in the form the tool needs (no ``<box>``, no number, nothing at all).

    ``raw`` keeps the answer. Not retryable: decoding is greedy, so the same input gets the same answer.
    """

    code = "model_output"

    def __init__(self, message: str, *, raw: str, tool: str | None = None, **details: Any) -> None:
        super().__init__(message, retryable=False, tool=tool, raw=raw, **details)
        self.raw = raw


# --- recipes: how to build a backend from the environment ---------------------------------------------


@dataclass(frozen=True)
class _Recipe:
    """A backend to build; ``key`` is the settings it comes from (a change means a new backend)."""

    key: tuple[str, ...]
    what: str
    build: Callable[[], VLMBackend]


class _SettingError(Exception):
    """An environment variable whose value cannot be used; the message says which and why."""


def _get(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = _get(env, name).lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _SettingError(f"{name} must be 1/true/yes/on or 0/false/no/off, got {value!r}")


def _max_tiles(env: Mapping[str, str]) -> int:
    from vlm.images import MAX_TILES_CAP

    text = _get(env, "TOG_VLM_MAX_TILES")
    if not text:
        return DEFAULT_MAX_TILES
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_TILES_CAP:
        raise _SettingError(f"TOG_VLM_MAX_TILES must be an integer from 1 to {MAX_TILES_CAP}, got {text!r}")
    return value


def _served(url: str, api_key: str, model: str, max_tiles: int | None) -> Callable[[], VLMBackend]:
    def build() -> VLMBackend:
        from vlm.backends.openai_compat import OpenAICompatibleBackend
        from vlm.images import ImageLimits

        limits = ImageLimits(max_tiles=max_tiles) if max_tiles is not None else None
        return OpenAICompatibleBackend(url, model=model or None, api_key=api_key or None, limits=limits)

    return build


def _vlm_recipe(env: Mapping[str, str]) -> _Recipe | None:
    url, model = _get(env, "TOG_VLM_URL"), _get(env, "TOG_VLM_MODEL")
    if not url and model.lower().startswith(("http://", "https://")):
        url, model = model, ""  # load_backend's convention: a URL names a server
    if not url and not model:
        return None
    tiles = _max_tiles(env)
    if url:
        served, key = _get(env, "TOG_VLM_SERVED_MODEL"), _get(env, "TOG_VLM_API_KEY")
        build_served = _served(url, key, served, tiles)

        def build_url() -> VLMBackend:
            if model:  # said once per settings, when the backend is built
                logger.warning("TOG_VLM_URL is set, so TOG_VLM_MODEL=%r is ignored", model)
            return build_served()

        return _Recipe(("url", url, key, served, str(tiles), model), f"the InternVL server at {url}", build_url)
    device, dtype = _get(env, "TOG_VLM_DEVICE") or "auto", _get(env, "TOG_VLM_DTYPE") or "auto"
    remote = _flag(env, "TOG_VLM_TRUST_REMOTE_CODE")

    def build() -> VLMBackend:
        from vlm.backends import load_backend
        from vlm.images import ImageLimits

        return load_backend(model, device=device, dtype=dtype, trust_remote_code=remote,
                            limits=ImageLimits(max_tiles=tiles))

    return _Recipe(("model", model, device, dtype, str(remote), str(tiles)), f"InternVL model {model!r}", build)


def _llm_recipe(env: Mapping[str, str]) -> _Recipe | None:
    url = _get(env, "TOG_LLM_URL")
    if not url:
        return None
    served, key = _get(env, "TOG_LLM_SERVED_MODEL"), _get(env, "TOG_LLM_API_KEY")
    return _Recipe(("url", url, key, served), f"the LLM server at {url}", _served(url, key, served, None))


# --- the shared slots ---------------------------------------------------------------------------------


class _Slot:
    """One role's backend: configured explicitly, or built from the environment once per settings."""

    def __init__(self, recipe: Callable[[Mapping[str, str]], _Recipe | None], unconfigured: str) -> None:
        self._recipe = recipe
        self._unconfigured = unconfigured
        self._lock = threading.Lock()
        self._explicit: VLMBackend | None = None
        self._key: tuple[str, ...] | None = None
        self._built: VLMBackend | None = None
        self._failure = ""

    def configure(self, backend: VLMBackend | None) -> None:
        from vlm.backends.base import VLMBackend

        if backend is not None and not isinstance(backend, VLMBackend):
            raise TypeError(f"expected a vlm.backends.base.VLMBackend or None, got {type(backend).__name__}")
        with self._lock:
            owned, self._built, self._key, self._failure = self._built, None, None, ""
            self._explicit = backend
        if owned is not None and owned is not backend:
            owned.close()

    def explicit(self) -> VLMBackend | None:
        return self._explicit

    def from_environment(self) -> VLMBackend | None:
        """The environment's backend, ``None`` when the environment names none; raises when it fails."""
        with self._lock:
            if self._explicit is not None:
                return self._explicit
            try:
                recipe = self._recipe(os.environ)
            except _SettingError as exc:
                raise ToolUnavailableError(str(exc)) from None
            if recipe is None:
                return None
            if recipe.key == self._key:
                if self._built is None:
                    raise ToolUnavailableError(self._failure)
                return self._built
            stale, self._built, self._key = self._built, None, recipe.key
            try:
                self._built = recipe.build()
                self._failure = ""
                logger.info("tools use %s", recipe.what)
            except (VLMError, ValueError, TypeError, OSError, ImportError) as exc:
                self._failure = f"cannot use {recipe.what}: {exc}"
                raise ToolUnavailableError(self._failure) from exc
            finally:
                if stale is not None:
                    stale.close()
            return self._built

    def get(self) -> VLMBackend:
        backend = self.from_environment()
        if backend is None:
            raise ToolUnavailableError(self._unconfigured)
        return backend


_VLM = _Slot(_vlm_recipe, VLM_UNCONFIGURED)
_LLM = _Slot(_llm_recipe, LLM_UNCONFIGURED)


def configure_vlm(backend: VLMBackend | None) -> None:
    """Use ``backend`` for every InternVL tool in this process; ``None`` goes back to the environment.

    A backend the provider built from the environment is closed; ``backend`` itself is never closed here.
    """
    _VLM.configure(backend)


def get_vlm() -> VLMBackend:
    """The shared InternVL backend; :class:`ToolUnavailableError` (with the reason) when there is none."""
    return _VLM.get()


def vlm_status() -> tuple[bool, str]:
    """``(True, "")`` when an InternVL backend is configured and could be built, else ``(False, reason)``.

    Cheap after the first call (the built backend is kept), as ``Tool.available()`` must be.
    """
    return _status(get_vlm)


def configure_llm(backend: VLMBackend | None) -> None:
    """Use ``backend`` (any :class:`VLMBackend`, asked without images) for the text tools; ``None`` goes
    back to ``TOG_LLM_URL``, and without it to the InternVL model."""
    _LLM.configure(backend)


def get_llm() -> VLMBackend:
    """The text model: :func:`configure_llm`'s backend, else ``TOG_LLM_URL``'s server, else InternVL."""
    backend = _LLM.from_environment()
    if backend is not None:
        return backend
    try:
        return _VLM.get()
    except ToolUnavailableError as exc:
        if exc.reason == VLM_UNCONFIGURED:
            raise ToolUnavailableError(LLM_UNCONFIGURED) from None
        raise


def llm_status() -> tuple[bool, str]:
    """Like :func:`vlm_status`, for the text model."""
    return _status(get_llm)


def _status(get: Callable[[], VLMBackend]) -> tuple[bool, str]:
    try:
        get()
    except ToolUnavailableError as exc:
        return False, exc.reason
    return True, ""


# --- errors -------------------------------------------------------------------------------------------


@contextmanager
def model_errors(*, image: str | None = None, text: str | None = None, video: str | None = None) -> Iterator[None]:
    """Turn the InternVL runtime's errors into tool errors that name the argument at fault.

    ``image`` / ``text`` / ``video`` name the tool's arguments of those kinds. Bad images, videos and
    prompts are :class:`ToolInputError`; unparseable answers :class:`ModelOutputError`; a checkpoint that
    cannot load makes the tool unavailable; backend trouble is a :class:`ToolExecutionError` that keeps
    the backend's ``retryable`` verdict.
    """
    try:
        yield
    except ToolError:
        raise
    except VideoInputError as exc:
        raise ToolInputError(f"unusable video: {exc.message}", argument=video) from exc
    except (ImageInputError, TooManyImagesError) as exc:
        raise ToolInputError(f"unusable image: {exc.message}", argument=image) from exc
    except PromptError as exc:
        raise ToolInputError(f"unusable text: {exc.message}", argument=text) from exc
    except GroundingParseError as exc:
        raise ModelOutputError(f"the model's answer has no usable boxes: {exc.message}", raw=exc.raw) from exc
    except CheckpointError as exc:
        raise ToolUnavailableError(f"the InternVL model cannot be loaded: {exc.message}") from exc
    except BackendError as exc:
        raise ToolExecutionError(f"the model backend failed: {exc.message}", retryable=exc.retryable) from exc


# --- answers and text inputs ---------------------------------------------------------------------------


def non_empty(answer: str) -> str:
    """The answer without surrounding whitespace; an empty one is a :class:`ModelOutputError`."""
    text = answer.strip()
    if not text:
        raise ModelOutputError("the model gave an empty answer", raw=answer)
    return text


def required_text(value: str, argument: str) -> str:
    """``value`` stripped; blank text is a :class:`ToolInputError` naming ``argument``."""
    text = value.strip()
    if not text:
        raise ToolInputError(f"{argument} is empty; it needs some text", argument=argument)
    return text
