"""The registry: lookup, clashes, and leaving unavailable tools out of the graph with a logged reason."""

from __future__ import annotations

import logging

import pytest

from graph.errors import DuplicateToolError, UnknownToolError
from graph.toolgraph import ToolGraph
from tools.annotations import Image, Text
from tools.base import Tool, tool
from tools.errors import ToolDefinitionError
from tools.image_ops import TOOLS
from tools.registry import ToolRegistry, default_registry


class Captioner(Tool):
    name = "caption"
    domains = ("image-understanding",)

    def __init__(self, configured: bool = True) -> None:
        self.configured = configured

    def available(self) -> tuple[bool, str]:
        return (True, "") if self.configured else (False, "no InternVL model configured (set TOG_VLM_MODEL)")

    def forward(self, image: Image) -> Text:
        """Describe an image in one sentence."""
        return "a picture"


class BrokenCheck(Captioner):
    name = "broken_check"

    def available(self) -> tuple[bool, str]:
        raise RuntimeError("driver exploded")


@tool
def shout(text: str) -> str:
    """Repeat text in capitals."""
    return text.upper()


def test_register_get_and_iterate_sorted() -> None:
    registry = ToolRegistry([shout, Captioner()])
    assert registry.get("shout") is shout and registry["shout"] is shout
    assert "caption" in registry and "nope" not in registry and len(registry) == 2
    assert [t.spec.name for t in registry] == ["caption", "shout"] == registry.names()
    assert [s.name for s in registry.specs()] == ["caption", "shout"]


def test_register_works_as_decorator() -> None:
    registry = ToolRegistry()

    @registry.register
    @tool
    def whisper(text: str) -> str:
        """Repeat text in lower case."""
        return text.lower()

    assert registry.get("whisper")(text="HI") == {"result": "hi"}


def test_unknown_tool_suggests_close_names() -> None:
    registry = ToolRegistry([shout])
    with pytest.raises(UnknownToolError, match="did you mean 'shout'") as err:
        registry.get("shoutt")
    assert err.value.to_dict()["code"] == "unknown_tool"


def test_duplicate_names_clash_unless_replaced() -> None:
    registry = ToolRegistry([Captioner()])
    with pytest.raises(DuplicateToolError, match="caption"):
        registry.register(Captioner())
    replacement = Captioner()
    registry.register(replacement, replace=True)
    assert registry.get("caption") is replacement
    registry.register(replacement)  # the same object again is not a clash


def test_only_tools_can_be_registered() -> None:
    registry = ToolRegistry()
    with pytest.raises(ToolDefinitionError, match="decorate it with @tool"):
        registry.register(len)  # type: ignore[arg-type]
    with pytest.raises(ToolDefinitionError, match="instantiate it"):
        registry.register(Captioner)  # type: ignore[arg-type]


def test_unavailable_tools_left_out_of_graph_with_logged_reason(caplog: pytest.LogCaptureFixture) -> None:
    registry = ToolRegistry([shout, Captioner(configured=False), BrokenCheck()])
    with caplog.at_level(logging.WARNING, logger="tools.registry"):
        specs = registry.available_specs()
    assert [s.name for s in specs] == ["shout"]
    messages = [r.getMessage() for r in caplog.records]
    assert any("'caption'" in m and "TOG_VLM_MODEL" in m for m in messages)
    assert any("'broken_check'" in m and "driver exploded" in m for m in messages)
    assert registry.unavailable() == {
        "caption": "no InternVL model configured (set TOG_VLM_MODEL)",
        "broken_check": "availability check failed: RuntimeError: driver exploded",
    }
    graph = registry.tool_graph()
    assert isinstance(graph, ToolGraph) and "caption" not in graph and "shout" in graph
    assert len(registry.specs()) == 3  # still registered, so `tog tools` can list it with its reason

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tools.registry"):
        registry.available_specs()
    assert caplog.records == []  # each reason is logged once, not on every graph build


def test_default_registry_is_fresh_and_holds_the_builtins() -> None:
    first, second = default_registry(), default_registry()
    assert first is not second
    assert set(first.names()) >= {t.spec.name for t in TOOLS}
    first.register(shout)
    assert "shout" not in second
    graph = first.tool_graph()
    assert graph.can_reach({"image", "bboxes"}, "image")
    assert graph.can_reach({"bboxes"}, "number")
    assert "count_boxes" in [s.name for s in graph.tools_producing("number")]
