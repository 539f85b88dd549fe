"""The disk cache of tool-text embeddings: used by a second instance and a second process, keyed by text
and model, recovered from a broken file, safe with concurrent writers. Encoder calls are counted, never
timed."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from graph.assessors import EmbeddingAssessor, tool_text
from graph.embedding import (
    CachedEmbedder,
    EmbeddingStore,
    MiniLMEmbedder,
    encode_catalogue,
    set_cache_dir,
    shared_embedder,
    shared_model,
)
from graph.spec import InputSpec, OutputSpec, ToolSpec

REPO_ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["detect faces in an image", "read the text in an image", "speak the text aloud"]


class FakeModel:
    """Deterministic unit vectors from a hash of each text; records every text it encodes."""

    def __init__(self, model_id: str = "fake-model;v1") -> None:
        self.model_id = model_id
        self.calls: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(f"{self.model_id}|{text}".encode()).digest()[:8], "little")
            row = np.random.default_rng(seed).standard_normal(8).astype(np.float32)
            rows.append(row / np.linalg.norm(row))
        return np.stack(rows) if rows else np.zeros((0, 8), dtype=np.float32)

    @property
    def encoded(self) -> list[str]:
        return [t for call in self.calls for t in call]


def test_a_second_instance_reads_the_vectors_from_disk(tmp_path: Path) -> None:
    first = FakeModel()
    vectors = CachedEmbedder(first, tmp_path).encode_cached(TEXTS)
    assert sorted(first.encoded) == sorted(TEXTS)

    second = FakeModel()
    again = CachedEmbedder(second, tmp_path).encode_cached(TEXTS)
    assert second.calls == []
    np.testing.assert_array_equal(again, vectors)


def test_repeated_texts_in_one_instance_are_encoded_once(tmp_path: Path) -> None:
    model = FakeModel()
    cached = CachedEmbedder(model, tmp_path)
    cached.encode_cached(TEXTS)
    cached.encode_cached([TEXTS[1], TEXTS[0], TEXTS[1]])
    assert len(model.calls) == 1


def test_request_texts_are_encoded_every_time_and_never_stored(tmp_path: Path) -> None:
    model = FakeModel()
    cached = CachedEmbedder(model, tmp_path)
    cached.encode(["blur the faces"])
    cached.encode(["blur the faces"])
    assert model.calls == [["blur the faces"], ["blur the faces"]]
    assert not list(tmp_path.rglob("*.npz"))


def test_a_second_process_reads_the_vectors_from_disk(tmp_path: Path) -> None:
    CachedEmbedder(FakeModel(), tmp_path).encode_cached(TEXTS)
    script = f"""
import sys
sys.path[:0] = [{str(REPO_ROOT)!r}, {str(Path(__file__).parent)!r}]
from test_embedding_cache import FakeModel, TEXTS
from graph.embedding import CachedEmbedder
model = FakeModel()
vectors = CachedEmbedder(model, {str(tmp_path)!r}).encode_cached(TEXTS)
print(len(model.calls), vectors.shape[0])
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["0", str(len(TEXTS))]


def test_a_changed_description_misses_only_itself(tmp_path: Path) -> None:
    CachedEmbedder(FakeModel(), tmp_path).encode_cached(TEXTS)
    model = FakeModel()
    changed = [*TEXTS[:2], TEXTS[2] + " in French"]
    CachedEmbedder(model, tmp_path).encode_cached(changed)
    assert model.encoded == [changed[2]]


def test_another_model_misses_and_keeps_its_own_file(tmp_path: Path) -> None:
    old = CachedEmbedder(FakeModel("fake-model;v1"), tmp_path).encode_cached(TEXTS)
    other = FakeModel("fake-model;v2")
    new = CachedEmbedder(other, tmp_path).encode_cached(TEXTS)
    assert sorted(other.encoded) == sorted(TEXTS)
    assert not np.array_equal(old, new)
    assert len(list((tmp_path / "embeddings").glob("*.npz"))) == 2
    assert CachedEmbedder(FakeModel("fake-model;v1"), tmp_path).encode_cached(TEXTS).tolist() == old.tolist()


def _store_path(tmp_path: Path, model_id: str = "fake-model;v1") -> Path:
    return EmbeddingStore(tmp_path, model_id).path


@pytest.mark.parametrize(
    "damage",
    ["garbage", "truncated", "empty", "mismatched rows", "other model", "not float32", "nan"],
)
def test_a_broken_cache_file_is_ignored_and_rewritten(tmp_path: Path, damage: str) -> None:
    CachedEmbedder(FakeModel(), tmp_path).encode_cached(TEXTS)
    path = _store_path(tmp_path)
    good = path.read_bytes()
    keys = np.array([b"0" * 64, b"1" * 64], dtype="S64")
    if damage == "garbage":
        path.write_bytes(b"\x00not a zip file at all" * 10)
    elif damage == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "mismatched rows":
        np.savez(path.open("wb"), model=np.array("fake-model;v1"), keys=keys, vectors=np.zeros((3, 8), np.float32))
    elif damage == "other model":
        np.savez(path.open("wb"), model=np.array("someone else"), keys=keys, vectors=np.zeros((2, 8), np.float32))
    elif damage == "not float32":
        np.savez(path.open("wb"), model=np.array("fake-model;v1"), keys=keys, vectors=np.zeros((2, 8), np.float64))
    elif damage == "nan":
        np.savez(
            path.open("wb"), model=np.array("fake-model;v1"), keys=keys, vectors=np.full((2, 8), np.nan, np.float32)
        )

    model = FakeModel()
    vectors = CachedEmbedder(model, tmp_path).encode_cached(TEXTS)
    assert sorted(model.encoded) == sorted(TEXTS)  # a miss, not a crash
    assert vectors.shape == (len(TEXTS), 8)
    assert len(EmbeddingStore(tmp_path, "fake-model;v1").load()) == len(TEXTS)  # rewritten whole

    later = FakeModel()
    CachedEmbedder(later, tmp_path).encode_cached(TEXTS)
    assert later.calls == []


