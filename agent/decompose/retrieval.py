"""A decomposer that works from any catalogue's own data: tool names, descriptions and types, nothing else.

The offline decomposer reads requests through cue tables written for the built-in toolbox; on a catalogue
nobody wrote cues for it does worse than plain retrieval. This one knows no tool by name:

1. **Asks** (:func:`agent.decompose.asks.split_asks`): the clauses of the request, each split again where a
   listed step starts after a comma or "and" (verbs recognised from the catalogue's own descriptions and
   the shape of an imperative, not from a list written for any catalogue).
2. **What is not evidence is masked** before anything is embedded: a file name or URL becomes the word for
   its type ("the image"), quoted text becomes "the given text" — a file called ``depth.png`` says nothing
   about wanting a depth map, and quoted content is material, not an instruction.
3. **Scoring**: each tool scores the MiniLM similarity of its text (name, description, typed signature)
   with the clause, plus the clause's type evidence (:mod:`agent.decompose.evidence`: a clause naming a
   given file works on it; "an image", "into text" ask to make one). A clause proposes its best tool that
   can run — every required non-text input is a given resource's type or an earlier proposal's output —
   ranking by that score plus :data:`REQUEST_WEIGHT` times the tool's similarity with the whole masked
   request (a closing "can you do that for me?" means what the sentences before it said).
4. **Choosing**: a proposal's *confidence* is its lead over the clause's next-best tool, plus its clause
   score, plus :data:`WHOLE_SUPPORT` times its similarity with the whole request, plus
   :data:`REPEAT_BONUS` for every other clause proposing the same tool. Scene-setting clauses ("I have a
   photo of my dog", "I'm at a meeting downtown") are near several tools at once and lead none, so their
   proposals fall below :data:`KEEP`; a tool is kept when its confidence reaches :data:`KEEP` or is within
   :data:`NEAR_BEST` of the request's best, so a request that any tool serves never gets an empty plan.
   A tool is used once (no edge from a tool to itself), at the place of the first clause that proposed it.
5. **Data flow by types**: each chosen tool takes, for each input, the output of the nearest earlier chosen
   tool of that type, else a given resource of that type, else (text) the quoted text or the clause itself.

The constants were chosen on the dev halves of the public TaskBench sets (``--split dev``) and checked on
the built-in set; figures on the test halves are in ``tests/data/README.md``.

    >>> from graph.spec import ToolSpec
    >>> ocr = ToolSpec.model_validate({"name": "ocr", "description": "read the printed text in an image",
    ...     "inputs": [{"name": "image", "type": "image"}], "outputs": [{"name": "text", "type": "text"}]})
    >>> tts = ToolSpec.model_validate({"name": "tts", "description": "speak a text aloud as audio",
    ...     "inputs": [{"name": "text", "type": "text"}], "outputs": [{"name": "audio", "type": "audio"}]})
    >>> plan = RetrievalDecomposer([ocr, tts]).decompose(
    ...     "Read the sign in sign.jpg, then speak the text aloud", [Resource(name="sign.jpg", type="image")])
    >>> [(s.id, s.inputs[0].value, [o.type.value for o in s.outputs]) for s in plan.subtasks]
    [(0, 'sign.jpg', ['text']), (1, '<GENERATED>-0', ['audio'])]
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from agent.decompose.asks import catalogue_verbs, split_asks
from agent.decompose.base import Decomposer, DecompositionError, Resource
from agent.decompose.clauses import FILE_NAME, QUOTED
from agent.decompose.evidence import type_evidence
from graph.assessors import tool_text
from graph.embedding import encode_catalogue
from graph.errors import EmptyRequestError, NoSolutionError
from graph.plan import Plan, ResourceRef, Subtask
from graph.spec import ToolSpec
from graph.types import ResourceType

if TYPE_CHECKING:  # pragma: no cover
    from graph.embedding import Embedder
    from graph.search import ToGPlanner

T = ResourceType

#: Weight of a tool's similarity with the whole request when a clause ranks its tools (dev halves: 0.5
#: let the request's main tool crowd out every clause's own step; 0 loses "can you do that for me?").
REQUEST_WEIGHT = 0.2
#: Weight of a tool's similarity with the whole request in a proposal's confidence (dev halves).
WHOLE_SUPPORT = 0.5
#: Confidence added for each further clause that proposes the same tool (dev halves; small: a step is
#: often restated in the scene-setting sentence before it).
REPEAT_BONUS = 0.05
#: Confidence a proposal needs to be kept, unless it is the request's best (dev halves: 0.3 keeps
#: scene-setting proposals, 0.6 drops listed steps).
KEEP = 0.45
#: A proposal this close to the request's best confidence is kept below :data:`KEEP`: over a large
#: catalogue of near neighbours (the built-in toolbox) every lead is small, and an absolute bar alone
#: drops the second step of "caption it and say the caption out loud" (0.2: neutral on the dev halves).
NEAR_BEST = 0.2

_URL = re.compile(r"https?://\S+")
#: The word a file's type is masked with ("the image"); extensions resolve through the resource types.
_TYPE_WORDS: dict[ResourceType, str] = {
    T.IMAGE: "image",
    T.AUDIO: "audio",
    T.VIDEO: "video",
    T.TEXT: "text",
    T.DOCUMENT: "document",
    T.TABLE: "table",
}


@dataclass(frozen=True)
class _Choice:
    clause: int
    spec: ToolSpec
    score: float


def _file_type(name: str) -> ResourceType | None:
    from pathlib import Path

    from agent.inputs import InputSpecError, type_for_file

    try:
        return type_for_file(Path(name))
    except InputSpecError:
        return None


def mask(text: str) -> str:
    """The clause with what is not evidence of intent replaced: file names and URLs by the word for their
    type, quoted text by "the given text".

    >>> mask("Blur depth.png and translate 'guten Tag' from https://x.org/a")
    'Blur the image and translate the given text from the link'
    """
    text = _URL.sub("the link", text)
    text = FILE_NAME.sub(lambda m: "the " + _TYPE_WORDS.get(_file_type(m.group(0)) or T.TEXT, "file"), text)
    return QUOTED.sub("the given text", text)


def quoted(text: str) -> list[str]:
    """Quoted passages of ``text``, in order (they are literals for text inputs)."""
    return [next(g for g in m.groups() if g) for m in QUOTED.finditer(text)]


class RetrievalDecomposer(Decomposer):
    """Clause-by-clause tool retrieval over any catalogue, chained by types (module docstring)."""

    name = "retrieval"

    def __init__(
        self, specs: Sequence[ToolSpec], planner: ToGPlanner | None = None, embedder: Embedder | None = None
    ) -> None:
        if not specs:
            raise ValueError("a retrieval decomposer needs at least one tool")
        self.specs = list(specs)
        self.planner = planner
        self._embedder = embedder
        self._tools: NDArray[np.float32] | None = None
        self._verbs: frozenset[str] | None = None
        self._lock = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from graph.embedding import shared_embedder

            self._embedder = shared_embedder()  # one model per process, its tool vectors cached on disk
        return self._embedder

    def _tool_vectors(self) -> NDArray[np.float32]:
        with self._lock:
            if self._tools is None:
                texts = [tool_text(s) for s in self.specs]
                self._tools = np.asarray(encode_catalogue(self.embedder, texts), dtype=np.float32)
            return self._tools

    def decompose(self, request: str, resources: Sequence[Resource] = ()) -> Plan:
        if not request.strip():
            raise EmptyRequestError("the request is empty")
        clauses, choices = self.select(request, resources)
        return self._plan(request, clauses, choices, resources)

    def select(self, request: str, resources: Sequence[Resource] = ()) -> tuple[list[str], list[_Choice]]:
        """The request's asks and the tools chosen for them, in the order they run."""
        if self._verbs is None:
            self._verbs = catalogue_verbs(self.specs)
        clauses = split_asks(request, self._verbs) or [request.strip()]
        vectors = np.asarray(self.embedder.encode([mask(c) for c in clauses] + [mask(request)]), dtype=np.float32)
        tools = self._tool_vectors()
        similar = vectors[:-1] @ tools.T + type_evidence(clauses, resources, self.specs)
        whole = vectors[-1] @ tools.T
        choices = self._choose(similar, whole, resources)
        if not choices:
            given = ", ".join(sorted({r.type.value for r in resources})) or "no files"
            raise DecompositionError(f"no tool of the catalogue can work from what was given ({given})")
        return clauses, choices

    def _runnable(self, spec: ToolSpec, available: set[ResourceType]) -> bool:
        return all(i.type is T.TEXT or i.type in available for i in spec.inputs if i.required)

    def _choose(
        self, similar: NDArray[np.floating], whole: NDArray[np.floating], resources: Sequence[Resource]
    ) -> list[_Choice]:
        available = {r.type for r in resources} | {T.TEXT}
        scores = similar + REQUEST_WEIGHT * whole[None, :]
        proposals: list[_Choice] = []
        for index, row in enumerate(scores):
            for j in np.argsort(-row, kind="stable"):
                spec = self.specs[int(j)]
                if self._runnable(spec, available | {o.type for p in proposals for o in p.spec.outputs}):
                    proposals.append(_Choice(index, spec, self._confidence(similar[index], whole, int(j))))
                    break
        if not proposals:
            return []
        support = Counter(p.spec.name for p in proposals)
        confidence: dict[str, float] = {}
        for p in proposals:
            score = p.score + REPEAT_BONUS * (support[p.spec.name] - 1)
            confidence[p.spec.name] = max(confidence.get(p.spec.name, -np.inf), score)
        best = max(confidence.values())
        chosen: list[_Choice] = []
        for proposal in proposals:
            name = proposal.spec.name
            made = available | {o.type for c in chosen for o in c.spec.outputs}
            if (
                (confidence[name] >= KEEP or confidence[name] >= best - NEAR_BEST)
                and all(c.spec.name != name for c in chosen)
                and self._runnable(proposal.spec, made)
            ):
                chosen.append(proposal)
        if not chosen:  # every proposal leant on a dropped one: the best pair that runs from what was given
            pairs = [
                (float(scores[i, j]), i, j)
                for i in range(scores.shape[0])
                for j in range(scores.shape[1])
                if self._runnable(self.specs[j], available)
            ]
            if pairs:
                score, i, j = max(pairs)
                chosen.append(_Choice(i, self.specs[j], score))
        return chosen

    @staticmethod
    def _confidence(row: NDArray[np.floating], whole: NDArray[np.floating], j: int) -> float:
        """How surely a clause asks for tool ``j``: its lead over the clause's next-best tool, plus its own
        similarity, plus (weighted) its similarity with the whole request."""
        others = np.delete(row, j)
        lead = float(row[j] - others.max()) if others.size else float(row[j])
        return lead + float(row[j]) + WHOLE_SUPPORT * float(whole[j])

    def _plan(self, request: str, clauses: list[str], choices: list[_Choice], resources: Sequence[Resource]) -> Plan:
        subtasks: list[Subtask] = []
        for sid, choice in enumerate(choices):
            inputs: list[ResourceRef] = []
            deps: list[int] = []
            literals = quoted(clauses[choice.clause])
            for spec_input in choice.spec.inputs:
                earlier = next(
                    (k for k in range(sid - 1, -1, -1) if spec_input.type in choices[k].spec.output_types), None
                )
                given = next((r for r in reversed(resources) if r.type is spec_input.type), None)
                if earlier is not None:
                    inputs.append(ResourceRef(type=spec_input.type, value=f"<GENERATED>-{earlier}"))
                    deps.append(earlier)
                elif given is not None:
                    inputs.append(given.ref())
                elif spec_input.type is T.TEXT and spec_input.required:
                    text = literals.pop(0) if literals else clauses[choice.clause]
                    inputs.append(ResourceRef(type=T.TEXT, value=text))
                elif spec_input.required:
                    break
            else:
                subtasks.append(self._subtask(sid, clauses[choice.clause], choice.spec, inputs, deps))
                continue
            raise DecompositionError(f"{choice.spec.name} needs an input that nothing provides")
        return Plan(request=request, subtasks=subtasks)

    def _subtask(self, sid: int, clause: str, spec: ToolSpec, inputs: list[ResourceRef], deps: list[int]) -> Subtask:
        outputs = [ResourceRef(type=t) for t in dict.fromkeys(o.type for o in spec.outputs)]
        # The planner picks the tool by the description; the first wording under which its best solution
        # is the chosen tool is kept, so planning reproduces the choice.
        wordings = [mask(clause), f"{spec.name}: {mask(clause)}", tool_text(spec)]
        for wording in wordings:
            subtask = Subtask(id=sid, description=wording, args=inputs, returns=outputs, dep=sorted(set(deps)))
            if self.planner is None or self._planned_tool(subtask) == spec.name:
                return subtask
        return subtask

    def _planned_tool(self, subtask: Subtask) -> str | None:
        assert self.planner is not None
        try:
            best = self.planner.search(subtask).solutions[0]
        except NoSolutionError:
            return None
        return best.actions[-1].tool if best.actions else None
