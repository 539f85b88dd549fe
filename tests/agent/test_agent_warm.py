"""``Agent.warm`` and the ``cache_dir`` setting: the embedding cache an agent uses, and a warm-up that
leaves the catalogue's vectors on disk for the next process."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from agent.api import Agent
from agent.config import ToGSettings
from agent.decompose.base import Decomposer, Resource
from graph import embedding
from graph.embedding import EmbeddingStore, shared_embedder
from graph.plan import Plan


class Nothing(Decomposer):
    """A scripted decomposer the warm-up must leave alone (it is not the offline one)."""

    def __init__(self) -> None:
        self.calls = 0

    def decompose(self, request: str, resources: Sequence[Resource] = ()) -> Plan:
        self.calls += 1
        raise AssertionError("warm() decomposed with a scripted decomposer")


def test_an_agent_uses_its_cache_dir_and_restores_the_previous_one(tmp_path: Path) -> None:
    before = embedding.default_cache_dir()
    settings = ToGSettings(
        agent={"data_dir": tmp_path / "data", "cache_dir": tmp_path / "cache", "assessor": "uniform"}
    )
    with Agent(settings, decomposer=Nothing()):
        assert embedding.default_cache_dir() == tmp_path / "cache"
        assert shared_embedder().directory == (tmp_path / "cache").absolute()
    assert embedding.default_cache_dir() == before


def test_cache_dir_is_a_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TOG_AGENT_CACHE_DIR", str(tmp_path))
    assert ToGSettings().agent.cache_dir == tmp_path
    monkeypatch.delenv("TOG_AGENT_CACHE_DIR")
    assert ToGSettings().agent.cache_dir is None


def test_warm_without_a_model_loads_nothing(tmp_path: Path) -> None:
    decomposer = Nothing()
    settings = ToGSettings(
        agent={"data_dir": tmp_path / "data", "cache_dir": tmp_path / "cache", "assessor": "uniform"}
    )
    with Agent(settings, decomposer=decomposer) as agent:
        assert agent.warm() >= 0.0
    assert decomposer.calls == 0
    assert not (tmp_path / "cache").exists()


@pytest.mark.slow
def test_warm_fills_the_disk_cache_with_the_catalogue(tmp_path: Path) -> None:
    settings = ToGSettings(agent={"data_dir": tmp_path / "data", "cache_dir": tmp_path / "cache"})
    with Agent(settings) as agent:
        agent.warm()
        specs = agent.planner.graph.specs
        store = EmbeddingStore(tmp_path / "cache", shared_embedder().inner.model_id)
    assert len(store.load()) >= len(specs)
