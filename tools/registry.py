"""The registry: the tools an agent may use, and the tool graph built from those that can run.

A tool whose backend is missing (no InternVL weights configured, a package not installed) stays
registered, so ``tog tools`` can show it and say why, but it is left out of :meth:`ToolRegistry.tool_graph`
with a logged reason: the planner never plans with a tool that cannot run.

    >>> from tools.registry import default_registry
    >>> registry = default_registry()
    >>> registry.get("crop_image").spec.outputs[0].type.value
    'image'
    >>> registry.tool_graph().can_reach({"bboxes"}, "number")
    True
"""

from __future__ import annotations

import difflib
import importlib
import logging
import threading
from collections.abc import Iterable, Iterator

from graph.errors import DuplicateToolError, UnknownToolError
from graph.spec import ToolSpec
from graph.toolgraph import ToolGraph
from tools.base import Tool, availability
from tools.errors import ToolDefinitionError

logger = logging.getLogger(__name__)

#: Modules whose ``TOOLS`` tuple makes up the built-in toolbox, imported only by :func:`default_registry`.
BUILTIN_MODULES: tuple[str, ...] = (
    "tools.image_ops",
    "tools.audio",
    "tools.image_adjust",
    "tools.image_info",
    "tools.list_ops",
    "tools.vision",
    "tools.text",
    "tools.ocr",
    "tools.faces",
    "tools.text_ops",
)


class ToolRegistry:
    """Tools by name. ``register`` returns the tool, so it also works as a decorator above ``@tool``."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        self._reported: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        for item in tools:
            self.register(item)

    def register(self, item: Tool, *, replace: bool = False) -> Tool:
        """Add a tool; a second tool with the same name is a :class:`DuplicateToolError` unless ``replace``."""
        if not isinstance(item, Tool):
            hint = "instantiate it" if isinstance(item, type) and issubclass(item, Tool) else "decorate it with @tool"
            raise ToolDefinitionError(f"{item!r} is not a Tool; {hint}", tool=getattr(item, "__name__", repr(item)))
        name = item.spec.name
        with self._lock:
            if name in self._tools and not replace and self._tools[name] is not item:
                raise DuplicateToolError(f"a tool named {name!r} is already registered", tool=name)
            self._tools[name] = item
        return item

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            close = difflib.get_close_matches(str(name), list(self._tools), n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise UnknownToolError(f"unknown tool {name!r}{hint}", tool=name) from None

    __getitem__ = get

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    def __iter__(self) -> Iterator[Tool]:
        """Tools sorted by name, the deterministic order everything downstream relies on."""
        return iter([self._tools[n] for n in sorted(self._tools)])

    def names(self) -> list[str]:
        return sorted(self._tools)

    def specs(self) -> list[ToolSpec]:
        """Specs of every registered tool, available or not."""
        return [t.spec for t in self]

    def unavailable(self) -> dict[str, str]:
        """Name -> reason for every tool that cannot run now."""
        result = {}
        for item in self:
            ok, reason = availability(item)
            if not ok:
                result[item.spec.name] = reason
        return result

    def available_specs(self) -> list[ToolSpec]:
        """Specs of the tools that can run; the others are left out and their reasons logged once each."""
        specs = []
        for item in self:
            ok, reason = availability(item)
            if ok:
                specs.append(item.spec)
            elif (item.spec.name, reason) not in self._reported:
                self._reported.add((item.spec.name, reason))
                logger.warning("tool %r is left out of the tool graph: %s", item.spec.name, reason)
        return specs

    def tool_graph(self) -> ToolGraph:
        """The :class:`ToolGraph` over the available tools."""
        return ToolGraph(self.available_specs())


def builtin_tools() -> list[Tool]:
    """The built-in tools, from :data:`BUILTIN_MODULES` (imported here, so importing this module stays cheap)."""
    tools: list[Tool] = []
    for module_name in BUILTIN_MODULES:
        tools.extend(importlib.import_module(module_name).TOOLS)
    return tools


def default_registry() -> ToolRegistry:
    """A fresh registry holding the built-in tools.

    Fresh on every call, so one caller registering or replacing tools never changes another's; the tool
    objects themselves are shared (they are stateless, or load their model once in ``setup``).
    """
    return ToolRegistry(builtin_tools())
