"""List tools over typed results: select, filter, count, sort and top-k on hand-built lists."""

from __future__ import annotations

from typing import Any

import pytest

from graph.types import BBox, Label, ResourceType
from tools import image_ops
from tools.errors import ToolInputError
from tools.list_ops import (
    TOOLS,
    count_boxes,
    count_labels,
    count_tags,
    filter_boxes,
    select_boxes,
    select_labels,
    select_tags,
    sort_boxes,
    top_k_boxes,
    top_k_labels,
)


def box(label: str, width: float, height: float = 1.0, score: float | None = None) -> dict[str, Any]:
    """A labelled box at the origin of ``width`` x ``height`` pixels, with a score only when given."""
    return {
        "x1": 0,
        "y1": 0,
        "x2": width,
        "y2": height,
        "label": label,
        **({"score": score} if score is not None else {}),
    }


def names(boxes: list[BBox]) -> list[str | None]:
    return [b.label for b in boxes]


#: dog (area 4, 0.9), "red car" (area 9, 0.4), cat (area 1, no score), "puppy dog" (area 16, 0.9), cat (area 25, 0.7)
DETECTIONS = [
    box("dog", 2, 2, 0.9),
    box("red car", 3, 3, 0.4),
    box("cat", 1, 1),
    box("puppy dog", 4, 4, 0.9),
    box("Cats", 5, 5, 0.7),
]


# --- boxes: count and select ---------------------------------------------------------------------------------


def test_count_counts_every_box_or_those_of_one_label() -> None:
    assert count_boxes(boxes=DETECTIONS) == {"count": 5}
    assert count_boxes(boxes=DETECTIONS, label="cat") == {"count": 2}  # "cat" and "Cats"
    assert count_boxes(boxes=DETECTIONS, label="dogs") == {"count": 2}
    assert count_boxes(boxes=DETECTIONS, label="car") == {"count": 1}
    assert count_boxes(boxes=DETECTIONS, label="horse") == {"count": 0}
    assert count_boxes(boxes=[], label="dog") == {"count": 0}
    assert count_boxes(boxes=[box("x", 1), {"x1": 0, "y1": 0, "x2": 1, "y2": 1}], label="x") == {"count": 1}


def test_count_is_a_number_not_a_sentence() -> None:
    """ControlLLM's count answered "The length of the given list is N"; ours is an int a tool can use."""
    result = count_boxes(boxes=DETECTIONS)["count"]
    assert isinstance(result, int) and not isinstance(result, bool)
    assert all(t.spec.outputs[0].type is ResourceType.NUMBER for t in (count_boxes, count_labels, count_tags))


def test_select_matches_words_not_substrings() -> None:
    hot = [box("hotdog", 1), box("dog house", 2), box("dog", 3)]
    assert names(select_boxes(boxes=hot, label="dog")["boxes"]) == ["dog house", "dog"]
    assert names(select_boxes(boxes=DETECTIONS, label="dog", min_score=0.95)["boxes"]) == []
    # a box without a score never passes min_score
    assert names(select_boxes(boxes=DETECTIONS, label="cat", min_score=0.0)["boxes"]) == ["Cats"]


def test_select_and_count_match_non_english_labels() -> None:
    boxes = [box("狗", 1), box("猫", 2), box("chien noir", 3), box("Café", 4)]
    assert names(select_boxes(boxes=boxes, label="狗")["boxes"]) == ["狗"]
    assert count_boxes(boxes=boxes, label="noir") == {"count": 1}
    assert names(select_boxes(boxes=boxes, label="café")["boxes"]) == ["Café"]
    assert select_boxes(boxes=boxes, label="caf")["boxes"] == []


def test_moved_tools_are_the_same_objects_in_image_ops() -> None:
    assert image_ops.count_boxes is count_boxes and image_ops.select_boxes is select_boxes


# --- boxes: filter, sort, top-k ------------------------------------------------------------------------------


