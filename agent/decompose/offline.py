"""A decomposer that needs no LLM: clauses, lexical cues, the embedding model and the tool graph.

How a request becomes a plan:

1. **Clauses** (:mod:`agent.decompose.clauses`): one per step the user asks for, English or Chinese,
   each remembering whether it follows the one before ("then": it works on what that one made) or
   sits beside it ("and", "also": on what that one worked on). A clause with no cue of its own
   ("In photo.jpg, …") or that only states something ("the photo is too dark") is context.
2. **Reading** (:mod:`agent.decompose.reading`, cues in :mod:`agent.decompose.cues`): what the clause
   wants ("how many" -> a number, "blur" -> an image, 朗读 -> audio; the strongest cue wins), what it
   names or points back to, and the text a tool needs from it (a question, a phrase, quoted words).
   Chinese clauses get an English gloss, because the embedding model reads English only.
3. **Frame**: every tool that can make a wanted type is scored by the embedding similarity of clause
   and tool description, plus that of the winning cue's gloss (no cue: every tool is a candidate). The
   best tool the clause can feed — from given resources, earlier results or its own literal, directly
   or through other tools — fixes the subtask's target type and which *kinds* of input it takes. The
   ToG planner later picks the actual tools; the frame only has to pose a subtask it can solve. Types
   steer it too: a tool taking the kind of the file the clause names wins over one for the other given
   files, a tool remaking a kind the user gave by name loses, and a clause pointing back ("count what's
   left") prefers tools that take the latest result.
4. **Binding** each input kind to a value: a file the clause names wins; words about an earlier result
   ("the summary", "them", "the cropped image", 它们, 结果) take that step's output; "the original" and
   "this photo" take the given file; a clause that names nothing takes what its sibling took ("and")
   or what the step before made ("then"; a list an "and" step before narrowed is what is left of it),
   else the latest given resource of the kind. An edit (a tool returning the kind of file it takes:
   blur, grey, crop) takes the latest edited version of its file, so the edits of one input compose
   into one result whatever joins their clauses, unless a clause asks for a version of its own ("a grey
   copy", "separately") or for the original. Nothing is ever
   invented: a kind that no resource and no earlier step provides is a :class:`DecompositionError`.
5. **Prerequisites**: when the best tool needs an input that must first be made ("crop the dog" needs
   the dog's box), a subtask making it comes first, so each subtask is one clear step for the planner;
   a cue that narrows a list ("the *largest* face", "only the 'dog' boxes") adds a selecting step, and a
   question about a value in a document ("what is the total on receipt.jpg") reads the text, selects the
   line the question names and extracts the number. A clause pointing back ("say the number out loud",
   "then read it out") makes what it needs from the latest result, never from a file instead.
   A clause whose cues allow several results makes the one the next clause needs ("read the text and
   box it": text *lines with boxes*).
6. **Check**: each subtask must be solvable in the tool graph (a search with a uniform assessor: every
   input used, the targets made), and the catalogue's plausibility rules (``not_after``: speech a chain
   synthesised is not transcribed back) hold across subtasks as they do inside one; its description is
   the first wording with which the planner's best solution ends in the frame's tool (the clause, headed
   by the task it stands for when needed).
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from agent.decompose.base import Decomposer, DecompositionError, Resource
from agent.decompose.clauses import FILE_NAME, split_clauses
from agent.decompose.cues import (
    DOCUMENT_WORDS,
    INTENT_BY_NAME,
    INTENTS,
    LANGUAGE_WISH_EN,
    Intent,
    Literal,
    wished_language,
)
from agent.decompose.reading import (
    Reading,
    asks_for_separate_results,
    basename,
    fallback_intents,
    gloss,
    is_interrogative,
    is_referring,
    literal_for,
    merge_context,
    read_clause,
)
from graph.assessors import EmbeddingAssessor, UniformAssessor, tool_text
from graph.constraints import Constraints, resolve_constraints
from graph.errors import EmptyRequestError, NoSolutionError
from graph.plan import Plan, ResourceRef, Subtask
from graph.search import SearchConfig, Strategy, ToGPlanner
from graph.spec import InputSpec, ToolSpec
from graph.toolgraph import ToolGraph
from graph.types import ResourceType

if TYPE_CHECKING:  # pragma: no cover
    from graph.embedding import Embedder

T = ResourceType

#: How many frames (best tools) are tried per clause before giving up on it.
MAX_FRAMES = 8
#: Weight of the similarity between a tool and the gloss of the clause's winning cue ("translate the
#: caption": translating, not captioning, is what is asked).
INTENT_WEIGHT = 0.5
#: Score bonus of a tool that makes the intent's preferred target type.
PREFERRED_TARGET_BONUS = 0.12
#: Score bonus of a tool that needs the clause's literal when the literal must be used (a question);
#: half of it when the tool only may take it.
LITERAL_BONUS = 0.1
#: Score bonus of a tool that can take a plain category phrase ("cars and pedestrians").
PHRASE_BONUS = 0.08
#: Score bonus per required input fed directly (no extra tool in between).
DIRECT_BONUS = 0.03
#: Score bonus of a tool that takes, as it is, the kind of a file the clause names ("describe what happens
#: in trailer.mp4": a video tool, though the request also gives a photo).
NAMED_BONUS = 0.15
#: Score bonus of a tool that takes the kind of the latest result when the clause points back at it
#: ("count what's left" after filtering boxes: count the boxes, not the objects in the photo).
CHAIN_BONUS = 0.1
#: A tool whose description the clause's object alone matches this well is its speciality ("faces").
ROUTE_MIN = 0.35
#: Score bonus of a frame that is, or goes through, the speciality tool of the clause's object.
ROUTE_BONUS = 0.3
#: A cue's tools are those whose similarity to its gloss is within this margin of the best one's...
FAMILY_MARGIN = 0.2
#: ... provided the best one is at least this similar (otherwise the cue has no tool among the frames).
FAMILY_MIN = 0.5
#: Below this similarity a clause with no cue is not understood.
MIN_SIMILARITY = 0.3
#: Text arguments that steer a tool rather than being the text it works on.
_PARAMETER_TEXT = {"question", "phrase", "category", "categories", "label", "name", "query", "tag", "prompt"}
#: Kinds of input only a user can give (no tool makes the user's photo or recording).
FILE_INPUT_KINDS = frozenset({T.IMAGE, T.AUDIO, T.VIDEO, T.DOCUMENT})
#: Kinds that are lists of things ("them" in "blur them" means the boxes).
LIST_KINDS = frozenset({T.BBOXES, T.LABELS, T.TAGS, T.POINTS, T.POLYGONS})
#: Intents that narrow a list ("the largest", "only the cups") before another step uses it.
LIST_INTENTS = ("top", "sort", "filter", "select", "lines")
#: What a prerequisite does, by (what it starts from, what it makes), when no cue of the clause says it;
#: with the intent whose results it stands for ("the text" of "summarise the scanned letter" is read).
_MAKE: dict[tuple[ResourceType | None, ResourceType], tuple[str, str]] = {
    (T.IMAGE, T.BBOXES): ("detect", "detect and locate"),
    (T.IMAGE, T.TEXT): ("read", "read the text in the image"),
    (T.AUDIO, T.TEXT): ("transcribe", "transcribe the speech in the audio"),
    (T.AUDIO, T.TRANSCRIPT): ("timed", "transcribe the speech with timestamps"),
    (T.VIDEO, T.TEXT): ("describe", "describe what happens in the video"),
    (None, T.NUMBER): ("count", "count"),
    (None, T.BBOXES): ("detect", "detect and locate"),
}


@dataclass
class _Source:
    """A value a subtask may take: a given resource, an earlier subtask's output, or a literal."""

    type: ResourceType
    value: object
    origin: str  # "given" | "generated" | "literal"
    producer: int | None = None
    name: str | None = None
    intent: str | None = None  # for an output: the intent of the step that made it

    def ref(self) -> ResourceRef:
        return ResourceRef(type=self.type, value=self.value)


