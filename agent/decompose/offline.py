"""A decomposer that needs no LLM: clauses, lexical cues, the embedding model and the tool graph.

How a request becomes a plan:

1. **Clauses** (:mod:`agent.decompose.clauses`): one per step the user asks for, English or Chinese.
   A clause with no cue of its own ("In photo.jpg, …") is context for its neighbour and joins it.
2. **Reading** (:mod:`agent.decompose.reading`, cues in :mod:`agent.decompose.cues`): what the clause
   wants ("how many" -> a number, "blur" -> an image, 朗读 -> audio; the strongest cue wins), what it
   names or points back to, and the text a tool needs from it (a question, a phrase, quoted words).
   Chinese clauses get an English gloss, because the embedding model reads English only.
3. **Frame**: every tool that can make a wanted type is scored by the embedding similarity of clause
   and tool description (no cue: every tool is a candidate). The best tool the clause can feed —
   from given resources, earlier results or its own literal, directly or through other tools — fixes
   the subtask's target type and which *kinds* of input it takes. The ToG planner later picks the
   actual tools; the frame only has to pose a subtask it can solve.
4. **Binding** each input kind to a value: a file the clause names wins; words about an earlier result
   ("them", "the cropped image", 它们, 结果) take that clause's output; "the original" and "this photo"
   take the given file; a clause that names nothing continues from the clause before it when that one
   made the kind needed, and otherwise uses the latest given resource of the kind. Nothing is ever
   invented: a kind that no resource and no earlier clause provides is a :class:`DecompositionError`.
5. **Prerequisites**: when the best tool needs an input that must first be made ("crop the dog" needs
   the dog's box), a subtask making it comes first, so each subtask is one clear step for the planner.
   A clause whose cues allow several results makes the one the next clause needs ("read the text and
   box it": text *lines with boxes*).
6. **Check**: each subtask must be solvable in the tool graph (a search with a uniform assessor: every
   input used, the targets made); its description is the first wording with which the real planner
   finds a solution (the clause, headed by the task it stands for when that is needed).
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from agent.decompose.base import Decomposer, DecompositionError, Resource
from agent.decompose.clauses import FILE_NAME, split_clauses
from agent.decompose.cues import Intent, Literal
from agent.decompose.reading import Reading, basename, merge_context, read_clause
from graph.assessors import EmbeddingAssessor, UniformAssessor, tool_text
from graph.errors import EmptyRequestError, NoSolutionError
from graph.plan import Plan, ResourceRef, Subtask
from graph.search import SearchConfig, Strategy, ToGPlanner
from graph.spec import ToolSpec
from graph.toolgraph import ToolGraph
from graph.types import ResourceType

if TYPE_CHECKING:  # pragma: no cover
    from graph.embedding import Embedder

T = ResourceType

#: How many frames (best tools) are tried per clause before giving up on it.
MAX_FRAMES = 8
#: Score bonus of a tool that makes the intent's preferred target type.
PREFERRED_TARGET_BONUS = 0.12
#: Score bonus of a tool that takes the clause's literal when the literal must be used (a question).
LITERAL_BONUS = 0.1
#: Score bonus of a tool that can take a plain category phrase ("cars and pedestrians") as its categories.
PHRASE_BONUS = 0.08
#: Score bonus per required input fed directly (no extra tool in between).
DIRECT_BONUS = 0.03
#: Weight of the similarity between a tool and the gloss of the clause's winning cue ("translate the
#: caption": translating, not captioning, is what is asked).
INTENT_WEIGHT = 0.5
#: Below this similarity a clause with no cue is not understood.
MIN_SIMILARITY = 0.2
#: Text arguments that steer a tool rather than being the text it works on.
_PARAMETER_TEXT = {"question", "phrase", "category", "categories", "label", "name", "query", "tag", "prompt"}
#: Kinds of input only a user can give (no tool makes the user's photo or recording).
FILE_INPUT_KINDS = frozenset({T.IMAGE, T.AUDIO, T.VIDEO, T.DOCUMENT})
#: What a prerequisite subtask does, by the kind it makes, when no cue of the clause says it.
_MAKE = {T.BBOXES: "detect and locate objects", T.TEXT: "get the text", T.NUMBER: "count", T.LABELS: "classify",
         T.TAGS: "extract keywords", T.TRANSCRIPT: "transcribe"}
#: Words that make a question about an image a question about a document.
_DOCUMENT_WORDS = re.compile(r"\b(?:receipt|invoice|bill|form|document|chart|plot|graph|table|infographic|"
                             r"screenshot|total|amount|price|date|due)\b|收据|发票|表格|图表|文档|总额|金额|价格|日期",
                             re.IGNORECASE)


@dataclass
class _Source:
    """A value a subtask may take: a given resource, an earlier subtask's output, or a literal."""

    type: ResourceType
    value: object
    origin: str  # "given" | "generated" | "literal"
    producer: int | None = None
    name: str | None = None

    def ref(self) -> ResourceRef:
        return ResourceRef(type=self.type, value=self.value)