def test_filter_by_score_and_area() -> None:
    assert names(filter_boxes(boxes=DETECTIONS, min_score=0.7)["boxes"]) == ["dog", "puppy dog", "Cats"]
    assert names(filter_boxes(boxes=DETECTIONS, min_area=9)["boxes"]) == ["red car", "puppy dog", "Cats"]
    assert names(filter_boxes(boxes=DETECTIONS, max_area=4)["boxes"]) == ["dog", "cat"]
    both = filter_boxes(boxes=DETECTIONS, min_score=0.5, min_area=5, max_area=20)["boxes"]
    assert names(both) == ["puppy dog"]
    assert filter_boxes(boxes=[], min_score=0.5) == {"boxes": []}
    # an inverted box has no area
    assert filter_boxes(boxes=[{"x1": 5, "y1": 0, "x2": 1, "y2": 9}], min_area=0.5)["boxes"] == []


def test_sort_by_score_keeps_ties_in_order_and_unscored_last() -> None:
    assert names(sort_boxes(boxes=DETECTIONS)["boxes"]) == ["dog", "puppy dog", "Cats", "red car", "cat"]
    ascending = sort_boxes(boxes=DETECTIONS, order="ascending")["boxes"]
    assert names(ascending) == ["red car", "Cats", "dog", "puppy dog", "cat"]


def test_sort_by_area() -> None:
    assert names(sort_boxes(boxes=DETECTIONS, by="area")["boxes"]) == ["Cats", "puppy dog", "red car", "dog", "cat"]
    same = [box("a", 2, 3), box("b", 3, 2), box("c", 1, 1)]
    assert names(sort_boxes(boxes=same, by="area")["boxes"]) == ["a", "b", "c"]
    assert names(sort_boxes(boxes=same, by="area", order="ascending")["boxes"]) == ["c", "a", "b"]
    assert sort_boxes(boxes=[]) == {"boxes": []}


def test_top_k() -> None:
    assert names(top_k_boxes(boxes=DETECTIONS)["boxes"]) == ["dog"]  # tie with "puppy dog": first wins
    assert names(top_k_boxes(boxes=DETECTIONS, k=2)["boxes"]) == ["dog", "puppy dog"]
    assert names(top_k_boxes(boxes=DETECTIONS, k=2, by="area")["boxes"]) == ["Cats", "puppy dog"]
    assert len(top_k_boxes(boxes=DETECTIONS, k=50)["boxes"]) == 5
    unscored = [box("a", 1), box("b", 2)]
    assert names(top_k_boxes(boxes=unscored + [box("c", 1, score=0.1)], k=2)["boxes"]) == ["c", "a"]
    assert top_k_boxes(boxes=[], k=3) == {"boxes": []}


@pytest.mark.parametrize(
    ("tool_name", "arguments", "argument"),
    [
        ("select_boxes", {"label": " ?! "}, "label"),
        ("select_boxes", {"label": "dog", "min_score": 1.5}, "min_score"),
        ("count_boxes", {"label": ""}, "label"),
        ("count_boxes", {"label": 3}, "label"),
        ("filter_boxes", {}, "min_score"),
        ("filter_boxes", {"min_score": -0.1}, "min_score"),
        ("filter_boxes", {"min_area": -1}, "min_area"),
        ("filter_boxes", {"min_area": 10, "max_area": 5}, "max_area"),
        ("sort_boxes", {"by": "size"}, "by"),
        ("sort_boxes", {"order": "up"}, "order"),
        ("top_k_boxes", {"k": 0}, "k"),
        ("top_k_boxes", {"k": 1.5}, "k"),
    ],
)
def test_bad_arguments_name_the_argument(tool_name: str, arguments: dict[str, Any], argument: str) -> None:
    item = next(t for t in TOOLS if t.spec.name == tool_name)
    with pytest.raises(ToolInputError) as err:
        item(boxes=DETECTIONS, **arguments)
    assert err.value.argument == argument and err.value.tool == tool_name