@dataclass
class _Frame:
    tool: ToolSpec
    score: float
    target: ResourceType
    similarity: float = 0.0  # of the clause (and its cue's gloss) with the tool, before bonuses


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
    inputs: list[list[_Source]] = field(default_factory=list)  # inputs[i] is what subtasks[i] takes
    mains: list[int] = field(default_factory=list)  # per clause so far: the id of its main subtask
    reach: list[frozenset[str]] = field(default_factory=list)  # reach[i]: the tools whose output subtask i uses
    #: (kind, value) of an edited input -> the edit's output: later edits of that input take the edit
    versions: dict[tuple[ResourceType, object], _Source] = field(default_factory=dict)

    def reset(self, size: int) -> None:
        del self.subtasks[size:]
        del self.outputs[size:]
        del self.inputs[size:]
        del self.reach[size:]
        self.versions = {k: v for k, v in self.versions.items() if v.producer is not None and v.producer < size}

    def latest(self, source: _Source) -> _Source:
        """The latest edited version of ``source`` (itself when no step edited it)."""
        seen: set[int] = set()
        while (source.type, source.value) in self.versions and id(source) not in seen:
            seen.add(id(source))
            source = self.versions[(source.type, source.value)]
        return source

    @property
    def sibling(self) -> list[_Source]:
        """What the previous clause's main step took ("and" clauses work on the same things)."""
        return self.inputs[self.mains[-1]] if self.mains else []


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
    choose descriptions it plans as the decomposer meant.

    >>> from agent.decompose.base import Resource
    >>> plan = OfflineDecomposer().decompose("find the faces in photo.jpg and blur them",
    ...     [Resource(name="photo.jpg", type="image")])  # doctest: +SKIP
    >>> [(s.target_types[0].value, s.deps) for s in plan.subtasks]  # doctest: +SKIP
    [('bboxes', []), ('image', [0])]
    """

    name = "offline"

    def __init__(
        self,
        embedder: Embedder | None = None,
        specs: Sequence[ToolSpec] | None = None,
        planner: ToGPlanner | None = None,
        max_depth: int = 5,
    ) -> None:
        self._embedder = embedder
        self._specs = list(specs) if specs is not None else None
        self._planner = planner
        self._max_depth = max_depth
        self._lock = threading.Lock()
        self._graph: ToolGraph | None = None
        self._checker: ToGPlanner | None = None
        self._rules: Constraints | None = None
        self._reach_cache: dict[frozenset[ResourceType], frozenset[ResourceType]] = {}
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
                self._checker = ToGPlanner(
                    self._graph,
                    UniformAssessor(),
                    SearchConfig(strategy=Strategy.ADAPTIVE, top_k=1, max_depth=self._max_depth, max_expansions=20_000),
                )
            return self._graph

    @property
    def rules(self) -> Constraints:
        """The catalogue's plausibility rules, by tool name (checked across subtasks in :meth:`_add`)."""
        if self._rules is None:
            self._rules = resolve_constraints(self.graph.specs)
        return self._rules

    def _reachable(self, have: set[ResourceType]) -> set[ResourceType]:
        """The kinds tools make from ``have`` (and ``have``) under the catalogue's rules: a tool takes a
        kind only if a tool it may follow made it (speech a chain synthesised is not transcribed back, so
        a count read aloud is no way to a text)."""
        start = frozenset(have)
        if start not in self._reach_cache:
            banned = self.rules.banned_upstream
            makers: dict[ResourceType, set[str]] = {t: {""} for t in start}  # "": the user gave it
            changed = True
            while changed:
                changed = False
                for spec in self.graph.specs:
                    bad = banned.get(spec.name, frozenset())
                    if not all(makers.get(i.type, set()) - bad for i in spec.required_inputs):
                        continue
                    for out in spec.output_types:
                        if spec.name not in makers.setdefault(out, set()):
                            makers[out].add(spec.name)
                            changed = True
            self._reach_cache[start] = frozenset(makers)
        return set(self._reach_cache[start])

    def _can_reach(self, have: set[ResourceType], target: ResourceType) -> bool:
        """Whether tools turn ``have`` into a newly made ``target`` (see :meth:`_reachable`)."""
        made = self._reachable(have)
        if target not in have:
            return target in made
        return any(all(i.type in made for i in s.required_inputs) for s in self.graph.tools_producing(target))

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

    def _similarities(self, texts: list[str], *, fixed: bool = False) -> np.ndarray:
        """Cosine similarity of each text (rows) with each tool of the graph (columns, in spec order).

        Tool texts and ``fixed`` texts (cue glosses) recur in every run: they come from the embedder's
        disk cache (:func:`~graph.embedding.encode_catalogue`); request texts are encoded."""
        from graph.embedding import encode_catalogue

        specs = self.graph.specs
        if self._tool_vectors is None:
            self._tool_vectors = np.asarray(encode_catalogue(self.embedder, [tool_text(s) for s in specs]))
        vectors = encode_catalogue(self.embedder, texts) if fixed else self.embedder.encode(texts)
        similarities: np.ndarray = np.asarray(vectors) @ self._tool_vectors.T
        return similarities

    def _intent_row(self, intent: Intent | None) -> np.ndarray:
        """Similarity of the intent's gloss with each tool (zeros without an intent), cached."""
        if intent is None:
            return np.zeros(len(self.graph.specs), dtype=np.float32)
        if intent.name not in self._intent_rows:  # all glosses in one batch: one model call, not thirty
            rows = self._similarities([i.gloss for i in INTENTS], fixed=True)
            self._intent_rows.update({i.name: row for i, row in zip(INTENTS, rows)})
            if intent.name not in self._intent_rows:
                self._intent_rows[intent.name] = self._similarities([intent.gloss], fixed=True)[0]
        return self._intent_rows[intent.name]

    # --- the decomposition ----------------------------------------------------------------------

    def decompose(self, request: str, resources: Sequence[Resource] = ()) -> Plan:
        if not request or not request.strip():
            raise EmptyRequestError("the request is empty: say what should be done")
        resources = list(resources)
        self._check_named_files(request, resources)
        readings = merge_context([read_clause(c, resources) for c in split_clauses(request)])
        if not readings:
            raise DecompositionError(f"could not find anything to do in {request!r}")
        if asks_for_separate_results(request):
            for reading in readings:
                reading.fresh = True
        self._find_routes(readings)
        sims = self._similarities([r.text for r in readings])
        given = [_Source(type=r.type, value=r.ref().value, origin="given", name=r.name) for r in resources]
        overrides: dict[int, tuple[ResourceType, ...]] = {}
        state, hint = self._run(readings, sims, given, overrides)
        while hint is not None and hint.clause not in overrides:
            targets = readings[hint.clause].intent.targets  # type: ignore[union-attr]
            overrides[hint.clause] = (hint.target, *(t for t in targets if t is not hint.target))
            try:
                state, hint = self._run(readings, sims, given, overrides)
            except DecompositionError:
                break  # the re-read does not work out: keep the plan made without it
        return Plan.parse({"request": request, "subtasks": [s.model_dump() for s in state.subtasks]})

    def _find_routes(self, readings: list[Reading]) -> None:
        """The speciality tool of each clause's object, if one matches it clearly ("faces")."""
        with_object = [r for r in readings if r.object]
        if not with_object:
            return
        rows = self._similarities([_object_text(r) or "" for r in with_object])
        # a speciality tool works on the user's media itself (a face detector, a text-line reader)
        media = np.array(
            [
                bool(s.required_inputs) and all(i.type in FILE_INPUT_KINDS for i in s.required_inputs)
                for s in self.graph.specs
            ]
        )
        for reading, row in zip(with_object, rows):
            best = int(np.argmax(np.where(media, row, -np.inf)))
            if media[best] and row[best] >= ROUTE_MIN:
                reading.route = self.graph.specs[best].name

    def _run(
        self,
        readings: list[Reading],
        sims: np.ndarray,
        given: list[_Source],
        overrides: dict[int, tuple[ResourceType, ...]],
    ) -> tuple[_State, _Hint | None]:
        state = _State(given=list(given))
        first_hint: _Hint | None = None
        for index, (reading, row) in enumerate(zip(readings, sims)):
            self._check_mentions(reading, state.given + state.outputs)
            asked = any(is_interrogative(r.clause) for r in readings[:index])
            self._named_products(reading, state, asked)
            ok, hint = False, None
            for option, targets in self._options(reading, row, state, overrides.get(index)):
                literal = _Source(type=T.TEXT, value=option.literal, origin="literal") if option.literal else None
                weighted = row + INTENT_WEIGHT * self._intent_row(option.intent)
                ok, hint = self._pose(option, weighted, state, targets, literal, clause=index, readings=readings)
                if ok:
                    break
            if not ok:
                raise self._unsolvable(reading, state)
            state.mains.append(len(state.subtasks) - 1)
            self._language_wish(option, state)
            first_hint = first_hint or hint
        return state, first_hint

    def _named_products(self, reading: Reading, state: _State, asked: bool = False) -> None:
        """ "Read out the summary of article.txt": a product the clause names ("the summary") that no step
        has made yet is made first, by a step of its own, so the clause works on it (the products rule
        of :func:`_resolve` then binds it). Nothing is added when that step is not solvable, nor for
        "the answer" when a clause before ``asked`` a question (whichever step answers it)."""
        for intent in reading.intents[1:] if reading.intent is not None else []:
            if (
                intent.name not in reading.products
                or intent.targets[0] in LIST_KINDS
                or any(o.intent == intent.name for o in state.outputs)
                or (asked and intent.literal is Literal.QUESTION)
            ):
                continue  # "the boxes in detections.json" are the given list, not one to make
            if not any(self._works_on(intent, s.type, intent.targets[0]) for s in state.given + state.outputs):
                continue  # "read this text aloud" given a text: the text is there, not read from an image
            text, referring = literal_for(reading, intent)
            step = replace(reading, intents=[intent], literal=text, referring=referring, products=set())
            literal = _Source(type=T.TEXT, value=text, origin="literal") if text else None
            sims = self._similarities([f"{intent.gloss}: {reading.text}"])[0] + INTENT_WEIGHT * self._intent_row(intent)
            self._pose(step, sims, state, intent.targets, literal)

    def _language_wish(self, reading: Reading, state: _State) -> None:
        """ "Caption photo.jpg in Spanish": the language the clause wants its text in, when its own step is
        something else, is reached by translating that step's text in a step of its own (the clause's
        reading puts such a wish after the cue that makes the text). Nothing is added if it is unsolvable."""
        translate = INTENT_BY_NAME["translate"]
        language = wished_language(reading.clause.text)
        if (
            language is None
            or reading.intent is None
            or reading.intent is translate
            or translate not in reading.intents
        ):
            return
        made = state.outputs[-1] if state.outputs else None
        if made is None or made.type is not T.TEXT or made.producer != len(state.subtasks) - 1:
            return
        gloss = f"translate the text into {language}"
        step = replace(reading, intents=[translate], literal=None, referring=False, products=set())
        sims = self._similarities([f"{gloss}: {reading.text}"])[0] + INTENT_WEIGHT * self._intent_row(translate)
        self._pose(
            step,
            sims,
            state,
            translate.targets,
            None,
            pool=_State(given=[], outputs=[made]),
            purpose=(translate.name, gloss),
        )

    def _options(
        self, reading: Reading, sims: np.ndarray, state: _State, override: tuple[ResourceType, ...] | None
    ) -> list[tuple[Reading, tuple[ResourceType, ...]]]:
        """Readings of a clause to try in turn: its strongest cue, then weaker ones, then no cue at all.
        A question goes first when its tools fit better than those of the strongest cue ("how many times
        does he hit the ball in the video?" is a question for the video, not a count)."""
        options: list[tuple[Reading, tuple[ResourceType, ...]]] = []
        if reading.intent is not None:
            options.append((reading, override or reading.intent.targets))
        for intent in fallback_intents(reading):
            text, referring = literal_for(reading, intent)
            options.append((replace(reading, intents=[intent], literal=text, referring=referring), intent.targets))
        options.append((replace(reading, intents=[]), ()))
        asking = [o for o in options[1:] if o[0].intent is not None and o[0].intent.name == "question"]
        if (
            options[0][0].intent is not None
            and asking
            and is_interrogative(reading.clause)
            and self._fit(*asking[0], sims, state) > self._fit(*options[0], sims, state)
        ):
            options.remove(asking[0])
            options.insert(0, asking[0])
        return options

    def _fit(self, reading: Reading, targets: tuple[ResourceType, ...], sims: np.ndarray, state: _State) -> float:
        """The score of the best frame of one reading of a clause (-inf if none)."""
        literal = _Source(type=T.TEXT, value=reading.literal, origin="literal") if reading.literal else None
        weighted = sims + INTENT_WEIGHT * self._intent_row(reading.intent)
        frames = self._frames(reading, weighted, state.given + state.outputs, literal, targets)
        return frames[0].score if frames else float("-inf")

    def _check_named_files(self, request: str, resources: list[Resource]) -> None:
        known = {basename(str(n)) for r in resources for n in (r.name, r.value) if isinstance(n, str)}
        named = (m.group(0) for m in FILE_NAME.finditer(request))
        missing = list(dict.fromkeys(n for n in named if basename(n) not in known))
        if missing:
            given = ", ".join(f"{r.name} ({r.type.value})" for r in resources) or "nothing"
            raise DecompositionError(
                f"the request names {', '.join(missing)}, which {'was' if len(missing) == 1 else 'were'} not given "
                f"(given: {given})",
                missing=missing,
            )

    def _check_mentions(self, reading: Reading, pool: list[_Source]) -> None:
        """A clause about "the recording" needs a recording: say so instead of planning something else."""
        have = {s.type for s in pool}
        missing = sorted(
            t.value
            for t in reading.mentioned | reading.deictic
            if t not in have and (t in FILE_INPUT_KINDS or not have or t not in self._reachable(have))
        )
        if missing:
            kinds = " and ".join(("an " if m[0] in "aeiou" else "a ") + m for m in missing)
            given = ", ".join(sorted({s.type.value for s in pool})) or "nothing"
            raise DecompositionError(
                f"{reading.clause.text!r} works on {kinds}, but none was given (have: {given})",
                missing=missing,
                clause=reading.clause.text,
            )

    # --- one clause -> subtasks -----------------------------------------------------------------

    def _pose(
        self,
        reading: Reading,
        sims: np.ndarray,
        state: _State,
        targets: tuple[ResourceType, ...],
        literal: _Source | None,
        clause: int = -1,
        readings: Sequence[Reading] = (),
        pool: _State | None = None,
        purpose: tuple[str, str] | None = None,
    ) -> tuple[bool, _Hint | None]:
        """Add the subtask(s) for one clause to ``state``: (False, …) with the state unchanged when none
        is solvable. A prerequisite passes ``pool`` (the one value it works on) and its ``purpose``."""
        source = pool or state
        hint: _Hint | None = None
        sibling = state.sibling if pool is None and reading.clause.connective in ("and", "also") else []
        # edits of one input compose, whatever joins their clauses, unless the clause asks for a version
        # of its own ("a grey copy", "separately") or for the original
        versions = state if pool is None and not (reading.fresh or reading.original) else None
        for frame in self._frames(reading, sims, source.given + source.outputs, literal, targets)[:MAX_FRAMES]:
            binding = self._bind(frame, reading, source.given, source.outputs, literal, sibling, versions)
            if binding is None:
                continue
            if pool is not None:
                if self._add(state, reading, frame, binding.unsplit(), purpose):
                    return True, None
                continue
            hint = hint or self._hint(reading, state, binding, clause, readings)
            size = len(state.subtasks)
            made = [self._prerequisite(reading, state, rtype, src, binding, literal) for rtype, src in binding.made]
            if all(m is not None for m in made):
                inputs = self._narrowed(reading, state, frame, binding.inputs + [m for m in made if m is not None])
                if self._add(state, reading, frame, inputs):
                    return True, hint
            state.reset(size)
            if binding.made and self._add(state, reading, frame, binding.unsplit()):
                return True, hint
        return False, hint

    def _hint(
        self, reading: Reading, state: _State, binding: _Binding, clause: int, readings: Sequence[Reading]
    ) -> _Hint | None:
        """ "Read the text and box it": the clause before could have made the boxes from the same photo."""
        if clause <= 0 or not state.mains or reading.named or not (reading.pronoun or reading.elliptic):
            return None
        before = readings[clause - 1]
        main = state.subtasks[state.mains[-1]]
        for rtype, source in binding.made:
            if before.intent is None or rtype not in before.intent.targets or rtype in main.target_types:
                continue
            if any(ref.value == source.value and ref.type is source.type for ref in main.inputs):
                return _Hint(clause=clause - 1, target=rtype)
        return None

    def _prerequisite(
        self,
        reading: Reading,
        state: _State,
        rtype: ResourceType,
        source: _Source,
        binding: _Binding,
        literal: _Source | None,
    ) -> _Source | None:
        """A subtask making ``rtype`` from ``source`` only (the dog's box from the photo); its output.

        It is worded by what it is for — the clause's other cue that makes ``rtype`` ("describe the photo
        aloud": describing) or the plain way to make it from ``source`` (detecting, reading, transcribing)
        — about the clause's object ("the dog"), so the planner looks for that step, not the whole clause."""
        pool = _State(given=[source]) if source.origin == "given" else _State(given=[], outputs=[source])
        intent = next(
            (
                i
                for i in reading.intents[1:]
                if rtype in i.targets
                and i.name not in LIST_INTENTS
                and i.literal is not Literal.QUESTION  # the question is the clause's; its input is read
                and self._works_on(i, source.type, rtype)
            ),
            None,
        )
        made_by, plain = _MAKE.get((source.type, rtype)) or _MAKE.get((None, rtype)) or ("", "make")
        purpose = (intent.name, intent.gloss) if intent else (made_by, plain)
        if intent is None and made_by:
            intent = INTENT_BY_NAME.get(made_by)
        about = _object_text(reading) or reading.text
        unused = None if any(s is literal for s in binding.inputs) else literal
        referring = reading.referring
        if unused is None and rtype is T.BBOXES and reading.object:  # "crop the red car": ground "red car"
            unused = _Source(type=T.TEXT, value=reading.object, origin="literal")
            referring = is_referring(reading.object, reading.clause.lang)
            if referring:
                intent = INTENT_BY_NAME["ground"]
                purpose = (intent.name, intent.gloss)
        text = unused.value if unused else None
        assert text is None or isinstance(text, str)  # literal sources hold text
        step = replace(reading, intents=[intent] if intent else [], literal=text, referring=referring)
        sims = self._similarities([f"{purpose[1]}: {about}"])[0]
        ok, _ = self._pose(step, sims, state, (rtype,), unused, pool=pool, purpose=purpose)
        return state.outputs[-1] if ok else None

    def _works_on(self, intent: Intent, source: ResourceType, rtype: ResourceType) -> bool:
        """Whether the intent's own tool for ``rtype`` takes ``source`` (reading text is for images)."""
        row = self._intent_row(intent)
        makers = [(row[i], spec) for i, spec in enumerate(self.graph.specs) if rtype in spec.output_types]
        best = max(makers, key=lambda m: m[0])[1] if makers else None
        return best is not None and any(i.type is source for i in best.required_inputs)

    def _narrowed(self, reading: Reading, state: _State, frame: _Frame, inputs: list[_Source]) -> list[_Source]:
        """ "Crop the *largest* face", "draw only the 'dog' boxes": a selecting step between the boxes and
        the tool that uses them, when a cue of the clause narrows the list the frame takes."""
        narrowing = next((i for i in reading.intents[1:] if i.name in LIST_INTENTS), None)
        if narrowing is None or reading.intent is None or reading.intent.name in LIST_INTENTS:
            return inputs
        lists = [  # lists, and the lines of a text ("the total" of a receipt's text)
            s
            for s in inputs
            if s.type in narrowing.targets and any(i.type is s.type and i.required for i in frame.tool.inputs)
        ]
        if not lists:
            return inputs
        target = lists[0]
        text, _ = literal_for(reading, narrowing)
        literal = _Source(type=T.TEXT, value=text, origin="literal") if text else None
        step = replace(reading, intents=[narrowing], literal=text)
        pool = _State(given=[], outputs=[target]) if target.origin != "given" else _State(given=[target])
        sims = self._similarities([f"{narrowing.gloss}: {reading.text}"])[0]
        sims = sims + INTENT_WEIGHT * self._intent_row(narrowing)
        size = len(state.subtasks)
        ok, _ = self._pose(
            step, sims, state, (target.type,), literal, pool=pool, purpose=(narrowing.name, narrowing.gloss)
        )
        if not ok:
            state.reset(size)
            return inputs
        return [state.outputs[-1] if s is target else s for s in inputs]

    def _add(
        self,
        state: _State,
        reading: Reading,
        frame: _Frame,
        inputs: list[_Source],
        purpose: tuple[str, str] | None = None,
    ) -> bool:
        """Append the subtask if the tool graph can solve it, worded so the planner's best solution ends
        in the frame's tool when some wording does."""
        target, tool = frame.target, frame.tool.name

        def subtask(description: str, domains: Sequence[str] = ()) -> Subtask:
            return Subtask(
                id=len(state.subtasks),
                description=description,
                task=list(domains),
                args=[s.ref() for s in inputs],
                returns=[ResourceRef(type=target)],
                dep=sorted({s.producer for s in inputs if s.producer is not None}),
            )

        wordings = _descriptions(reading, inputs, purpose[1] if purpose else None)
        chosen = subtask(wordings[0])
        if not self._solvable(chosen):
            return False
        # the planner's rules hold across subtasks too: a count written out as text answers no question
        upstream = frozenset().union(*(state.reach[s.producer] for s in inputs if s.producer is not None))
        banned = self.rules.banned_upstream
        best: tuple[int, Subtask, list[str]] | None = None
        blocked = False
        direct = self._direct(frame, inputs)
        for wording in wordings + [_fallback_wording(reading, frame)]:
            candidate = subtask(wording)
            tools = self._planned_tools(candidate)
            if tools is not None and any(banned.get(t, frozenset()) & upstream for t in tools):
                blocked, tools = True, None
            if tools is None:
                continue
            # 2: the planner does exactly the frame's step; 1: it ends with the frame's tool; 0: plannable
            agree = 2 if tools == [tool] and direct else 1 if tools and tools[-1] == tool else 0
            if best is None or agree > best[0]:
                best = (agree, candidate, tools)
            if agree == 2 or (agree == 1 and not direct):
                break
        if best is None and blocked:
            return False
        if best is not None:
            chosen = self._with_domains(best[1], best[2], subtask)
        state.reach.append(upstream | frozenset(best[2] if best is not None else ()))
        intent = purpose[0] if purpose else reading.intent.name if reading.intent else None
        made = _Source(
            type=target, value=f"<GENERATED>-{chosen.id}", origin="generated", producer=chosen.id, intent=intent
        )
        state.subtasks.append(chosen)
        state.inputs.append(list(inputs))
        state.outputs.append(made)
        edited = _edited_kind(frame.tool, target)
        if purpose is None and edited is not None and not reading.fresh:
            for source in inputs:
                if source.type is edited and source.origin != "literal":
                    state.versions[(source.type, source.value)] = made
        return True

    def _frames(
        self,
        reading: Reading,
        sims: np.ndarray,
        pool: list[_Source],
        literal: _Source | None,
        targets: tuple[ResourceType, ...],
    ) -> list[_Frame]:
        """Tools that could serve the clause, best first, each with the target type it would make."""
        have = {s.type for s in pool} | ({T.TEXT} if literal is not None else set())
        count = Counter(s.type for s in pool)
        reachable = self._reachable(have) if have else set()
        strength = reading.literal_strength if literal is not None else "none"
        route = self.graph.spec(reading.route) if reading.route and reading.route in self.graph else None
        lowered = reading.clause.text.lower()
        named = {s.type for s in pool if s.origin == "given" and s.name and basename(s.name) in lowered}
        others = {s.type for s in pool if s.origin == "given" and not (s.name and basename(s.name) in lowered)}
        # kinds by which the named files stand apart from other given ones (nothing to choose among: none)
        choosing = named - others if others else set()
        made = [s for s in pool if s.origin == "generated"]
        pointing = reading.pronoun or reading.elliptic or (made and made[-1].type in reading.referenced)
        latest = made[-1].type if made and pointing and not reading.named else None
        frames: list[_Frame] = []
        for spec, sim in zip(self.graph.specs, sims):
            outs = [o.type for o in spec.outputs if not targets or o.type in targets]
            if not outs:
                continue
            files = Counter(i.type for i in spec.required_inputs if i.type in FILE_INPUT_KINDS)
            if any(count[kind] < n for kind, n in files.items()):
                continue  # two photos to compare need two photos: tools do not make the user's files
            direct, feasible, via = 0, True, False
            for inp in spec.required_inputs:
                if inp.type is T.TEXT and _is_parameter(spec, inp):
                    feasible = feasible and literal is not None  # a question or phrase comes from the user
                elif inp.type in have:
                    direct += 1
                elif inp.type in reachable:
                    via = via or (route is not None and inp.type in route.output_types)
                else:
                    feasible = False
            if not feasible:
                continue
            score = float(sim) + DIRECT_BONUS * direct
            texts = [i for i in spec.inputs if i.type is T.TEXT and _is_parameter(spec, i)]
            if strength == "strong" and texts:  # a question or a referring phrase must reach a tool needing it
                score += LITERAL_BONUS if any(i.required for i in texts) else LITERAL_BONUS / 2
            elif strength == "weak" and texts:  # a category list suits a detector, not a grounding tool
                score += -PHRASE_BONUS if any(i.required for i in texts) else PHRASE_BONUS
            if route is not None and (
                spec.name == route.name or via or any(i.type in route.output_types for i in spec.required_inputs)
            ):
                score += ROUTE_BONUS
            if targets and outs[0] is targets[0]:
                score += PREFERRED_TARGET_BONUS
            takes = {i.type for i in spec.required_inputs}
            score += NAMED_BONUS * len(choosing & takes)
            if outs[0] in named and outs[0] not in takes:
                score -= 2 * NAMED_BONUS  # "boxes.json has detections …, keep the person ones": use those boxes
            if latest is not None and latest in takes:
                score += CHAIN_BONUS
            frames.append(_Frame(tool=spec, score=score, target=outs[0], similarity=float(sim)))
        frames = self._family(reading, frames, route, named)
        frames.sort(key=lambda f: (-f.score, f.tool.name))
        if not targets and (not frames or frames[0].similarity < MIN_SIMILARITY):
            return []  # no cue and no tool the words clearly match: not understood
        return frames

    def _family(
        self,
        reading: Reading,
        frames: list[_Frame],
        route: ToolSpec | None,
        named: frozenset[ResourceType] | set[ResourceType] = frozenset(),
    ) -> list[_Frame]:
        """Keep the tools a cue of the clause is about: those whose similarity to a cue's gloss is close
        to the best among the frames ("put it next to the original" combines images: it does not flip
        them, though "mirrored" is in the clause). A cue none of whose tools fits says nothing here."""
        index = {spec.name: i for i, spec in enumerate(self.graph.specs)}
        keep: set[str] = set()
        for intent in reading.intents:
            row = self._intent_row(intent)
            best = max((row[index[f.tool.name]] for f in frames), default=0.0)
            if best >= FAMILY_MIN:
                keep |= {f.tool.name for f in frames if row[index[f.tool.name]] >= best - FAMILY_MARGIN}
        takes = {f.tool.name: {i.type for i in f.tool.required_inputs} for f in frames}
        reach = self._reachable(set(named)) | set(named) if named else set()
        if keep and named and not any(takes[name] <= reach for name in keep):
            # none of the cue's tools can work from the file the clause names ("describe what happens in
            # trailer.mp4" when the cue's tools are for images): those that take it stay candidates
            keep |= {f.tool.name for f in frames if named & takes[f.tool.name]}
        if keep and route is not None:  # the object's speciality tool stays a candidate ("the text lines")
            keep |= {
                f.tool.name
                for f in frames
                if f.tool.name == route.name or any(i.type in route.output_types for i in f.tool.required_inputs)
            }
        return [f for f in frames if f.tool.name in keep] if keep else frames

    def _bind(
        self,
        frame: _Frame,
        reading: Reading,
        given: list[_Source],
        outputs: list[_Source],
        literal: _Source | None,
        sibling: list[_Source],
        versions: _State | None = None,
    ) -> _Binding | None:
        """The values the subtask takes for this frame, or None when the clause cannot feed it.

        Parameters (a question, a phrase) take the clause's literal; other inputs are resolved to a
        given file or an earlier result, or else to a value tools can make them from ("blur the faces":
        the boxes come from the photo). An edit takes the latest edited version of what it edits, from
        ``versions`` ("make the photo grey and blur the faces": the grey photo is blurred)."""
        spec = frame.tool
        edited = _edited_kind(spec, frame.target, annotation=True)
        chosen: list[_Source] = []
        made: list[tuple[ResourceType, _Source]] = []

        def free(sources: list[_Source]) -> list[_Source]:
            return [s for s in sources if all(s is not c for c in chosen)]

        if literal is not None and any(i.type is T.TEXT and _is_parameter(spec, i) for i in spec.inputs):
            chosen.append(literal)
        have = {s.type for s in given + outputs}
        lists = any(i.type in LIST_KINDS for i in spec.required_inputs)
        for inp in spec.required_inputs:
            if inp.type is T.TEXT and _is_parameter(spec, inp):
                if literal is None:
                    return None
                continue
            if (
                inp.type is T.TEXT
                and literal is not None
                and all(literal is not c for c in chosen)
                and (reading.intent is None or reading.intent.literal is Literal.CONTENT)
            ):
                chosen.append(literal)
                continue
            source = _resolve(inp.type, reading, free(given), free(outputs), lists, free(sibling))
            if source is None and inp.type in FILE_INPUT_KINDS:
                return None
            if source is None:
                source = next(
                    (c for c in chosen if c.origin != "literal" and self._can_reach({c.type}, inp.type)), None
                )
                source = source or self._upstream(inp.type, reading, free(given), free(outputs), have, free(sibling))
                if source is None:
                    return None
                made.append((inp.type, source))
                continue
            if versions is not None and inp.type is edited:
                source = versions.latest(source)
            chosen.append(source)
        for inp in spec.inputs:  # "combine a.jpg, b.jpg and c.jpg": a third named file fills the optional slot
            if not inp.required and inp.type is not T.TEXT:
                extra = next(
                    (
                        s
                        for i in reading.named
                        if i < len(given)
                        for s in free(given)
                        if s is given[i] and s.type is inp.type
                    ),
                    None,
                )
                if extra is not None:
                    chosen.append(extra)
        if made and _filters_nothing_yet(spec, reading, literal, made):
            chosen = [c for c in chosen if c is not literal]  # the step making the list gets it instead
        return _Binding(inputs=chosen, made=made)

    def _upstream(
        self,
        rtype: ResourceType,
        reading: Reading,
        given: list[_Source],
        outputs: list[_Source],
        have: set[ResourceType],
        sibling: list[_Source],
    ) -> _Source | None:
        """A value from which tools can make ``rtype`` (the photo the boxes will be found in). A clause that
        points back ("then read it out", "read the answer aloud") makes it from the latest result."""
        if outputs and _points_back(reading):  # not the photo's text when "it" is the count
            return outputs[-1] if self._can_reach({outputs[-1].type}, rtype) else None
        for kind in _preferred_kinds(reading, have):
            if self._can_reach({kind}, rtype):
                source = _resolve(kind, reading, given, outputs, False, sibling)
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

    def _with_domains(self, chosen: Subtask, tools: list[str], subtask: Callable[..., Subtask]) -> Subtask:
        """The subtask with the domains of the tools it is planned with (ControlLLM's ``task``), so the
        planner's search stays among tools of that kind; unchanged if the filter would change the plan."""
        domains = sorted({d for name in tools for d in self.graph.spec(name).domains if d != "general"})
        if not domains:
            return chosen
        narrowed = subtask(chosen.description, domains)
        return narrowed if self._planned_tools(narrowed) == tools else chosen

    def _planned_tools(self, subtask: Subtask) -> list[str] | None:
        """The planner's best solution with this wording, the tool making the target last (None: none)."""
        try:
            solution = self.planner.search(subtask).solutions[0]
        except NoSolutionError:
            return None
        last = solution.outputs[0].split(".", 1)[0]
        return [a.tool for a in solution.actions if a.id != last] + [a.tool for a in solution.actions if a.id == last]

    def _direct(self, frame: _Frame, inputs: list[_Source]) -> bool:
        """Whether the frame's tool alone can take these inputs (no tool needed before it)."""
        have = Counter(s.type for s in inputs)
        need = Counter(i.type for i in frame.tool.required_inputs)
        return all(have[t] >= n for t, n in need.items())

    def _unsolvable(self, reading: Reading, state: _State) -> DecompositionError:
        have = sorted({s.type.value for s in state.given + state.outputs})
        text = reading.clause.text
        intent = reading.intent
        if intent is None:
            return DecompositionError(f"could not tell what to do with {text!r}", clause=text)
        targets = intent.targets
        needs = sorted(
            {
                i.type.value
                for spec in self.graph.specs
                if any(o.type in targets for o in spec.outputs)
                for i in spec.required_inputs
                if i.type in FILE_INPUT_KINDS
            }
            - set(have)
        )
        wanted = " or ".join(t.value for t in targets)
        if needs:
            return DecompositionError(
                f"{text!r} asks for {wanted}, which needs {' or '.join(needs)} as input; the request gives "
                f"{', '.join(have) or 'nothing'}",
                missing=needs,
                clause=text,
            )
        return DecompositionError(
            f"no tool chain makes {wanted} for {text!r} from {', '.join(have) or 'nothing'}", clause=text
        )


