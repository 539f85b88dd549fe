"""Fixtures of the REST tests (helpers in server_support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from server_support import serve


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "tog"


@pytest.fixture
def client(data_dir: Path) -> Iterator[TestClient]:
    test_client, agent = serve(data_dir)
    with test_client:
        yield test_client
    agent.close()