@dataclass
class _Frame:
    tool: ToolSpec
    score: float
    target: ResourceType


@dataclass
class _Binding:
    """The values a frame takes: ``inputs`` directly, and ``made`` kinds produced from a source first."""

    inputs: list[_Source]
    made: list[tuple[ResourceType, _Source]]

    def unsplit(self) -> list[_Source]:
        """All inputs of one subtask in which the planner makes the ``made`` kinds itself."""
        out = list(self.inputs)
        for _, source in self.made:
            if all(source is not s for s in out):
                out.append(source)
        return out


@dataclass
class _State:
    given: list[_Source]
    subtasks: list[Subtask] = field(default_factory=list)
    outputs: list[_Source] = field(default_factory=list)  # outputs[i] is what subtasks[i] makes
    mains: list[int] = field(default_factory=list)  # per clause so far: the id of its main subtask

    def reset(self, size: int) -> None:
        del self.subtasks[size:]
        del self.outputs[size:]


@dataclass(frozen=True)
class _Hint:
    """Re-read clause ``clause`` wanting ``target`` first: the next clause needs it from the same input."""

    clause: int
    target: ResourceType


class OfflineDecomposer(Decomposer):
    """Request + resources -> Plan with no language model (see the module docstring for how).

    ``specs`` are the tools planning will use (default: every built-in tool, available or not);
    ``embedder`` defaults to the shared MiniLM model, loaded on first use; ``planner`` is the planner
    the plan is meant for (default: ToG with the embedding assessor and default settings), used to
    choose descriptions it can plan with.

    >>> from agent.decompose.base import Resource
    >>> plan = OfflineDecomposer().decompose("find the faces in photo.jpg and blur them",
    ...     [Resource(name="photo.jpg", type="image")])  # doctest: +SKIP
    >>> [(s.target_types[0].value, s.deps) for s in plan.subtasks]  # doctest: +SKIP
    [('bboxes', []), ('image', [0])]
    """

    name = "offline"

    def __init__(self, embedder: Embedder | None = None, specs: Sequence[ToolSpec] | None = None,
                 planner: ToGPlanner | None = None, max_depth: int = 5) -> None:
        self._embedder = embedder
        self._specs = list(specs) if specs is not None else None
        self._planner = planner
        self._max_depth = max_depth
        self._lock = threading.Lock()
        self._graph: ToolGraph | None = None
        self._checker: ToGPlanner | None = None
        self._tool_vectors: np.ndarray | None = None
        self._feasible: dict[tuple[tuple[str, ...], str], bool] = {}
        self._intent_rows: dict[str, np.ndarray] = {}

    # --- lazily built state ---------------------------------------------------------------------

    @property
    def graph(self) -> ToolGraph:
        with self._lock:
            if self._graph is None:
                if self._specs is None:
                    from tools.registry import default_registry

                    self._specs = default_registry().specs()
                self._graph = ToolGraph(self._specs)
                self._checker = ToGPlanner(self._graph, UniformAssessor(), SearchConfig(
                    strategy=Strategy.ADAPTIVE, top_k=1, max_depth=self._max_depth, max_expansions=20_000))
            return self._graph

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from graph.embedding import shared_embedder

            self._embedder = shared_embedder()
        return self._embedder

    @property
    def planner(self) -> ToGPlanner:
        if self._planner is None:
            self._planner = ToGPlanner(self.graph, EmbeddingAssessor(self.embedder), SearchConfig())
        return self._planner

    def _intent_row(self, intent: Intent | None) -> np.ndarray:
        """Similarity of the intent's gloss with each tool (zeros without an intent), cached."""
        if intent is None:
            return np.zeros(len(self.graph.specs), dtype=np.float32)
        if intent.name not in self._intent_rows:
            self._intent_rows[intent.name] = self._similarities([intent.gloss])[0]
        return self._intent_rows[intent.name]

    def _similarities(self, texts: list[str]) -> np.ndarray:
        """Cosine similarity of each text (rows) with each tool of the graph (columns, in spec order)."""
        specs = self.graph.specs
        if self._tool_vectors is None:
            self._tool_vectors = np.asarray(self.embedder.encode([tool_text(s) for s in specs]))
        return np.asarray(self.embedder.encode(texts)) @ self._tool_vectors.T

    # --- the decomposition ----------------------------------------------------------------------

    def decompose(self, request: str, resources: Sequence[Resource] = ()) -> Plan:
        if not request or not request.strip():
            raise EmptyRequestError("the request is empty: say what should be done")
        resources = list(resources)
        self._check_named_files(request, resources)
        readings = merge_context([read_clause(c, resources) for c in split_clauses(request)])
        if not readings:
            raise DecompositionError(f"could not find anything to do in {request!r}")
        sims = self._similarities([r.text for r in readings])
        sims = np.stack([row + INTENT_WEIGHT * self._intent_row(r.intent) for r, row in zip(readings, sims)])
        given = [_Source(type=r.type, value=r.ref().value, origin="given", name=r.name) for r in resources]
        overrides: dict[int, tuple[ResourceType, ...]] = {}
        while True:
            state, hint = self._run(readings, sims, given, overrides)
            if hint is None or hint.clause in overrides:
                break
            targets = readings[hint.clause].intent.targets  # type: ignore[union-attr]
            overrides[hint.clause] = (hint.target, *(t for t in targets if t is not hint.target))
        return Plan.parse({"request": request, "subtasks": [s.model_dump() for s in state.subtasks]})

    def _run(self, readings: list[Reading], sims: np.ndarray, given: list[_Source],
             overrides: dict[int, tuple[ResourceType, ...]]) -> tuple[_State, _Hint | None]:
        state = _State(given=list(given))
        first_hint: _Hint | None = None
        for index, (reading, row) in enumerate(zip(readings, sims)):
            self._check_mentions(reading, state.given + state.outputs)
            targets = overrides.get(index) or (reading.intent.targets if reading.intent else ())
            literal = _Source(type=T.TEXT, value=reading.literal, origin="literal") if reading.literal else None
            ok, hint = self._pose(reading, row, state, targets, literal, clause=index, readings=readings)
            if not ok:
                raise self._unsolvable(reading, state, targets)
            state.mains.append(len(state.subtasks) - 1)
            first_hint = first_hint or hint
        return state, first_hint

    def _check_named_files(self, request: str, resources: list[Resource]) -> None:
        known = {basename(str(n)) for r in resources for n in (r.name, r.value) if isinstance(n, str)}
        missing = list(dict.fromkeys(m.group(0) for m in FILE_NAME.finditer(request) if basename(m.group(0)) not in known))
        if missing:
            given = ", ".join(f"{r.name} ({r.type.value})" for r in resources) or "nothing"
            raise DecompositionError(
                f"the request names {', '.join(missing)}, which {'was' if len(missing) == 1 else 'were'} not given "
                f"(given: {given})", missing=missing)

    def _check_mentions(self, reading: Reading, pool: list[_Source]) -> None:
        """A clause about "the recording" needs a recording: say so instead of planning something else."""
        have = {s.type for s in pool}
        missing = sorted(t.value for t in reading.mentioned | reading.deictic if t not in have and (
            t in FILE_INPUT_KINDS or not have or t not in self.graph.reachable_types(have)))
        if missing:
            kinds = " and ".join(("an " if m[0] in "aeiou" else "a ") + m for m in missing)
            given = ", ".join(sorted({s.type.value for s in pool})) or "nothing"
            raise DecompositionError(f"{reading.clause.text!r} works on {kinds}, but none was given (have: {given})",
                                     missing=missing, clause=reading.clause.text)

    # --- one clause -> subtasks -----------------------------------------------------------------

    def _pose(self, reading: Reading, sims: np.ndarray, state: _State, targets: tuple[ResourceType, ...],
              literal: _Source | None, clause: int = -1, readings: Sequence[Reading] = (),
              pool: _State | None = None, purpose: str | None = None, depth: int = 0) -> tuple[bool, _Hint | None]:
        """Add the subtask(s) for one clause to ``state``: (False, …) with the state unchanged when none
        is solvable. ``pool`` limits the inputs (a prerequisite takes only what its step works on)."""
        source = pool or state
        hint: _Hint | None = None
        strong = literal is not None and reading.strong_literal
        for frame in self._frames(sims, source.given + source.outputs, literal, targets, strong)[:MAX_FRAMES]:
            binding = self._bind(frame, reading, source.given, source.outputs, literal)
            if binding is None:
                continue
            if depth < 2 and binding.made:
                if depth == 0:
                    hint = hint or self._hint(reading, state, binding, clause, readings)
                size = len(state.subtasks)
                made = [self._prerequisite(reading, state, rtype, src, binding, literal, depth + 1)
                        for rtype, src in binding.made]
                if all(m is not None for m in made) and self._add(
                        state, reading, frame.target, binding.inputs + [m for m in made if m is not None]):
                    return True, hint
                state.reset(size)
            if self._add(state, reading, frame.target, binding.unsplit(), purpose):
                return True, hint
        return False, hint

    def _hint(self, reading: Reading, state: _State, binding: _Binding, clause: int,
              readings: Sequence[Reading]) -> _Hint | None:
        """"Read the text and box it": the clause before could have made the boxes from the same photo."""
        if clause <= 0 or not state.mains or reading.named:
            return None
        refers = reading.pronoun or reading.elliptic
        before = readings[clause - 1]
        main = state.subtasks[state.mains[-1]]
        for rtype, source in binding.made:
            if before.intent is None or rtype not in before.intent.targets or rtype in main.target_types:
                continue
            if not (refers or rtype in reading.referenced):
                continue
            if any(ref.value == source.value and ref.type is source.type for ref in main.inputs):
                return _Hint(clause=clause - 1, target=rtype)
        return None

    def _prerequisite(self, reading: Reading, state: _State, rtype: ResourceType, source: _Source,
                      binding: _Binding, literal: _Source | None, depth: int) -> _Source | None:
        """A subtask making ``rtype`` from ``source`` only (the dog's box from the photo); its output.

        Its tools are scored against the clause headed by what the step is for: the clause's other cue
        that makes ``rtype`` ("crop the *largest* face": selecting boxes) or else the plain way to make
        it (detecting objects) — and a selecting step gets its own prerequisite (detecting the faces)."""
        pool = _State(given=[source]) if source.origin == "given" else _State(given=[], outputs=[source])
        unused = None if any(s is literal for s in binding.inputs) else literal
        intent = next((i for i in reading.intents[depth:] if rtype in i.targets and i is not reading.intent), None)
        purpose = intent.gloss if intent is not None else _MAKE.get(rtype, "first")
        sims = self._similarities([f"{purpose}: {reading.text}"])[0] + INTENT_WEIGHT * self._intent_row(intent)
        ok, _ = self._pose(reading, sims, state, (rtype,), unused, pool=pool, purpose=purpose, depth=depth)
        return state.outputs[-1] if ok else None

    def _add(self, state: _State, reading: Reading, target: ResourceType, inputs: list[_Source],
             purpose: str | None = None) -> bool:
        """Append the subtask if the tool graph can solve it, worded so the planner finds the step."""
        def subtask(description: str) -> Subtask:
            return Subtask(id=len(state.subtasks), description=description, args=[s.ref() for s in inputs],
                           returns=[{"type": target}], dep=sorted({s.producer for s in inputs if s.producer is not None}))

        wordings = _descriptions(reading, inputs, purpose)
        chosen = subtask(wordings[0])
        if not self._solvable(chosen):
            return False
        for wording in wordings:
            candidate = subtask(wording)
            if self._plannable(candidate):
                chosen = candidate
                break
        state.subtasks.append(chosen)
        state.outputs.append(_Source(type=target, value=f"<GENERATED>-{chosen.id}", origin="generated",
                                     producer=chosen.id))
        return True

    def _frames(self, sims: np.ndarray, pool: list[_Source], literal: _Source | None,
                targets: tuple[ResourceType, ...], strong: bool) -> list[_Frame]:
        """Tools that could serve the clause, best first, each with the target type it would make."""
        have = {s.type for s in pool} | ({T.TEXT} if literal is not None else set())
        count = Counter(s.type for s in pool)
        reachable = self.graph.reachable_types(have) if have else set()
        frames: list[_Frame] = []
        for spec, sim in zip(self.graph.specs, sims):
            outs = [o.type for o in spec.outputs if not targets or o.type in targets]
            if not outs:
                continue
            files = Counter(i.type for i in spec.required_inputs if i.type in FILE_INPUT_KINDS)
            if any(count[kind] < n for kind, n in files.items()):
                continue  # two photos to compare need two photos: tools do not make the user's files
            direct, feasible = 0, True
            for inp in spec.required_inputs:
                if inp.type is T.TEXT and _is_parameter(spec, inp.name):
                    feasible = feasible and literal is not None  # a question or phrase comes from the user
                elif inp.type in have:
                    direct += 1
                elif inp.type not in reachable:
                    feasible = False
            if not feasible:
                continue
            score = float(sim) + DIRECT_BONUS * direct
            if literal is not None and any(i.type is T.TEXT for i in spec.inputs):
                score += LITERAL_BONUS if strong else PHRASE_BONUS
            if targets and outs[0] is targets[0]:
                score += PREFERRED_TARGET_BONUS
            frames.append(_Frame(tool=spec, score=score, target=outs[0]))
        frames.sort(key=lambda f: (-f.score, f.tool.name))
        if not targets and (not frames or frames[0].score < MIN_SIMILARITY):
            return []
        return frames

    def _bind(self, frame: _Frame, reading: Reading, given: list[_Source], outputs: list[_Source],
              literal: _Source | None) -> _Binding | None:
        """The values the subtask takes for this frame, or None when the clause cannot feed it.

        Parameters (a question, a phrase) take the clause's literal; other inputs are resolved to a
        given file or an earlier result, or else to a value tools can make them from ("blur the faces":
        the boxes come from the photo)."""
        spec = frame.tool
        chosen: list[_Source] = []
        made: list[tuple[ResourceType, _Source]] = []

        def free(sources: list[_Source]) -> list[_Source]:
            return [s for s in sources if all(s is not c for c in chosen)]

        if literal is not None and any(i.type is T.TEXT and _is_parameter(spec, i.name) for i in spec.inputs):
            chosen.append(literal)
        have = {s.type for s in given + outputs}
        for inp in spec.required_inputs:
            if inp.type is T.TEXT and _is_parameter(spec, inp.name):
                if literal is None:
                    return None
                continue
            if inp.type is T.TEXT and literal is not None and all(literal is not c for c in chosen) and (
                    reading.intent is None or reading.intent.literal is Literal.CONTENT):
                chosen.append(literal)
                continue
            source = _resolve(inp.type, reading, free(given), free(outputs))
            if source is None and inp.type in FILE_INPUT_KINDS:
                return None
            if source is None:
                source = next((c for c in chosen if c.origin != "literal" and self.graph.can_reach({c.type}, inp.type)),
                              None) or self._upstream(inp.type, reading, free(given), free(outputs), have)
                if source is None:
                    return None
                made.append((inp.type, source))
                continue
            chosen.append(source)
        for inp in spec.inputs:  # "combine a.jpg, b.jpg and c.jpg": a third named file fills the optional slot
            if not inp.required and inp.type is not T.TEXT:
                extra = next((s for i in reading.named if i < len(given) for s in free(given)
                              if s is given[i] and s.type is inp.type), None)
                if extra is not None:
                    chosen.append(extra)
        return _Binding(inputs=chosen, made=made)

    def _upstream(self, rtype: ResourceType, reading: Reading, given: list[_Source], outputs: list[_Source],
                  have: set[ResourceType]) -> _Source | None:
        """A value from which tools can make ``rtype`` (the photo the boxes will be found in)."""
        for kind in _preferred_kinds(reading, have):
            if self.graph.can_reach({kind}, rtype):
                source = _resolve(kind, reading, given, outputs)
                if source is not None:
                    return source
        return None

    def _solvable(self, subtask: Subtask) -> bool:
        """Whether some tool chain consumes every input and makes the target (cached by type signature)."""
        key = (tuple(sorted(r.type.value for r in subtask.inputs)), subtask.target_types[0].value)
        if key not in self._feasible:
            _ = self.graph
            assert self._checker is not None
            try:
                self._checker.search(subtask)
                self._feasible[key] = True
            except NoSolutionError:
                self._feasible[key] = False
        return self._feasible[key]

    def _plannable(self, subtask: Subtask) -> bool:
        """Whether the planner this plan is for finds a solution with this wording."""
        try:
            self.planner.search(subtask)
        except NoSolutionError:
            return False
        return True

    def _unsolvable(self, reading: Reading, state: _State, targets: tuple[ResourceType, ...]) -> DecompositionError:
        have = sorted({s.type.value for s in state.given + state.outputs})
        text = reading.clause.text
        if not targets:
            return DecompositionError(f"could not tell what to do with {text!r}", clause=text)
        needs = sorted({i.type.value for spec in self.graph.specs if any(o.type in targets for o in spec.outputs)
                        for i in spec.required_inputs if i.type in FILE_INPUT_KINDS} - set(have))
        wanted = " or ".join(t.value for t in targets)
        if needs:
            return DecompositionError(
                f"{text!r} asks for {wanted}, which needs {' or '.join(needs)} as input; the request gives "
                f"{', '.join(have) or 'nothing'}", missing=needs, clause=text)
        return DecompositionError(f"no tool chain makes {wanted} for {text!r} from {', '.join(have) or 'nothing'}",
                                  clause=text)


