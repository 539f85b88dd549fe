"""The embedding assessor's per-candidate-set cache (stacked tool vectors) changes no score."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from graph.assessors import EmbeddingAssessor, tool_text
from graph.spec import InputSpec, OutputSpec, ToolSpec
from graph.types import ResourceType as R


class HashEmbedder:
    """Deterministic non-negative unit vectors from a hash of each text (no model, so no score is clipped
    to 0); records every text it encodes."""

    def __init__(self) -> None:
        self.encoded: list[str] = []

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.encoded.extend(texts)
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            row = np.abs(np.random.default_rng(seed).standard_normal(8)).astype(np.float32)
            rows.append(row / np.linalg.norm(row))
        return np.stack(rows)


def _tool(name: str, inp: R, out: R) -> ToolSpec:
    return ToolSpec(
        name=name,
        description=f"{name.replace('_', ' ')} from {inp.value}",
        inputs=(InputSpec(name="x", type=inp),),
        outputs=(OutputSpec(name="y", type=out),),
    )


TOOLS = [
    _tool("optical_character_recognition", R.IMAGE, R.TEXT),
    _tool("text_to_speech", R.TEXT, R.AUDIO),
    _tool("object_detection", R.IMAGE, R.BBOXES),
    _tool("summarization", R.TEXT, R.TEXT),
]


def test_any_order_or_subset_of_the_candidates_scores_alike() -> None:
    """A reordered, smaller or copied candidate list is another cache entry; every tool keeps its score."""
    embedder = HashEmbedder()
    assessor = EmbeddingAssessor(embedder)
    task = "read the sign"
    full = assessor.score(task, TOOLS)
    assert set(full) == {spec.name for spec in TOOLS}
    assert assessor.score(task, TOOLS) == full
    assert assessor.score(task, TOOLS[::-1]) == full
    assert assessor.score(task, TOOLS[1:3]) == {name: full[name] for name in ("text_to_speech", "object_detection")}
    assert assessor.score(task, list(TOOLS)) == full
    assert sorted(embedder.encoded) == sorted([*(tool_text(spec) for spec in TOOLS), task])  # each text once
    assert EmbeddingAssessor(HashEmbedder()).score(task, TOOLS) == full  # a cold assessor agrees


def test_the_cache_is_bounded() -> None:
    assessor = EmbeddingAssessor(HashEmbedder())
    assessor.max_matrices = 2
    expected = {spec.name: assessor.score("t", [spec])[spec.name] for spec in TOOLS}
    for _ in range(2):
        for spec in TOOLS:
            assert assessor.score("t", [spec]) == {spec.name: expected[spec.name]}
    assert len(assessor._matrices) == 2