# --- helpers --------------------------------------------------------------------------------------


_PARAMETER_WORDS = re.compile(
    LANGUAGE_WISH_EN + r"|-?\d+(?:\.\d+)?\s*(?:°|degrees?|%|x\b|times\b|px\b|pixels?\b)?|\d+\s*[x×]\s*\d+|"
    r"\b(?:counter-?)?clockwise\b|"
    r"\b(?:horizontally|vertically|red|green|blue|yellow|white|black)\b|[\u4e00-\u9fff]*(?:英文|中文|英语|法语|德语|日语|度)",
    re.IGNORECASE,
)


def _fallback_wording(reading: Reading, frame: _Frame) -> str:
    """The cue's gloss and the clause's parameters only ("translate the text into another language: into
    French"), for when the clause's other words lead the planner astray."""
    intent = reading.intent
    what = intent.gloss if intent is not None else frame.tool.name.replace("_", " ")
    found = " ".join(m.group(0).strip() for m in _PARAMETER_WORDS.finditer(reading.clause.text) if m.group(0).strip())
    return f"{what}: {found}" if found else what


def _edited_kind(spec: ToolSpec, target: ResourceType, annotation: bool = False) -> ResourceType | None:
    """The kind of user file the tool edits when it makes ``target``: it takes one such file and returns
    one of the same kind (blur, crop, grey, rotate). An annotation (boxes drawn on the photo) is a view of
    a result rather than an edit later edits build on; it counts only with ``annotation``."""
    if target not in FILE_INPUT_KINDS or (not annotation and "annotation" in spec.groups):
        return None
    return target if sum(i.type is target for i in spec.required_inputs) == 1 else None


