"""benchmarks/tools.py gives every tool a real call: the tools needing an optional argument get one, and
``--tiny-vlm`` times the InternVL tools (a toy answer that does not parse still counts as a call)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tools.models import vlm_status

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # benchmarks/ is not installed, only beside the tests
from benchmarks import tools as bench


def last_line(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_tools_needing_an_option_are_timed_not_skipped(capsys: pytest.CaptureFixture[str]) -> None:
    bench.main(["--repeat", "1", "--only", "filter_boxes", "resize_image", "caption_image"])
    figures = last_line(capsys)
    assert set(figures["tools_ms"]) == {"filter_boxes", "resize_image"}  # type: ignore[arg-type]
    assert set(figures["skipped"]) == {"caption_image"}  # type: ignore[arg-type]  # no model configured
    assert figures["tiny_vlm"] is False


def test_tiny_vlm_times_only_the_model_tools_and_cleans_up(capsys: pytest.CaptureFixture[str]) -> None:
    bench.main(
        ["--tiny-vlm", "--repeat", "1", "--only", "caption_image", "ground_phrase", "summarize_text", "crop_image"]
    )
    figures = last_line(capsys)
    assert set(figures["tools_ms"]) == {"caption_image", "ground_phrase", "summarize_text"}  # type: ignore[arg-type]
    assert figures["skipped"] == {} and figures["tiny_vlm"] is True and figures["tiny_tokens"] == bench.TINY_TOKENS
    assert vlm_status()[0] is False  # the toy model is not left configured
