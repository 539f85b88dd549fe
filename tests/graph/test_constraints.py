"""Plausibility rules on tool specs: validated when made, carried by ToG's catalogue JSON, obeyed by the search."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from graph.catalogue import dump_catalogue, load_catalogue
from graph.constraints import resolve_constraints, violations
from graph.errors import NoSolutionError
from graph.plan import Subtask
from graph.search import ToGPlanner
from graph.spec import InputSpec, OutputSpec, ToolSpec
from graph.toolgraph import ToolGraph


def tool(name: str, inputs: list[str], output: str, **rules) -> ToolSpec:
    return ToolSpec(
        name=name,
        description=name,
        inputs=[InputSpec(name=f"{t}_{i}", type=t) for i, t in enumerate(inputs)],
        outputs=[OutputSpec(name="out", type=output)],
        **rules,
    )


def task(inputs: list[str], targets: list[str]) -> Subtask:
    return Subtask(
        id=0,
        description="do it",
        args=[{"type": t, "value": f"v{i}"} for i, t in enumerate(inputs)],
        returns=[{"type": t} for t in targets],
    )


def tool_sets(planner: ToGPlanner, sub: Subtask) -> set[tuple[str, ...]]:
    try:
        result = planner.search(sub, strategy="exhaustive", top_k=100)
    except NoSolutionError:
        return set()
    return {tuple(s.tools) for s in result.solutions}


# --- the vocabulary ---------------------------------------------------------------------------------


def test_rules_are_cleaned_sorted_and_deduplicated():
    spec = tool("a", ["text"], "text", groups="x", conflicts_with=[" y ", "y", "b"], not_before=("c",))
    assert spec.groups == ("x",) and spec.conflicts_with == ("b", "y") and spec.not_before == ("c",)


@pytest.mark.parametrize(
    "rules, message",
    [
        ({"conflicts_with": ["a"]}, "conflicts_with names the tool itself"),
        ({"not_after": ["a"]}, "not_after names the tool itself"),
        ({"conflicts_with": ["b"], "not_after": ["b"]}, "b in both conflicts_with and not_after"),
        ({"conflicts_with": ["b"], "not_before": ["b"]}, "b in both conflicts_with and not_before"),
        ({"groups": [""]}, "non-blank"),
        ({"not_after": 3}, "string or a list of strings"),
    ],
)
def test_rules_that_cannot_mean_anything_are_rejected(rules, message):
    with pytest.raises(ValidationError, match=message):
        tool("a", ["text"], "text", **rules)


def test_rules_resolve_through_groups_and_both_directions():
    rules = resolve_constraints(
        [
            tool("cap1", ["image"], "text", groups=["captioning"], conflicts_with=["captioning"]),
            tool("cap2", ["image"], "text", groups=["captioning"]),
            tool("draw", ["image"], "image", not_before=["seeing"]),
            tool("detect", ["image"], "bboxes", groups=["seeing"]),
            tool("pick", ["text"], "text", not_after=["cap2", "missing"]),  # unknown names constrain nothing
        ]
    )
    assert rules.conflicts == {"cap1": {"cap2"}, "cap2": {"cap1"}}
    assert rules.banned_upstream == {"detect": {"draw"}, "pick": {"cap2"}}
    assert violations([("draw", frozenset()), ("detect", frozenset({"draw"}))], rules) == [
        "detect takes a value that draw made (detect: not_after)"
    ]
    assert not resolve_constraints([tool("x", ["text"], "text")])


def test_tog_catalogue_json_carries_the_rules():
    specs = [
        ToolSpec(
            name="ask",
            description="answer a question about an image",
            inputs=[InputSpec(name="image", type="image"), InputSpec(name="question", type="text", from_subtask=True)],
            outputs=[OutputSpec(name="answer", type="text")],
            groups=["question-answering"],
            conflicts_with=["question-answering"],
            not_before=["reading"],
        ),
        tool("pick", ["text"], "text", not_after=["question-answering"]),
    ]
    dumped = dump_catalogue(specs)
    assert dumped[0]["inputs"][1]["from_subtask"] is True
    assert dumped[0]["groups"] == ["question-answering"] and dumped[1]["not_after"] == ["question-answering"]
    assert load_catalogue(dumped) == specs


# --- the search obeys them --------------------------------------------------------------------------


def test_conflicting_tools_never_share_a_solution():
    # a number from two texts: the only chain uses both captioners, which conflict once they declare it
    tools = [
        tool("caption", ["image"], "text"),
        tool("describe", ["image"], "text"),
        tool("count", ["text", "text"], "number"),
    ]
    numbers = task(["image"], ["number"])
    assert tool_sets(ToGPlanner(ToolGraph(tools)), numbers) == {("caption", "describe", "count")}
    ruled = [t.model_copy(update={"groups": ("captioning",), "conflicts_with": ("captioning",)}) for t in tools[:2]]
    assert tool_sets(ToGPlanner(ToolGraph([*ruled, tools[2]])), numbers) == set()
    assert tool_sets(ToGPlanner(ToolGraph(ruled)), task(["image"], ["text"])) == {("caption",), ("describe",)}


def test_not_after_and_not_before_follow_the_data_flow_not_the_listing_order():
    sub = task(["text"], ["text"])
    speak = tool("speak", ["text"], "audio", groups=["synthesis"])
    hear = tool("hear", ["audio"], "text")
    assert tool_sets(ToGPlanner(ToolGraph([speak, hear])), sub) == {("speak", "hear")}
    banned_after = hear.model_copy(update={"not_after": ("synthesis",)})
    assert tool_sets(ToGPlanner(ToolGraph([speak, banned_after])), sub) == set()
    banned_before = speak.model_copy(update={"not_before": ("hear",)})
    assert tool_sets(ToGPlanner(ToolGraph([banned_before, hear])), sub) == set()
    # through a third tool: still reached
    relay = tool("relay", ["audio"], "mask")
    hear_mask = tool("hear_mask", ["mask"], "text", not_after=["speak"])
    assert tool_sets(ToGPlanner(ToolGraph([speak, relay, hear_mask])), sub) == set()


def test_from_subtask_inputs_take_only_what_the_subtask_was_given():
    ask = ToolSpec(
        name="ask",
        description="answer",
        inputs=[InputSpec(name="image", type="image"), InputSpec(name="question", type="text", from_subtask=True)],
        outputs=[OutputSpec(name="answer", type="text")],
    )
    caption = tool("caption", ["image"], "text")
    count = tool("count", ["text"], "number")
    planner = ToGPlanner(ToolGraph([ask, caption, count]))
    # a caption is no question: without a given text, ask cannot run
    assert tool_sets(planner, task(["image"], ["number"])) == {("caption", "count")}
    given = planner.search(task(["image", "text"], ["text"]), strategy="exhaustive")
    assert [s.tools for s in given.solutions] == [["ask"]]
    assert given.solutions[0].actions[0].args == {"image": "input:0", "question": "input:1"}


# --- the built-in catalogue -------------------------------------------------------------------------


def test_builtin_tools_declare_their_rules():
    from tools.registry import default_registry

    specs = {s.name: s for s in default_registry().specs()}
    rules = resolve_constraints(list(specs.values()))
    assert rules.conflicts["caption_image"] == {"describe_image"}
    assert "answer_image_question" in rules.banned_upstream["select_lines"]
    assert "text_to_speech" in rules.banned_upstream["speech_to_text"]
    assert "draw_boxes" in rules.banned_upstream["detect_objects"]
    assert [i.name for i in specs["answer_image_question"].inputs if i.from_subtask] == ["question"]
