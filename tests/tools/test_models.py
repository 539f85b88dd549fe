"""The model provider: explicit configuration, the TOG_* environment, one lazy backend per process,
failures remembered with their reason, and the text model's fallback to InternVL."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage

from tools import models
from tools.errors import ToolUnavailableError
from tools.models import (
    DEFAULT_MAX_TILES,
    LLM_UNCONFIGURED,
    VLM_UNCONFIGURED,
    configure_llm,
    configure_vlm,
    get_llm,
    get_vlm,
    llm_status,
    vlm_status,
)
from tools.vision import CaptionImage
from vlm.backends.base import ChatRequest, VLMBackend

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vlm"))
from fake_openai_server import FakeOpenAIServer  # noqa: E402 - a test helper beside the vlm tests

ENV = ("TOG_VLM_MODEL", "TOG_VLM_URL", "TOG_VLM_API_KEY", "TOG_VLM_SERVED_MODEL", "TOG_VLM_MAX_TILES",
       "TOG_VLM_DEVICE", "TOG_VLM_DTYPE", "TOG_VLM_TRUST_REMOTE_CODE", "TOG_LLM_URL", "TOG_LLM_API_KEY",
       "TOG_LLM_SERVED_MODEL")


class Echo(VLMBackend):
    name = "echo"

    def __init__(self, tag: str = "echo") -> None:
        self.tag = tag
        self.closed = False

    def batch_chat(self, requests: Sequence[ChatRequest]) -> list[str]:
        return [f"{self.tag}: {r.question}" for r in requests]

    def stream(self, request: ChatRequest) -> Iterator[str]:
        yield from self.batch_chat([request])

    def close(self) -> None:
        self.closed = True


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    configure_vlm(None)
    configure_llm(None)
    yield monkeypatch
    configure_vlm(None)
    configure_llm(None)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vlm.testing import tiny_internvl

    return tiny_internvl(tmp_path_factory.mktemp("tiny-internvl"))


def test_nothing_configured_means_no_model_and_says_which_variables_to_set() -> None:
    assert vlm_status() == (False, VLM_UNCONFIGURED)
    assert VLM_UNCONFIGURED == "no InternVL model configured (set TOG_VLM_MODEL or TOG_VLM_URL)"
    assert llm_status() == (False, LLM_UNCONFIGURED)
    with pytest.raises(ToolUnavailableError) as info:
        get_vlm()
    assert info.value.reason == VLM_UNCONFIGURED
    with pytest.raises(ToolUnavailableError, match="TOG_LLM_URL"):
        get_llm()


def test_an_explicit_backend_serves_vision_and_text_until_reset(clean: pytest.MonkeyPatch, tiny_dir: Path) -> None:
    clean.setenv("TOG_VLM_MODEL", str(tiny_dir))
    backend = Echo()
    configure_vlm(backend)
    assert get_vlm() is backend and get_llm() is backend  # explicit beats the environment
    assert vlm_status() == (True, "") == llm_status()
    configure_vlm(None)
    assert get_vlm() is not backend and get_vlm().name == "transformers"
    assert backend.closed is False  # the caller's backend is the caller's to close
    with pytest.raises(TypeError, match="VLMBackend"):
        configure_vlm("OpenGVLab/InternVL3-8B-hf")  # type: ignore[arg-type]


def test_a_separate_llm_serves_text_while_vision_stays_unconfigured() -> None:
    llm = Echo("llm")
    configure_llm(llm)
    assert get_llm() is llm and llm_status() == (True, "")
    assert vlm_status() == (False, VLM_UNCONFIGURED)
    vlm = Echo("vlm")
    configure_vlm(vlm)
    assert get_llm() is llm and get_vlm() is vlm


def test_tog_vlm_model_builds_one_lazy_backend_shared_by_every_thread(
    clean: pytest.MonkeyPatch, tiny_dir: Path
) -> None:
    clean.setenv("TOG_VLM_MODEL", str(tiny_dir))
    clean.setenv("TOG_VLM_DEVICE", "cpu")
    assert vlm_status() == (True, "")
    with ThreadPoolExecutor(8) as pool:
        backends = list(pool.map(lambda _: get_vlm(), range(32)))
    backend = backends[0]
    assert all(b is backend for b in backends) and get_llm() is backend
    assert backend.name == "transformers" and backend.loaded is False  # weights wait for the first request
    assert backend.limits.max_tiles == DEFAULT_MAX_TILES == 24

    caption = CaptionImage()(image=PILImage.new("RGB", (64, 64), "teal"))["caption"]
    assert isinstance(caption, str) and caption and backend.loaded and backend.device.type == "cpu"

    clean.setenv("TOG_VLM_MAX_TILES", "6")  # new settings, new backend; the old one is closed
    rebuilt = get_vlm()
    assert rebuilt is not backend and rebuilt.limits.max_tiles == 6 and backend.loaded is False


def test_concurrent_first_calls_build_the_backend_once(clean: pytest.MonkeyPatch) -> None:
    builds: list[str] = []
    lock = threading.Lock()

    def slow_load(model: str, **options: Any) -> VLMBackend:
        time.sleep(0.05)
        with lock:
            builds.append(model)
        return Echo(model)

    clean.setattr("vlm.backends.load_backend", slow_load)
    clean.setenv("TOG_VLM_MODEL", "some/checkpoint")
    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(lambda _: get_vlm(), range(16)))
    assert builds == ["some/checkpoint"] and len({id(b) for b in found}) == 1


def test_a_checkpoint_that_cannot_load_is_unavailable_with_the_reason_and_not_retried(
    clean: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-model"
    clean.setenv("TOG_VLM_MODEL", str(missing))
    ok, reason = vlm_status()
    assert not ok and reason.startswith(f"cannot use InternVL model '{missing}'")
    calls: list[str] = []
    clean.setattr("vlm.backends.load_backend", lambda model, **kw: calls.append(model) or Echo())
    assert vlm_status() == (False, reason) and calls == []  # remembered for the same settings
    assert llm_status() == (False, reason)  # the text fallback says the same
    with pytest.raises(ToolUnavailableError) as info:
        CaptionImage()(image=PILImage.new("RGB", (8, 8)))
    assert info.value.reason == reason
    clean.setenv("TOG_VLM_MODEL", "other/checkpoint")
    assert vlm_status() == (True, "") and calls == ["other/checkpoint"]


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [("TOG_VLM_MAX_TILES", "0", "TOG_VLM_MAX_TILES must be an integer from 1 to 40, got '0'"),
     ("TOG_VLM_MAX_TILES", "lots", "TOG_VLM_MAX_TILES must be an integer from 1 to 40, got 'lots'"),
     ("TOG_VLM_TRUST_REMOTE_CODE", "maybe", "TOG_VLM_TRUST_REMOTE_CODE must be 1/true/yes/on or 0/false/no/off")],
)
def test_bad_settings_are_reasons_not_crashes(clean: pytest.MonkeyPatch, name: str, value: str, problem: str) -> None:
    clean.setenv("TOG_VLM_MODEL", "some/checkpoint")
    clean.setenv(name, value)
    ok, reason = vlm_status()
    assert not ok and reason.startswith(problem)


def test_tog_vlm_url_names_a_server_without_contacting_it(clean: pytest.MonkeyPatch) -> None:
    from vlm.backends.openai_compat import OpenAICompatibleBackend

    clean.setenv("TOG_VLM_URL", "http://127.0.0.1:9/v1")
    clean.setenv("TOG_VLM_MODEL", "ignored/when-a-url-is-set")
    clean.setenv("TOG_VLM_SERVED_MODEL", "OpenGVLab/InternVL3-8B")
    clean.setenv("TOG_VLM_API_KEY", "sk-test")
    backend = get_vlm()
    assert isinstance(backend, OpenAICompatibleBackend)
    assert backend.model == "OpenGVLab/InternVL3-8B" and backend.base_url.startswith("http://127.0.0.1:9")
    assert backend._client.headers["Authorization"] == "Bearer sk-test"
    assert backend.limits.max_tiles == DEFAULT_MAX_TILES
    clean.delenv("TOG_VLM_URL")
    clean.setenv("TOG_VLM_MODEL", "https://internvl.example/v1")  # a URL in TOG_VLM_MODEL is a server too
    assert isinstance(get_vlm(), OpenAICompatibleBackend)


def test_tog_llm_url_serves_text_from_an_openai_compatible_llm(clean: pytest.MonkeyPatch) -> None:
    with FakeOpenAIServer(responder=lambda body: "a short summary", model="qwen2.5-7b-instruct") as server:
        clean.setenv("TOG_LLM_URL", server.url)
        clean.setenv("TOG_LLM_API_KEY", "sk-llm")
        assert llm_status() == (True, "") and vlm_status() == (False, VLM_UNCONFIGURED)
        assert get_llm().chat(None, "Summarise: the cat sat on the mat.") == "a short summary"
        (body,) = server.chat_bodies
        assert body["model"] == "qwen2.5-7b-instruct" and body["temperature"] == 0.0
        assert body["messages"] == [{"role": "user", "content": "Summarise: the cat sat on the mat."}]
        headers = {k.lower(): v for k, v in server.requests[-1].headers.items()}
        assert headers["authorization"] == "Bearer sk-llm"
        configure_llm(None)  # closes the client the provider built, while the server still runs


def test_model_errors_map_runtime_errors_to_tool_errors() -> None:
    from tools.errors import ToolExecutionError, ToolInputError
    from vlm.errors import BackendOverloadedError, CheckpointError, ImageInputError, PromptError, VideoInputError

    cases = [
        (ImageInputError("bad pixels"), ToolInputError, {"argument": "photo"}),
        (VideoInputError("no frames"), ToolInputError, {"argument": "clip"}),
        (PromptError("two placeholders"), ToolInputError, {"argument": "question"}),
        (BackendOverloadedError("queue full"), ToolExecutionError, {"retryable": True}),
        (CheckpointError("weights missing"), ToolUnavailableError, {}),
    ]
    for error, kind, attributes in cases:
        with pytest.raises(kind) as info, models.model_errors(image="photo", text="question", video="clip"):
            raise error
        assert all(getattr(info.value, k) == v for k, v in attributes.items()), error
        assert info.value.__cause__ is error