def _object_text(reading: Reading) -> str | None:
    if not reading.object:
        return None
    return gloss(reading.object) if reading.chinese else reading.object


def _descriptions(reading: Reading, inputs: list[_Source], purpose: str | None) -> list[str]:
    """Wordings of a subtask for the planner, preferred first: the clause (an English gloss first when
    Chinese), headed by the task it stands for where the clause alone would mislead the embedding
    model — a prerequisite's purpose (about the clause's object), a question's kind (visual, document,
    video or text question answering), or the winning cue when several compete."""
    base = f"{reading.gloss} ({reading.clause.text})" if reading.chinese and reading.gloss else reading.clause.text
    intent = reading.intent
    if purpose is not None:
        about = _object_text(reading)
        wordings = [f"{purpose}: {about}"] if about else []
        return [*wordings, f"{base} ({purpose})", base]
    label = None
    literal = any(s.origin == "literal" for s in inputs)
    if intent is not None and literal and intent.literal is Literal.QUESTION:
        kinds = {s.type for s in inputs if s.origin != "literal"}
        if T.VIDEO in kinds:
            label = "video question answering"
        elif T.IMAGE in kinds:
            label = (
                "document question answering"
                if DOCUMENT_WORDS.search(reading.clause.text)
                else "visual question answering"
            )
        elif T.TEXT in kinds:
            label = "question answering over the text"
    elif intent is not None and (len(reading.intents) > 1 or intent.name == "ground"):
        label = intent.gloss
    wordings = [f"{base} ({label})" if label else base]
    if intent is not None and label != intent.gloss:
        wordings.append(f"{base} ({intent.gloss})")
    if label:
        wordings.append(base)
    return wordings


