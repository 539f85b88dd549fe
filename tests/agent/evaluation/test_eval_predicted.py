"""Plan + best solutions -> predicted tool graph."""

from __future__ import annotations

from agent.evaluation.callgraph import CallGraph
from agent.evaluation.predicted import predicted_graph
from graph.plan import Action, Plan, Solution


def _action(id: str, tool: str, args: dict[str, str], outputs: dict[str, str]) -> Action:
    return Action(id=id, tool=tool, args=args, outputs=outputs)


PLAN = Plan.parse(
    {
        "request": "r",
        "subtasks": [
            {
                "id": 0,
                "description": "largest face",
                "args": [{"type": "image", "value": "p.jpg"}],
                "returns": [{"type": "bboxes"}, {"type": "number"}],
            },
            {
                "id": 1,
                "description": "crop it",
                "dep": [0],
                "args": [{"type": "image", "value": "p.jpg"}, {"type": "bboxes", "value": "<GENERATED>-0"}],
                "returns": [{"type": "image"}],
            },
            {
                "id": 2,
                "description": "say the count",
                "dep": [0],
                "args": [{"type": "number", "value": "<GENERATED>-0"}],
                "returns": [{"type": "audio"}],
            },
        ],
    }
)

# subtask 0: detect_faces -> top_k_boxes (the boxes), detect_faces -> count_boxes (the number)
SOLUTION_0 = Solution(
    subtask_id=0,
    outputs=["a2.boxes", "a3.count"],
    actions=[
        _action("a1", "detect_faces", {"image": "input:0"}, {"faces": "bboxes"}),
        _action("a2", "top_k_boxes", {"boxes": "a1.faces"}, {"boxes": "bboxes"}),
        _action("a3", "count_boxes", {"boxes": "a1.faces"}, {"count": "number"}),
    ],
)
SOLUTION_1 = Solution(
    subtask_id=1,
    outputs=["a1.image"],
    actions=[
        _action("a1", "crop_image", {"image": "input:0", "boxes": "input:1"}, {"image": "image"}),
    ],
)


def test_edges_within_and_across_subtasks_follow_the_referenced_output():
    graph = predicted_graph(PLAN, {0: SOLUTION_0, 1: SOLUTION_1})
    assert graph.node_set == {"detect_faces", "top_k_boxes", "count_boxes", "crop_image"}
    # the boxes output (made by top_k_boxes) feeds crop_image; subtask 2 has no solution
    assert graph.edge_set == {
        ("detect_faces", "top_k_boxes"),
        ("detect_faces", "count_boxes"),
        ("top_k_boxes", "crop_image"),
    }


def test_unsolved_subtasks_add_nothing():
    graph = predicted_graph(PLAN, {0: None, 1: SOLUTION_1, 2: None})
    assert graph == CallGraph(nodes=["crop_image"], edges=[])
    assert predicted_graph(PLAN, {}) == CallGraph()


def test_a_tool_used_by_two_subtasks_is_one_node_and_feeding_itself_a_self_loop():
    again = Solution(
        subtask_id=1,
        outputs=["a1.image"],
        actions=[_action("a1", "crop_image", {"image": "input:0", "boxes": "input:1"}, {"image": "image"})],
    )
    graph = predicted_graph(PLAN, {0: SOLUTION_1.model_copy(update={"subtask_id": 0}), 1: again})
    assert graph.nodes == ["crop_image"]
    assert graph.edges == [("crop_image", "crop_image")]  # never gold, so it costs edge precision


def test_kinds():
    assert CallGraph(nodes=["a"]).kind() == "single"
    assert CallGraph(nodes=["a", "b", "c"], edges=[("a", "b"), ("b", "c")]).kind() == "chain"
    assert CallGraph(nodes=["a", "b", "c"], edges=[("a", "b"), ("a", "c")]).kind() == "dag"
    assert CallGraph(nodes=["a", "b"]).kind() == "dag"  # two independent tools
    assert CallGraph().kind() is None
