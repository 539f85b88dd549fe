"""The in-process transformers backend, end to end on the tiny random InternVL loaded from disk.

The tiny model's answers are noise, but deterministic noise: greedy decoding in fp32 gives the same
tokens for the same input every time, and different tokens for different inputs. So each test
compares the backend with an independent oracle (our prompt builder + tiler + a separately loaded
model's ``generate``) or with itself run another way (alone vs batched, streamed vs not), and checks
the exact inputs the model received.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from PIL import Image  # noqa: E402

from vlm.backends import TransformersBackend, load_backend  # noqa: E402
from vlm.backends.base import ChatRequest, GenerationConfig, Turn  # noqa: E402
from vlm.backends.transformers_backend import select_device_and_dtype  # noqa: E402
from vlm.errors import (  # noqa: E402
    BackendError,
    CheckpointError,
    GroundingParseError,
    ImageInputError,
    PromptError,
    TooManyImagesError,
    VideoInputError,
)
from vlm.images import ImageLimits  # noqa: E402
from vlm.preprocess import preprocess_frames, preprocess_images  # noqa: E402
from vlm.prompt import build_prompt  # noqa: E402
from vlm.worker import ModelWorker  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
SHORT = GenerationConfig(max_new_tokens=8)


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def backend(tiny_internvl_dir: Path) -> Iterator[TransformersBackend]:
    with TransformersBackend(tiny_internvl_dir, device="cpu") as b:
        b.load()
        yield b


@pytest.fixture(scope="module")
def oracle(tiny_internvl_dir: Path) -> tuple[Any, Any]:
    """The same checkpoint loaded separately, driven by hand: what the backend must reproduce."""
    model = transformers.AutoModelForImageTextToText.from_pretrained(tiny_internvl_dir, dtype=torch.float32).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_internvl_dir)
    return model, tokenizer


def photo(seed: int, width: int = 320, height: int = 240) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


class Spy:
    """Wraps ``model.generate`` and records what each call received."""

    def __init__(self, model: Any) -> None:
        self.inner = model.generate
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return self.inner(**kwargs)


@pytest.fixture()
def spy(backend: TransformersBackend, monkeypatch: pytest.MonkeyPatch) -> Spy:
    recorder = Spy(backend.model)
    monkeypatch.setattr(backend.model, "generate", recorder)
    return recorder


def oracle_answer(oracle: tuple[Any, Any], prompt: str, pixel_values: np.ndarray | None, max_new_tokens: int) -> str:
    model, tokenizer = oracle
    encoded = tokenizer(prompt, return_tensors="pt")
    extra = {} if pixel_values is None else {"pixel_values": torch.from_numpy(pixel_values)}
    with torch.no_grad():
        out = model.generate(**encoded, **extra, max_new_tokens=max_new_tokens, do_sample=False)
    new = out[0, encoded["input_ids"].shape[1] :].tolist()
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    new = new[: new.index(end)] if end in new else new
    return tokenizer.decode(new, skip_special_tokens=False).strip()


def prompt_text(spy: Spy, tokenizer: Any, call: int = 0, row: int = 0) -> str:
    ids = spy.calls[call]["input_ids"][row]
    mask = spy.calls[call]["attention_mask"][row].bool()
    return tokenizer.decode(ids[mask].tolist(), skip_special_tokens=False)


def context_runs(text: str) -> list[int]:
    """Number of <IMG_CONTEXT> tokens in each <img>…</img> of a decoded prompt."""
    return [chunk.split("</img>")[0].count("<IMG_CONTEXT>") for chunk in text.split("<img>")[1:]]


# --- single requests --------------------------------------------------------------------------------


def test_chat_on_one_image_matches_the_hand_built_pipeline(backend, oracle, spy) -> None:
    image = photo(1, 896, 448)  # 2x1 grid + thumbnail
    answer = backend.chat([image], "What is in the picture?", generation=SHORT)
    batch = preprocess_images([image])
    assert batch.num_patches == [3]
    prompt = build_prompt("internvl-hf", "What is in the picture?", [3])
    assert answer == oracle_answer(oracle, prompt, batch.pixel_values, 8)
    (call,) = spy.calls
    assert torch.equal(call["pixel_values"], torch.from_numpy(batch.pixel_values))
    assert prompt_text(spy, oracle[1]) == prompt
    assert call["generation_config"].max_new_tokens == 8 and call["generation_config"].do_sample is False


def test_default_tile_budget_is_the_checkpoints_twelve(backend) -> None:
    assert backend.limits.max_tiles == 12
    prepared = backend._prepare(ChatRequest(question="What?", images=[photo(1, 640, 480)]))
    assert prepared.num_patches == [13]  # 4x3 grid + thumbnail


def test_answers_depend_on_the_image(backend) -> None:
    answers = {backend.chat([photo(seed, 64, 64)], "Describe it.", generation=SHORT) for seed in range(3)}
    assert len(answers) > 1


def test_multi_image_prompt_labels_each_image_and_concatenates_crops(backend, oracle, spy) -> None:
    images = [photo(2, 300, 300), photo(3, 896, 448)]
    answer = backend.chat(images, "Are they the same?", max_tiles=2, generation=SHORT)
    text = prompt_text(spy, oracle[1])
    assert text.startswith("<|im_start|>user\nImage-1: <img>")
    assert "</img>\nImage-2: <img>" in text and text.endswith(
        "</img>\nAre they the same?<|im_end|>\n<|im_start|>assistant\n"
    )
    assert context_runs(text) == [256, 256 * 3]  # 1 tile; 2x1 tiles + thumbnail
    batch = preprocess_images(images, max_num=2)
    assert spy.calls[0]["pixel_values"].shape[0] == 4
    assert answer == oracle_answer(oracle, text, batch.pixel_values, 8)


def test_video_frames_are_one_tile_each_with_frame_labels(backend, oracle, spy) -> None:
    frames = [photo(10 + k, 900, 900) for k in range(3)]  # would be 2x2+1 crops as images
    answer = backend.batch_chat([ChatRequest(question="What happens?", images=frames, kind="video", generation=SHORT)])[
        0
    ]
    text = prompt_text(spy, oracle[1])
    assert text.startswith("<|im_start|>user\nFrame1: <img>") and "</img>\nFrame3: <img>" in text
    assert context_runs(text) == [256, 256, 256]
    assert answer == oracle_answer(oracle, text, preprocess_frames(frames).pixel_values, 8)


def test_video_file_is_sampled_into_num_segments_frames(backend, oracle, spy, tmp_path: Path) -> None:
    gif = tmp_path / "clip.gif"
    frames = [Image.new("RGB", (32, 32), (25 * k, 0, 0)) for k in range(10)]
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100)
    backend.batch_chat([ChatRequest(question="What moves?", video=gif, num_segments=4, generation=SHORT)])
    assert context_runs(prompt_text(spy, oracle[1])) == [256] * 4
    assert spy.calls[0]["pixel_values"].shape[0] == 4


def test_history_and_system_message_are_in_the_prompt(backend, oracle, spy) -> None:
    history = [Turn(question="<image>\nWhat is it?", answer="A cat.")]
    answer = backend.chat([photo(4, 64, 64)], "What colour?", history, system_message="Be brief.", generation=SHORT)
    text = prompt_text(spy, oracle[1])
    expected = build_prompt(
        "internvl-hf", "What colour?", [1], history=[("<image>\nWhat is it?", "A cat.")], system_message="Be brief."
    )
    assert text == expected
    assert text.startswith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n<img>")
    assert answer == oracle_answer(oracle, expected, preprocess_images([photo(4, 64, 64)]).pixel_values, 8)


def test_text_only_request_sends_no_pixels(backend, spy) -> None:
    backend.chat([], "Hello?", generation=SHORT)
    assert "pixel_values" not in spy.calls[0]


# --- batching -----------------------------------------------------------------------------------------


def mixed_requests() -> list[ChatRequest]:
    """Different image counts, crops, kinds, histories and lengths; no two alike."""
    return [
        ChatRequest(question="What is in the picture?", images=[photo(20, 64, 64)], generation=SHORT),
        ChatRequest(
            question="Compare the two images in detail, please.",
            images=[photo(21, 300, 300), photo(22, 896, 448)],
            max_tiles=2,
            generation=SHORT,
        ),
        ChatRequest(question="Hi", generation=GenerationConfig(max_new_tokens=5)),
        ChatRequest(question="What happens?", images=[photo(23, 48, 48)] * 2, kind="video", generation=SHORT),
        ChatRequest(
            question="And now?",
            images=[photo(24, 200, 100)],
            history=[Turn(question="<image>\nHi", answer="Hello")],
            generation=GenerationConfig(max_new_tokens=12),
        ),
    ]


@pytest.fixture(scope="module")
def mixed_alone(backend: TransformersBackend) -> list[str]:
    """The answer of each of :func:`mixed_requests`, asked one at a time."""
    return [backend.batch_chat([request])[0] for request in mixed_requests()]


def test_batch_chat_of_mixed_requests_equals_each_request_alone(backend, mixed_alone, spy) -> None:
    requests = mixed_requests()
    alone = mixed_alone
    batched = backend.batch_chat(requests)
    # Greedy, fp32: left padding is masked and position ids follow the mask, so each row's logits
    # match its unpadded run closely enough that every argmax agrees; the answers are identical.
    assert batched == alone
    assert len(set(alone)) == len(alone)  # really different answers, so a mix-up would show
    (call,) = spy.calls  # one generate call for the whole batch
    assert call["input_ids"].shape[0] == len(requests)
    assert call["pixel_values"].shape[0] == 1 + (1 + 3) + 0 + 2 + 3  # every request's crops, concatenated
    assert (call["attention_mask"][:, -1] == 1).all()  # left padding: every prompt ends at the edge
    assert call["generation_config"].max_new_tokens == 12  # the longest; each answer is cut to its own


def test_each_answer_stops_at_its_own_max_new_tokens(backend) -> None:
    request = ChatRequest(question="Count.", images=[photo(30, 64, 64)], generation=GenerationConfig(max_new_tokens=3))
    longer = request.model_copy(update={"generation": GenerationConfig(max_new_tokens=16)})
    short_alone = backend.batch_chat([request])[0]
    short_batched, long_batched = backend.batch_chat([request, longer])
    assert short_batched == short_alone
    assert long_batched == backend.batch_chat([longer])[0]
    assert long_batched.startswith(short_alone) and len(long_batched) > len(short_alone)


def test_max_batch_size_splits_generate_calls(tiny_internvl_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = TransformersBackend(tiny_internvl_dir, device="cpu", max_batch_size=2)
    spy = Spy(small.model)
    monkeypatch.setattr(small.model, "generate", spy)
    requests = [ChatRequest(question=f"Question {k}?", generation=GenerationConfig(max_new_tokens=2)) for k in range(5)]
    assert len(small.batch_chat(requests)) == 5
    assert [call["input_ids"].shape[0] for call in spy.calls] == [2, 2, 1]
    small.close()


def test_seeded_sampling_is_reproducible_and_independent_of_the_batch(backend) -> None:
    sample = GenerationConfig(max_new_tokens=8, do_sample=True, temperature=1.5, seed=7)
    request = ChatRequest(question="Say anything.", images=[photo(31, 64, 64)], generation=sample)
    first = backend.batch_chat([request])[0]
    others = [ChatRequest(question=f"Other {k}", generation=SHORT) for k in range(2)]
    assert backend.batch_chat([others[0], request, others[1]])[1] == first
    reseeded = request.model_copy(update={"generation": sample.model_copy(update={"seed": 8})})
    assert backend.batch_chat([reseeded])[0] != first
    greedy = request.model_copy(update={"generation": SHORT})
    assert backend.batch_chat([greedy])[0] != first  # it really sampled


# --- stopping and streaming ---------------------------------------------------------------------------


@pytest.fixture()
def eos_after(backend: TransformersBackend) -> Iterator[Any]:
    """Make the real model emit <|im_end|> as its ``n``-th new token (``None``: leave it alone)."""
    end = backend.tokenizer.convert_tokens_to_ids("<|im_end|>")
    state = {"n": None, "calls": 0}

    def hook(module: Any, args: Any, output: torch.Tensor) -> torch.Tensor:
        state["calls"] += 1
        if state["n"] is not None and state["calls"] == state["n"]:  # call 1 (the prompt) makes token 1
            output = output.clone()
            output[:, -1, end] = output.abs().max() * 10 + 100
        return output

    handle = backend.model.lm_head.register_forward_hook(hook)

    def arm(n: int | None) -> None:
        state["n"], state["calls"] = n, 0

    yield arm
    handle.remove()


def test_generation_stops_at_the_separator_which_is_stripped(backend, eos_after, spy) -> None:
    question = ChatRequest(
        question="Tell me a story.", images=[photo(40, 64, 64)], generation=GenerationConfig(max_new_tokens=20)
    )
    eos_after(None)
    free = backend.batch_chat([question])[0]
    eos_after(4)
    stopped = backend.batch_chat([question])[0]
    end = backend.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert end in spy.calls[-1]["generation_config"].eos_token_id
    assert "<|im_end|>" not in stopped
    three = question.model_copy(update={"generation": GenerationConfig(max_new_tokens=3)})
    eos_after(None)
    assert stopped == backend.batch_chat([three])[0]  # exactly the three tokens before the separator
    assert free.startswith(stopped) and len(free) > len(stopped)
    eos_after(4)
    assert "".join(backend.stream(question)) == stopped


def test_stream_concatenates_to_the_chat_answer(backend) -> None:
    request = ChatRequest(
        question="Describe the image in detail.",
        images=[photo(41, 64, 64)],
        generation=GenerationConfig(max_new_tokens=24),
    )
    pieces = list(backend.stream(request))
    assert len(pieces) > 1
    assert "".join(pieces) == backend.batch_chat([request])[0]


def test_closing_a_stream_early_frees_the_model_for_others(backend) -> None:
    request = ChatRequest(
        question="Describe the image in detail.",
        images=[photo(42, 64, 64)],
        generation=GenerationConfig(max_new_tokens=200),
    )
    stream = backend.stream(request)
    next(stream)
    stream.close()  # cancels the generation thread and waits for it
    done = threading.Event()
    threading.Thread(
        target=lambda: (backend.chat([], "Still there?", generation=SHORT), done.set()), daemon=True
    ).start()
    assert done.wait(10)


def test_stream_checks_images_before_iterating(backend) -> None:
    with pytest.raises(ImageInputError):
        backend.stream(ChatRequest(question="What?", images=[b"not an image"]))


# --- errors and limits --------------------------------------------------------------------------------


def test_missing_checkpoint_directory_is_a_checkpoint_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        TransformersBackend(tmp_path / "nowhere")


def test_missing_hub_model_offline_is_a_checkpoint_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(CheckpointError, match="tog-tests/no-such-internvl-hf"):
        load_backend("tog-tests/no-such-internvl-hf")


def test_checkpoint_without_weights_fails_to_load_with_a_checkpoint_error(
    tiny_internvl_dir: Path, tmp_path: Path
) -> None:
    for path in tiny_internvl_dir.iterdir():
        if not path.name.endswith(".safetensors"):
            shutil.copy(path, tmp_path / path.name)
    broken = TransformersBackend(tmp_path, device="cpu")  # config alone is fine until weights are needed
    with pytest.raises(CheckpointError, match="cannot load"):
        broken.chat([], "Hello?")
    assert not broken.loaded


def test_too_many_tiles_is_refused(backend) -> None:
    with pytest.raises(TooManyImagesError):
        backend.chat([photo(50)], "What?", max_tiles=13)  # the checkpoint's budget is 12
    with pytest.raises(ValueError):
        ChatRequest(question="What?", max_tiles=41)  # never more than 40
    with pytest.raises(ValueError):
        ImageLimits(max_tiles=41)


def test_limits_raise_the_tile_budget_to_forty_at_most(tiny_internvl_dir: Path) -> None:
    wide = TransformersBackend(tiny_internvl_dir, device="cpu", limits=ImageLimits(max_tiles=40))
    prepared = wide._prepare(ChatRequest(question="What?", images=[photo(51, 3000, 1875)], max_tiles=40))
    assert prepared.num_patches == [41]  # 8x5 tiles + thumbnail, without loading the model
    assert not wide.loaded


def test_too_many_images_and_corrupt_images_fail_before_the_model_loads(
    tiny_internvl_dir: Path, tmp_path: Path
) -> None:
    fresh = TransformersBackend(tiny_internvl_dir, device="cpu", limits=ImageLimits(max_images=2))
    with pytest.raises(TooManyImagesError):
        fresh.chat([photo(1, 8, 8)] * 3, "What?")
    truncated = tmp_path / "cut.png"
    photo(2).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(ImageInputError):
        fresh.chat([truncated], "What?")
    with pytest.raises(ImageInputError):
        fresh.chat([b"\x89PNG not really"], "What?")
    assert not fresh.loaded


def test_prompt_and_video_mistakes_are_typed(backend, tmp_path: Path) -> None:
    with pytest.raises(PromptError):
        backend.chat([photo(1, 8, 8)], "<image> and <image>?")
    with pytest.raises(PromptError):
        backend.chat([], "Sneaky <IMG_CONTEXT> token")
    with pytest.raises(VideoInputError):
        backend.batch_chat([ChatRequest(question="?", images=[photo(1, 8, 8)], video=tmp_path / "a.mp4")])


def test_one_bad_request_fails_the_whole_batch_call_before_generating(backend, spy) -> None:
    with pytest.raises(ImageInputError):
        backend.batch_chat([ChatRequest(question="Fine"), ChatRequest(question="Bad", images=[b"junk"])])
    assert spy.calls == []


def test_grounding_through_chat_reports_unparseable_answers(backend) -> None:
    with pytest.raises(GroundingParseError) as info:  # random weights do not write boxes
        backend.ground(photo(3, 64, 64), "the cat", generation=SHORT)
    assert info.value.raw == backend.chat(
        [photo(3, 64, 64)],
        "Please provide the bounding box coordinate of the region this sentence describes: <ref>the cat</ref>",
        generation=SHORT,
    )


# --- the worker -----------------------------------------------------------------------------------


def test_worker_gives_each_concurrent_caller_its_own_answer(backend) -> None:
    requests = [
        ChatRequest(question=f"Question number {k}?", images=[photo(60 + k, 48, 48)] if k % 2 else [], generation=SHORT)
        for k in range(6)
    ]
    expected = [backend.batch_chat([request])[0] for request in requests]
    assert len(set(expected)) == len(expected)
    with ModelWorker(backend, max_batch_size=8, max_wait_ms=100) as worker:
        with ThreadPoolExecutor(len(requests)) as pool:
            answers = list(pool.map(lambda r: worker.submit(r).result(timeout=60), requests))
        assert worker.stats.largest_batch > 1
    assert answers == expected
    assert backend.loaded is False  # the worker closes its backend
    backend.load()


def test_worker_fails_only_the_bad_caller(backend) -> None:
    with ModelWorker(backend, max_batch_size=4, max_wait_ms=50) as worker:
        good = worker.submit(ChatRequest(question="Fine?", generation=SHORT))
        bad = worker.submit(ChatRequest(question="Bad", images=[b"junk"]))
        assert isinstance(good.result(timeout=30), str)
        with pytest.raises(ImageInputError):
            bad.result(timeout=30)
    backend.load()


# --- lifecycle, devices, factory ----------------------------------------------------------------------


def test_loading_is_lazy_and_close_frees_the_model(tiny_internvl_dir: Path) -> None:
    lazy = TransformersBackend(tiny_internvl_dir, device="cpu")
    assert not lazy.loaded and lazy.device is None
    first = lazy.chat([], "Hello?", generation=SHORT)
    assert lazy.loaded and lazy.device == torch.device("cpu") and lazy.dtype == torch.float32
    assert lazy.model.config._attn_implementation == "sdpa"
    lazy.close()
    assert not lazy.loaded
    assert lazy.chat([], "Hello?", generation=SHORT) == first  # loads again on demand
    lazy.close()


def test_device_and_dtype_selection() -> None:
    assert select_device_and_dtype("cpu") == (torch.device("cpu"), torch.float32)
    assert select_device_and_dtype("cpu", "bf16") == (torch.device("cpu"), torch.bfloat16)
    assert select_device_and_dtype("cpu", torch.float16)[1] == torch.float16
    expected = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    assert select_device_and_dtype("auto")[0] == expected
    with pytest.raises(ValueError):
        select_device_and_dtype("cpu", "int3")
    if not torch.cuda.is_available():
        assert select_device_and_dtype(None) == (torch.device("cpu"), torch.float32)
        with pytest.raises(BackendError, match="CUDA"):
            select_device_and_dtype("cuda")


def test_load_backend_picks_the_backend_by_address(tiny_internvl_dir: Path) -> None:
    served = load_backend("http://127.0.0.1:1")
    assert served.name == "openai"
    served.close()
    local = load_backend(tiny_internvl_dir, device="cpu")
    assert isinstance(local, TransformersBackend) and not local.loaded


def test_importing_the_backends_does_not_import_torch() -> None:
    code = (
        "import sys, vlm, vlm.backends\n"
        "from vlm.backends import TransformersBackend, load_backend\n"
        "import vlm.backends.transformers_backend\n"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().replace("'", '"')) == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_runs_in_bf16_and_batches(tiny_internvl_dir: Path) -> None:
    with TransformersBackend(tiny_internvl_dir) as gpu:
        requests = mixed_requests()
        answers = gpu.batch_chat(requests)
        assert gpu.device.type == "cuda" and gpu.dtype == torch.bfloat16
        assert next(gpu.model.parameters()).dtype == torch.bfloat16
        assert len(answers) == len(requests) and all(isinstance(a, str) for a in answers)
        # bf16 rounds differently with and without padding, so batch-vs-alone is only checked in fp32
        # above; streaming runs the very same single-request computation, so it must agree exactly.
        assert "".join(gpu.stream(requests[0])) == gpu.batch_chat([requests[0]])[0]


# --- original (remote code) checkpoints ---------------------------------------------------------------
#
# Their code cannot be downloaded here, so a stand-in with the same chat()/batch_chat() signatures
# records what the backend hands over; what is tested is the selection logic and the argument mapping.


def original_config(tmp_path: Path, architecture: str = "Qwen2ForCausalLM") -> Path:
    config = {
        "model_type": "internvl_chat",
        "template": "internvl2_5",
        "downsample_ratio": 0.5,
        "force_image_size": 448,
        "llm_config": {"architectures": [architecture]},
        "vision_config": {"image_size": 448, "patch_size": 14},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    return tmp_path


class FakeRemoteModel:
    """Mimics an original InternVL ``InternVLChatModel``: ``chat``, ``batch_chat``, ``system_message``."""

    def __init__(self, tokenizer: Any, fail: BaseException | None = None) -> None:
        self.tokenizer = tokenizer
        self.fail = fail
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.system_message = "default system"

    def to(self, device: Any) -> FakeRemoteModel:
        return self

    def eval(self) -> FakeRemoteModel:
        return self

    def chat(
        self,
        tokenizer,
        pixel_values,
        question,
        generation_config,
        history=None,
        return_history=False,
        num_patches_list=None,
    ):
        if self.fail is not None:
            raise self.fail
        self.calls.append(
            (
                "chat",
                {
                    "question": question,
                    "history": history,
                    "num_patches_list": num_patches_list,
                    "crops": None if pixel_values is None else pixel_values.shape[0],
                    "system": self.system_message,
                    "config": {
                        k: v for k, v in generation_config.items() if k not in ("streamer", "stopping_criteria")
                    },
                },
            )
        )
        answer = f" The cat sits on the mat. {len(self.calls)} "
        streamer = generation_config.get("streamer")
        if streamer is not None:  # what generate() does with a streamer: prompt first, then each token
            streamer.put(torch.tensor([[1, 2, 3]]))
            for token in tokenizer(answer + "<|im_end|>", add_special_tokens=False)["input_ids"]:
                streamer.put(torch.tensor([token]))
            streamer.end()
        return answer

    def batch_chat(
        self,
        tokenizer,
        pixel_values,
        questions,
        generation_config,
        num_patches_list=None,
        history=None,
        return_history=False,
    ):
        self.calls.append(
            (
                "batch_chat",
                {"questions": questions, "num_patches_list": num_patches_list, "crops": pixel_values.shape[0]},
            )
        )
        return [f"answer {k}" for k in range(len(questions))]


@pytest.fixture()
def remote(tmp_path: Path, tiny_internvl_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_internvl_dir)
    state: dict[str, Any] = {"model": FakeRemoteModel(tokenizer), "kwargs": []}

    def from_pretrained(source: str, **kwargs: Any) -> Any:
        state["kwargs"].append(kwargs)
        if isinstance(state["model"], BaseException):
            raise state["model"]
        return state["model"]

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", from_pretrained)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda source, **kwargs: tokenizer)
    state["path"] = original_config(tmp_path)
    return state


def test_original_internlm2_checkpoint_is_refused_naming_the_transformers_version(tmp_path: Path) -> None:
    installed = transformers.__version__
    with pytest.raises(CheckpointError, match=rf"transformers {installed}.*-hf"):
        TransformersBackend(original_config(tmp_path, "InternLM2ForCausalLM"), trust_remote_code=True)


def test_original_checkpoint_needs_trust_remote_code(remote) -> None:
    with pytest.raises(CheckpointError, match="trust_remote_code=True"):
        TransformersBackend(remote["path"])
    assert remote["kwargs"] == []  # nothing was loaded, no code was run


def test_original_checkpoint_is_asked_through_its_chat(remote) -> None:
    backend = TransformersBackend(remote["path"], device="cpu", trust_remote_code=True)
    assert backend.template.name == "internvl2_5"
    answer = backend.chat(
        [photo(1, 896, 448)], "What colour?", [("Hi", "Hello")], system_message="Be brief.", generation=SHORT
    )
    assert answer == "The cat sits on the mat. 1"
    assert remote["kwargs"][0]["trust_remote_code"] is True and remote["kwargs"][0]["dtype"] == torch.float32
    model = remote["model"]
    ((kind, call),) = model.calls
    assert kind == "chat"
    assert call["question"] == "<image>\nWhat colour?" and call["history"] == [("Hi", "Hello")]
    assert call["num_patches_list"] == [3] and call["crops"] == 3
    assert call["system"] == "Be brief." and model.system_message == "default system"  # restored
    assert call["config"] == {"max_new_tokens": 8, "do_sample": False}


def test_original_checkpoint_batches_single_image_questions_and_chats_the_rest(remote) -> None:
    backend = TransformersBackend(remote["path"], device="cpu", trust_remote_code=True)
    simple = [ChatRequest(question=f"Q{k}", images=[photo(k, 64, 64)], generation=SHORT) for k in range(2)]
    assert backend.batch_chat(simple) == ["answer 0", "answer 1"]
    kind, call = remote["model"].calls[-1]
    assert kind == "batch_chat" and call["questions"] == ["<image>\nQ0", "<image>\nQ1"]
    assert call["num_patches_list"] == [1, 1] and call["crops"] == 2
    remote["model"].calls.clear()
    other = [
        ChatRequest(question="Same?", images=[photo(1, 64, 64), photo(2, 64, 64)], generation=SHORT),
        ChatRequest(question="What happens?", images=[photo(3, 64, 64)] * 3, kind="video", generation=SHORT),
    ]
    backend.batch_chat(other)
    questions = [call["question"] for _, call in remote["model"].calls]
    assert questions == [
        "Image-1: <image>\nImage-2: <image>\nSame?",
        "Frame1: <image>\nFrame2: <image>\nFrame3: <image>\nWhat happens?",
    ]
    assert [call["num_patches_list"] for _, call in remote["model"].calls] == [[1, 1], [1, 1, 1]]


def test_original_checkpoint_streams_what_its_chat_generates(remote) -> None:
    backend = TransformersBackend(remote["path"], device="cpu", trust_remote_code=True)
    request = ChatRequest(question="Describe.", images=[photo(1, 64, 64)], generation=SHORT)
    assert "".join(backend.stream(request)) == "The cat sits on the mat. 1"


def test_original_checkpoint_failures_are_typed_and_name_the_version(remote) -> None:
    remote["model"] = RuntimeError("module 'transformers' has no attribute 'GenerationMixin'")
    failing = TransformersBackend(remote["path"], device="cpu", trust_remote_code=True)
    with pytest.raises(CheckpointError, match=rf"remote code on transformers {transformers.__version__}"):
        failing.load()
    remote["model"] = FakeRemoteModel(None, fail=AttributeError("'Qwen2Model' object has no attribute 'generate'"))
    broken = TransformersBackend(remote["path"], device="cpu", trust_remote_code=True)
    with pytest.raises(BackendError, match=rf"transformers {transformers.__version__}") as info:
        broken.chat([], "Hello?")
    assert not info.value.retryable
