"""Where tools get their models: one shared InternVL backend (and text LLM) per process.

Tools never import ``agent/`` (the dependency runs ``graph`` ← ``tools`` ← ``agent``), so the model a
tool uses comes from this small provider instead. Either code configures it::

    configure_vlm(TransformersBackend("/models/InternVL3-8B-hf"))   # or an OpenAICompatibleBackend, a fake
    configure_llm(OpenAICompatibleBackend("http://llm:8000"))       # optional: a separate text model

or, when nothing is configured explicitly, it is built from settings on first use: the
:class:`~tools.model_settings.VLMSettings` and :class:`~tools.model_settings.LLMSettings` given to
:func:`use_settings` (the ``vlm`` and ``llm`` fields of ``agent.config.ToGSettings``), else those the
environment holds. Their fields say what each variable means; in short:

- ``TOG_VLM_URL``: an lmdeploy / vLLM server hosting InternVL, with ``TOG_VLM_API_KEY`` and
  ``TOG_VLM_SERVED_MODEL``; it wins over ``TOG_VLM_MODEL``.
- ``TOG_VLM_MODEL``: a checkpoint directory or hub id run in this process
  (:func:`vlm.backends.load_backend`), with ``TOG_VLM_DEVICE``, ``TOG_VLM_DTYPE`` and
  ``TOG_VLM_TRUST_REMOTE_CODE``.
- ``TOG_VLM_MAX_TILES``: the tile ceiling per image (1–40, default 24).
- ``TOG_LLM_URL``: an OpenAI-compatible server for the text tools, with ``TOG_LLM_API_KEY`` and
  ``TOG_LLM_SERVED_MODEL``; without it the InternVL model answers text.

The environment is read again only when a ``TOG_VLM_*`` / ``TOG_LLM_*`` variable changes; a value
that does not validate makes the tools unavailable with a reason naming the variable.

Nothing set means no model: :func:`vlm_status` is ``(False, "no InternVL model configured (set
TOG_VLM_MODEL or TOG_VLM_URL)")``, the InternVL tools report it from ``available()``, and the registry
leaves them out of the tool graph. A model is never faked and never downloaded unless named.

One backend per process (a GPU worker process owns one device), built once under a lock and shared
by every tool and thread. Building it is cheap (a checkpoint's ``config.json`` is read, a server is
not contacted); the weights load on the first request. A build that fails (a missing checkpoint, a
bad setting) is remembered with its reason until the settings change. Backends built from
settings belong to the provider, which closes them when it is reconfigured; a backend passed to
:func:`configure_vlm` stays the caller's to close.

The text LLM is the same :class:`~vlm.backends.base.VLMBackend` interface used without images, so an
InternVL backend and a plain LLM server are interchangeable for the text tools.

:func:`model_errors` turns the runtime's typed errors into tool errors, the same way for every tool.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import ValidationError

from tools.errors import ToolError, ToolExecutionError, ToolInputError, ToolUnavailableError
from tools.model_settings import (
    CONFIG_FILE_VARIABLE,
    DEFAULT_MAX_TILES,
    LLMSettings,
    ModelSettings,
    VLMSettings,
    settings_problem,
)
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
    "use_settings",
    "vlm_status",
]

logger = logging.getLogger(__name__)

VLM_UNCONFIGURED = "no InternVL model configured (set TOG_VLM_MODEL or TOG_VLM_URL)"
LLM_UNCONFIGURED = (
    "no LLM configured for text tools (set TOG_LLM_URL, or TOG_VLM_MODEL / TOG_VLM_URL to use InternVL for text)"
)
S = TypeVar("S", bound=ModelSettings)


class ModelOutputError(ToolExecutionError):
    """The model answered, but not in the form the tool needs (no ``<box>``, no number, nothing at all).

    ``raw`` keeps the answer. Not retryable: decoding is greedy, so the same input gets the same answer.
    """

    code = "model_output"

    def __init__(self, message: str, *, raw: str, tool: str | None = None, **details: Any) -> None:
        super().__init__(message, retryable=False, tool=tool, raw=raw, **details)
        self.raw = raw


# --- recipes: how to build a backend from settings -----------------------------------------------------


@dataclass(frozen=True)
class _Recipe:
    """A backend to build, and what it is (for log lines and failure reasons)."""

    what: str
    build: Callable[[], VLMBackend]


def _served(url: str, settings: ModelSettings, max_tiles: int | None) -> Callable[[], VLMBackend]:
    def build() -> VLMBackend:
        from vlm.backends.openai_compat import OpenAICompatibleBackend
        from vlm.images import ImageLimits

        limits = ImageLimits(max_tiles=max_tiles) if max_tiles is not None else None
        return OpenAICompatibleBackend(
            url, model=settings.served_model or None, api_key=settings.api_key.get_secret_value() or None, limits=limits
        )

    return build


def _vlm_recipe(settings: VLMSettings) -> _Recipe | None:
    url, model = settings.url, settings.model
    if not url and model.lower().startswith(("http://", "https://")):
        url, model = model, ""  # load_backend's convention: a URL names a server
    if not url and not model:
        return None
    if url:
        build_served = _served(url, settings, settings.max_tiles)

        def build_url() -> VLMBackend:
            if model:  # said once per settings, when the backend is built
                logger.warning(
                    "%s is set, so %s=%r is ignored", VLMSettings.env_name("url"), VLMSettings.env_name("model"), model
                )
            return build_served()

        return _Recipe(f"the InternVL server at {url}", build_url)

    def build() -> VLMBackend:
        from vlm.backends import load_backend
        from vlm.images import ImageLimits

        return load_backend(
            model,
            device=settings.device,
            dtype=settings.dtype,
            trust_remote_code=settings.trust_remote_code,
            limits=ImageLimits(max_tiles=settings.max_tiles),
        )

    return _Recipe(f"InternVL model {model!r}", build)


def _llm_recipe(settings: LLMSettings) -> _Recipe | None:
    if not settings.url:
        return None
    return _Recipe(f"the LLM server at {settings.url}", _served(settings.url, settings, None))


# --- the shared slots ---------------------------------------------------------------------------------


class _Slot(Generic[S]):
    """One role's backend: configured explicitly, or built once per settings (given, else the environment)."""

    def __init__(self, kind: type[S], recipe: Callable[[S], _Recipe | None], unconfigured: str) -> None:
        self._kind = kind
        self._recipe = recipe
        self._unconfigured = unconfigured
        self._lock = threading.Lock()
        self._explicit: VLMBackend | None = None
        self._given: S | None = None
        self._environment: tuple[tuple[tuple[str, str], ...], S] | None = None
        self._key: S | None = None
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

    def use(self, settings: S | None) -> None:
        if settings is not None and not isinstance(settings, self._kind):
            raise TypeError(f"expected {self._kind.__name__} or None, got {type(settings).__name__}")
        with self._lock:
            self._given = settings

    def explicit(self) -> VLMBackend | None:
        return self._explicit

    def settings(self) -> S:
        """The settings in force: those given to :func:`use_settings`, else the environment's, read again
        only when a variable with this role's prefix changes. Bad values make the role unavailable."""
        if self._given is not None:
            return self._given
        prefix = self._kind.env_name("")
        snapshot = tuple(
            sorted((k, v) for k, v in os.environ.items() if k.upper().startswith(prefix) or k == CONFIG_FILE_VARIABLE)
        )
        cached = self._environment
        if cached is not None and cached[0] == snapshot:
            return cached[1]
        try:
            settings = self._kind.from_environment()
        except (ValidationError, ValueError) as exc:
            problem = settings_problem(exc) if isinstance(exc, ValidationError) else str(exc)
            raise ToolUnavailableError(problem) from None
        self._environment = (snapshot, settings)
        return settings

    def from_settings(self) -> VLMBackend | None:
        """The settings' backend, ``None`` when the settings name none; raises when it fails."""
        with self._lock:
            if self._explicit is not None:
                return self._explicit
            settings = self.settings()
            recipe = self._recipe(settings)
            if recipe is None:
                return None
            if settings == self._key:
                if self._built is None:
                    raise ToolUnavailableError(self._failure)
                return self._built
            stale, self._built, self._key = self._built, None, settings
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
        backend = self.from_settings()
        if backend is None:
            raise ToolUnavailableError(self._unconfigured)
        return backend


_VLM: _Slot[VLMSettings] = _Slot(VLMSettings, _vlm_recipe, VLM_UNCONFIGURED)
_LLM: _Slot[LLMSettings] = _Slot(LLMSettings, _llm_recipe, LLM_UNCONFIGURED)


def use_settings(vlm: VLMSettings | None = None, llm: LLMSettings | None = None) -> None:
    """Build backends from these settings (e.g. ``ToGSettings().vlm`` and ``.llm``) instead of reading
    ``TOG_VLM_*`` / ``TOG_LLM_*``; ``None`` reads that role's environment again (the default).

    A backend passed to :func:`configure_vlm` / :func:`configure_llm` still wins over settings.
    """
    _VLM.use(vlm)
    _LLM.use(llm)


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
    backend = _LLM.from_settings()
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