# --- helpers --------------------------------------------------------------------------------------


def _descriptions(reading: Reading, inputs: list[_Source], purpose: str | None) -> list[str]:
    """Wordings of a subtask for the planner, preferred first: the clause (an English gloss first when
    Chinese), headed by the task it stands for where the clause alone would mislead the embedding
    model — a prerequisite's purpose, a question's kind (visual, document, video, text question
    answering), grounding a referring phrase, or the winning cue when several compete."""
    base = f"{reading.gloss} ({reading.clause.text})" if reading.chinese and reading.gloss else reading.clause.text
    intent = reading.intent
    label = purpose
    literal = any(s.origin == "literal" for s in inputs)
    if label is None and intent is not None and literal and intent.literal is Literal.QUESTION:
        kinds = {s.type for s in inputs if s.origin != "literal"}
        if T.VIDEO in kinds:
            label = "video question answering"
        elif T.IMAGE in kinds:
            label = "document question answering" if _DOCUMENT_WORDS.search(reading.clause.text) else \
                "visual question answering"
        elif T.TEXT in kinds:
            label = "question answering over the text"
    elif label is None and intent is not None and literal and intent.literal is Literal.PHRASE and reading.referring:
        label = "visual grounding, find the region a phrase describes"
    elif label is None and intent is not None and len(reading.intents) > 1:
        label = intent.gloss
    wordings = [f"{label}: {base}" if label else base]
    if intent is not None and label != intent.gloss:
        wordings.append(f"{intent.gloss}: {base}")
    return wordings


