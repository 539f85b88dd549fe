"""The model provider: explicit configuration, the TOG_* environment, one lazy backend per process,
failures remembered with their reason, and the text model's fallback to InternVL."""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image as PILImage

from tools import models
from tools.errors import ToolUnavailableError
from tools.model_settings import LLMSettings, VLMSettings
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
from vlm.backends.base import VLMBackend

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vlm"))
from fake_openai_server import FakeOpenAIServer

if TYPE_CHECKING:
    from conftest import Script


def test_nothing_configured_means_no_model_and_says_which_variables_to_set() -> None:
    assert vlm_status() == (False, VLM_UNCONFIGURED)
    assert VLM_UNCONFIGURED == "no InternVL model configured (set TOG_VLM_MODEL or TOG_VLM_URL)"
    assert llm_status() == (False, LLM_UNCONFIGURED)
    with pytest.raises(ToolUnavailableError) as info:
        get_vlm()
    assert info.value.reason == VLM_UNCONFIGURED
    with pytest.raises(ToolUnavailableError, match="TOG_LLM_URL"):
        get_llm()


def test_an_explicit_backend_serves_vision_and_text_until_reset(
    no_models: pytest.MonkeyPatch, tiny_internvl_dir: Path, scripted: Script
) -> None:
    no_models.setenv("TOG_VLM_MODEL", str(tiny_internvl_dir))
    backend = scripted("an answer")
    assert get_vlm() is backend and get_llm() is backend  # explicit beats the environment
    assert vlm_status() == (True, "") == llm_status()
    configure_vlm(None)
    assert get_vlm() is not backend and get_vlm().name == "transformers"
    assert backend.closed is False  # the caller's backend is the caller's to close
    with pytest.raises(TypeError, match="VLMBackend"):
        configure_vlm("OpenGVLab/InternVL3-8B-hf")  # type: ignore[arg-type]


def test_a_separate_llm_serves_text_while_vision_stays_unconfigured(scripted: Script) -> None:
    llm = scripted("llm", role="llm")
    assert get_llm() is llm and llm_status() == (True, "")
    assert vlm_status() == (False, VLM_UNCONFIGURED)
    vlm = scripted("vlm")
    assert get_llm() is llm and get_vlm() is vlm


def test_tog_vlm_model_builds_one_lazy_backend_shared_by_every_thread(
    no_models: pytest.MonkeyPatch, tiny_internvl_dir: Path
) -> None:
    no_models.setenv("TOG_VLM_MODEL", str(tiny_internvl_dir))
    no_models.setenv("TOG_VLM_DEVICE", "cpu")
    assert vlm_status() == (True, "")
    with ThreadPoolExecutor(8) as pool:
        backends = list(pool.map(lambda _: get_vlm(), range(32)))
    backend = backends[0]
    assert all(b is backend for b in backends) and get_llm() is backend
    assert backend.name == "transformers" and backend.loaded is False  # weights wait for the first request
    assert backend.limits.max_tiles == DEFAULT_MAX_TILES == 24

    caption = CaptionImage()(image=PILImage.new("RGB", (64, 64), "teal"))["caption"]
    assert isinstance(caption, str) and caption and backend.loaded and backend.device.type == "cpu"

    no_models.setenv("TOG_VLM_MAX_TILES", "6")  # new settings, new backend; the old one is closed
    rebuilt = get_vlm()
    assert rebuilt is not backend and rebuilt.limits.max_tiles == 6 and backend.loaded is False


def test_concurrent_first_calls_build_the_backend_once(no_models: pytest.MonkeyPatch, scripted: Script) -> None:
    builds: list[str] = []
    lock = threading.Lock()

    def slow_load(model: str, **options: Any) -> VLMBackend:
        time.sleep(0.05)
        with lock:
            builds.append(model)
        return scripted(model, role=None)

    no_models.setattr("vlm.backends.load_backend", slow_load)
    no_models.setenv("TOG_VLM_MODEL", "some/checkpoint")
    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(lambda _: get_vlm(), range(16)))
    assert builds == ["some/checkpoint"] and len({id(b) for b in found}) == 1


