"""InternVL run in this process with transformers.

``-hf`` checkpoints (``model_type: internvl``) load with ``AutoModelForImageTextToText`` and get their
inputs from our own thin processor, not transformers' ``InternVLProcessor`` (which needs torchvision):
the checkpoint's template (:mod:`vlm.templates`) → tiles (:mod:`vlm.preprocess`) →
``<img><IMG_CONTEXT>×(256·crops)</img>`` per image (:mod:`vlm.prompt`) → tokenize. A batch is one
left-padded ``generate`` call whose ``pixel_values`` are every request's crops concatenated in
request order; the model scatters them onto the ``<IMG_CONTEXT>`` positions in the same order, so
requests with different numbers of images and crops share a batch.

Original checkpoints (``model_type: internvl_chat``) run their own remote code and are asked through
its ``chat()`` / ``batch_chat()``, where the installed transformers still runs that code
(:meth:`vlm.checkpoint.CheckpointInfo.ensure_loadable` refuses the rest, naming the version). Running a
checkpoint's code is opt-in (``trust_remote_code=True``), as in transformers.

Weights load on first use (or :meth:`TransformersBackend.load`); :meth:`TransformersBackend.close`
frees them and a later call loads them again. The checkpoint's ``config.json`` is read at
construction, so a missing or non-InternVL checkpoint fails at once with :class:`CheckpointError`.
Decoding is greedy unless a request samples; answers end at the template's separator, which is
removed, and only new tokens are decoded. One lock serialises generation (a model computes one
batch at a time); images are loaded and tiled outside it. A request's ``json_schema`` is enforced
token by token (:mod:`vlm.constrained`), row by row, so constrained and free requests share batches;
original checkpoints refuse it (their remote ``chat()`` takes no logits processor).
"""

from __future__ import annotations

import copy
import gc
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager as ContextManager
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union

import numpy as np

from vlm.backends.base import ChatRequest, GenerationConfig, VLMBackend
from vlm.checkpoint import CheckpointInfo, inspect_checkpoint
from vlm.errors import BackendError, CheckpointError, VideoInputError
from vlm.images import MAX_TILES_CAP, ImageLimits, check_images
from vlm.preprocess import Batch, preprocess_frames, preprocess_images
from vlm.prompt import ImageTokens, build_prompt, image_token_ids, place_images
from vlm.templates import AnswerStream, Template, clean_answer
from vlm.video import load_video_frames

if TYPE_CHECKING:
    import torch

    from vlm.constrained import JsonConstrainer

logger = logging.getLogger(__name__)

#: "auto", "bfloat16", "float16", "float32" (or bf16 / fp16 / fp32), or a torch.dtype.
DTypeSpec = Union[str, "torch.dtype", None]

_DTYPE_NAMES = {
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
}


def select_device_and_dtype(device: str | None = "auto", dtype: DTypeSpec = "auto") -> tuple[torch.device, torch.dtype]:
    """Where and in what precision to run: ``auto`` is CUDA when present, else CPU; bf16 on CUDA
    (fp16 on GPUs without bf16), fp32 on CPU, where bf16 matmuls are slow and fp16 ones unsupported.

    >>> select_device_and_dtype("cpu")
    (device(type='cpu'), torch.float32)
    """
    import torch

    if device in (None, "auto"):
        resolved = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            resolved = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"unknown device {device!r}: {exc}") from None
        if resolved.type == "cuda" and not torch.cuda.is_available():
            raise BackendError(f"device {device!r} was asked for, but torch sees no CUDA device", retryable=False)
    if isinstance(dtype, torch.dtype):
        return resolved, dtype
    if dtype in (None, "auto"):
        if resolved.type == "cuda":
            bf16 = torch.cuda.is_bf16_supported()
            return resolved, torch.bfloat16 if bf16 else torch.float16
        return resolved, torch.float32
    name = _DTYPE_NAMES.get(str(dtype).lower().removeprefix("torch."))
    if name is None:
        raise ValueError(f"unknown dtype {dtype!r}; use one of auto, {', '.join(sorted(set(_DTYPE_NAMES)))}")
    return resolved, getattr(torch, name)