def test_bad_boxes_are_rejected_naming_boxes() -> None:
    with pytest.raises(ToolInputError) as err:
        sort_boxes(boxes=[box("a", 1), {"x1": 0, "y1": 0, "x2": float("nan"), "y2": 1}], by="area")
    assert err.value.argument == "boxes" and "box 1" in str(err.value)
    with pytest.raises(ToolInputError) as err:
        count_boxes(boxes=[{"x1": 0, "y1": 0, "x2": 1, "y2": 1, "score": 3}])
    assert err.value.argument == "boxes"
    with pytest.raises(ToolInputError) as err:
        count_boxes(boxes="three dogs")
    assert err.value.argument == "boxes"


# --- labels and tags -----------------------------------------------------------------------------------------


CLASSES = [
    {"name": "tabby cat", "score": 0.5},
    {"name": "golden retriever", "score": 0.2},
    {"name": "Egyptian cat", "score": 0.5},
    {"name": "cat toy"},
    {"name": "tiger", "score": 0.05},
]


def test_labels_count_select_and_top_k() -> None:
    assert count_labels(labels=CLASSES) == {"count": 5}
    assert count_labels(labels=CLASSES, name="cats") == {"count": 3}
    assert count_labels(labels=[]) == {"count": 0}
    cats = select_labels(labels=CLASSES, name="cat")["labels"]
    assert [c.name for c in cats] == ["tabby cat", "Egyptian cat", "cat toy"] and isinstance(cats[0], Label)
    assert [c.name for c in select_labels(labels=CLASSES, name="cat", min_score=0.3)["labels"]] == [
        "tabby cat",
        "Egyptian cat",
    ]
    top = top_k_labels(labels=CLASSES, k=3)["labels"]
    assert [c.name for c in top] == ["tabby cat", "Egyptian cat", "golden retriever"]
    assert [c.name for c in top_k_labels(labels=CLASSES, k=10)["labels"]][-1] == "cat toy"  # unscored last
    assert [c.name for c in top_k_labels(labels=CLASSES, min_score=0.1)["labels"]] == [
        "tabby cat",
        "Egyptian cat",
        "golden retriever",
    ]
    assert top_k_labels(labels=[]) == {"labels": []}


def test_label_tools_reject_bad_input() -> None:
    for call, argument in [
        (lambda: select_labels(labels=CLASSES, name="..."), "name"),
        (lambda: count_labels(labels=CLASSES, name="  "), "name"),
        (lambda: top_k_labels(labels=CLASSES, k=-2), "k"),
        (lambda: top_k_labels(labels=CLASSES, min_score=2), "min_score"),
        (lambda: count_labels(labels=[{"label": "cat"}]), "labels"),
    ]:
        with pytest.raises(ToolInputError) as err:
            call()
        assert err.value.argument == argument


def test_tags_count_and_select() -> None:
    tags = ["Sandy beaches", "beach", "sunset", "Beach volleyball", "mountain"]
    assert count_tags(tags=tags) == {"count": 5}
    assert count_tags(tags=tags, tag="beach") == {"count": 3}
    assert count_tags(tags=[], tag="beach") == {"count": 0}
    assert select_tags(tags=tags, query="Beach")["tags"] == ["Sandy beaches", "beach", "Beach volleyball"]
    assert select_tags(tags=tags, query="beach volleyball")["tags"] == ["Beach volleyball"]
    assert select_tags(tags=tags, query="snow")["tags"] == []
    with pytest.raises(ToolInputError) as err:
        select_tags(tags=tags, query="!!")
    assert err.value.argument == "query"
    with pytest.raises(ToolInputError) as err:
        count_tags(tags=["a", 1])
    assert err.value.argument == "tags"


def test_every_list_tool_has_a_real_description_and_documented_inputs() -> None:
    for item in TOOLS:
        spec = item.spec
        assert len(spec.description.split()) >= 8, spec.name
        assert all(i.description for i in spec.inputs), spec.name
        assert all(o.description for o in spec.outputs), spec.name
        assert spec.domains == ("general",) and spec.device.value == "cpu"
