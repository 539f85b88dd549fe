"""Shared fixtures of the workflow tests: one engine per registry for the session, generated inputs.

Inputs are scikit-image's astronaut (two faces the cascade finds) and documents rendered with PIL, made
once per session; the OCR engine, the face cascade and the engines are likewise built once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from agent.engine import Engine, EngineConfig
from agent.engine.testing import registry as engine_tools
from tools.registry import ToolRegistry, default_registry

RECEIPT_LINES = ("CORNER CAFE", "Coffee 3.50", "Bagel 2.25", "Subtotal 5.75", "Tax 0.46", "TOTAL 6.21", "Thank you!")


@pytest.fixture(autouse=True)
def no_models(fresh_install: None) -> None:
    """No model is configured unless a test configures one (the machine's environment must not leak in)."""


@pytest.fixture(scope="session")
def builtin() -> ToolRegistry:
    return default_registry()


@pytest.fixture(scope="session")
def engine(builtin: ToolRegistry) -> Iterator[Engine]:
    with Engine(builtin, EngineConfig(max_workers=8)) as running:
        yield running


@pytest.fixture(scope="session")
def test_tools() -> ToolRegistry:
    """The engine's test tools (wait, flaky, hang, always_fail, ...): real, model-free, timed."""
    return engine_tools()


@pytest.fixture(scope="session")
def test_engine(test_tools: ToolRegistry) -> Iterator[Engine]:
    config = EngineConfig(max_workers=8, retry_backoff_s=0.01, retry_backoff_max_s=0.02)
    with Engine(test_tools, config) as running:
        yield running


@pytest.fixture(scope="session")
def inputs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("workflow-inputs")


@pytest.fixture(scope="session")
def astronaut(inputs_dir: Path) -> Path:
    from skimage import data

    path = inputs_dir / "astronaut.png"
    Image.fromarray(data.astronaut()).save(path)
    return path


def render_lines(lines: tuple[str, ...], size: int = 28, width: int = 420) -> Image.Image:
    """Black text on white, one line per entry, in PIL's scalable default font."""
    font = ImageFont.load_default(size=size)
    image = Image.new("RGB", (width, 40 + int(size * 1.6) * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((24, 20 + int(size * 1.6) * i), line, fill="black", font=font)
    return image


@pytest.fixture(scope="session")
def receipt(inputs_dir: Path) -> Path:
    path = inputs_dir / "receipt.png"
    render_lines(RECEIPT_LINES).save(path)
    return path


@pytest.fixture(scope="session")
def document(inputs_dir: Path, astronaut: Path) -> Path:
    """A "document photo": the astronaut's portrait (two faces) beside a block of text."""
    portrait = Image.open(astronaut).convert("RGB").resize((256, 256))
    text = render_lines(("PASSPORT", "Name: Eileen Collins", "No. 0123456"), size=22, width=300)
    page = Image.new("RGB", (256 + text.width + 20, 256), "white")
    page.paste(portrait, (0, 0))
    page.paste(text, (266, 40))
    path = inputs_dir / "document.png"
    page.save(path)
    return path