@dataclass(slots=True)
class _Prepared:
    """One request with its pixels ready: crops of all its images, and how many each image has."""

    request: ChatRequest
    pixels: Batch | None
    kind: Literal["images", "video"]

    @property
    def num_patches(self) -> list[int]:
        return [] if self.pixels is None else self.pixels.num_patches


class TransformersBackend(VLMBackend):
    """Chat with an InternVL checkpoint loaded in this process.

    ``model`` is a checkpoint directory (or its ``config.json``) or a hub id (with ``HF_HUB_OFFLINE``
    only the local cache is looked at). ``device`` / ``dtype`` default to CUDA in bf16 when present,
    else CPU in fp32 (:func:`select_device_and_dtype`). ``template`` overrides the checkpoint's
    conversation template. ``limits`` default to the checkpoint's own tile budget (at most 40).
    At most ``max_batch_size`` requests share one ``generate`` call.

    >>> from vlm.testing import tiny_internvl                                 # doctest: +SKIP
    >>> with TransformersBackend(tiny_internvl("/tmp/tiny")) as backend:      # doctest: +SKIP
    ...     backend.chat([image], "What is in the picture?")
    """

    name = "transformers"

    def __init__(
        self,
        model: str | Path,
        *,
        device: str | None = "auto",
        dtype: DTypeSpec = "auto",
        attn_implementation: str | None = "sdpa",
        template: str | Template | None = None,
        limits: ImageLimits | None = None,
        max_batch_size: int = 16,
        trust_remote_code: bool = False,
        preprocess_workers: int | None = None,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
        self.source = str(model)
        self.info: CheckpointInfo = inspect_checkpoint(model)
        self.info.ensure_loadable()
        if self.info.requires_remote_code and not trust_remote_code:
            raise CheckpointError(
                f"{self.source} is an original InternVL checkpoint (model_type 'internvl_chat') that runs "
                "its own Python code; pass trust_remote_code=True if you trust it, or use its -hf conversion",
                source=self.source,
            )
        self.template: Template = self.info.get_template(template)
        self.limits = limits or ImageLimits(max_tiles=min(self.info.max_dynamic_patch, MAX_TILES_CAP))
        self.max_batch_size = max_batch_size
        self.attn_implementation = attn_implementation
        self.preprocess_workers = preprocess_workers
        self._device_spec = device
        self._dtype_spec = dtype
        self.device: torch.device | None = None
        self.dtype: torch.dtype | None = None
        self._runner: _HFRunner | _RemoteCodeRunner | None = None
        self._lock = threading.RLock()

    # --- lifecycle ------------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        """Whether the weights are in memory."""
        return self._runner is not None

    def load(self) -> None:
        """Load tokenizer and weights now (otherwise the first request does)."""
        with self._lock:
            self._ensure_loaded()

    @property
    def model(self) -> Any:
        """The loaded transformers model (loading it if needed)."""
        with self._lock:
            return self._ensure_loaded().model

    @property
    def tokenizer(self) -> Any:
        """The loaded tokenizer (loading the model if needed)."""
        with self._lock:
            return self._ensure_loaded().tokenizer

    def close(self) -> None:
        """Free the weights (and cached device memory); the next request loads them again.

        Waits for a generation in progress; a stream still being read keeps its model until it ends.
        """
        with self._lock:
            if self._runner is None:
                return
            self._runner = None
            gc.collect()
            _free_cuda_cache(self.device)

    def _ensure_loaded(self) -> _HFRunner | _RemoteCodeRunner:
        if self._runner is None:
            self.device, self.dtype = select_device_and_dtype(self._device_spec, self._dtype_spec)
            load = _load_remote if self.info.requires_remote_code else _load_hf
            self._runner = load(self)
            logger.info("loaded %s on %s in %s", self.source, self.device, self.dtype)
        return self._runner

    # --- the interface --------------------------------------------------------------------------
    def batch_chat(self, requests: Sequence[ChatRequest]) -> list[str]:
        """Answer every request, in order, batching those that can share a ``generate`` call.

        Requests share a call when their decoding agrees: greedy ones always (each still stops at its
        own ``max_new_tokens``), sampling ones with the same parameters. A sampling request with a
        ``seed`` runs alone, so the seed alone decides its answer, whatever else is queued.
        Every request's images are loaded and checked before anything is generated.
        """
        if not requests:
            return []
        prepared = [self._prepare(request) for request in requests]
        answers: list[str | None] = [None] * len(prepared)
        with self._lock:
            runner = self._ensure_loaded()
            for group in _groups(prepared, self.max_batch_size):
                items = [prepared[i] for i in group]
                for index, answer in zip(group, runner.answer(items, _merged_config(items))):
                    answers[index] = answer
        return [answer if answer is not None else "" for answer in answers]

    def stream(self, request: ChatRequest) -> Iterator[str]:
        """Yield the answer as it is generated; the pieces concatenate to the greedy ``chat`` answer.

        Images are loaded and checked when this is called; generation starts on first iteration, in
        a thread, and stops early if the iterator is closed.
        """
        prepared = self._prepare(request)
        return self._stream(prepared)

    def _stream(self, prepared: _Prepared) -> Iterator[str]:
        with self._lock:
            runner = self._ensure_loaded()
        # The generation thread takes the lock for as long as it generates, not this consumer: a
        # reader that stops iterating must not keep other callers from the model.
        yield from runner.stream(prepared, self._lock)

    # --- inputs ---------------------------------------------------------------------------------
    def _prepare(self, request: ChatRequest) -> _Prepared:
        """Load, check and tile one request's images (or video frames); no model needed."""
        video = request.kind == "video" or request.video is not None
        kind: Literal["images", "video"] = "video" if video else "images"
        if request.video is not None and request.images:
            raise VideoInputError(
                "a request takes either video frames as images or a video path, not both",
                video=str(request.video),
            )
        image_size, workers = self.info.image_size, self.preprocess_workers
        if request.video is not None:
            frames = load_video_frames(request.video, request.num_segments)
            pixels = preprocess_frames(frames, self.limits, image_size, workers)
        elif not request.images:
            pixels = None
        elif video:
            check_images(request.images, self.limits)
            pixels = preprocess_frames(request.images, self.limits, image_size, workers)
        else:
            pixels = preprocess_images(
                request.images,
                max_num=request.max_tiles,
                limits=self.limits,
                image_size=image_size,
                use_thumbnail=self.info.use_thumbnail,
                workers=workers,
            )
        prepared = _Prepared(request, pixels, kind)
        place_images(request.question, request.history, len(prepared.num_patches), kind)  # PromptError now
        return prepared


# --- batching -------------------------------------------------------------------------------------


def _batch_key(config: GenerationConfig, index: int) -> tuple[Any, ...]:
    if config.do_sample and config.seed is not None:
        return ("seeded", index)
    if config.do_sample:
        return ("sample", config.temperature, config.top_p, config.top_k, config.repetition_penalty)
    return ("greedy", config.repetition_penalty)


def _groups(prepared: Sequence[_Prepared], max_batch_size: int) -> list[list[int]]:
    """Indices of requests that can share one ``generate`` call, at most ``max_batch_size`` each."""
    by_key: dict[tuple[Any, ...], list[int]] = {}
    for index, item in enumerate(prepared):
        by_key.setdefault(_batch_key(item.request.generation, index), []).append(index)
    groups: list[list[int]] = []
    for indices in by_key.values():
        groups.extend(indices[i : i + max_batch_size] for i in range(0, len(indices), max_batch_size))
    return groups


def _merged_config(items: Sequence[_Prepared]) -> GenerationConfig:
    """The group's shared decoding, long enough for its longest request."""
    first = items[0].request.generation
    longest = max(item.request.generation.max_new_tokens for item in items)
    return first.model_copy(update={"max_new_tokens": longest})


@contextmanager
def _seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """Seed torch for one generation without disturbing the caller's random state."""
    if seed is None:
        yield
        return
    import torch

    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _as_backend_error(exc: BaseException, what: str) -> BaseException:
    """Typed errors pass; out-of-memory keeps those words (the worker splits batches on them)."""
    from graph.errors import ToGError

    if isinstance(exc, ToGError):
        return exc
    text = f"{type(exc).__name__}: {exc}"
    if type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower():
        error = BackendError(f"out of memory while {what}: {text}", retryable=False)
    else:
        error = BackendError(f"{what} failed: {text}", retryable=False)
    error.__cause__ = exc
    return error


# --- -hf checkpoints ------------------------------------------------------------------------------


def _pretrained_source(backend: TransformersBackend) -> str:
    """The local folder when there is one; otherwise the hub id (resolved through the cache)."""
    if Path(backend.source).expanduser().exists() and backend.info.path is not None:
        return str(backend.info.path)
    return backend.source


def _load_hf(backend: TransformersBackend) -> _HFRunner:
    from transformers import AutoModelForImageTextToText, AutoTokenizer

    source = _pretrained_source(backend)
    kwargs: dict[str, Any] = {"dtype": backend.dtype}
    if backend.attn_implementation:
        kwargs["attn_implementation"] = backend.attn_implementation
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForImageTextToText.from_pretrained(source, **kwargs)
        # PreTrainedModel.to is decorated with functools.wraps, whose typeshed type does not bind self.
        model = model.to(backend.device).eval()  # type: ignore[arg-type]
    except Exception as exc:
        raise CheckpointError(
            f"cannot load {backend.source} with transformers {_transformers_version()}: {type(exc).__name__}: {exc}",
            source=backend.source,
        ) from exc
    return _HFRunner(backend, model, tokenizer)


class _HFRunner:
    """Our processor and ``generate`` around a native ``InternVLForConditionalGeneration``."""

    def __init__(self, backend: TransformersBackend, model: Any, tokenizer: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.template = backend.template
        self.num_image_token = backend.info.num_image_token
        self.device: torch.device = backend.device  # type: ignore[assignment]
        self.dtype: torch.dtype = backend.dtype  # type: ignore[assignment]
        self.tokens = ImageTokens.from_tokenizer(tokenizer)
        ids = image_token_ids(tokenizer, self.tokens)
        expected = getattr(model.config, "image_token_id", None)
        if expected is not None and expected != ids.context:
            raise CheckpointError(
                f"{backend.source}: config image_token_id {expected} is not the tokenizer's "
                f"{self.tokens.context!r} ({ids.context})",
                source=backend.source,
            )
        self.pad_id = _pad_id(tokenizer)
        self.stop_ids = _stop_ids(self.template, tokenizer, model.generation_config.eos_token_id)
        self.stop_strings = _stop_strings(self.template, tokenizer, self.stop_ids)
        self._json: JsonConstrainer | None = None

    def _inputs(self, items: Sequence[_Prepared]) -> dict[str, Any]:
        import torch

        prompts = [
            build_prompt(
                self.template,
                item.request.question,
                item.num_patches,
                history=item.request.history,
                system_message=item.request.system_message,
                kind=item.kind,
                num_image_token=self.num_image_token,
                tokens=self.tokens,
            )
            for item in items
        ]
        encoded = self.tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left")
        inputs: dict[str, Any] = {
            "input_ids": encoded["input_ids"].to(self.device),
            "attention_mask": encoded["attention_mask"].to(self.device),
        }
        crops = [item.pixels.pixel_values for item in items if item.pixels is not None]
        if crops:  # every request's crops, in request order: the order of their <IMG_CONTEXT> runs
            values = crops[0] if len(crops) == 1 else np.concatenate(crops)
            inputs["pixel_values"] = torch.from_numpy(values).to(self.device, self.dtype)
        return inputs

    def _generation_config(self, config: GenerationConfig) -> Any:
        gen = copy.deepcopy(self.model.generation_config)
        gen.max_new_tokens = config.max_new_tokens
        gen.do_sample = config.do_sample
        if config.do_sample:
            gen.temperature, gen.top_p, gen.top_k = config.temperature, config.top_p, config.top_k
        else:  # leftovers from the checkpoint would only draw "ignored when greedy" warnings
            gen.temperature = gen.top_p = gen.top_k = None
        gen.repetition_penalty = config.repetition_penalty
        gen.eos_token_id = list(self.stop_ids)
        gen.pad_token_id = self.pad_id
        return gen

    def _generate(self, inputs: dict[str, Any], config: GenerationConfig, **extra: Any) -> torch.Tensor:
        import torch

        with torch.inference_mode(), _seeded(config.seed if config.do_sample else None, self.device):
            output: torch.Tensor = self.model.generate(
                **inputs, generation_config=self._generation_config(config), **extra
            )
            return output

    def _constraints(self, items: Sequence[_Prepared], inputs: dict[str, Any]) -> dict[str, Any]:
        """``generate`` arguments that hold each request with a ``json_schema`` to it (none if no request has one)."""
        schemas = [item.request.generation.json_schema for item in items]
        if all(schema is None for schema in schemas):
            return {}
        from transformers import LogitsProcessorList

        from vlm.constrained import JsonConstrainer

        if self._json is None:
            self._json = JsonConstrainer(self.tokenizer, self.stop_ids)
        return {"logits_processor": LogitsProcessorList([self._json.processor(schemas, inputs["input_ids"].shape[1])])}

    def answer(self, items: Sequence[_Prepared], config: GenerationConfig) -> list[str]:
        inputs = self._inputs(items)
        try:
            output = self._generate(inputs, config, **self._constraints(items, inputs))
        except Exception as exc:
            _free_cuda_cache(self.device)
            raise _as_backend_error(exc, f"generating {len(items)} answer(s)")  # noqa: B904 - cause is set
        new = output[:, inputs["input_ids"].shape[1] :].tolist()
        return [self._decode(ids[: item.request.generation.max_new_tokens]) for ids, item in zip(new, items)]

    def _decode(self, ids: list[int]) -> str:
        for k, token in enumerate(ids):
            if token in self.stop_ids:
                ids = ids[:k]
                break
        return clean_answer(self.tokenizer.decode(ids, skip_special_tokens=False), self.stop_strings)

    def stream(self, item: _Prepared, lock: ContextManager[Any]) -> Iterator[str]:
        from transformers import TextIteratorStreamer

        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=False)
        cancel = threading.Event()
        config = item.request.generation

        def work() -> Any:  # tokenizing under the lock too: a fast tokenizer is not re-entrant
            inputs = self._inputs([item])
            extra = self._constraints([item], inputs)
            return self._generate(inputs, config, streamer=streamer, stopping_criteria=_stop_when(cancel), **extra)

        yield from _stream_through(work, lock, streamer, cancel, self.stop_strings, "streaming an answer", self.device)


# --- original (remote code) checkpoints -----------------------------------------------------------


def _load_remote(backend: TransformersBackend) -> _RemoteCodeRunner:
    from transformers import AutoModel, AutoTokenizer

    source = _pretrained_source(backend)
    version = _transformers_version()
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=True, use_fast=False)
        model = AutoModel.from_pretrained(source, dtype=backend.dtype, trust_remote_code=True)
        model = model.to(backend.device).eval()
    except Exception as exc:
        raise CheckpointError(
            f"cannot load {backend.source} with its remote code on transformers {version}: "
            f"{type(exc).__name__}: {exc}. Its -hf conversion (model_type 'internvl') runs natively.",
            source=backend.source,
            transformers_version=version,
        ) from exc
    missing = [name for name in ("chat", "batch_chat") if not callable(getattr(model, name, None))]
    if missing:
        raise CheckpointError(
            f"{backend.source}: the remote model class {type(model).__name__} has no {' / '.join(missing)}()",
            source=backend.source,
        )
    return _RemoteCodeRunner(backend, model, tokenizer)