def _is_parameter(spec: ToolSpec, name: str) -> bool:
    """A text argument that steers a tool (a question, a phrase) rather than the text it works on."""
    return name in _PARAMETER_TEXT or (len(spec.required_inputs) > 1 and name != "text")


def _preferred_kinds(reading: Reading, have: set[ResourceType]) -> list[ResourceType]:
    """Kinds to look for when a tool's input must be made from something: named ones first."""
    order = [t for t in (*reading.mentioned, *reading.deictic, *reading.referenced) if t in have]
    order += [t for t in (T.IMAGE, T.VIDEO, T.AUDIO, T.DOCUMENT, T.TEXT, T.BBOXES) if t in have and t not in order]
    order += [t for t in sorted(have) if t not in order]
    return order


def _resolve(rtype: ResourceType, reading: Reading, given: list[_Source], outputs: list[_Source]) -> _Source | None:
    """The value of kind ``rtype`` the clause means (see the module docstring, step 4)."""
    named = [g for g in given if g.type is rtype and g.name is not None and basename(g.name) in reading.clause.text.lower()]
    if named:
        return named[0]
    made = [o for o in outputs if o.type is rtype]
    mine = [g for g in given if g.type is rtype]
    if mine and (reading.original or (rtype in reading.deictic and rtype not in reading.referenced)):
        return mine[-1]
    if made and (rtype in reading.referenced or (reading.pronoun and rtype not in reading.mentioned)):
        return made[-1]
    latest = bool(outputs) and outputs[-1] is made[-1] if made else False
    if made and rtype in reading.mentioned and (not mine or latest):
        return made[-1]  # "rotate the photo, then caption the photo": the photo is now the rotated one
    if made and not reading.named and rtype not in reading.mentioned and (latest or not mine):
        return made[-1]  # "transcribe the audio, then summarise": continues from the step before
    if mine:
        return mine[-1]
    return made[-1] if made else None