def _is_parameter(spec: ToolSpec, inp: InputSpec) -> bool:
    """A text argument that steers a tool (a question, a phrase, a category) rather than the text it
    works on; options such as a colour or a direction are neither and never take the clause's literal."""
    return inp.name in _PARAMETER_TEXT or (inp.required and len(spec.required_inputs) > 1 and inp.name != "text")


def _filters_nothing_yet(
    spec: ToolSpec, reading: Reading, literal: _Source | None, made: list[tuple[ResourceType, _Source]]
) -> bool:
    """ "How many faces are in this photo": what to count names what to detect, not a label filter of the
    count. A list still to be made holds only what its own step is asked for, so the count's optional
    label filter (not a quoted or named category) would filter nothing — or, worded by the request,
    everything."""
    if literal is None or reading.clause.quotes or reading.intent is None:
        return False
    if reading.intent.literal is not Literal.OBJECT or not any(rtype in LIST_KINDS for rtype, _ in made):
        return False
    texts = [i for i in spec.inputs if i.type is T.TEXT and _is_parameter(spec, i)]
    return bool(texts) and not any(i.required for i in texts)


def _points_back(reading: Reading) -> bool:
    """Whether the clause means an earlier result ("it", "the answer", 结果, or nothing named at all)
    rather than a file the user gave ("this photo", "the recording", photo.jpg, "the original")."""
    files = (reading.mentioned | reading.deictic) & FILE_INPUT_KINDS
    beside = reading.clause.connective == "also"  # "also translate the whole bill": not the step before's result
    return (reading.pronoun or reading.elliptic) and not (reading.named or reading.original or files or beside)