class _RemoteCodeRunner:
    """Requests turned into calls of an original checkpoint's own ``chat()`` / ``batch_chat()``.

    Placeholders are always written out (:func:`vlm.prompt.place_images`), so the remote code never
    guesses where images go; its ``system_message`` attribute carries a request's system message for
    the duration of the call. ``batch_chat()`` takes only single-image questions without history or
    system message, so only such groups go through it; the rest are answered with ``chat()`` in turn.
    These methods decode with ``skip_special_tokens=True``; streaming does the same so that the
    streamed answer equals ``chat()``'s.
    """

    def __init__(self, backend: TransformersBackend, model: Any, tokenizer: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.device: torch.device = backend.device  # type: ignore[assignment]
        self.dtype: torch.dtype = backend.dtype  # type: ignore[assignment]
        self.version = backend.info.transformers_version
        self.source = backend.source
        self.stop_strings = tuple(dict.fromkeys((*backend.template.stop_strings, backend.template.separator.strip())))

    def _pixels(self, items: Sequence[_Prepared]) -> torch.Tensor | None:
        import torch

        crops = [item.pixels.pixel_values for item in items if item.pixels is not None]
        if not crops:
            return None
        values = crops[0] if len(crops) == 1 else np.concatenate(crops)
        return torch.from_numpy(values).to(self.device, self.dtype)

    @staticmethod
    def _options(config: GenerationConfig) -> dict[str, Any]:
        options: dict[str, Any] = {"max_new_tokens": config.max_new_tokens, "do_sample": config.do_sample}
        if config.do_sample:
            options.update(temperature=config.temperature, top_p=config.top_p)
            if config.top_k is not None:
                options["top_k"] = config.top_k
        if config.repetition_penalty != 1.0:
            options["repetition_penalty"] = config.repetition_penalty
        return options

    @staticmethod
    def _batchable(items: Sequence[_Prepared]) -> bool:
        return len(items) > 1 and all(
            len(item.num_patches) == 1 and not item.request.history and item.request.system_message is None
            for item in items
        )

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        import torch

        try:
            with torch.inference_mode():
                return call()
        except Exception as exc:
            _free_cuda_cache(self.device)
            raise _as_backend_error(exc, f"{what} of {self.source}'s remote code (transformers {self.version})")  # noqa: B904

    def _system(self, message: str | None) -> ContextManager[None]:
        if message is None:
            return nullcontext()
        return _attribute(self.model, "system_message", message)

    def _chat_call(self, item: _Prepared, options: dict[str, Any]) -> Callable[[], Any]:
        request = item.request
        question = place_images(request.question, request.history, len(item.num_patches), item.kind)
        history = [(turn.question, turn.answer) for turn in request.history] or None
        pixels = self._pixels([item])

        def call() -> Any:
            with self._system(request.system_message):
                return self.model.chat(
                    self.tokenizer,
                    pixels,
                    question,
                    options,
                    history=history,
                    num_patches_list=item.num_patches or None,
                )

        return call

    def _refuse_schemas(self, items: Sequence[_Prepared]) -> None:
        if any(item.request.generation.json_schema is not None for item in items):
            raise BackendError(
                f"{self.source} runs its own remote code, which cannot constrain answers to a JSON schema; "
                "use its -hf conversion or a served model for json_schema requests",
                retryable=False,
            )

    def answer(self, items: Sequence[_Prepared], config: GenerationConfig) -> list[str]:
        self._refuse_schemas(items)
        if self._batchable(items):
            questions = [place_images(i.request.question, (), 1, i.kind) for i in items]
            pixels, patches = self._pixels(items), [i.num_patches[0] for i in items]
            raw = self._call(
                "batch_chat()",
                lambda: self.model.batch_chat(
                    self.tokenizer, pixels, questions, self._options(config), num_patches_list=patches
                ),
            )
            answers = list(raw)
        else:
            answers = []
            for item in items:
                options = self._options(item.request.generation)
                with _seeded(item.request.generation.seed if config.do_sample else None, self.device):
                    answers.append(self._call("chat()", self._chat_call(item, options)))
        if len(answers) != len(items) or not all(isinstance(a, str) for a in answers):
            raise BackendError(f"{self.source}'s remote code returned {answers!r} for {len(items)} question(s)")
        return [clean_answer(answer, self.stop_strings) for answer in answers]

    def stream(self, item: _Prepared, lock: ContextManager[Any]) -> Iterator[str]:
        from transformers import TextIteratorStreamer

        self._refuse_schemas([item])
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        cancel = threading.Event()
        config = item.request.generation
        options = {**self._options(config), "streamer": streamer, "stopping_criteria": _stop_when(cancel)}
        call = self._chat_call(item, options)

        def work() -> Any:
            import torch

            with torch.inference_mode(), _seeded(config.seed if config.do_sample else None, self.device):
                return call()

        what = f"streaming from {self.source}'s remote code (transformers {self.version})"
        yield from _stream_through(work, lock, streamer, cancel, self.stop_strings, what, self.device)


@contextmanager
def _attribute(target: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(target, name, None)
    setattr(target, name, value)
    try:
        yield
    finally:
        setattr(target, name, old)


# --- shared pieces --------------------------------------------------------------------------------


def _stream_through(
    work: Callable[[], Any],
    lock: ContextManager[Any],
    streamer: Any,
    cancel: threading.Event,
    stop_strings: Sequence[str],
    what: str,
    device: torch.device,
) -> Iterator[str]:
    """Run ``work`` (a generation feeding ``streamer``) in a thread holding ``lock``, and yield the
    cleaned answer.

    A failure in the thread ends the stream and is raised here, typed; closing the iterator early
    cancels the generation at its next step.
    """
    failure: list[BaseException] = []

    def target() -> None:
        try:
            with lock:
                work()
        except BaseException as exc:
            failure.append(exc)
            streamer.end()  # generate() did not get to: unblock the consumer

    thread = threading.Thread(target=target, name="vlm-stream", daemon=True)
    answer = AnswerStream(stop_strings)
    thread.start()
    try:
        for text in streamer:
            piece = answer.feed(text)
            if piece:
                yield piece
            if answer.stopped:
                cancel.set()
        thread.join()
        if failure:
            _free_cuda_cache(device)
            raise _as_backend_error(failure[0], what)
        tail = answer.finish()
        if tail:
            yield tail
    finally:
        cancel.set()
        thread.join()


def _stop_when(cancel: threading.Event) -> Any:
    """A stopping criterion that ends generation once ``cancel`` is set (a closed stream)."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class Cancelled(StoppingCriteria):
        def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
            return torch.full((input_ids.shape[0],), cancel.is_set(), dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([Cancelled()])


def _pad_id(tokenizer: Any) -> int:
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if isinstance(candidate, int):
            return candidate
    raise CheckpointError("the tokenizer has neither a pad nor an eos token to pad batches with")


def _stop_ids(template: Template, tokenizer: Any, model_eos: Any) -> tuple[int, ...]:
    """The template's stop tokens (its separator first), plus the checkpoint's own eos token(s)."""
    ids = list(template.stop_token_ids(tokenizer))
    extra = model_eos if isinstance(model_eos, (list, tuple)) else [model_eos]
    ids += [i for i in extra if isinstance(i, int) and i not in ids]
    if not ids:
        raise CheckpointError(
            f"none of the stop strings of template {template.name!r} is a token of this tokenizer "
            f"({', '.join(template.stop_strings)}) and the checkpoint names no eos token",
            template=template.name,
        )
    return tuple(ids)


def _stop_strings(template: Template, tokenizer: Any, stop_ids: Sequence[int]) -> tuple[str, ...]:
    """Text of every stop: a streamed answer ends where the token-level stop would have ended it."""
    texts = [tokenizer.convert_ids_to_tokens(i) for i in stop_ids]
    return tuple(dict.fromkeys([*template.stop_strings, *(t for t in texts if isinstance(t, str) and t)]))


def _free_cuda_cache(device: torch.device | None) -> None:
    if device is not None and device.type == "cuda":
        import torch

        torch.cuda.empty_cache()


def _transformers_version() -> str:
    try:
        return metadata.version("transformers")
    except metadata.PackageNotFoundError:
        return "(not installed)"
