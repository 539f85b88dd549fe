"""Session-wide test settings: offline, single-threaded, shared heavy fixtures."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")
# The embedding cache (graph.embedding) goes to a folder of this test session, not the user's ~/.cache.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="tog-test-cache-")

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_DATA = REPO_ROOT / "tests" / "data"


@pytest.fixture(scope="session", autouse=True)
def _single_thread_torch() -> None:
    """2 threads on a loaded 2-core machine make timings vary tenfold; tests use one."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def embedder():
    """The real MiniLM model, loaded once per test session."""
    from graph.embedding import shared_embedder

    return shared_embedder()


@pytest.fixture(scope="session")
def catalogues() -> Path:
    """Third-party tool catalogues copied into the repo (see tests/data/THIRD_PARTY.md)."""
    return TEST_DATA / "catalogues"


@pytest.fixture
def fresh_install(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No model configured, as on a fresh install: the machine's TOG_VLM_*/TOG_LLM_*/TOG_CONFIG must not leak
    into a test, and a model a test configured does not outlive it."""
    from tools.models import configure_llm, configure_vlm

    for name in list(os.environ):
        if name.startswith(("TOG_VLM_", "TOG_LLM_")) or name == "TOG_CONFIG":
            monkeypatch.delenv(name)
    configure_vlm(None)
    configure_llm(None)
    yield
    configure_vlm(None)
    configure_llm(None)
