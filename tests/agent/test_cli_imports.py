"""The CLI imports only what a command needs: no torch, transformers or ray to print help or list tools,
and the embedding model never brings in transformers (checked in a fresh interpreter's ``sys.modules``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "ray", "sentence_transformers", "langgraph")

PROBE = """
import contextlib, io, json, sys
sys.argv = ["tog", *json.loads(sys.argv[1])]
from agent.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
print(json.dumps({"code": code, "modules": sorted(m for m in sys.modules if "." not in m)}))
"""


def imported_by(*args: str, tmp_path: Path) -> tuple[object, set[str]]:
    """Run ``tog ARGS`` in a new interpreter: its exit code and the top-level modules it imported."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "TOG_AGENT_DATA_DIR": str(tmp_path / "data"),
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(list(args))],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
        env=env,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return report["code"], set(report["modules"])


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["ask", "--help"],
        ["plan", "--help"],
        ["serve", "--help"],
        ["types"],
        ["tools"],
        ["plan", "-i", "text=hello", "-t", "audio", "-d", "say it aloud", "--assessor", "uniform"],
    ],
    ids=lambda a: " ".join(a),
)
def test_commands_that_need_no_model_import_none(args: list[str], tmp_path: Path) -> None:
    code, modules = imported_by(*args, tmp_path=tmp_path)
    assert code in (0, None)
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_help_imports_neither_numpy_nor_the_graph(tmp_path: Path) -> None:
    code, modules = imported_by("--help", tmp_path=tmp_path)
    assert code in (0, None)
    assert not modules & {"numpy", "networkx", "PIL", "fastapi", "uvicorn"}


@pytest.mark.slow
def test_planning_with_the_embedding_model_needs_torch_but_not_transformers(tmp_path: Path) -> None:
    code, modules = imported_by("plan", "-i", "text=hello", "-t", "audio", "-d", "say it aloud", tmp_path=tmp_path)
    assert code in (0, None)
    assert "torch" in modules
    assert not modules & {"transformers", "sentence_transformers", "ray"}
