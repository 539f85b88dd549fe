"""Assessors score how well each candidate tool fits a subtask; the ToG strategies rank by these scores.

ControlLLM asks its LLM once per candidate tool, so a subtask costs one model call per tool in the
catalogue, paid again at every search step. Here an assessor scores *all* candidates of a subtask at
once, before the search, which then only looks scores up: the embedding assessor with one encode, the
LLM assessor with one chat call that rates every tool (:class:`BatchScorer`), cached per subtask.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any, Protocol

import numpy as np

from graph.embedding import Embedder, encode_catalogue, shared_embedder
from graph.errors import ToGError
from graph.spec import ToolSpec


class AssessmentError(ToGError):
    """The candidates of a subtask could not be scored. ``retryable`` says whether asking again may help
    (a transient model-server failure) or not (the same prompt would fail the same way)."""

    code = "assessment_failed"

    def __init__(self, message: str, *, retryable: bool = False, **details: Any) -> None:
        super().__init__(message, retryable=retryable, **details)
        self.retryable = retryable


class UnusableScoresError(AssessmentError, ValueError):
    """Scores that do not fit the candidates: unparsable, missing for a tool, off the scale, or too few.

    ``raw`` keeps the model's answer. Not retryable: decoding is greedy, so the same prompt gets the
    same answer.
    """

    code = "unusable_scores"

    def __init__(self, message: str, *, raw: str = "", **details: Any) -> None:
        super().__init__(message, retryable=False, raw=raw, **details)
        self.raw = raw


class Assessor(ABC):
    """Scores in [0, 1]; higher means the tool is more relevant to the subtask text."""

    name: str = "assessor"

    @abstractmethod
    def score(self, task: str, candidates: Sequence[ToolSpec]) -> dict[str, float]:
        """Score every candidate for ``task`` at once, keyed by tool name."""


class UniformAssessor(Assessor):
    """Every tool scores 1: strategies then differ only by how many branches they keep."""

    name = "uniform"

    def score(self, task: str, candidates: Sequence[ToolSpec]) -> dict[str, float]:
        return {spec.name: 1.0 for spec in candidates}


def tool_text(spec: ToolSpec) -> str:
    """The text embedded for a tool: its name in words, description and typed signature."""
    inputs = ", ".join(f"{i.name} ({i.type.value})" for i in spec.inputs) or "nothing"
    outputs = ", ".join(o.type.value for o in spec.outputs)
    name = spec.name.replace("_", " ").replace("-", " ")
    return f"{name}: {spec.description}. Takes {inputs}; gives {outputs}."


class EmbeddingAssessor(Assessor):
    """Cosine similarity of subtask text and tool text with a real sentence-embedding model.

    Tool embeddings are computed once per distinct tool text and cached in memory, and, with the shared
    embedder (the default), on disk too (:class:`~graph.embedding.CachedEmbedder`), so a new process
    does not embed the catalogue again; a subtask then costs one encode.

    >>> from graph.spec import ToolSpec, InputSpec, OutputSpec
    >>> ocr = ToolSpec(name="ocr", description="read the text in an image",
    ...     inputs=[InputSpec(name="image", type="image")], outputs=[OutputSpec(name="text", type="text")])
    >>> EmbeddingAssessor().score("read the sign", [ocr])  # doctest: +SKIP
    {'ocr': 0.43...}
    """

    name = "embedding"

    #: Candidate sets whose stacked tool matrix is kept (a planner asks with one list per domain filter).
    max_matrices = 64

    def __init__(self, embedder: Embedder | None = None) -> None:
        self._embedder = embedder
        self._cache: dict[str, np.ndarray] = {}
        self._task_cache: dict[str, np.ndarray] = {}
        # Per candidate set (keyed by the identities of its specs, which the entry keeps alive so no other
        # object can take those ids): the specs, their names and their stacked vectors. A planner scores
        # the same candidate list at every search, and rebuilding 45 tool texts and stacking their vectors
        # cost more than the dot products themselves (~0.25 ms of a 3 ms search). Specs are frozen, so a
        # spec's text, hence its row, cannot change while the entry holds it.
        self._matrices: dict[tuple[int, ...], tuple[tuple[ToolSpec, ...], tuple[str, ...], np.ndarray]] = {}
        self._lock = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = shared_embedder()
        return self._embedder

    def _vectors(self, texts: Sequence[str], cache: dict[str, np.ndarray], *, catalogue: bool = False) -> np.ndarray:
        with self._lock:
            missing = sorted({t for t in texts if t not in cache})
        if missing:
            encoded = encode_catalogue(self.embedder, missing) if catalogue else self.embedder.encode(missing)
            with self._lock:
                cache.update(zip(missing, encoded))
        with self._lock:
            return np.stack([cache[t] for t in texts]) if texts else np.zeros((0, 1), dtype=np.float32)

    def warm(self, candidates: Sequence[ToolSpec]) -> None:
        """Embed tool texts ahead of time (e.g. when a server starts)."""
        self._vectors([tool_text(s) for s in candidates], self._cache, catalogue=True)

    def _matrix(self, candidates: Sequence[ToolSpec]) -> tuple[tuple[str, ...], np.ndarray]:
        """The candidates' names and stacked tool vectors, built once per candidate set."""
        key = tuple(map(id, candidates))
        with self._lock:
            entry = self._matrices.get(key)
        if entry is None:
            tools = self._vectors([tool_text(s) for s in candidates], self._cache, catalogue=True)
            tools.setflags(write=False)
            entry = (tuple(candidates), tuple(spec.name for spec in candidates), tools)
            with self._lock:
                while len(self._matrices) >= self.max_matrices:
                    del self._matrices[next(iter(self._matrices))]  # the oldest set
                self._matrices[key] = entry
        return entry[1], entry[2]

    def score(self, task: str, candidates: Sequence[ToolSpec]) -> dict[str, float]:
        if not candidates:
            return {}
        names, tools = self._matrix(candidates)
        with self._lock:
            query = self._task_cache.get(task)
        if query is None:
            query = self._vectors([task], self._task_cache)[0]
        sims = np.clip(tools @ query, 0.0, 1.0)
        # tolist() gives the same Python floats as float() on each element, in one call
        return {name: round(s, 6) for name, s in zip(names, sims.tolist())}