def _preferred_kinds(reading: Reading, have: set[ResourceType]) -> list[ResourceType]:
    """Kinds to look for when a tool's input must be made from something: named ones first."""
    order = [t for t in (*reading.mentioned, *reading.deictic, *reading.referenced) if t in have]
    order += [t for t in (T.IMAGE, T.VIDEO, T.AUDIO, T.DOCUMENT, T.TEXT, T.BBOXES) if t in have and t not in order]
    order += [t for t in sorted(have) if t not in order]
    return order


def _resolve(
    rtype: ResourceType,
    reading: Reading,
    given: list[_Source],
    outputs: list[_Source],
    lists: bool = False,
    sibling: Sequence[_Source] = (),
) -> _Source | None:
    """The value of kind ``rtype`` the clause means (see the module docstring, step 4). With ``lists``
    (the tool takes boxes or labels too), "them" means the list, not the photo."""
    lowered = reading.clause.text.lower()
    made = [o for o in outputs if o.type is rtype]
    products = [o for o in made if o.intent in reading.products]
    if products:  # "read the original caption aloud": the captioning step's text, even when a file is named
        return products[-1]  # ("read out the summary of article.txt": the summary, not the article)
    named = [g for g in given if g.type is rtype and g.name is not None and basename(g.name) in lowered]
    if named:
        return named[0]
    mine = [g for g in given if g.type is rtype]
    if mine and (reading.original or (rtype in reading.deictic and rtype not in reading.referenced)):
        return mine[-1]
    if mine and reading.fresh and rtype in FILE_INPUT_KINDS and not reading.pronoun:
        return mine[-1]  # "a grey version and a blurred version of the photo": each made from the photo
    pronoun = reading.pronoun and not (reading.plural and lists and rtype not in LIST_KINDS)
    if made and (rtype in reading.referenced or (pronoun and rtype not in reading.mentioned)):
        return made[-1]
    same = [s for s in sibling if s.type is rtype and s.origin != "literal"]
    narrowed = (
        bool(outputs) and outputs[-1].type is rtype and rtype in LIST_KINDS and outputs[-1].intent in LIST_INTENTS
    )
    if same and narrowed and reading.clause.connective == "and" and not reading.named:
        return outputs[-1]  # "keep only the cats and count them": the list that is left, not the whole one
    if same and rtype not in reading.mentioned:
        return same[-1]  # "describe it and also read the text": the same photo
    if sibling and reading.clause.connective == "also":  # a step beside the one before: not on its result
        made = [o for o in made if o is not outputs[-1]] if outputs else made
    latest = bool(outputs) and bool(made) and outputs[-1] is made[-1]
    if made and rtype in reading.mentioned and (not mine or latest):
        return made[-1]  # "rotate the photo, then caption the photo": the photo is now the rotated one
    if made and not reading.named and rtype not in reading.mentioned and (latest or not mine):
        return made[-1]  # "transcribe the audio, then summarise": continues from the step before
    if mine:
        return mine[-1]
    return made[-1] if made else None
