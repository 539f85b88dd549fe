"""Shared fixtures of the vlm tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_internvl_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random InternVL checkpoint directory, built once per test session (~0.1 s)."""
    from vlm.testing import tiny_internvl

    return tiny_internvl(tmp_path_factory.mktemp("tiny-internvl"))
