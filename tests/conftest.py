"""Session-wide test settings: offline, single-threaded, shared heavy fixtures."""

from __future__ import annotations

import os
import tempfile
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
