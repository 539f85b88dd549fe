"""Before any tool runs: does the plan deliver what the request asks for, with tools meant for it?

The planner finds the best chain among the tools that can run *now*; that chain always exists when the
types fit, even when no tool here is meant for the request ("describe this image" with no VLM ends in
OCR). Four checks, run before and after planning and before execution, turn such plans into an
:class:`~agent.outcomes.UnsupportedRequestError` instead of a wrong answer marked ``succeeded``:

1. **A named product no tool makes.** "Turn this image into a video", "make a 3D model of the cat",
   把图片变成视频: a kind of file the request asks to get (a conversion or creation verb, then a noun
   phrase naming a file type in the type system's own words: its name, aliases, formats and the words
   qualifying its description, :func:`kind_words`) that no tool that can run makes from what was given
   (checked before decomposing, by reachability over the tools' types). The refusal names the tools that
   would make it when they are unavailable (with their reason), else the tools closest to the request.
2. **An unavailable tool meant for it.** Each subtask is searched again over *every* tool, available or
   not, with the same search settings. When that search's best chain uses an unavailable tool and fits
   the subtask better than the best available chain by more than :data:`UNAVAILABLE_MARGIN`, the request
   is refused naming that tool and how to enable it (the registry's reason, e.g. "set TOG_VLM_MODEL").
3. **Nothing meant for it** (optional, off by default: see :data:`FIT_FLOOR`). A subtask that no tool
   making what it asks for (available or not) fits at least ``floor`` is refused, naming the closest tools
   of the whole catalogue. A clause the decomposer finds no tool chain for at all is refused the same way
   (:meth:`AnswerabilityCheck.unsolvable`).
4. **Nothing in the words asks for it** (:meth:`AnswerabilityCheck.check_understood`). A subtask with
   no cue of the decomposer is planned by similarity alone, and a tool taking the kind of file it names
   reaches 0.3 for nearly any sentence ("email this photo to my mother": image_info 0.31, inside the range
   of right answers). It is refused when its tool is one the cues are written for, shares none of its
   words, and is for none of its words alone the nearest tool. No constant: it refuses none of the
   calibration requests, and on the TaskBench dev halves (their catalogues) refuses 1 right plan of 155.

At run time, a subtask falls back only to chains as meant for it as its first choice
(:meth:`AnswerabilityCheck.stand_ins`): a failing tool is never replaced by an unrelated one.

"Fit" is the embedding similarity (MiniLM) of the subtask's description with a tool's text
(:func:`graph.assessors.tool_text`, whose vectors are cached on disk), a chain's fit that of its weakest
tool: the embedding assessor's own score, so the check does not depend on the assessor the planner is
configured with. Both constants are calibrated on data, not on example sentences:
``python -m benchmarks.answerability`` (module docs there) computes them from the planned requests of
``tests/data/plans.jsonl`` and ``agent/decompose/fresh_plans.jsonl``, and reports the false-refusal rate.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from agent.outcomes import UnsupportedRequestError
from graph.assessors import EmbeddingAssessor, tool_text
from graph.errors import NoSolutionError
from graph.plan import Solution, Subtask
from graph.search import SearchConfig, ToGPlanner
from graph.spec import ToolSpec
from graph.toolgraph import ToolGraph
from graph.types import FILE_TYPES, TYPE_ALIASES, ResourceType, type_info

if TYPE_CHECKING:  # pragma: no cover
    from graph.embedding import Embedder

T = ResourceType

#: Refuse when the best chain over every tool uses an unavailable tool and fits the subtask better than the
#: best available chain by more than this (``python -m benchmarks.answerability``: the smallest margin that
#: keeps false refusals of the calibration requests at most 2 %, but not under :data:`NEAR_TIE`).
UNAVAILABLE_MARGIN = 0.05
#: Fits closer than this are a tie: a substitute that nearly matches may stand in for an unavailable tool.
NEAR_TIE = 0.05
#: Refuse when no tool making what a subtask asks for fits it this well. Off (0): the calibration
#: (``python -m benchmarks.answerability``) derives 0.13-0.16 (the lowest fit among the requests with every
#: tool available, less :data:`NEAR_TIE`), but that floor refuses no calibration request checks 1 and 2 let
#: through, while terse tool texts of other catalogues ("wait, step 1" for a ``wait`` tool: 0.11) fall
#: under it. Pass ``floor=`` to use it.
FIT_FLOOR = 0.0
#: How many nearest tools a refusal names.
NEAREST = 3
#: Kinds of file a request may ask to get ("into a video", "a 3D model"): the file types of the type system
#: (:data:`graph.types.FILE_TYPES`). Values (text, numbers, boxes) are never read as products: their nouns
#: ("a note", "the result", "a list") are too common, and a phrase that may name one is no product.
PRODUCT_KINDS = tuple(t for t in T if t in FILE_TYPES)
#: Extra English words for a product kind that the type system and the decomposer's type nouns leave out.
_EXTRA_NOUNS_EN: dict[ResourceType, tuple[str, ...]] = {
    T.IMAGE: ("image", "picture", "photo", "drawing", "painting", "gif"),
    T.AUDIO: ("audio", "mp3", "wav", "voice"),
    T.VIDEO: ("animation", "mp4"),
}
#: Verbs that make or convert something, before "into/to/as <kind>" (English).
_CONVERT_EN = r"(?:turn|turns|turning|convert|converting|transform|change|make|render|export|save|output|animate)"
_CREATE_EN = r"(?:make|create|generate|produce|render|film|shoot|record|compose|animate|build|model)"
_PRODUCT_EN = re.compile(
    rf"\b{_CONVERT_EN}\b[^.;:!?]*?\b(?:into|to|as)\s+(?:(?:a|an|one|some)\s+)?(?P<np>[\w-]+(?:\s+[\w-]+){{0,3}})"
    rf"|\b{_CREATE_EN}\s+(?:me\s+|us\s+)?(?:a|an|one|some)\s+(?P<made>[\w-]+(?:\s+[\w-]+){{0,3}})",
    re.IGNORECASE,
)
#: Words that end the noun phrase of a product ("a video *of* my holiday").
_PHRASE_END = frozenset(
    [
        "of",
        "for",
        "from",
        "with",
        "about",
        "that",
        "which",
        "who",
        "in",
        "on",
        "at",
        "to",
        "into",
        "by",
        "using",
        "and",
        "or",
        "but",
        "where",
        "showing",
        "like",
        "than",
        "so",
        "if",
        "when",
        "while",
        "then",
        "please",
    ]
)
#: Chinese verbs of conversion or creation, before the kind ("变成一段视频").
_CONVERT_ZH = r"(?:变成|转成|转换成|转换为|转为|转化为|做成|制作成|制成|生成|合成|改成|输出为|保存为|拍成|剪成)"


@dataclass(frozen=True)
class Product:
    """A kind of file the request asks to get (``kinds``: every kind its words may name, the preferred first),
    and the words that ask for it."""

    type: ResourceType
    words: str
    kinds: tuple[ResourceType, ...] = ()

    @property
    def names(self) -> str:
        """The kinds in words: "a video", "a mesh or a pointcloud"."""
        return " or ".join(_an(k.value) for k in (self.kinds or (self.type,)))


def _word(text: str) -> str:
    """A word as the index keeps it: lower case, hyphens dropped ("3-D" and "3D" are "3d")."""
    return text.lower().replace("-", "")


@cache
def kind_words() -> dict[str, frozenset[ResourceType]]:
    """English word -> the kinds it names, from the type system's own vocabulary, so a new type needs no list
    here: each type's name, its aliases (:data:`graph.types.TYPE_ALIASES`) and, for file types, the file
    formats its description lists ("OBJ/GLB/PLY") and the words qualifying its description's noun ("a *3-D*
    mesh", "a *MIDI* *music* score"; the noun itself only when it is the type's name: "file", "clip", "map"
    say nothing of the kind); then the decomposer's type nouns and :data:`_EXTRA_NOUNS_EN`.

    >>> sorted(t.value for t in kind_words()["3d"])
    ['mesh', 'pointcloud']
    >>> sorted(t.value for t in kind_words()["point"])  # a point is also a value: no product
    ['pointcloud', 'points']
    """
    from agent.decompose.cues import TYPE_NOUNS_EN

    index: dict[str, set[ResourceType]] = {}
    qualifiers: dict[str, set[ResourceType]] = {}

    def add(word: str, kind: ResourceType, into: dict[str, set[ResourceType]] = index) -> None:
        if word := _word(word):
            into.setdefault(word, set()).add(kind)

    for kind in T:
        add(kind.value, kind)
        if kind not in FILE_TYPES:
            continue
        description = type_info(kind).description
        for listed in re.findall(r"\(([^)]*)\)", description):
            for fmt in re.split(r"[/,\s]+", listed.replace("e.g.", "")):
                add(fmt, kind)
        phrase = re.split(r"\s(?:of|between|as|for|with)\s|[:,;]", re.sub(r"\([^)]*\)", " ", description))[0]
        words = [w for w in re.findall(r"[\w-]+", phrase) if w.lower() not in ("a", "an", "or", "and")]
        for word in words[:-1]:
            add(word, kind, qualifiers)
        if words and _word(words[-1]) == _word(kind.value):
            add(words[-1], kind)
    for word, kinds in qualifiers.items():  # one qualifying many kinds ("map" of five) names none of them
        if len(kinds) <= 2:
            index.setdefault(word, set()).update(kinds)
    for alias, kind in TYPE_ALIASES.items():
        add(alias, kind)
    for kind, nouns in {**TYPE_NOUNS_EN}.items():
        for noun in nouns:
            if " " not in noun:
                add(noun, kind)
    for kind, nouns in _EXTRA_NOUNS_EN.items():
        for noun in nouns:
            add(noun, kind)
    return {word: frozenset(kinds) for word, kinds in index.items()}


def _phrase_kinds(phrase: str) -> tuple[tuple[ResourceType, ...], str]:
    """The kinds a product's noun phrase names, and the phrase (up to a word that ends it). Each word (or
    two written as one: "point cloud") narrows what the words before it named when they share a kind ("an
    *mp4* *video*"), else adds to it ("an *audio* *clip*": a clip is also a video)."""
    index = kind_words()
    tokens = []
    for token in re.finditer(r"[\w-]+", phrase):
        if token.group(0).lower() in _PHRASE_END:
            break
        tokens.append((_word(token.group(0)), token.end()))
    kinds: frozenset[ResourceType] = frozenset()
    i = 0
    while i < len(tokens):
        word = tokens[i][0]
        pair = word + tokens[i + 1][0] if i + 1 < len(tokens) else ""
        step = 2 if pair in index else 1
        key = pair if step == 2 else word if word in index else word[:-1] if word.endswith("s") else ""
        named = index.get(key)
        if named:
            kinds = named if not kinds else (kinds & named) or (kinds | named)
        i += step
    return tuple(t for t in T if t in kinds), phrase[: tokens[-1][1] if tokens else 0]


@cache
def _chinese_patterns() -> tuple[tuple[ResourceType, re.Pattern[str]], ...]:
    from agent.decompose.cues import TYPE_NOUNS_ZH

    return tuple(
        (kind, re.compile(rf"{_CONVERT_ZH}[^，。,;；！？]{{0,6}}?(?:{'|'.join(map(re.escape, nouns))})"))
        for kind, nouns in TYPE_NOUNS_ZH.items()
        if kind in FILE_TYPES and nouns
    )


def named_products(request: str) -> list[Product]:
    """The kinds of file the request asks to get, in the order asked. A phrase that may name a value ("make a
    point", "turn it into a note") is no product.

    >>> [(p.type.value, p.words) for p in named_products("turn this image into a video of a dancing cat")]
    [('video', 'turn this image into a video')]
    >>> [(p.names, p.words) for p in named_products("make a 3D model of the cat in this photo")]
    [('a mesh or a pointcloud', 'make a 3D model')]
    >>> named_products("blur the faces in photo.jpg")
    []
    """
    found: list[Product] = []
    for match in _PRODUCT_EN.finditer(request):
        group = "np" if match.group("np") is not None else "made"
        kinds, phrase = _phrase_kinds(match.group(group))
        if kinds and all(k in FILE_TYPES for k in kinds) and all(p.kinds != kinds for p in found):
            words = request[match.start() : match.start(group) + len(phrase)]
            found.append(Product(kinds[0], words, kinds))
    for kind, chinese in _chinese_patterns():
        zh = chinese.search(request)
        if zh and all(kind not in p.kinds for p in found):
            found.append(Product(kind, zh.group(0), (kind,)))
    return found


#: Words that name no action and no object of a request: function words, polite and light verbs. What is
#: left of a clause ("email", "mother"; "background", "beach") is what a tool must be about.
_FUNCTION_WORDS = frozenset(
    re.findall(
        r"\w+",
        "a an the this that these those it its them they their there here i me my mine we us our you your he "
        "she him her his of for from with about in on at to into onto by as and or but nor so if then than "
        "when while where which who whom whose what how why is are was were be been being am do does did done "
        "have has had can could would should will shall may might must please kindly just also too very "
        "really some any all each every no not only now up out over under again one two want need like help "
        "let get give make show put take use keep turn try go",
    )
)
_SUFFIXES = ("ing", "ed", "es", "s", "er", "ly", "e")


def _stem(word: str) -> str:
    """A crude stem, enough to match a request's word with a tool text's ("emailing", "emails": "email")."""
    word = _word(word)
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> dict[str, str]:
    """The words of ``text`` that say what is asked, by stem: neither function words, nor file names, nor
    words naming a kind of file (:func:`kind_words`: "photo", "image" fit every tool taking one).

    >>> content_words("email this photo to my mother")
    {'email': 'email', 'moth': 'mother'}
    """
    text = re.sub(r"\b[\w-]+\.[A-Za-z0-9]{2,4}\b", " ", text)
    files = {word for word, kinds in kind_words().items() if kinds & FILE_TYPES}
    words: dict[str, str] = {}
    for word in re.findall(r"[A-Za-z0-9][\w']*", text):  # "Image-to-Text" is three words
        key = _word(word)
        if word.lower() in _FUNCTION_WORDS or key in files or key.rstrip("s") in files or key.isdigit():
            continue
        words.setdefault(_stem(word), word)
    return words


@dataclass(frozen=True)
class SubtaskFit:
    """How well the tools here serve one subtask (see the module docstring)."""

    subtask: int
    description: str
    #: fit of the best available chain, and its tools
    available: float
    available_tools: tuple[str, ...]
    #: fit of the best chain over every tool, and its tools
    best: float
    best_tools: tuple[str, ...]
    #: unavailable tools in that best chain
    unavailable: tuple[str, ...]
    #: unavailable tools of every chain over all tools that fits better than the best available one
    alternatives: tuple[str, ...] = ()
    #: fit of the best-fitting tool, available or not, that makes a kind the subtask asks for ("is anything
    #: here meant for it?")
    peak: float = 0.0

    @property
    def gap(self) -> float:
        """How much better the best chain fits than the best available one, when it needs unavailable tools."""
        return self.best - self.available if self.unavailable else 0.0


class AnswerabilityCheck:
    """The checks of the module docstring over one catalogue: ``specs`` (every tool, available or not),
    ``reasons`` (unavailable tool -> why it cannot run and how to enable it), ``config`` (the planner's
    search settings). Thread-safe; tool vectors and the all-tools planner are built on first use."""

    def __init__(
        self,
        specs: Sequence[ToolSpec],
        reasons: Mapping[str, str],
        config: SearchConfig | None = None,
        *,
        embedder: Embedder | None = None,
        margin: float = UNAVAILABLE_MARGIN,
        floor: float = FIT_FLOOR,
    ) -> None:
        self.specs = list(specs)
        self.reasons = {k: v for k, v in reasons.items() if any(s.name == k for s in self.specs)}
        self.config = config or SearchConfig()
        self.margin = margin
        self.floor = floor
        self._assessor = EmbeddingAssessor(embedder)
        self._lock = threading.Lock()
        self._everything: ToGPlanner | None = None
        self._claimed: frozenset[str] | None = None

    @property
    def everything(self) -> ToGPlanner:
        """A planner over every tool, available or not, scored by embeddings."""
        with self._lock:
            if self._everything is None:
                self._everything = ToGPlanner(ToolGraph(self.specs), self._assessor, self.config)
            return self._everything

    # --- the checks -----------------------------------------------------------------------------------

    def check_products(self, request: str, given: Iterable[ResourceType] = ()) -> None:
        """Check 1: raise when the request asks to get a kind of file that no tool that can run makes from what
        was given (``given``: the kinds of the request's resources; text is always at hand, in its words)."""
        products = named_products(request)
        if not products:
            return
        reachable = self.reachable(given)
        for product in products:
            kinds = product.kinds or (product.type,)
            if any(k in reachable for k in kinds):
                continue
            kind = " or ".join(k.value for k in kinds)
            makers = [s.name for s in self.specs if any(o.type in kinds for o in s.outputs)]
            unavailable = {m: self.reasons[m] for m in makers if m in self.reasons}
            if unavailable:
                tools = [*unavailable, *(m for m in makers if m not in unavailable)][:NEAREST]
                message = (
                    f"{product.words!r} asks for {product.names}, and the tools that make one are unavailable here "
                    f"({_reasons(unavailable)})"
                )
            else:
                tools = self.nearest(request)
                unavailable = {t: self.reasons[t] for t in tools if t in self.reasons}
                source = "" if not makers else f" from what was given ({_kinds(given)})"
                message = (
                    f"{product.words!r} asks for {product.names}, and no tool here makes one{source}; the nearest "
                    f"tools ({', '.join(tools)}) do something else"
                )
            raise UnsupportedRequestError(
                message,
                missing=f"a tool that makes {product.names}",
                tools=tools,
                unavailable=unavailable,
                product=kind,
            )

    def reachable(self, given: Iterable[ResourceType]) -> set[ResourceType]:
        """The kinds the tools that can run make from ``given`` and text, directly or through each other."""
        have = {*given, T.TEXT}
        usable = [s for s in self.specs if s.name not in self.reasons]
        grew = True
        while grew:
            grew = False
            for spec in usable:
                if all(i.type in have for i in spec.required_inputs):
                    new = {o.type for o in spec.outputs} - have
                    if new:
                        have |= new
                        grew = True
        return have

    def meant(self, text: str) -> bool:
        """Whether some tool, available or not, is meant for ``text``: its similarity reaches the decomposer's
        own bar for a clause it understands (:data:`agent.decompose.offline.MIN_SIMILARITY`)."""
        from agent.decompose.offline import MIN_SIMILARITY

        return max(self.similarities(text).values(), default=0.0) >= MIN_SIMILARITY

    def fit(self, subtask: Subtask, available: Sequence[Solution]) -> SubtaskFit:
        """How well the available ``solutions`` (the planner's, best first) and every tool serve ``subtask``."""
        sims = self.similarities(subtask.description)
        avail_fit, avail_tools = _best(available, sims)
        best_fit, best_tools = avail_fit, avail_tools
        alternatives: dict[str, float] = {}
        if self.reasons:
            try:
                everything = self.everything.search(subtask).solutions
            except NoSolutionError:
                everything = []
            fit, tools = _best(everything, sims)
            if fit > best_fit:
                best_fit, best_tools = fit, tools
            for solution in everything:
                fit = _fit(solution, sims)
                for tool in solution.tools:
                    if tool in self.reasons and fit > avail_fit:
                        alternatives[tool] = max(fit, alternatives.get(tool, 0.0))
        unavailable = tuple(t for t in dict.fromkeys(best_tools) if t in self.reasons)
        ranked = tuple(sorted(alternatives, key=lambda t: (t not in unavailable, -alternatives[t], t)))
        targets = set(subtask.target_types)
        peak = max((sims[s.name] for s in self.specs if any(o.type in targets for o in s.outputs)), default=0.0)
        return SubtaskFit(
            subtask.id, subtask.description, avail_fit, avail_tools, best_fit, best_tools, unavailable, ranked, peak
        )

    def claimed(self) -> frozenset[str]:
        """The tools the decomposer's cues are meant for: for each of its intents, the tool making the intent's
        kind whose text is nearest its gloss, when that is at least the decomposer's bar for a clause it
        understands (:data:`agent.decompose.offline.MIN_SIMILARITY`). The tools of other catalogues, which no
        cue was written for, are mostly not among them."""
        with self._lock:
            if self._claimed is not None:
                return self._claimed
        from agent.decompose.cues import INTENTS
        from agent.decompose.offline import MIN_SIMILARITY

        claimed = set()
        for intent in INTENTS:
            sims = self.similarities(intent.gloss)
            makers = [s.name for s in self.specs if any(o.type in intent.targets for o in s.outputs)]
            best = max(makers, key=lambda name: (sims[name], name), default=None)
            if best is not None and sims[best] >= MIN_SIMILARITY:
                claimed.add(best)
        with self._lock:
            self._claimed = frozenset(claimed)
        return self._claimed

    def check_understood(self, subtask: Subtask, available: Sequence[Solution]) -> None:
        """Check 4: a subtask in which the decomposer reads no request at all (no cue: "email this photo to my
        mother") is planned by similarity alone, and that similarity is high for any tool taking the kind of
        file it names. It is refused when the tool that would answer it is one the cues are meant for
        (:meth:`claimed`: a user asking for it mostly says so in their words), and nothing else ties the
        subtask to the chain either: its tool texts share none of the subtask's words (:func:`content_words`),
        and its last tool is, for none of those words alone, the nearest tool of the catalogue ("twice as big":
        "big" is nearest resize_image; "email", "mother" are nearest other tools than image_info)."""
        if not available or available[0].tools[-1] not in self.claimed():
            return
        words = _unread_words(subtask.description)
        if not words:
            return
        tools = list(dict.fromkeys(available[0].tools))
        specs = {s.name: s for s in self.specs}
        said = {stem for t in tools if t in specs for stem in content_words(tool_text(specs[t]))}
        if said & words.keys() or any(self.nearest(word, 1) == [tools[-1]] for word in words.values()):
            return
        others = [t for t in self.nearest(subtask.description, NEAREST + len(tools)) if t not in tools][:NEAREST]
        nearest = [*tools, *others][: max(NEAREST, len(tools))]
        unavailable = {t: self.reasons[t] for t in nearest if t in self.reasons}
        raise UnsupportedRequestError(
            f"no tool here is meant for {subtask.description!r}: nothing in it asks for what the tools that "
            f"would run do ({', '.join(tools)}), and the nearest others ({', '.join(others)}) do something else",
            missing=subtask.description,
            tools=nearest,
            unavailable=unavailable,
            subtask=subtask.id,
        )

    def check_subtask(self, subtask: Subtask, available: Sequence[Solution]) -> SubtaskFit | None:
        """Checks 2, 3 and 4 for one planned subtask; raises :class:`UnsupportedRequestError`, else its fit (None
        when there is nothing more to check: every tool available and no floor, so no fit is computed)."""
        self.check_understood(subtask, available)
        if not self.reasons and self.floor <= 0:
            return None
        fit = self.fit(subtask, available)
        used = ", ".join(fit.available_tools) or "nothing"
        if fit.gap > self.margin:
            unavailable = {t: self.reasons[t] for t in (fit.alternatives or fit.unavailable)[:NEAREST]}
            names = " or ".join(unavailable)
            raise UnsupportedRequestError(
                f"{subtask.description!r} needs {names}, which {'is' if len(unavailable) == 1 else 'are'} "
                f"unavailable here ({_reasons(unavailable)}); the tools that can run ({used}) are not meant "
                "for it",
                missing=subtask.description,
                tools=[*unavailable, *(t for t in fit.available_tools if t not in unavailable)][:NEAREST],
                unavailable=unavailable,
                subtask=subtask.id,
            )
        if fit.peak < self.floor:
            tools = self.nearest(subtask.description)
            unavailable = {t: self.reasons[t] for t in tools if t in self.reasons}
            raise UnsupportedRequestError(
                f"no tool here is meant for {subtask.description!r}: the closest ones ({', '.join(tools)}) do "
                "something else",
                missing=subtask.description,
                tools=tools,
                unavailable=unavailable,
                subtask=subtask.id,
            )
        return fit

    def stand_ins(
        self, subtask: Subtask, solutions: Sequence[Solution], first: Solution | None = None
    ) -> list[Solution]:
        """The ranked ``solutions`` that may run when ``first`` (default: the first of them) fails: those using
        its tools, or fitting ``subtask`` within :data:`NEAR_TIE` of it (the tie of check 2). The others serve
        the subtask's types but not what it asks ("resize this image" with no size must not end rotated), so
        the engine never falls back to them: the subtask fails with the meant tool's error instead."""
        head = first if first is not None else (solutions[0] if solutions else None)
        if head is None or (first is None and len(solutions) < 2):
            return list(solutions)
        sims = self.similarities(subtask.description)
        bar = _fit(head, sims) - NEAR_TIE
        tools = set(head.tools)
        return [s for s in solutions if s is head or set(s.tools) == tools or _fit(s, sims) >= bar]

    def unsolvable(self, clause: str, message: str) -> UnsupportedRequestError:
        """A clause the decomposer found no tool chain for, as a refusal naming the nearest tools."""
        tools = self.nearest(clause)
        unavailable = {t: self.reasons[t] for t in tools if t in self.reasons}
        return UnsupportedRequestError(
            f"{message}; the nearest tools are {', '.join(tools)}", missing=clause, tools=tools, unavailable=unavailable
        )

    # --- similarity -----------------------------------------------------------------------------------

    def similarities(self, text: str) -> dict[str, float]:
        """Fit of every tool to ``text`` (the embedding assessor's score: cosine, clipped to [0, 1])."""
        return self._assessor.score(text, self.specs)

    def nearest(self, text: str, k: int = NEAREST) -> list[str]:
        """The ``k`` tools whose text is closest to ``text``, best first."""
        sims = self.similarities(text)
        return sorted(sims, key=lambda name: (-sims[name], name))[:k]

    def warm(self) -> None:
        """Embed the tool texts now (from the disk cache when there)."""
        self._assessor.warm(self.specs)


def _best(solutions: Iterable[Solution], sims: Mapping[str, float]) -> tuple[float, tuple[str, ...]]:
    """The best fit among ``solutions`` (a chain's fit: its weakest tool's) and that chain's tools."""
    best = 0.0
    tools: tuple[str, ...] = ()
    for solution in solutions:
        fit = _fit(solution, sims)
        if fit > best or not tools:
            best, tools = fit, tuple(solution.tools)
    return best, tools


def _fit(solution: Solution, sims: Mapping[str, float]) -> float:
    return min((sims.get(t, 0.0) for t in solution.tools), default=0.0)


def _reasons(unavailable: Mapping[str, str]) -> str:
    by_reason: dict[str, list[str]] = {}
    for tool, reason in unavailable.items():
        by_reason.setdefault(reason, []).append(tool)
    if len(by_reason) == 1:
        return next(iter(by_reason))
    return "; ".join(f"{', '.join(tools)}: {reason}" for reason, tools in by_reason.items())


def _kinds(given: Iterable[ResourceType]) -> str:
    return ", ".join(sorted({t.value for t in given})) or "nothing"


def _an(kind: str) -> str:
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def _unread_words(description: str) -> dict[str, str]:
    """The content words of a subtask whose clauses carry no cue of the decomposer (none when one does, or
    when its words cannot be read: Chinese with no English gloss)."""
    from agent.decompose.clauses import split_clauses
    from agent.decompose.reading import read_clause

    words: dict[str, str] = {}
    for clause in split_clauses(description):
        reading = read_clause(clause, [])
        if reading.intent is not None:
            return {}
        words.update(content_words(reading.gloss if reading.chinese else clause.text))
    return words
