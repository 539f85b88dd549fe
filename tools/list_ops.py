"""Select, count, sort and rank typed result lists: boxes (with labels and scores), labels, and tags.

ControlLLM's ``select_*``/``count_*`` tools compared labels with ``==`` and returned counts as the
sentence "The length of the given list is N" (and its category counter always said 0). Here counts are
numbers, and labels match by words: every word of the query must be among the words of the item,
ignoring case and English plurals, so "dogs" finds "dog" and "car" finds "red car", but "dog" never
finds "hotdog".

Rules shared by every tool, so results are predictable:

* the order of the input is kept (select, filter) or used to break ties (sort, top-k): equal scores
  keep their original order;
* an item without a score never passes a ``min_score`` and ranks after every scored item, whichever
  way a list is sorted;
* an empty list is a normal input ("no dogs found") and gives an empty list or 0.

    >>> from tools.list_ops import count_boxes
    >>> count_boxes(boxes=[{"x1": 0, "y1": 0, "x2": 4, "y2": 4, "label": "dog"}], label="dogs")
    {'count': 1}
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Literal, TypeVar

from graph.types import BBox, Label
from tools.annotations import BBoxes, Labels, Tags, Text
from tools.base import Tool, tool
from tools.errors import ToolInputError

_GENERAL = ("general",)
T = TypeVar("T")

_label: Callable[[BBox], str | None] = attrgetter("label")
_name: Callable[[Label], str] = attrgetter("name")
_score: Callable[[BBox | Label], float | None] = attrgetter("score")

# --- matching and ordering ---------------------------------------------------------------------------


def words(text: str) -> set[str]:
    """The lower-cased words of ``text`` (letters and digits in any script; punctuation splits words)."""
    return set(re.findall(r"[^\W_]+", text.casefold()))


def query_words(text: str, argument: str) -> set[str]:
    """The words of a query, or a :class:`ToolInputError` naming ``argument`` when there are none."""
    found = words(text)
    if not found:
        raise ToolInputError(f"{argument} has no words to match: {text!r}", argument=argument)
    return found


def matches(wanted: set[str], text: str | None) -> bool:
    """Whether every wanted word is among the words of ``text`` (up to plurals); no text never matches."""
    if not text:
        return False
    have = words(text)
    return all(any(_same_word(w, h) for h in have) for w in wanted)


def _same_word(a: str, b: str) -> bool:
    """Equal up to an English plural ending: dog/dogs, box/boxes, city/cities."""
    short, long = sorted((a, b), key=len)
    return long in (short, short + "s", short + "es") or (short.endswith("y") and long == short[:-1] + "ies")


def _check_min_score(min_score: float | None) -> None:
    if min_score is not None and not 0.0 <= min_score <= 1.0:
        raise ToolInputError(f"min_score must be between 0 and 1, got {min_score}", argument="min_score")


def _passes(score: float | None, min_score: float | None) -> bool:
    return min_score is None or (score is not None and score >= min_score)


def _check_k(k: int) -> None:
    if k < 1:
        raise ToolInputError(f"k must be at least 1, got {k}", argument="k")


def ranked(items: Sequence[T], key: Callable[[T], float | None], *, descending: bool = True) -> list[T]:
    """``items`` sorted by ``key``; ties keep their input order and items whose key is ``None`` go last."""
    present = [item for item in items if key(item) is not None]
    missing = [item for item in items if key(item) is None]
    sign = -1.0 if descending else 1.0
    return sorted(present, key=lambda item: sign * key(item)) + missing  # type: ignore[operator]  # stable


def box_area(box: BBox, index: int) -> float:
    """Width times height in square pixels (0 for an inverted box); a non-finite corner is an error."""
    coords = (box.x1, box.y1, box.x2, box.y2)
    if not all(math.isfinite(c) for c in coords):
        raise ToolInputError(f"box {index} has a non-finite coordinate: {coords}", argument="boxes")
    return max(0.0, box.x2 - box.x1) * max(0.0, box.y2 - box.y1)


def matching(
    items: Sequence[T],
    query: str,
    argument: str,
    text: Callable[[T], str | None],
    *,
    min_score: float | None = None,
    score: Callable[[T], float | None] = lambda _: None,
) -> list[T]:
    """The items whose ``text`` matches every word of ``query`` (see :func:`matches`) and whose ``score``
    passes ``min_score``, in input order; a query without words is an error naming ``argument``."""
    wanted = query_words(query, argument)
    _check_min_score(min_score)
    return [item for item in items if matches(wanted, text(item)) and _passes(score(item), min_score)]


def counted(items: Sequence[T], query: str | None, argument: str, text: Callable[[T], str | None]) -> int:
    """How many items there are, or with ``query`` how many of them match it (as :func:`matching`)."""
    return len(items) if query is None else len(matching(items, query, argument, text))


def _box_key(boxes: list[BBox], by: str) -> Callable[[BBox], float | None]:
    if by == "score":
        return lambda box: box.score
    areas = {id(box): box_area(box, i) for i, box in enumerate(boxes)}  # checks every box up front
    return lambda box: areas[id(box)]


# --- boxes ----------------------------------------------------------------------------------------------


@tool(domains=_GENERAL)
def count_boxes(boxes: BBoxes, label: Text | None = None) -> int:
    """Count how many objects there are: the number of detected bounding boxes, e.g. how many dogs, people or cars.

    With ``label``, only the boxes of that category are counted (matched by words, like select_boxes).

    Args:
        boxes: the boxes to count.
        label: if given, count only the boxes whose label matches it, e.g. "dog".

    Returns:
        count: how many boxes there are.
    """
    return counted(boxes, label, "label", _label)


@tool(domains=_GENERAL, from_subtask=("label",))  # the label to keep is the user's word
def select_boxes(boxes: BBoxes, label: Text, min_score: float | None = None) -> BBoxes:
    """Select the bounding boxes whose label matches a category name, e.g. keep only the "dog" boxes.

    A box matches when every word of ``label`` is among the words of the box's label, ignoring case and
    plural "s" ("dogs" matches "dog", "car" matches "red car"). Boxes without a label never match.

    Args:
        boxes: the boxes to filter.
        label: the category to keep.
        min_score: if given, also drop boxes whose score is below it (or that have no score).

    Returns:
        boxes: the matching boxes, in their original order.
    """
    return matching(boxes, label, "label", _label, min_score=min_score, score=_score)


@tool(domains=_GENERAL)
def filter_boxes(
    boxes: BBoxes, min_score: float | None = None, min_area: float | None = None, max_area: float | None = None
) -> BBoxes:
    """Filter bounding boxes by a condition: remove low-confidence detections, or boxes too small or too large.

    Drops low-confidence detections (``min_score``) and boxes that are too small or too large (area in
    square pixels, width times height). Give at least one condition; every given condition must hold.

    Args:
        boxes: the boxes to filter.
        min_score: the lowest confidence to keep, 0 to 1; boxes without a score are dropped.
        min_area: the smallest area to keep, in square pixels.
        max_area: the largest area to keep, in square pixels.

    Returns:
        boxes: the boxes that meet every condition, in their original order.
    """
    if min_score is None and min_area is None and max_area is None:
        raise ToolInputError("give a condition: min_score, min_area or max_area", argument="min_score")
    _check_min_score(min_score)
    for name, value in (("min_area", min_area), ("max_area", max_area)):
        if value is not None and value < 0:
            raise ToolInputError(f"{name} must not be negative, got {value}", argument=name)
    if min_area is not None and max_area is not None and max_area < min_area:
        raise ToolInputError(f"max_area ({max_area}) is below min_area ({min_area})", argument="max_area")
    areas = [box_area(box, i) for i, box in enumerate(boxes)]
    return [
        box
        for box, area in zip(boxes, areas)
        if _passes(box.score, min_score)
        and (min_area is None or area >= min_area)
        and (max_area is None or area <= max_area)
    ]


@tool(domains=_GENERAL)
def sort_boxes(
    boxes: BBoxes,
    by: Literal["score", "area"] = "score",
    order: Literal["descending", "ascending"] = "descending",
) -> BBoxes:
    """Sort bounding boxes by confidence score or by size (area), most confident or largest first.

    Ties keep their original order; boxes without a score come last in either order.

    Args:
        boxes: the boxes to sort.
        by: "score" sorts by confidence, "area" by width times height.
        order: "descending" puts the highest first, "ascending" the lowest.

    Returns:
        boxes: the same boxes, sorted.
    """
    return ranked(boxes, _box_key(boxes, by), descending=order == "descending")


@tool(domains=_GENERAL)
def top_k_boxes(boxes: BBoxes, k: int = 1, by: Literal["score", "area"] = "score") -> BBoxes:
    """Keep the k most confident, or the k largest, bounding boxes.

    E.g. the best detection or the three biggest objects.

    Ties are broken by the original order; boxes without a score rank after every scored box.

    Args:
        boxes: the boxes to rank.
        k: how many to keep (all of them when there are fewer).
        by: "score" ranks by confidence, "area" by width times height.

    Returns:
        boxes: at most k boxes, best first.
    """
    _check_k(k)
    return ranked(boxes, _box_key(boxes, by))[:k]


# --- labels (categories) -------------------------------------------------------------------------------


@tool(domains=_GENERAL)
def count_labels(labels: Labels, name: Text | None = None) -> int:
    """Count categories: the number of labels in a list, e.g. how many classes or tags were recognised.

    With ``name``, only the labels matching it are counted (matched by words, like select_labels).

    Args:
        labels: the labels to count.
        name: if given, count only the labels whose name matches it.

    Returns:
        count: how many labels there are.
    """
    return counted(labels, name, "name", _name)


@tool(domains=_GENERAL, from_subtask=("name",))
def select_labels(labels: Labels, name: Text, min_score: float | None = None) -> Labels:
    """Select the category labels whose name matches a given category, e.g. keep only the "dog" classes.

    A label matches when every word of ``name`` is among its words, ignoring case and plurals.

    Args:
        labels: the labels to filter, e.g. from image classification.
        name: the category to keep.
        min_score: if given, also drop labels whose score is below it (or that have no score).

    Returns:
        labels: the matching labels, in their original order.
    """
    return matching(labels, name, "name", _name, min_score=min_score, score=_score)


@tool(domains=_GENERAL)
def top_k_labels(labels: Labels, k: int = 5, min_score: float | None = None) -> Labels:
    """Keep the k most confident category labels, e.g. the top-5 classes of an image classification.

    Ties keep their original order; labels without a score rank after every scored label.

    Args:
        labels: the labels to rank.
        k: how many to keep (all of them when there are fewer).
        min_score: if given, first drop labels whose score is below it (or that have no score).

    Returns:
        labels: at most k labels, most confident first.
    """
    _check_k(k)
    _check_min_score(min_score)
    kept: list[Label] = [item for item in labels if _passes(item.score, min_score)]
    return ranked(kept, lambda item: item.score)[:k]


# --- tags (keywords) -----------------------------------------------------------------------------------


@tool(domains=_GENERAL)
def count_tags(tags: Tags, tag: Text | None = None) -> int:
    """Count keywords or named entities: the number of tags in a list, or how many match a given tag.

    Args:
        tags: the tags to count.
        tag: if given, count only the tags that match it (by words, ignoring case and plurals).

    Returns:
        count: how many tags there are.
    """
    return counted(tags, tag, "tag", lambda item: item)


@tool(domains=_GENERAL, from_subtask=("query",))
def select_tags(tags: Tags, query: Text) -> Tags:
    """Select the keywords or named entities that match a word or phrase, e.g. keep the tags about "beach".

    A tag matches when every word of ``query`` is among its words, ignoring case and plurals.

    Args:
        tags: the tags to filter.
        query: the word or phrase to look for.

    Returns:
        tags: the matching tags, in their original order.
    """
    return matching(tags, query, "query", lambda item: item)


TOOLS: tuple[Tool, ...] = (
    count_boxes,
    select_boxes,
    filter_boxes,
    sort_boxes,
    top_k_boxes,
    count_labels,
    select_labels,
    top_k_labels,
    count_tags,
    select_tags,
)
