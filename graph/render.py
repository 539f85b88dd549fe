"""Pictures of tool graphs, ToG solutions and plans: mermaid text for docs and UIs, PNG/SVG files.

Every picture is first described as a small layered :class:`_Diagram` (nodes in columns, edges between
them); mermaid text and matplotlib drawings are two writers of that one description. Drawing is offline
and headless: a ``Figure`` on the Agg canvas, never pyplot, so rendering needs no display and leaves the
matplotlib backend of the program that imports ToG alone. matplotlib is imported only when drawing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graph.plan import Plan, Solution, Subtask
from graph.types import ResourceType

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.path import Path as MplPath

    from graph.toolgraph import ToolGraph

_FORMATS = {".png": "png", ".svg": "svg"}
_DPI = 100
_MAX_PIXELS = 30_000  # Agg refuses images above 2**16 pixels a side; stay well below
_FONT = 9.0
_SMALL_FONT = 7.0
_LABEL_CHARS = 36


@dataclass(frozen=True)
class _Style:
    shape: str  # "box" or "ellipse" in pictures
    fill: str
    stroke: str
    mermaid: tuple[str, str]  # the brackets that give the mermaid node its shape


_STYLES: dict[str, _Style] = {
    "type": _Style("ellipse", "#fff4d6", "#b7791f", ("([", "])")),
    "tool": _Style("box", "#dcebf7", "#2b6cb0", ("[", "]")),
    "input": _Style("ellipse", "#e3f4e1", "#2f855a", ("([", "])")),
    "output": _Style("ellipse", "#fde2e4", "#c53030", ("([", "])")),
    "action": _Style("box", "#dcebf7", "#2b6cb0", ("[", "]")),
    "subtask": _Style("box", "#ede7f6", "#553c9a", ("(", ")")),
}


@dataclass(frozen=True)
class _Node:
    key: str
    label: str
    kind: str
    layer: int


@dataclass(frozen=True)
class _Edge:
    source: str
    target: str
    label: str = ""
    rtype: ResourceType | None = None


@dataclass
class _Diagram:
    """Nodes in layers (left to right) and the edges between them; the one input of both writers."""

    nodes: list[_Node] = field(default_factory=list)
    edges: list[_Edge] = field(default_factory=list)
    title: str = ""
    layer_titles: tuple[str, ...] = ()

    def add(self, key: str, label: str, kind: str, layer: int) -> None:
        self.nodes.append(_Node(key, label, kind, layer))

    def connect(self, source: str, target: str, label: str = "", rtype: ResourceType | None = None) -> None:
        self.edges.append(_Edge(source, target, label, rtype))


# --- public API ---------------------------------------------------------------------------------


def graph_to_mermaid(tg: ToolGraph) -> str:
    """Mermaid flowchart of a tool graph: stadium type nodes, box tool nodes, edges named by argument.

    >>> from graph.spec import ToolSpec, InputSpec, OutputSpec
    >>> from graph.toolgraph import ToolGraph
    >>> tg = ToolGraph([ToolSpec(name="Image Search (by Image)", description="find similar images",
    ...     inputs=[InputSpec(name="image", type="image")], outputs=[OutputSpec(name="image", type="image")])])
    >>> print(graph_to_mermaid(tg).splitlines()[-1])
        tool_Image_Search_by_Image -->|"image"| type_image
    """
    return _to_mermaid(_tool_graph_diagram(tg, split_types=False))


def render_graph(tg: ToolGraph, path: str | Path) -> Path:
    """Draw a tool graph to ``.png`` or ``.svg`` and return the path.

    Layout: accepted types | tools | produced types. A type appears on both sides, so every arrow points
    right even where tools form cycles (image -> edit -> image); edges take their type's colour, and
    tools are ordered to keep lines short, which keeps a 60-tool catalogue readable.
    """
    path = Path(path)
    fmt = _format(path)
    _draw([_tool_graph_diagram(tg, split_types=True)], path, fmt, edge_labels=False)
    return path


def solution_to_mermaid(solution: Solution, subtask: Subtask | None = None) -> str:
    """Mermaid flowchart of one solution: inputs -> actions (tool names) -> outputs, edges named by argument.

    >>> from graph.plan import Action
    >>> sol = Solution(subtask_id=0, outputs=["a1.text"], actions=[
    ...     Action(id="a1", tool="image_captioning", args={"image": "input:0"}, outputs={"text": "text"})])
    >>> for line in solution_to_mermaid(sol).splitlines()[4:]:
    ...     print(line)
        input_0(["input:0"]):::tog_input
        action_a1["image_captioning"]:::tog_action
        output_0(["text"]):::tog_output
        input_0 -->|"image"| action_a1
        action_a1 -->|"text"| output_0
    """
    return _to_mermaid(_solution_diagram(solution, subtask))


def render_solutions(solutions: list[Solution], path: str | Path, subtask: Subtask | None = None) -> Path:
    """Draw ranked solutions, one panel each (best first, with score), to ``.png`` or ``.svg``."""
    path = Path(path)
    fmt = _format(path)
    if not solutions:
        raise ValueError("no solutions to draw: the list is empty")
    diagrams = []
    for rank, solution in enumerate(solutions, start=1):
        diagram = _solution_diagram(solution, subtask)
        steps = f"{solution.length} action" + ("" if solution.length == 1 else "s")
        diagram.title = f"#{rank}   score {solution.score:.3f}   {steps}"
        diagrams.append(diagram)
    title = f"subtask {subtask.id}: {_shorten(subtask.description, 90)}" if subtask else ""
    _draw(diagrams, path, fmt, edge_labels=True, title=title)
    return path


def plan_to_mermaid(plan: Plan) -> str:
    """Mermaid flowchart of a plan's subtasks and dependencies, edges named by the types passed on.

    >>> plan = Plan(request="r", subtasks=[Subtask(id=0, description="caption it",
    ...     args=[{"type": "image", "value": "a.png"}], returns=[{"type": "text"}])])
    >>> print(plan_to_mermaid(plan).splitlines()[-1])
        subtask_0("0. caption it<br/>image → text"):::tog_subtask
    """
    diagram = _Diagram()
    depth: dict[int, int] = {}
    for sid in plan.order():
        sub = plan.subtask(sid)
        depth[sid] = 1 + max((depth[d] for d in sub.deps), default=-1)
        given = ", ".join(r.type.value for r in sub.inputs) or "nothing"
        wanted = ", ".join(t.value for t in sub.target_types)
        diagram.add(f"subtask:{sid}", f"{sid}. {sub.description}\n{given} → {wanted}", "subtask", depth[sid])
        for dep in sorted(sub.deps):
            passed = sorted({r.type.value for r in sub.inputs if r.generated_by == dep})
            diagram.connect(f"subtask:{dep}", f"subtask:{sid}", ", ".join(passed))
    return _to_mermaid(diagram)


# --- building diagrams ----------------------------------------------------------------------------


def _tool_graph_diagram(tg: ToolGraph, split_types: bool) -> _Diagram:
    """Types once (mermaid lays them out itself) or twice, as accepted and as produced (columns)."""
    diagram = _Diagram(layer_titles=("accepted types", "tools", "produced types") if split_types else ())
    specs = tg.specs
    accepted = sorted({i.type for s in specs for i in s.inputs})
    produced = sorted({o.type for s in specs for o in s.outputs})
    in_key: Callable[[ResourceType], str] = (
        (lambda t: f"in:{t.value}") if split_types else (lambda t: f"type:{t.value}")
    )
    out_key: Callable[[ResourceType], str] = (
        (lambda t: f"out:{t.value}") if split_types else (lambda t: f"type:{t.value}")
    )
    for rtype in accepted if split_types else sorted(set(accepted) | set(produced)):
        diagram.add(in_key(rtype), rtype.value, "type", 0)
    for spec in specs:
        diagram.add(f"tool:{spec.name}", spec.name, "tool", 1)
    for rtype in produced if split_types else ():
        diagram.add(out_key(rtype), rtype.value, "type", 2)
    for spec in specs:  # one edge per (type, tool) pair, naming every argument of that type
        for rtype in _unique(i.type for i in spec.inputs):
            names = ", ".join(i.name for i in spec.inputs if i.type == rtype)
            diagram.connect(in_key(rtype), f"tool:{spec.name}", names, rtype)
        for rtype in _unique(o.type for o in spec.outputs):
            names = ", ".join(o.name for o in spec.outputs if o.type == rtype)
            diagram.connect(f"tool:{spec.name}", out_key(rtype), names, rtype)
    return diagram


def _solution_diagram(solution: Solution, subtask: Subtask | None) -> _Diagram:
    diagram = _Diagram()
    actions = {a.id: a for a in solution.actions}
    input_types = {f"input:{i}": r.type for i, r in enumerate(subtask.inputs)} if subtask else {}
    referenced = {key for a in solution.actions for key in a.args.values()} | set(solution.outputs)
    for key in sorted({k for k in referenced if k.startswith("input:")} | set(input_types), key=_input_order):
        diagram.add(key, _input_label(key, subtask), "input", 0)

    def source(key: str) -> tuple[str, str, ResourceType | None]:
        """Node, output name and type of a resource key; keys of unknown actions become input nodes."""
        if key.startswith("input:"):
            return key, "", input_types.get(key)
        action_id, _, out = key.partition(".")
        if action_id in actions:
            return f"action:{action_id}", out, actions[action_id].outputs.get(out)
        if not any(n.key == key for n in diagram.nodes):
            diagram.add(key, key, "input", 0)
        return key, out, None

    depth: dict[str, int] = {}
    for action in solution.actions:  # actions come in execution order, so producers are placed first
        sources = [(arg, *source(key)) for arg, key in sorted(action.args.items())]
        node = f"action:{action.id}"
        depth[node] = 1 + max((depth.get(src, 0) for _, src, _, _ in sources), default=0)
        diagram.add(node, action.tool, "action", depth[node])
        for arg, src, out, rtype in sources:
            diagram.connect(src, node, arg if out in ("", arg) else f"{out} → {arg}", rtype)
    last = 1 + max(depth.values(), default=0)
    for index, key in enumerate(solution.outputs):
        src, out, rtype = source(key)
        if subtask and index < len(subtask.outputs):
            rtype = subtask.outputs[index].type
        diagram.add(f"output:{index}", rtype.value if rtype else key, "output", last)
        diagram.connect(src, f"output:{index}", out, rtype)
    return diagram


def _input_order(key: str) -> tuple[int, str]:
    index = key.removeprefix("input:")
    return (int(index), "") if index.isdigit() else (1 << 30, key)


def _input_label(key: str, subtask: Subtask | None) -> str:
    index = key.removeprefix("input:")
    if subtask is None or not index.isdigit() or int(index) >= len(subtask.inputs):
        return key
    ref = subtask.inputs[int(index)]
    if ref.value is None:
        return ref.type.value
    value = ref.value if isinstance(ref.value, str) else json.dumps(ref.value, default=str)
    return f"{ref.type.value}: {_shorten(value, _LABEL_CHARS)}"


def _unique(items: Iterable[ResourceType]) -> list[ResourceType]:
    return list(dict.fromkeys(items))


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- mermaid ------------------------------------------------------------------------------------


def _to_mermaid(diagram: _Diagram) -> str:
    ids: dict[str, str] = {}
    for node in diagram.nodes:
        base = re.sub(r"[^A-Za-z0-9]+", "_", node.key).strip("_") or "node"
        candidate, n = base, 1
        while candidate in ids.values():
            n += 1
            candidate = f"{base}_{n}"
        ids[node.key] = candidate
    lines = ["flowchart LR"]
    for kind in sorted({n.kind for n in diagram.nodes}):
        style = _STYLES[kind]
        lines.append(f"    classDef tog_{kind} fill:{style.fill},stroke:{style.stroke},color:#1a202c")
    for node in diagram.nodes:
        opening, closing = _STYLES[node.kind].mermaid
        lines.append(f"    {ids[node.key]}{opening}{_quote(node.label)}{closing}:::tog_{node.kind}")
    for edge in diagram.edges:
        label = f"|{_quote(edge.label)}|" if edge.label else ""
        lines.append(f"    {ids[edge.source]} -->{label} {ids[edge.target]}")
    return "\n".join(lines) + "\n"


_MERMAID_SPECIAL = frozenset('#"<>`')


def _quote(label: str) -> str:
    """A double-quoted mermaid label: numeric entity codes (``#34;``) for the characters mermaid would
    parse or that would break the line, ``<br/>`` for line breaks."""

    def escape(char: str) -> str:
        unsafe = char in _MERMAID_SPECIAL or not char.isprintable() or (char.isspace() and char != " ")
        return f"#{ord(char)};" if unsafe else char

    return '"' + "<br/>".join("".join(map(escape, line)) for line in label.split("\n")) + '"'


# --- matplotlib -----------------------------------------------------------------------------------


def _format(path: Path) -> str:
    try:
        return _FORMATS[path.suffix.lower()]
    except KeyError:
        raise ValueError(
            f"cannot draw to {path.name!r}: the file name must end in .png or .svg, not {path.suffix or 'nothing'!r}"
        ) from None


@dataclass
class _Placed:
    """A diagram with every node's centre and size in inches from the panel's lower left corner.

    ``routes[i]`` lists the nodes edge ``i`` passes: its ends plus one waypoint (a zero-size dummy node)
    in every layer it skips, so long edges get their own row instead of running through other nodes.
    """

    diagram: _Diagram
    centres: dict[str, tuple[float, float]]
    sizes: dict[str, tuple[float, float]]
    columns: list[tuple[float, float]]  # centre x and width of each layer
    layer_of: dict[str, int]
    routes: list[list[str]]
    width: float
    height: float


_MARGIN = 0.3
_TITLE_H = 0.4
_V_GAP = 0.14


def _draw(diagrams: list[_Diagram], path: Path, fmt: str, edge_labels: bool, title: str = "") -> None:
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

    fig = Figure(dpi=_DPI)
    renderer = FigureCanvasAgg(fig).get_renderer()  # type: ignore[no-untyped-call]  # backend_agg is unannotated
    font = FontProperties(size=_FONT)
    small = FontProperties(size=_SMALL_FONT)

    def measure(text: str, prop: FontProperties) -> tuple[float, float]:
        lines = text.split("\n")
        sizes = [renderer.get_text_width_height_descent(line or " ", prop, ismath=False) for line in lines]
        return max(w for w, _, _ in sizes) / _DPI, sum(h for _, h, _ in sizes) / _DPI

    placed = [_place(d, lambda t: measure(t, font), lambda t: measure(t, small), edge_labels) for d in diagrams]
    top = _TITLE_H if title else 0.0
    width = max(p.width for p in placed)
    height = top + sum(p.height for p in placed)
    fig.set_size_inches(width, height)
    y = height - top
    for p in placed:
        y -= p.height
        ax = fig.add_axes((0.0, y / height, p.width / width, p.height / height))
        _paint(ax, p, edge_labels)
    if title:
        fig.text(
            0.5,
            1 - (_TITLE_H / 2) / height,
            title,
            ha="center",
            va="center",
            fontsize=_FONT + 2,
            fontweight="bold",
            parse_math=False,
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    dpi = min(_DPI, _MAX_PIXELS / max(width, height))
    metadata: dict[str, Any] = {"Date": None} if fmt == "svg" else {"Software": None}
    with matplotlib.rc_context({"svg.hashsalt": "tog", "svg.fonttype": "none"}):
        fig.savefig(path, format=fmt, dpi=dpi, metadata=metadata, facecolor="white")


_Measure = Callable[[str], tuple[float, float]]  # text -> (width, height) in inches


def _place(diagram: _Diagram, measure: _Measure, measure_small: _Measure, edge_labels: bool) -> _Placed:
    numbers = sorted({n.layer for n in diagram.nodes})
    layer_of = {n.key: numbers.index(n.layer) for n in diagram.nodes}
    layers: list[list[str]] = [[n.key for n in diagram.nodes if n.layer == number] for number in numbers]
    sizes: dict[str, tuple[float, float]] = {}
    for node in diagram.nodes:
        w, h = measure(node.label)
        ellipse = _STYLES[node.kind].shape == "ellipse"
        sizes[node.key] = (w * 1.3 + 0.12, h * 1.6 + 0.1) if ellipse else (w + 0.24, h + 0.16)
    routes: list[list[str]] = []
    for index, edge in enumerate(diagram.edges):
        route = [edge.source]
        for depth in range(layer_of[edge.source] + 1, layer_of[edge.target]):
            waypoint = f"\0{index}:{depth}"
            layers[depth].append(waypoint)
            layer_of[waypoint] = depth
            sizes[waypoint] = (0.0, 0.0)
            route.append(waypoint)
        routes.append([*route, edge.target])
    layers = _ordered_layers(layers, [(u, v) for route in routes for u, v in zip(route, route[1:])])

    rows = max(len(layer) for layer in layers)
    pitch = max(h for _, h in sizes.values()) + _V_GAP
    widest_label = max((measure_small(e.label)[0] for e in diagram.edges if e.label), default=0.0)
    gap = max(1.1, widest_label + 0.5) if edge_labels else min(4.0, 1.6 + 0.035 * rows)
    header = _TITLE_H if diagram.title or diagram.layer_titles else 0.0
    inner = rows * pitch
    centres: dict[str, tuple[float, float]] = {}
    columns: list[tuple[float, float]] = []
    x = _MARGIN
    for layer in layers:
        column = max(0.4, *(sizes[k][0] for k in layer))
        columns.append((x + column / 2, column))
        step = inner / len(layer)
        for i, key in enumerate(layer):
            centres[key] = (x + column / 2, _MARGIN + inner - (i + 0.5) * step)
        x += column + gap
    width = max(x - gap + _MARGIN, 3.0)
    return _Placed(diagram, centres, sizes, columns, layer_of, routes, width, inner + 2 * _MARGIN + header)


def _ordered_layers(layers: list[list[str]], links: list[tuple[str, str]], sweeps: int = 3) -> list[list[str]]:
    """Reorder each layer by the mean position of its neighbours (barycentre heuristic) so edges cross
    less; ties keep the given order, so the result is deterministic."""
    layers = [list(layer) for layer in layers]
    preds: dict[str, list[str]] = {key: [] for layer in layers for key in layer}
    succs: dict[str, list[str]] = {key: [] for layer in layers for key in layer}
    for u, v in links:
        succs[u].append(v)
        preds[v].append(u)
    pos = {key: i / max(len(layer) - 1, 1) for layer in layers for i, key in enumerate(layer)}

    def reorder(index: int, neighbours: dict[str, list[str]]) -> None:
        layer = layers[index]

        def barycentre(key: str) -> float:
            near = neighbours[key]
            return sum(pos[n] for n in near) / len(near) if near else pos[key]

        layer.sort(key=barycentre)
        pos.update({key: i / max(len(layer) - 1, 1) for i, key in enumerate(layer)})

    for _ in range(sweeps):
        for index in range(1, len(layers)):
            reorder(index, preds)
        for index in range(len(layers) - 2, -1, -1):
            reorder(index, succs)
    return layers


def _type_colour(rtype: ResourceType | None) -> str:
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    if rtype is None:
        return "#718096"
    tab20, dark2 = colormaps["tab20"], colormaps["Dark2"]  # listed maps: entry i is the map at integer i
    pairs = [tab20(i) for i in range(tab20.N)]  # dark/light pairs: dark ones first, they read better as thin lines
    palette = [*pairs[0::2], *(dark2(i) for i in range(dark2.N)), *pairs[1::2]]
    return to_hex(palette[list(ResourceType).index(rtype) % len(palette)])


def _paint(ax: Axes, placed: _Placed, edge_labels: bool) -> None:
    from matplotlib.patches import Ellipse, FancyArrowPatch, FancyBboxPatch, Patch

    ax.set_xlim(0, placed.width)
    ax.set_ylim(0, placed.height)
    ax.set_axis_off()
    diagram = placed.diagram
    top = placed.height - _TITLE_H / 2
    if diagram.title:
        ax.text(
            _MARGIN, top, diagram.title, ha="left", va="center", fontsize=_FONT + 1, fontweight="bold", parse_math=False
        )
    for (x, _), text in zip(placed.columns, diagram.layer_titles):
        ax.text(
            x, top, text, ha="center", va="center", fontsize=_FONT, style="italic", color="#4a5568", parse_math=False
        )
    for edge, route in zip(diagram.edges, placed.routes):
        colour = _type_colour(edge.rtype)
        points = _route_points(placed, route)
        ax.add_patch(
            FancyArrowPatch(
                path=_s_curves(points), arrowstyle="-|>", mutation_scale=9, color=colour, lw=1.0, alpha=0.75, zorder=1
            )
        )
        if edge_labels and edge.label:
            (x1, y1), (x2, y2) = points[0], points[1]
            ax.text(
                (x1 + x2) / 2,
                (y1 + y2) / 2,
                edge.label,
                ha="center",
                va="center",
                fontsize=_SMALL_FONT,
                color="#2d3748",
                zorder=3,
                parse_math=False,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": colour, "lw": 0.6},
            )
    for node in diagram.nodes:
        style = _STYLES[node.kind]
        (x, y), (w, h) = placed.centres[node.key], placed.sizes[node.key]
        shape: Patch
        if style.shape == "ellipse":
            shape = Ellipse((x, y), w, h, fc=style.fill, ec=style.stroke, lw=1.2, zorder=2)
        else:
            shape = FancyBboxPatch(
                (x - w / 2, y - h / 2),
                w,
                h,
                boxstyle="round,pad=0,rounding_size=0.05",
                fc=style.fill,
                ec=style.stroke,
                lw=1.2,
                zorder=2,
            )
        ax.add_patch(shape)
        ax.text(x, y, node.label, ha="center", va="center", fontsize=_FONT, zorder=4, parse_math=False, linespacing=1.1)


def _route_points(placed: _Placed, route: list[str]) -> list[tuple[float, float]]:
    """From the source's right side, straight across each skipped column in its waypoint's row, to the
    target's left side."""
    (x, y), (w, _) = placed.centres[route[0]], placed.sizes[route[0]]
    points = [(x + w / 2, y)]
    for waypoint in route[1:-1]:
        centre, column = placed.columns[placed.layer_of[waypoint]]
        y = placed.centres[waypoint][1]
        points += [(centre - column / 2, y), (centre + column / 2, y)]
    (x, y), (w, _) = placed.centres[route[-1]], placed.sizes[route[-1]]
    return [*points, (x - w / 2, y)]


def _s_curves(points: list[tuple[float, float]]) -> MplPath:
    """A path through the points: S-curves leaving and entering horizontally between columns, straight
    runs across skipped columns (every second pair of points)."""
    from matplotlib.path import Path as MplPath

    vertices = [points[0]]
    codes = [MplPath.MOVETO]
    for i, ((x0, y0), (x1, y1)) in enumerate(zip(points, points[1:])):
        if i % 2:
            vertices.append((x1, y1))
            codes.append(MplPath.LINETO)
        else:
            bend = (x1 - x0) / 2
            vertices += [(x0 + bend, y0), (x1 - bend, y1), (x1, y1)]
            codes += [MplPath.CURVE4] * 3
    return MplPath(vertices, codes)
