"""Parameter inference: optional arguments the type binding left at their defaults, filled from the subtask text.

ToG binds arguments by type, so "rotate the photo by 45 degrees" plans ``rotate_image(image)`` with the
default angle. The offline filler reads what the words say — an angle, a top-k, a size, a colour, a
choice the tool offers ("pixelate", "vertical"), the thing to count or detect — and adds it to the
subtask as a literal input bound to that argument. It never invents a resource: only literals that
stand in the text, and only for arguments that exist and were left to their default. Words are read
both ways (:mod:`agent.param_readers`): "clockwise" against the tool's own stated sense, "20% darker" as
0.8, "into French" but not "from French". What the plan already bound from the request's words is
checked too: a label filter stays only where it names a category its list can hold
(:mod:`agent.filters`), and an angle turns the way the words say.

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

from agent import param_readers as readers
from agent.filters import GENERIC, Holds, is_filter, judge, list_source
from graph.plan import Action, ResourceRef, Solution, Subtask, input_key
from graph.spec import InputSpec, ToolSpec
from graph.types import ResourceType
from tools.registry import ToolRegistry

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


class FilledParameter(BaseModel):
    """One argument the filler set (``source`` "text": read from the words; "narrowed": a filter cut to the
    words the list's categories match) or unset ("dropped": a filter naming no category the list holds),
    with ``reason`` for the last two."""

    subtask: int
    action: str
    tool: str
    argument: str
    value: Any
    source: str = "text"
    reason: str = ""


class ParameterFiller(ABC):
    """Fills arguments of a chosen solution; returns the updated subtask, solution and what was filled."""

    @abstractmethod
    def fill(self, subtask: Subtask, solution: Solution) -> tuple[Subtask, Solution, list[FilledParameter]]: ...


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
    if not kept or kept[0] in GENERIC:
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


_COUNTED = r"how many|count(?: the| all)?|number of"

#: argument name -> how to read it from the text and the argument's spec (None: the text does not say).
_READERS: dict[str, Callable[[str, InputSpec, str], Any]] = {
    "angle": lambda t, spec, tool: readers.angle(t, readers.positive_sense(spec.description, tool), spec.default),
    "k": lambda t, spec, tool: readers.top_k(t),
    "scale": lambda t, spec, tool: readers.factor(t, bare=False),
    "factor": lambda t, spec, tool: readers.factor(t),
    "width": lambda t, spec, tool: readers.side(t, "width"),
    "height": lambda t, spec, tool: readers.side(t, "height"),
    "color": lambda t, spec, tool: next((c for c in _COLOURS if re.search(rf"\b{c}\b", t, re.IGNORECASE)), None),
    "label": lambda t, spec, tool: _noun_after(_COUNTED, t),
    "name": lambda t, spec, tool: _noun_after(_COUNTED, t),
    "tag": lambda t, spec, tool: _noun_after(_COUNTED, t),
    "categories": lambda t, spec, tool: _categories(t),
    "target_language": lambda t, spec, tool: readers.language(t),
    "language": lambda t, spec, tool: readers.language(t),
}


class OfflineParameterFiller(ParameterFiller):
    """Reads defaulted arguments from the subtask description with the rules above and the tool's choices,
    and checks what the plan bound from the request's words where the words have a sense of their own: a
    category filter must name a category its list holds (:mod:`agent.filters`), an angle turns the way
    the words say."""

    def __init__(self, registry: ToolRegistry) -> None:
        self.registry = registry

    def fill(self, subtask: Subtask, solution: Solution) -> tuple[Subtask, Solution, list[FilledParameter]]:
        inputs = list(subtask.inputs)
        actions: list[Action] = []
        filled: list[FilledParameter] = []
        text = subtask.description
        for action in solution.actions:
            if action.tool not in self.registry:
                actions.append(action)
                continue
            tool = self.registry.get(action.tool)
            checks = tool._value_checks().inputs
            specs = {i.name: i for i in tool.spec.inputs}
            args, left = dict(action.args), list(action.defaulted)

            def record(name: str, value: Any, source: str = "text", reason: str = "", at: Action = action) -> None:
                filled.append(
                    FilledParameter(
                        subtask=subtask.id,
                        action=at.id,
                        tool=at.tool,
                        argument=name,
                        value=value,
                        source=source,
                        reason=reason,
                    )
                )

            holds = self._holds(action, tool.spec, inputs, solution)
            for name, key in list(args.items()):
                literal = _literal(inputs, key)
                if literal is None or name not in specs:
                    continue
                if (
                    holds is not None
                    and isinstance(literal, str)
                    and is_filter(tool.spec, name)
                    and not specs[name].required
                ):
                    kept, why = judge(literal, holds)
                    if kept is None:
                        del args[name]
                        left.append(name)
                        record(name, None, "dropped", f"{literal!r} dropped: {why}")
                    elif kept != literal:
                        args[name] = input_key(_literal_index(inputs, specs[name].type, kept))
                        record(name, kept, "narrowed", f"{literal!r} {why}")
                elif name == "angle" and isinstance(literal, (int, float)) and not isinstance(literal, bool):
                    turned = readers.angle(
                        f"{abs(literal):g} degrees {text}",
                        readers.positive_sense(specs[name].description, tool.spec.description),
                    )
                    if turned is not None and turned != literal:
                        args[name] = input_key(_literal_index(inputs, specs[name].type, turned))
                        record(name, turned, "text", f"{literal:g} turned the way the words say")
            dropped = {f.argument for f in filled if f.action == action.id and f.source == "dropped"}
            remaining = []
            for name in left:
                spec = specs.get(name)
                value = (
                    None if spec is None or name in dropped else self._read(name, text, checks.get(name), spec, tool)
                )
                if value is not None and is_filter(tool.spec, name) and isinstance(value, str):
                    value = self._filter_from_words(value, holds)
                if value is None or spec is None:
                    remaining.append(name)
                    continue
                try:
                    value = checks[name].coerce(value)
                except Exception:  # the text said something the tool does not take: keep the default
                    remaining.append(name)
                    continue
                args[name] = input_key(_literal_index(inputs, spec.type, value))
                record(name, value)
            actions.append(action.model_copy(update={"args": args, "defaulted": remaining}))
        if not filled:
            return subtask, solution, []
        return (subtask.model_copy(update={"inputs": inputs}), solution.model_copy(update={"actions": actions}), filled)

    def _holds(self, action: Action, spec: ToolSpec, inputs: list[ResourceRef], solution: Solution) -> Holds | None:
        """What the list a filtering action takes can hold (None for tools that filter nothing)."""
        if not any(is_filter(spec, i.name) for i in spec.inputs):
            return None
        specs = {a.tool: self.registry.get(a.tool).spec for a in solution.actions if a.tool in self.registry}
        options = {
            a.tool: {
                n: bool(getattr(c, "choices", None))
                for n, c in self.registry.get(a.tool)._value_checks().inputs.items()
            }
            for a in solution.actions
            if a.tool in self.registry
        }
        return list_source(action, spec, inputs, solution, specs, options)

    @staticmethod
    def _filter_from_words(value: str, holds: Holds | None) -> str | None:
        """A filter read from the words is used only where the list's categories are known: the user's
        labelled items, a detector's asked or open categories, or a category a one-kind detector is not
        for (never what it is for: all its boxes are that)."""
        if holds is None or holds.kind == "unknown":
            return None
        return judge(value, holds)[0]

    @staticmethod
    def _read(name: str, text: str, check: Any, spec: InputSpec, tool: Any) -> Any:
        choices = getattr(check, "choices", None)
        if choices:
            for choice in choices:
                if isinstance(choice, str) and re.search(rf"\b{re.escape(choice)}\w*", text, re.IGNORECASE):
                    return choice
            return readers.choice_by_sense([c for c in choices if isinstance(c, str)], text)
        reader = _READERS.get(name)
        if reader is None:
            if getattr(check, "rtype", None) is not ResourceType.NUMBER:
                return None
            value = readers.named_number(name, spec.description, text)  # "a confidence below 0.5": min_score
        else:
            value = reader(text, spec, tool.spec.description)
        if getattr(check, "rtype", None) is ResourceType.NUMBER and isinstance(value, float) and check.integer:
            return int(value)
        return value


def _literal(inputs: list[ResourceRef], key: str) -> Any:
    """The value a resource key binds when it is a literal the subtask was given (not a file, not a result)."""
    if not key.startswith("input:"):
        return None
    ref = inputs[int(key.split(":", 1)[1])]
    if ref.generated_by is not None or ref.type not in (ResourceType.TEXT, ResourceType.NUMBER):
        return None
    return ref.value


def _literal_index(inputs: list[ResourceRef], rtype: ResourceType, value: Any) -> int:
    """The index of an input holding this literal, added if no input does (ranked solutions share it)."""
    for i, ref in enumerate(inputs):
        if ref.type == rtype and ref.generated_by is None and ref.value == value and type(ref.value) is type(value):
            return i
    inputs.append(ResourceRef(type=rtype, value=value))
    return len(inputs) - 1
