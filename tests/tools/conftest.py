"""Shared fixtures of the tool tests: no model configured unless a test says so, one tiny InternVL per
session, and one recording backend that either asks the tiny model or answers from a script."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal

import pytest

from tools.models import configure_llm, configure_vlm
from vlm.backends.base import ChatRequest, VLMBackend
from vlm.images import ImageLimits

#: Tokens the tiny model may generate per answer: its answers are noise, and 8 tokens of noise check
#: types as well as 1024 do (the recorder keeps the budget the tool asked for).
TINY_TOKENS = 8
#: Tile ceiling of the tiny backend: the document tools' 24 tiles, so their budget is not cut.
TINY_MAX_TILES = 24

Answer = str | Callable[[ChatRequest], str] | BaseException


class RecordingBackend(VLMBackend):
    """Keeps every request exactly as the tool made it, and answers it one of two ways:

    - ``inner``: a real backend (the tiny InternVL), asked with :data:`TINY_TOKENS` new tokens at most;
    - ``answer``: a fixed text, a function of the request, or an exception to raise (scripted answers,
      for parsing and error paths).
    """

    name = "recording"

    def __init__(
        self, answer: Answer | None = None, *, inner: VLMBackend | None = None, limits: ImageLimits | None = None
    ) -> None:
        if (answer is None) == (inner is None):
            raise ValueError("give exactly one of answer and inner")
        self.answer = answer
        self.inner = inner
        self.limits = limits or (inner.limits if inner is not None else ImageLimits())
        self.requests: list[ChatRequest] = []
        self.closed = False

    def batch_chat(self, requests: Sequence[ChatRequest]) -> list[str]:
        self.requests.extend(requests)
        if self.inner is not None:
            return self.inner.batch_chat([short(r) for r in requests])
        if isinstance(self.answer, BaseException):
            raise self.answer
        return [self.answer(r) if callable(self.answer) else str(self.answer) for r in requests]

    def stream(self, request: ChatRequest) -> Iterator[str]:
        if self.inner is not None:
            self.requests.append(request)
            return self.inner.stream(short(request))
        return iter(self.batch_chat([request]))

    def replay(self) -> list[str]:
        """The inner backend's answers to the recorded requests, asked again: what the tool was told."""
        assert self.inner is not None, "only a recorder around a real backend can replay"
        return self.inner.batch_chat([short(r) for r in self.requests])

    def close(self) -> None:
        self.closed = True  # the inner backend belongs to the session fixture


def short(request: ChatRequest) -> ChatRequest:
    """``request`` with its answer cut to :data:`TINY_TOKENS` tokens."""
    generation = request.generation.model_copy(update={"max_new_tokens": TINY_TOKENS})
    return request.model_copy(update={"generation": generation})


@pytest.fixture(autouse=True)
def no_models(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Every tool test starts and ends with no model configured and none named in the environment."""
    for name in list(os.environ):
        if name.startswith(("TOG_VLM_", "TOG_LLM_")):
            monkeypatch.delenv(name)
    configure_vlm(None)
    configure_llm(None)
    yield monkeypatch
    configure_vlm(None)
    configure_llm(None)


@pytest.fixture(scope="session")
def tiny_internvl_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random InternVL checkpoint (real transformers classes, built offline), once per session."""
    from vlm.testing import tiny_internvl

    return tiny_internvl(tmp_path_factory.mktemp("tiny-internvl"))


@pytest.fixture(scope="session")
def tiny_vlm(tiny_internvl_dir: Path) -> Iterator[VLMBackend]:
    """That checkpoint loaded once on CPU, shared by every tool test (wrap it; never configure it bare,
    so no test can close it)."""
    from vlm.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(tiny_internvl_dir, device="cpu", limits=ImageLimits(max_tiles=TINY_MAX_TILES))
    backend.load()
    yield backend
    backend.close()


@pytest.fixture
def recorded(tiny_vlm: VLMBackend) -> RecordingBackend:
    """The tiny InternVL behind a recorder, configured as the process's InternVL (and so its text model)."""
    backend = RecordingBackend(inner=tiny_vlm)
    configure_vlm(backend)
    return backend


#: What the ``scripted`` fixture gives: ``scripted(answer, limits=None, role="vlm")`` -> the backend.
Script = Callable[..., RecordingBackend]


@pytest.fixture
def scripted() -> Script:
    """``scripted(answer, limits=..., role="vlm")``: a scripted backend, configured as the process's
    InternVL (``role="vlm"``), as its separate text model (``"llm"``), or not at all (``None``)."""

    def make(
        answer: Answer, *, limits: ImageLimits | None = None, role: Literal["vlm", "llm"] | None = "vlm"
    ) -> RecordingBackend:
        backend = RecordingBackend(answer, limits=limits)
        if role == "vlm":
            configure_vlm(backend)
        elif role == "llm":
            configure_llm(backend)
        return backend

    return make
