"""The tool graph a plan stands for: the tools of the chosen solutions and the data flowing between them.

Within a solution, an action consuming another action's output is an edge (producer tool -> consumer
tool). Across subtasks, a subtask input ``<GENERATED>-k`` is subtask k's output: the tool that made
that output feeds every action that takes the input. Given resources are not nodes. A tool is one node
even when two subtasks use it; if one of them feeds the other, the edge is a self-loop, which no gold
graph has, so the repetition costs edge precision.
"""

from __future__ import annotations

from collections.abc import Mapping

from agent.evaluation.callgraph import CallGraph
from graph.plan import Plan, ResourceRef, Solution, Subtask, input_key


def predicted_graph(plan: Plan, solutions: Mapping[int, Solution | None]) -> CallGraph:
    """``solutions`` maps a subtask id to the planner's best solution (missing or ``None``: unsolved,
    so it adds no tools and no edges).

    >>> from graph.plan import Action
    >>> plan = Plan.parse({"request": "blur faces", "subtasks": [
    ...     {"id": 0, "description": "find faces", "args": [{"type": "image", "value": "a.jpg"}],
    ...      "returns": [{"type": "bboxes"}]},
    ...     {"id": 1, "description": "blur them", "dep": [0], "args": [{"type": "image", "value": "a.jpg"},
    ...      {"type": "bboxes", "value": "<GENERATED>-0"}], "returns": [{"type": "image"}]}]})
    >>> found = {0: Solution(subtask_id=0, outputs=["a1.faces"], actions=[Action(id="a1", tool="detect_faces",
    ...          args={"image": "input:0"}, outputs={"faces": "bboxes"})]),
    ...          1: Solution(subtask_id=1, outputs=["a1.image"], actions=[Action(id="a1", tool="blur_regions",
    ...          args={"image": "input:0", "boxes": "input:1"}, outputs={"image": "image"})])}
    >>> predicted_graph(plan, found).edges
    [('detect_faces', 'blur_regions')]
    """
    nodes: list[str] = []
    edges: list[tuple[str, str]] = []

    def add_edge(source: str, target: str) -> None:
        if (source, target) not in edges:
            edges.append((source, target))

    for sub in plan.subtasks:
        solution = solutions.get(sub.id)
        if solution is None:
            continue
        tools = {a.id: a.tool for a in solution.actions}
        for action in solution.actions:
            if action.tool not in nodes:
                nodes.append(action.tool)
            for dep in action.deps:
                add_edge(tools[dep], action.tool)
        for index, ref in enumerate(sub.inputs):
            producer = _producing_tool(plan, solutions, ref)
            if producer is None:
                continue
            for action in solution.actions:
                if input_key(index) in action.args.values():
                    add_edge(producer, action.tool)
    return CallGraph(nodes=nodes, edges=edges)


def _producing_tool(plan: Plan, solutions: Mapping[int, Solution | None], ref: ResourceRef) -> str | None:
    """The tool of subtask k's solution that made the output ``<GENERATED>-k`` stands for: the output of
    the reference's type (the first output if none has it)."""
    producer_id = ref.generated_by
    if producer_id is None:
        return None
    solution = solutions.get(producer_id)
    if solution is None or not solution.outputs:
        return None
    producer: Subtask = plan.subtask(producer_id)
    types = [o.type for o in producer.outputs]
    position = types.index(ref.type) if ref.type in types else 0
    key = solution.outputs[min(position, len(solution.outputs) - 1)]
    action_id = key.split(".", 1)[0]
    return next((a.tool for a in solution.actions if a.id == action_id), None)