def test_a_checkpoint_that_cannot_load_is_unavailable_with_the_reason_and_not_retried(
    no_models: pytest.MonkeyPatch, tmp_path: Path, scripted: Script
) -> None:
    missing = tmp_path / "no-such-model"
    no_models.setenv("TOG_VLM_MODEL", str(missing))
    ok, reason = vlm_status()
    assert not ok and reason.startswith(f"cannot use InternVL model '{missing}'")
    calls: list[str] = []
    no_models.setattr("vlm.backends.load_backend", lambda model, **kw: calls.append(model) or scripted("ok", role=None))
    assert vlm_status() == (False, reason) and calls == []  # remembered for the same settings
    assert llm_status() == (False, reason)  # the text fallback says the same
    with pytest.raises(ToolUnavailableError) as info:
        CaptionImage()(image=PILImage.new("RGB", (8, 8)))
    assert info.value.reason == reason
    no_models.setenv("TOG_VLM_MODEL", "other/checkpoint")
    assert vlm_status() == (True, "") and calls == ["other/checkpoint"]


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("TOG_VLM_MAX_TILES", "0", "TOG_VLM_MAX_TILES='0': Input should be greater than or equal to 1"),
        ("TOG_VLM_MAX_TILES", "41", "TOG_VLM_MAX_TILES='41': Input should be less than or equal to 40"),
        ("TOG_VLM_MAX_TILES", "lots", "TOG_VLM_MAX_TILES='lots': Input should be a valid integer"),
        ("TOG_VLM_TRUST_REMOTE_CODE", "maybe", "TOG_VLM_TRUST_REMOTE_CODE='maybe': Input should be a valid boolean"),
    ],
)
def test_bad_settings_are_reasons_not_crashes(
    no_models: pytest.MonkeyPatch, scripted: Script, name: str, value: str, problem: str
) -> None:
    no_models.setenv("TOG_VLM_MODEL", "some/checkpoint")
    no_models.setenv(name, value)
    ok, reason = vlm_status()
    assert not ok and reason.startswith(problem)
    no_models.delenv(name)  # fixed: read again, because a TOG_VLM_* variable changed
    no_models.setattr("vlm.backends.load_backend", lambda model, **kw: scripted(model, role=None))
    assert vlm_status() == (True, "")


def test_settings_are_one_definition_read_by_the_tools_and_by_tog_settings(
    no_models: pytest.MonkeyPatch, scripted: Script
) -> None:
    from agent.config import ToGSettings

    no_models.setenv("TOG_VLM_MODEL", "  /models/InternVL3-8B-hf ")
    no_models.setenv("TOG_VLM_DEVICE", "cuda:1")
    no_models.setenv("TOG_VLM_TRUST_REMOTE_CODE", "yes")
    no_models.setenv("TOG_VLM_DTYPE", "")  # empty means unset
    no_models.setenv("tog_llm_url", "http://llm:8000/v1")  # any case, as every TOG_* variable
    no_models.setenv("TOG_LLM_API_KEY", "sk-secret")
    settings = ToGSettings()
    assert settings.vlm == VLMSettings.from_environment() and settings.llm == LLMSettings.from_environment()
    assert (settings.vlm.model, settings.vlm.device, settings.vlm.dtype) == (
        "/models/InternVL3-8B-hf",
        "cuda:1",
        "auto",
    )
    assert settings.vlm.trust_remote_code is True and settings.vlm.max_tiles == DEFAULT_MAX_TILES
    assert settings.llm.url == "http://llm:8000/v1" and settings.llm.api_key.get_secret_value() == "sk-secret"
    assert "sk-secret" not in repr(settings) and "sk-secret" not in settings.model_dump_json()

    built: list[tuple[str, dict[str, Any]]] = []
    no_models.setattr(
        "vlm.backends.load_backend", lambda model, **kw: built.append((model, kw)) or scripted(model, role=None)
    )
    get_vlm()
    ((model, options),) = built
    assert model == "/models/InternVL3-8B-hf"
    assert (options["device"], options["dtype"], options["trust_remote_code"]) == ("cuda:1", "auto", True)
    assert options["limits"].max_tiles == DEFAULT_MAX_TILES

    assert ToGSettings.model_fields["vlm"].annotation is VLMSettings
    assert ToGSettings.model_fields["llm"].annotation is LLMSettings
    assert ToGSettings.model_fields["vlm"].description and ToGSettings.model_fields["llm"].description
    fields = {**VLMSettings.model_fields, **LLMSettings.model_fields}
    assert all(field.description for field in fields.values())
    assert [VLMSettings.env_name(n) for n in ("url", "max_tiles")] == ["TOG_VLM_URL", "TOG_VLM_MAX_TILES"]