class BatchScorer(Protocol):
    """What an LLM assessor needs from a model: one prompt in, one score per candidate out.

    Scores come back in the candidates' order, each in [0, 1]; a failure is an :class:`AssessmentError`.
    """

    def score_candidates(self, task: str, candidates: Sequence[ToolSpec]) -> Sequence[float]: ...


class LLMAssessor(Assessor):
    """Scores all candidates with one batched model call, cached per (task, candidate set).

    The scorer is supplied by the agent layer (it owns the LLM); this class enforces the contract (one
    score in [0, 1] per candidate) and that a subtask costs one call: subtasks planned in parallel
    threads share the cache, and a second thread asking for a subtask in flight waits for its answer.
    Failures are not cached, so a retryable one can be tried again.
    """

    name = "llm"

    def __init__(self, scorer: BatchScorer) -> None:
        self._scorer = scorer
        self._cache: dict[tuple[str, tuple[str, ...]], dict[str, float]] = {}
        self._pending: dict[tuple[str, tuple[str, ...]], Future[dict[str, float]]] = {}
        self._lock = threading.Lock()

    def score(self, task: str, candidates: Sequence[ToolSpec]) -> dict[str, float]:
        key = (task, tuple(s.name for s in candidates))
        with self._lock:
            if key in self._cache:
                return dict(self._cache[key])
            waiting = self._pending.get(key)
            if waiting is None:
                mine: Future[dict[str, float]] = Future()
                self._pending[key] = mine
        if waiting is not None:
            return dict(waiting.result())
        try:
            scores = self._ask(task, candidates)
        except BaseException as exc:
            with self._lock:
                del self._pending[key]
            mine.set_exception(exc)
            raise
        with self._lock:
            self._cache[key] = scores
            del self._pending[key]
        mine.set_result(scores)
        return dict(scores)

    def _ask(self, task: str, candidates: Sequence[ToolSpec]) -> dict[str, float]:
        scores = list(self._scorer.score_candidates(task, candidates))
        if len(scores) != len(candidates):
            raise UnusableScoresError(
                f"LLM scorer returned {len(scores)} scores for {len(candidates)} tools",
                scores=len(scores),
                tools=len(candidates),
            )
        return {s.name: min(1.0, max(0.0, float(v))) for s, v in zip(candidates, scores)}