def test_an_unwritable_cache_is_skipped(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    model = FakeModel()
    vectors = CachedEmbedder(model, blocker).encode_cached(TEXTS)
    assert vectors.shape == (len(TEXTS), 8)
    CachedEmbedder(model, blocker).encode_cached(TEXTS)  # nothing was stored: encoded again, still no error
    assert len(model.calls) == 2


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    """Each writer re-reads the file under the lock and merges, so no writer's entries are lost."""
    groups = [[f"tool {i}-{j}" for j in range(5)] for i in range(8)]
    start = threading.Barrier(len(groups))

    def write(texts: list[str]) -> None:
        start.wait()
        CachedEmbedder(FakeModel(), tmp_path).encode_cached(texts)

    threads = [threading.Thread(target=write, args=(g,)) for g in groups]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(EmbeddingStore(tmp_path, "fake-model;v1").load()) == sum(map(len, groups))
    assert not [p for p in (tmp_path / "embeddings").iterdir() if p.suffix == ".tmp"]


def test_plain_embedders_are_encoded_directly() -> None:
    model = FakeModel()
    assert encode_catalogue(model, TEXTS).shape == (3, 8)
    assert model.calls == [TEXTS]


def _spec(name: str, description: str) -> ToolSpec:
    return ToolSpec(
        name=name,
        description=description,
        inputs=[InputSpec(name="image", type="image")],
        outputs=[OutputSpec(name="text", type="text")],
    )


def test_the_assessor_takes_tool_vectors_from_the_disk_cache(tmp_path: Path) -> None:
    tools = [_spec("ocr", "read the text in an image"), _spec("caption", "describe an image in words")]
    EmbeddingAssessor(CachedEmbedder(FakeModel(), tmp_path)).score("read the sign", tools)

    model = FakeModel()
    scores = EmbeddingAssessor(CachedEmbedder(model, tmp_path)).score("read the sign", tools)
    assert model.calls == [["read the sign"]]  # only the subtask text
    assert set(scores) == {"ocr", "caption"}


def test_one_model_per_process_one_cache_per_directory(tmp_path: Path) -> None:
    first = shared_embedder(tmp_path / "a")
    assert shared_embedder(tmp_path / "a") is first
    other = shared_embedder(tmp_path / "b")
    assert other is not first
    assert first.inner is other.inner is shared_model()
    previous = set_cache_dir(tmp_path / "a")
    try:
        assert shared_embedder() is first
        assert EmbeddingAssessor().embedder is first
    finally:
        set_cache_dir(previous)


def _fake_model_dir(path: Path, header: dict[str, object], config: dict[str, object]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(header).encode()
    (path / "model.safetensors").write_bytes(len(raw).to_bytes(8, "little") + raw + b"\x00" * 16)
    (path / "config.json").write_text(json.dumps(config))
    (path / "tokenizer.json").write_text("{}")
    return path


def test_the_model_id_follows_the_model_files_without_loading_them(tmp_path: Path) -> None:
    header = {"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}
    model = _fake_model_dir(tmp_path / "m", header, {"hidden_size": 2})
    first = MiniLMEmbedder(model).model_id
    assert MiniLMEmbedder(model).model_id == first
    assert "max_length=256" in first

    (model / "config.json").write_text(json.dumps({"hidden_size": 3}))
    second = MiniLMEmbedder(model).model_id
    assert second != first

    _fake_model_dir(model, {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, {"hidden_size": 3})
    assert MiniLMEmbedder(model).model_id not in (first, second)


@pytest.mark.slow
def test_the_decomposer_embeds_only_the_request_once_the_catalogue_is_cached(tmp_path: Path) -> None:
    """A new process's decomposer and assessor find every tool text and cue gloss on disk."""
    from agent.decompose.base import Resource
    from agent.decompose.offline import OfflineDecomposer
    from graph.search import SearchConfig, ToGPlanner
    from tools.registry import default_registry

    real = shared_model()

    class Spy:
        model_id = real.model_id

        def __init__(self) -> None:
            self.texts: list[str] = []

        def encode(self, texts: Sequence[str]) -> np.ndarray:
            self.texts.extend(texts)
            return real.encode(texts)

    specs = default_registry().specs()
    photo = [Resource(name="photo.jpg", type="image", value="photo.jpg")]
    request = "find the faces in photo.jpg and blur them"

    def plan_with(spy: Spy) -> list[str]:
        embedder = CachedEmbedder(spy, tmp_path)
        planner = ToGPlanner(OfflineDecomposer(specs=specs).graph, EmbeddingAssessor(embedder), SearchConfig())
        plan = OfflineDecomposer(embedder=embedder, specs=specs, planner=planner).decompose(request, photo)
        return [s.description for s in plan.subtasks]

    first = Spy()
    descriptions = plan_with(first)
    catalogue = {tool_text(s) for s in specs}
    assert catalogue <= set(first.texts)

    second = Spy()
    assert plan_with(second) == descriptions
    assert second.texts, "the request itself is always encoded"
    assert not catalogue & set(second.texts)
    assert len(second.texts) < len(first.texts) / 4