def test_settings_given_in_code_replace_the_environment_until_reset(
    no_models: pytest.MonkeyPatch, scripted: Script
) -> None:
    from agent.config import ToGSettings

    built: list[tuple[str, int]] = []
    no_models.setattr(
        "vlm.backends.load_backend",
        lambda model, **kw: built.append((model, kw["limits"].max_tiles)) or scripted(model, role=None),
    )
    no_models.setenv("TOG_VLM_MODEL", "from/the-environment")
    settings = ToGSettings(vlm={"model": "from/the-code", "max_tiles": 6})
    assert settings.vlm.model == "from/the-code" and settings.vlm.device == "auto"
    try:
        models.use_settings(settings.vlm, settings.llm)
        assert get_vlm().answer == "from/the-code"
        assert llm_status() == (True, "") and get_llm() is get_vlm()  # no LLM URL anywhere: InternVL answers
        models.use_settings()
        assert get_vlm().answer == "from/the-environment"
        assert built == [("from/the-code", 6), ("from/the-environment", DEFAULT_MAX_TILES)]
        with pytest.raises(TypeError, match="VLMSettings"):
            models.use_settings(settings.llm)  # type: ignore[arg-type]
    finally:
        models.use_settings()


def test_tog_vlm_url_names_a_server_without_contacting_it(no_models: pytest.MonkeyPatch) -> None:
    from vlm.backends.openai_compat import OpenAICompatibleBackend

    no_models.setenv("TOG_VLM_URL", "http://127.0.0.1:9/v1")
    no_models.setenv("TOG_VLM_MODEL", "ignored/when-a-url-is-set")
    no_models.setenv("TOG_VLM_SERVED_MODEL", "OpenGVLab/InternVL3-8B")
    no_models.setenv("TOG_VLM_API_KEY", "sk-test")
    backend = get_vlm()
    assert isinstance(backend, OpenAICompatibleBackend)
    assert backend.model == "OpenGVLab/InternVL3-8B" and backend.base_url.startswith("http://127.0.0.1:9")
    assert backend._client.headers["Authorization"] == "Bearer sk-test"
    assert backend.limits.max_tiles == DEFAULT_MAX_TILES
    no_models.delenv("TOG_VLM_URL")
    no_models.setenv("TOG_VLM_MODEL", "https://internvl.example/v1")  # a URL in TOG_VLM_MODEL is a server too
    assert isinstance(get_vlm(), OpenAICompatibleBackend)


def test_tog_llm_url_serves_text_from_an_openai_compatible_llm(no_models: pytest.MonkeyPatch) -> None:
    with FakeOpenAIServer(responder=lambda body: "a short summary", model="qwen2.5-7b-instruct") as server:
        no_models.setenv("TOG_LLM_URL", server.url)
        no_models.setenv("TOG_LLM_API_KEY", "sk-llm")
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
