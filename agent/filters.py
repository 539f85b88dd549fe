"""Label filters: a count or a selection keeps the items of one category — one the list can hold.

``count_boxes(boxes, label)`` counts only the boxes whose label matches ``label``. A filter read from
the request's words is only right when it names a category the list was made to hold: the labels of
boxes the user gave, or the category the detecting step was asked for. A detector of one kind labels
what it finds itself ("face") whatever the request said, so "how many people" filtered by "people"
counted 0 of the faces it found: when the filter names what that detector is for, in the detector's own
description ("… e.g. to count the people"), every box it made is one and the filter goes. A category it
is not for ("cats" among faces) stays, so the count is 0, not the faces passed off as cats. Boxes without
labels match no filter at all. :func:`judge` keeps, narrows ("faces are" -> "faces", the words a label
can match) or drops a filter after :func:`list_source` has said what the list can hold.

    >>> judge("faces are", Holds("given", ("face",)))
    ('faces', 'narrowed to the words the given labels match')
    >>> face = Holds("fixed", ("Detect human faces: one box labelled face, e.g. to count the people",), "detect_faces")
    >>> judge("人", face)[0] is None, judge("faces are", face)[0] is None, judge("cats", face)[0]
    (True, True, 'cats')
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agent.decompose.reading import gloss
from graph.plan import Action, ResourceRef, Solution
from graph.spec import ToolSpec
from graph.types import ResourceType
from tools.list_ops import matches, words

T = ResourceType

#: Arguments that keep only the items of one category ("count only the dogs").
FILTER_ARGUMENTS = frozenset({"label", "name", "tag"})
#: Lists whose items carry a category.
LIST_KINDS = frozenset({T.BBOXES, T.LABELS, T.TAGS})
#: Words that name no category: "count the boxes" counts all of them.
GENERIC = frozenset(
    {
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
        "one",
        "ones",
        "entries",
        "entry",
    }
)


#: Words that name nothing: they never match a tool's description.
STOP = frozenset(
    {"the", "a", "an", "all", "every", "any", "of", "in", "on", "there", "are", "is", "this", "that", "these"}
    | {"those", "image", "photo", "picture", "them", "it", "to", "and", "or", "with", "for", "by", "e", "g"}
)
_CJK = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True)
class Holds:
    """What categories a list can hold.

    ``kind``: ``given`` (the user's list; ``categories`` its labels), ``asked`` (made by a step asked for
    ``categories``), ``open`` (made by a step that finds any category), ``fixed`` (made by ``producer``,
    which names its items itself; ``categories`` its own description) or ``unknown`` (an earlier
    subtask's result).
    """

    kind: Literal["given", "asked", "open", "fixed", "unknown"]
    categories: tuple[str, ...] = ()
    producer: str | None = None


def is_filter(spec: ToolSpec, name: str) -> bool:
    """Whether argument ``name`` of the tool keeps the items of one category of a list it takes."""
    takes_list = any(i.type in LIST_KINDS for i in spec.inputs)
    return takes_list and name in FILTER_ARGUMENTS and any(i.name == name and i.type is T.TEXT for i in spec.inputs)


def item_categories(value: Any) -> tuple[str, ...]:
    """The categories of a given list's items: box labels, label names, tags."""
    if not isinstance(value, list):
        return ()
    found: list[str] = []
    for item in value:
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, Mapping):
            found.extend(str(item[k]) for k in ("label", "name", "tag") if item.get(k))
    return tuple(dict.fromkeys(f for f in found if f.strip()))


def list_source(
    action: Action,
    spec: ToolSpec,
    inputs: Sequence[ResourceRef],
    solution: Solution,
    specs: Mapping[str, ToolSpec],
    choices: Mapping[str, Mapping[str, bool]],
) -> Holds | None:
    """What the list the action filters can hold; None when it takes no list.

    ``choices``: per tool, which text arguments are options from a fixed set (not categories).
    """
    arg = next((i.name for i in spec.inputs if i.type in LIST_KINDS and i.name in action.args), None)
    if arg is None:
        return None
    return _holds(action.args[arg], inputs, solution, specs, choices, depth=0)


def _holds(
    key: str,
    inputs: Sequence[ResourceRef],
    solution: Solution,
    specs: Mapping[str, ToolSpec],
    choices: Mapping[str, Mapping[str, bool]],
    depth: int,
) -> Holds:
    if key.startswith("input:"):
        ref = inputs[int(key.split(":", 1)[1])]
        if ref.generated_by is None and isinstance(ref.value, list):
            return Holds("given", item_categories(ref.value))
        return Holds("unknown")
    producer = next((a for a in solution.actions if key.startswith(a.id + ".")), None)
    if producer is None or producer.tool not in specs or depth > len(solution.actions):
        return Holds("unknown")
    spec = specs[producer.tool]
    passed = next((i.name for i in spec.inputs if i.type in LIST_KINDS and i.name in producer.args), None)
    if passed is not None:  # a step that sorts, selects or trims a list holds what that list holds
        return _holds(producer.args[passed], inputs, solution, specs, choices, depth + 1)
    options = choices.get(producer.tool, {})
    asked = [i for i in spec.inputs if i.type is T.TEXT and not options.get(i.name)]
    if not asked:
        own = (spec.description, *(o.description for o in spec.outputs))
        return Holds("fixed", tuple(own), producer=producer.tool)
    bound = [producer.args[i.name] for i in asked if i.name in producer.args]
    if not bound:
        return Holds("open", producer=producer.tool)
    values = [
        inputs[int(k.split(":", 1)[1])].value
        for k in bound
        if k.startswith("input:") and isinstance(inputs[int(k.split(":", 1)[1])].value, str)
    ]
    if not values:
        return Holds("unknown")
    categories = [c.strip() for v in values for c in re.split(r",|;|\band\b|\bor\b|、|和|与", v) if c.strip()]
    return Holds("asked", tuple(categories), producer=producer.tool)


def judge(value: str, holds: Holds) -> tuple[str | None, str]:
    """The filter to use for ``value`` over a list that ``holds`` (None: none), and why."""
    said = list(re.findall(r"[^\W_]+", value.casefold()))
    if not said or all(w in GENERIC for w in said):
        return None, f"{value!r} names no category"
    if holds.kind == "fixed":
        english = (
            [w for w in re.findall(r"[^\W_]+", gloss(value).casefold()) if w not in STOP]
            if _CJK.search(value)
            else said
        )
        own = " ".join(holds.categories)
        if any(w not in STOP and w not in GENERIC and matches({w}, own) for w in english):
            return None, f"{holds.producer} finds only that: every box it makes is one"
        return value, "kept: a category the detector is not for counts none of its boxes"
    if holds.kind == "given" and not holds.categories:
        return None, "the given items carry no labels to match"
    if holds.kind in ("given", "asked"):
        known = [words(c) for c in holds.categories]
        kept = [w for w in said if w not in GENERIC and any(matches({w}, " ".join(k)) for k in known)]
        if kept and kept != said:
            where = "the given labels" if holds.kind == "given" else f"the categories {holds.producer} was asked for"
            return " ".join(dict.fromkeys(kept)), f"narrowed to the words {where} match"
    return value, "kept"
