"""Parameter inference: optional arguments the type binding left at their defaults, filled from the subtask text.

ToG binds arguments by type, so "rotate the photo by 45 degrees" plans ``rotate_image(image)`` with the
default angle. The offline filler reads what the words say — an angle, a top-k, a size, a colour, a
choice the tool offers ("pixelate", "vertical"), the thing to count or detect — and adds it to the
subtask as a literal input bound to that argument. It never invents a resource: only literals that
stand in the text, and only for arguments that exist and were left to their default.

    >>> from graph.plan import Action, Solution, Subtask
    >>> from tools.registry import default_registry
    >>> sub = Subtask(id=0, description="rotate the photo by 45 degrees",
    ...               args=[{"type": "image", "value": "p.png"}], returns=[{"type": "image"}])
    >>> sol = Solution(subtask_id=0, outputs=["a0.image"], actions=[Action(id="a0", tool="rotate_image",
    ...     args={"image": "input:0"}, outputs={"image": "image"}, defaulted=["angle", "expand"])])
    >>> sub2, sol2, filled = OfflineParameterFiller(default_registry()).fill(sub, sol)
    >>> filled[0].value, sol2.actions[0].args["angle"], sub2.inputs[1].value
    (45.0, 'input:1', 45.0)
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from agent.decompose.cues import wished_language
from graph.plan import Action, ResourceRef, Solution, Subtask, input_key
from graph.types import ResourceType
from tools.registry import ToolRegistry

_NUMBER = r"(-?\d+(?:\.\d+)?)"
_COLOURS = (
    "red",
    "green",
    "blue",
    "yellow",
    "white",
    "black",
    "orange",
    "purple",
    "pink",
    "cyan",
    "magenta",
    "grey",
    "gray",
)
#: Chinese names of languages (English ones are read by :func:`agent.decompose.cues.wished_language`).
_LANGUAGES_ZH = {
    "英文": "English",
    "英语": "English",
    "中文": "Chinese",
    "法语": "French",
    "德语": "German",
    "日语": "Japanese",
}
_STOP = {
    "the",
    "a",
    "an",
    "all",
    "every",
    "any",
    "of",
    "in",
    "on",
    "there",
    "are",
    "is",
    "this",
    "that",
    "these",
    "those",
    "image",
    "photo",
    "picture",
    "them",
    "it",
}
#: Words that name no category: "count the boxes" counts all of them.
_GENERIC = {
    "box",
    "boxes",
    "region",
    "regions",
    "object",
    "objects",
    "item",
    "items",
    "thing",
    "things",
    "detection",
    "detections",
    "result",
    "results",
    "label",
    "labels",
    "tag",
    "tags",
    "marked",
    "times",
}


class FilledParameter(BaseModel):
    subtask: int
    action: str
    tool: str
    argument: str
    value: Any
    source: str = "text"


class ParameterFiller(ABC):
    """Fills arguments of a chosen solution; returns the updated subtask, solution and what was filled."""

    @abstractmethod
    def fill(self, subtask: Subtask, solution: Solution) -> tuple[Subtask, Solution, list[FilledParameter]]: ...


def _first(pattern: str, text: str, convert: Callable[[str], Any] = float) -> Any:
    match = re.search(pattern, text, flags=re.IGNORECASE)
    return convert(match.group(1)) if match else None


def _noun_after(cues: str, text: str) -> str | None:
    match = re.search(rf"(?:{cues})\s+((?:[a-z][\w-]*\s*){{1,3}})", text, flags=re.IGNORECASE)
    if not match:
        return None
    words = list(re.findall(r"[a-z][\w-]*", match.group(1).lower()))
    while words and words[0] in _STOP:
        words.pop(0)
    kept = []
    for word in words:
        if word in _STOP or word in ("and", "then", "with", "from", "to"):
            break
        kept.append(word)
    if not kept or kept[0] in _GENERIC:
        return None
    return " ".join(kept[:2])


def _categories(text: str) -> str | None:
    match = re.search(
        r"(?:detect|find|locate|spot|box)\s+(?:all\s+|the\s+|every\s+|any\s+)*([a-z ,]+?)"
        r"(?:\s+(?:in|on|from|within)\b|[.;!?]|$)",
        text,
        flags=re.IGNORECASE,
    )
    if not match:
        return None
    names = [n.strip() for n in re.split(r",|\band\b|\bor\b", match.group(1).lower()) if n.strip()]
    names = [n for n in names if n not in _STOP]
    return ", ".join(names) or None


def _size(text: str) -> tuple[float, float] | None:
    match = re.search(r"(\d+)\s*[x×*]\s*(\d+)", text)
    return (float(match.group(1)), float(match.group(2))) if match else None


def _language(text: str) -> str | None:
    return wished_language(text) or next((name for word, name in _LANGUAGES_ZH.items() if word in text), None)


#: argument name -> how to read it from the text (None: the text does not say).
_READERS: dict[str, Callable[[str], Any]] = {
    "angle": lambda t: _first(rf"{_NUMBER}\s*(?:°|degrees?|deg\b|度)", t),
    "k": lambda t: _first(r"(?:top|first|best|largest|biggest|highest|前)\s*(\d+)", t),
    "scale": lambda t: (
        _first(rf"{_NUMBER}\s*(?:x\b|times\b|倍)", t) or ((_first(r"(\d+(?:\.\d+)?)\s*%", t) or 0) / 100 or None)
    ),
    "width": lambda t: (_size(t) or (None, None))[0],
    "height": lambda t: (_size(t) or (None, None))[1],
    "color": lambda t: next((c for c in _COLOURS if re.search(rf"\b{c}\b", t, re.IGNORECASE)), None),
    "label": lambda t: _noun_after(r"how many|count(?: the| all)?|number of", t),
    "name": lambda t: _noun_after(r"how many|count(?: the| all)?|number of", t),
    "tag": lambda t: _noun_after(r"how many|count(?: the| all)?|number of", t),
    "categories": _categories,
    "target_language": _language,
    "language": _language,
}


class OfflineParameterFiller(ParameterFiller):
    """Reads defaulted arguments from the subtask description with the rules above and the tool's choices."""

    def __init__(self, registry: ToolRegistry) -> None:
        self.registry = registry

    def fill(self, subtask: Subtask, solution: Solution) -> tuple[Subtask, Solution, list[FilledParameter]]:
        inputs = list(subtask.inputs)
        actions: list[Action] = []
        filled: list[FilledParameter] = []
        text = subtask.description
        for action in solution.actions:
            if action.tool not in self.registry or not action.defaulted:
                actions.append(action)
                continue
            tool = self.registry.get(action.tool)
            checks = tool._value_checks().inputs
            specs = {i.name: i for i in tool.spec.inputs}
            args, left = dict(action.args), []
            for name in action.defaulted:
                value = self._read(name, text, checks.get(name))
                spec = specs.get(name)
                if value is None or spec is None:
                    left.append(name)
                    continue
                try:
                    value = checks[name].coerce(value)
                except Exception:  # the text said something the tool does not take: keep the default
                    left.append(name)
                    continue
                args[name] = input_key(_literal_index(inputs, spec.type, value))
                filled.append(
                    FilledParameter(subtask=subtask.id, action=action.id, tool=action.tool, argument=name, value=value)
                )
            actions.append(action.model_copy(update={"args": args, "defaulted": left}))
        if not filled:
            return subtask, solution, []
        return (subtask.model_copy(update={"inputs": inputs}), solution.model_copy(update={"actions": actions}), filled)

    @staticmethod
    def _read(name: str, text: str, check: Any) -> Any:
        choices = getattr(check, "choices", None)
        if choices:
            for choice in choices:
                if isinstance(choice, str) and re.search(rf"\b{re.escape(choice)}\w*", text, re.IGNORECASE):
                    return choice
            return None
        reader = _READERS.get(name)
        if reader is None:
            return None
        value = reader(text)
        if getattr(check, "rtype", None) is ResourceType.NUMBER and isinstance(value, float) and check.integer:
            return int(value)
        return value


def _literal_index(inputs: list[ResourceRef], rtype: ResourceType, value: Any) -> int:
    """The index of an input holding this literal, added if no input does (ranked solutions share it)."""
    for i, ref in enumerate(inputs):
        if ref.type == rtype and ref.generated_by is None and ref.value == value and type(ref.value) is type(value):
            return i
    inputs.append(ResourceRef(type=rtype, value=value))
    return len(inputs) - 1
