"""What one clause says: its intents, the resources it names or points back to, and its text literal.

A :class:`Reading` is the decomposer's view of a clause before any tool is considered:

* ``intents`` — the lexical cues that matched, strongest first (:data:`agent.decompose.cues.INTENTS`);
* ``named`` — given resources named by file name; ``mentioned`` — kinds named as inputs ("the
  recording"); ``deictic`` — kinds pointed at ("this photo", 这张图片: the user's file);
  ``referenced`` — kinds named as earlier results ("the cropped image", "those faces", 模糊后的图片);
  ``pronoun`` — "it", "them", 它们, 结果; ``original`` — "the original photo", 原图; ``fresh`` — "a grey
  version", "one brightened copy": an edit of its own, not built on earlier edits of its input;
* ``literal`` — text a tool needs from the user: the question of a question, the phrase to ground,
  quoted or dictated words. ``referring`` says the phrase is more than a category name.

    >>> r = read_clause(split_clauses("find the man in the red shirt")[0], [])
    >>> r.intent.name, r.literal, r.referring
    ('ground', 'man in the red shirt', True)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from agent.decompose.base import Resource
from agent.decompose.clauses import Clause, is_verb, split_clauses
from agent.decompose.cues import (
    DOCUMENT_WORDS,
    EDITED_EN,
    INTENT_BY_NAME,
    INTENTS,
    LIGHT_VERBS_EN,
    ORIGINAL_EN,
    ORIGINAL_ZH,
    PLURAL_PRONOUNS_EN,
    PLURAL_WORDS_ZH,
    PRODUCT_NOUNS_EN,
    PRODUCTS_BY_INTENT_EN,
    PRODUCTS_BY_INTENT_ZH,
    PRONOUNS_EN,
    QUESTION_OPENERS_EN,
    RESULT_NOUNS_EN,
    RESULT_WORDS_ZH,
    SEPARATE_EN,
    SEPARATE_ZH,
    TRANSLATION_NAMED_EN,
    TYPE_NOUNS_EN,
    TYPE_NOUNS_ZH,
    VALUE_ITEM_EN,
    VALUE_LINES_EN,
    VALUE_LINES_ZH,
    VERSION_EN,
    VERSION_ZH,
    ZH_GLOSSES,
    Intent,
    Literal,
)
from graph.types import ResourceType

T = ResourceType

__all__ = [
    "Reading",
    "asks_for_separate_results",
    "basename",
    "fallback_intents",
    "gloss",
    "is_interrogative",
    "is_referring",
    "literal_for",
    "merge_context",
    "read_clause",
    "split_clauses",
    "value_line",
]


@dataclass
class Reading:
    """What the cues say about one clause (see the module docstring)."""

    clause: Clause
    intents: list[Intent]
    gloss: str = ""
    named: list[int] = field(default_factory=list)
    mentioned: set[ResourceType] = field(default_factory=set)
    deictic: set[ResourceType] = field(default_factory=set)
    referenced: set[ResourceType] = field(default_factory=set)
    pronoun: bool = False
    plural: bool = False  # only plural pronouns ("them", 它们): they mean a list, not the photo
    original: bool = False
    fresh: bool = False  # asks for a version of its own: it does not build on earlier edits of its input
    literal: str | None = None
    referring: bool = False
    object: str | None = None  # what the clause acts on, in its words ("the largest face")
    products: set[str] = field(default_factory=set)  # intents whose results it names ("the summary")
    route: str | None = None  # the tool whose speciality the object is ("faces": the face detector)

    @property
    def intent(self) -> Intent | None:
        return self.intents[0] if self.intents else None

    @property
    def chinese(self) -> bool:
        return self.clause.lang == "zh"

    @property
    def text(self) -> str:
        """The clause as the planner should read it: English, or the English gloss of a Chinese clause."""
        if self.chinese:
            return self.gloss or self.clause.text
        return self.clause.masked.replace("⟦q⟧", "the text")

    @property
    def elliptic(self) -> bool:
        """Names nothing to act on ("and count", 并标出来): it must mean an earlier result."""
        return not (
            self.named or self.mentioned or self.deictic or self.referenced or self.object or self.clause.quotes
        )

    @property
    def literal_strength(self) -> str:
        """How much the literal says about the tool: "strong" (a question, quoted words, a category to
        keep, a referring phrase: it must reach a tool that needs it), "weak" (a plain category list
        a detector may take), "none" (no literal, or what to count: any counter will do)."""
        if self.literal is None:
            return "none"
        kind = self.intent.literal if self.intent is not None else Literal.CONTENT
        if self.clause.quotes or self.referring or kind in (Literal.QUESTION, Literal.CONTENT, Literal.CATEGORY):
            return "strong"
        return "weak" if kind is Literal.PHRASE else "none"


def basename(name: str) -> str:
    return re.split(r"[/\\]", name.strip())[-1].lower()


#: Words before the verb of a polite request ("could you please blur …").
_POLITE = re.compile(
    r"^\W*(?:(?:please|pls|plz|kindly|can you|could you|would you|will you|i'd like you to|"
    r"i would like you to|i want you to|i need you to|help me|let's|let us|go ahead and|now|then|"
    r"also|first|just|only)\s+)*",
    re.IGNORECASE,
)
_REQUEST = re.compile(r"^\W*(?:please\s+)?(?:can|could|would|will) you\b", re.IGNORECASE)
#: How much a cue at the head of an English clause (its main verb) outranks cues further on.
LEAD_BOOST = 30
#: How much a cue right after a determiner ("the voiceover", "the summary") loses when the clause's head
#: verb is a cue of its own: it names the thing the verb works on, not a step to take.
OBJECT_PENALTY = 100
_DETERMINED = re.compile(r"\b(?:the|my|your|our|its|their)\s+$", re.IGNORECASE)


def read_clause(clause: Clause, resources: Sequence[Resource]) -> Reading:
    chinese = clause.lang == "zh"
    text = clause.masked
    lead = len(_POLITE.match(text).group(0)) if not chinese else -1  # type: ignore[union-attr]
    if lead >= 0 and (re.findall(r"[a-z']+", text[lead:].lower())[:1] or [""])[0] in LIGHT_VERBS_EN:
        lead = -1
    found = [
        (i.priority + (LEAD_BOOST if pos == lead and i.literal is not Literal.QUESTION else 0), pos, i)
        for i in INTENTS
        if (pos := i.find(text, chinese)) is not None
    ]
    head = max((score for score, pos, i in found if pos == lead and i.literal is not Literal.QUESTION), default=None)
    if head is not None:  # "transcribe the voiceover": the voiceover is what the head verb works on
        found = [
            (
                score - OBJECT_PENALTY if pos != lead and score > head and _DETERMINED.search(text[:pos]) else score,
                pos,
                i,
            )
            for score, pos, i in found
        ]
    if not chinese:
        found = _language_as_wish(found, text)
    if is_interrogative(clause):
        found = [f for f in found if f[2].targets != (T.IMAGE,)]  # "is this photo upside down?" edits nothing
    question = INTENT_BY_NAME["question"]
    if clause.question and all(i is not question for _, _, i in found):
        found.append((question.priority, len(text), question))
    # on a tie the cue of higher priority leads (the one whose product is the more finished one)
    reading = Reading(
        clause=clause,
        intents=[i for _, _, i in sorted(found, key=lambda f: (-f[0], -f[2].priority, f[1]))],
        gloss=gloss(text) if chinese else "",
    )
    lowered = clause.text.lower()
    for index, res in enumerate(resources):
        names = {basename(str(n)) for n in (res.name, res.value) if isinstance(n, str) and n}
        if any(re.search(rf"(?<![\w.-]){re.escape(n)}(?![\w-])", lowered) for n in names):
            reading.named.append(index)
    if chinese:
        _references_zh(reading)
    else:
        _references_en(reading)
    reading.fresh = bool((VERSION_ZH if chinese else VERSION_EN).search(clause.masked))
    reading.object = object_phrase(clause)
    value = INTENT_BY_NAME["value"]
    if value in reading.intents and (value_line(clause) is None or not DOCUMENT_WORDS.search(clause.text)):
        reading.intents.remove(value)  # "how much does the dog weigh": no line of a document holds that
    elif value in reading.intents and reading.intents[0].name in _FINDING:
        reading.intents.remove(value)  # "find the total amount on this receipt": the amount, not where it is
        reading.intents.insert(0, value)
    reading.literal, reading.referring = literal_for(reading, reading.intent)
    if reading.intent is value:  # read the document, select the line it names, extract the number
        reading.intents.append(INTENT_BY_NAME["lines"])
    if reading.referring and reading.intent is not None and reading.intent.name in ("detect", "where"):
        reading.intents = [INTENT_BY_NAME["ground"], *reading.intents]  # "the man in the red shirt"
    if reading.literal is not None and reading.intent is not None and reading.intent.literal is Literal.CONTENT:
        reading.mentioned.discard(T.TEXT)  # "read this text aloud: hello" gives the text itself
        reading.deictic.discard(T.TEXT)
    return reading


#: Cues whose step makes a text a language wish can apply to ("caption it in Spanish").
_TEXT_MAKERS = frozenset({"describe", "summarise", "transcribe", "read", "compare"})


def _language_as_wish(found: list[tuple[int, int, Intent]], text: str) -> list[tuple[int, int, Intent]]:
    """ "Caption photo.jpg in Spanish": when "in <language>" is the only translation cue and another cue
    makes the text, that cue leads the clause and the translation comes after it (the decomposer adds
    the step); "translate …" and "a French version" stay translations in their own right."""
    makers = [score for score, _, intent in found if intent.name in _TEXT_MAKERS]
    if not makers or TRANSLATION_NAMED_EN.search(text):
        return found
    return [(min(makers) - 1 if intent.name == "translate" else score, pos, intent) for score, pos, intent in found]


def is_interrogative(clause: Clause) -> bool:
    """A question about the input rather than a polite request to change it."""
    if clause.lang == "zh":
        return clause.question or clause.text.endswith("吗")
    words = re.findall(r"[a-z']+", _POLITE.sub("", clause.text.lower()))[:1]
    opener = bool(words) and words[0] in QUESTION_OPENERS_EN
    if words and not opener and is_verb(words[0]):
        return False  # "Bump up the contrast?": a request with a question mark
    return (clause.question or opener) and not _REQUEST.match(clause.text)


def fallback_intents(reading: Reading) -> list[Intent]:
    """Intents to try when the strongest one cannot be served ("how many people are in the video?" is a
    question for the video when counting needs an image): the weaker cues, then a plain question."""
    rest = list(reading.intents[1:])
    question = INTENT_BY_NAME["question"]
    if is_interrogative(reading.clause) and all(i is not question for i in reading.intents):
        rest.append(question)
    return rest


def asks_for_separate_results(request: str) -> bool:
    """ "… separately", 分别: every edit of the request is a result of its own, made from the input as it was."""
    return bool(SEPARATE_EN.search(request) or SEPARATE_ZH.search(request))


# --- merging context clauses -----------------------------------------------------------------------


_STATEMENT_EN = re.compile(
    r"^(?:(?!(?:what|which|who|whom|whose|where|when|how|that)\b)[\w'⟦⟧.-]+\s+){0,6}?"
    r"(?:is|are|was|were|looks?|seems?|appears?|shows? up|comes? out|came out|came off|got|"
    r"has been|have been|'s|has|have|holds?|contains?|includes?)\b",
    re.IGNORECASE,
)
_STATEMENT_ZH = re.compile(
    r"(?:太|有点|有些|很)[\u4e00-\u9fff]{1,2}了?$|(?:是|有点)?(?:歪|斜|倒)的?了?$|是[\u4e00-\u9fff]{1,3}的$"
)


def is_statement(reading: Reading) -> bool:
    """Says how things are rather than what to do ("the photo is too dark"): context for a request."""
    if is_interrogative(reading.clause):
        return False
    if reading.chinese:
        return bool(_STATEMENT_ZH.search(reading.clause.text))
    first = (re.findall(r"[a-z']+", reading.clause.text.lower())[:1] or [""])[0]
    masked = re.sub(r"(?<=\w)'s\b", " is", reading.clause.masked)  # "it's too bright"
    return not is_verb(first) and first not in QUESTION_OPENERS_EN and bool(_STATEMENT_EN.search(masked))


def merge_context(readings: list[Reading]) -> list[Reading]:
    """A clause with no cue ("In photo.jpg") or that only states something ("the photo is too dark") is
    context: it joins the next clause (or the last one)."""
    out: list[Reading] = []
    pending: list[Reading] = []
    acting = [r for r in readings if r.intents and not is_statement(r)]
    for reading in readings:
        if not reading.intents or (acting and reading not in acting):
            pending.append(reading)
            continue
        if pending:
            reading = _joined([*pending, reading])
            pending = []
        out.append(reading)
    if pending:
        out.append(_joined(([out.pop()] if out else []) + pending))
    return out


def _joined(readings: list[Reading]) -> Reading:
    chinese = any(r.chinese for r in readings)
    sep = "，" if chinese else ", "
    clause = Clause(
        text=sep.join(r.clause.text for r in readings),
        masked=sep.join(r.clause.masked for r in readings),
        lang="zh" if chinese else "en",
        question=any(r.clause.question for r in readings),
        quotes=tuple(q for r in readings for q in r.clause.quotes),
    )
    main = next((r for r in readings if r.intents and not is_statement(r)), None) or next(
        (r for r in readings if r.intents), readings[-1]
    )
    merged = Reading(
        clause=clause,
        intents=main.intents,
        gloss=" ".join(r.gloss for r in readings if r.gloss),
        literal=main.literal,
        referring=main.referring,
    )
    for r in readings:
        merged.named += [i for i in r.named if i not in merged.named]
        merged.mentioned |= r.mentioned
        merged.deictic |= r.deictic
        merged.referenced |= r.referenced
        merged.pronoun = merged.pronoun or r.pronoun
        merged.plural = (merged.plural or r.plural) and not (r.pronoun and not r.plural)
        merged.original = merged.original or r.original
        merged.fresh = merged.fresh or r.fresh
        merged.products |= r.products
    return merged


# --- glossing Chinese --------------------------------------------------------------------------------

_ZH_GLOSS = re.compile(
    "|".join(sorted((re.escape(k) for k, _ in ZH_GLOSSES), key=len, reverse=True)) + r"|[A-Za-z0-9][\w.\-]*"
)
_ZH_GLOSS_TABLE = dict(ZH_GLOSSES)


def gloss(text: str) -> str:
    """English words for a Chinese clause, in the clause's order (numbers and ASCII words kept)."""
    words: list[str] = []
    for match in _ZH_GLOSS.finditer(text):
        word = _ZH_GLOSS_TABLE.get(match.group(0), match.group(0))
        if word not in words[-1:]:
            words.append(word)
    return " ".join(words)


# --- references ------------------------------------------------------------------------------------


def _references_zh(reading: Reading) -> None:
    text = reading.clause.masked
    reading.original = any(w in text for w in ORIGINAL_ZH)
    reading.pronoun = any(w in text for w in RESULT_WORDS_ZH)
    for intent, nouns in PRODUCTS_BY_INTENT_ZH.items():
        if any(re.search(rf"(?:把|将|对|用|这个|这段|该|上面的|得到的){re.escape(n)}", text) for n in nouns):
            reading.products.add(intent)
    singular = re.sub("|".join(PLURAL_WORDS_ZH), "", text)
    reading.plural = (
        reading.pronoun and any(w in text for w in PLURAL_WORDS_ZH) and not any(w in singular for w in RESULT_WORDS_ZH)
    )
    for rtype, nouns in TYPE_NOUNS_ZH.items():
        for noun in nouns:
            for m in re.finditer(re.escape(noun), text):
                before = text[max(0, m.start() - 4) : m.start()]
                if re.search(r"(?:成|为|生成|合成|出|用|以)$", before):
                    continue  # 转成语音, 用语音读: the kind to make, not one to take
                if re.search(r"(?:后的|过的|到的|出的)$", before):
                    reading.referenced.add(rtype)
                elif re.search(r"(?:这|那|该|我的)(?:一)?(?:张|个|幅|段|份|篇|部|条)?$", before):
                    reading.deictic.add(rtype)
                else:
                    reading.mentioned.add(rtype)


#: What is left of an earlier result ("count what's left", "the remaining ones").
_LEFTOVER = re.compile(r"\bwhat(?:'s| is)? (?:left|remains?)\b|\b(?:the )?(?:rest|remaining|survivors|leftovers?)\b")
_INPUT_LEAD = re.compile(r"\b(?:the|this|that|these|those|my|our|your|both|two|each|all|in|from|of|on)\b")
_TARGET_LEAD = re.compile(r"\b(?:to|into|as|an?|new|make|create|generate|produce)\s*$")


def _references_en(reading: Reading) -> None:
    lowered = reading.clause.masked.lower()
    words = re.findall(r"[a-z']+", lowered)
    reading.original = bool(ORIGINAL_EN.search(lowered))
    results = any(
        re.search(rf"\b(?:the|that|this|those|these)\s+(?:[\w-]+\s+)?{re.escape(n)}\b", lowered)
        for n in RESULT_NOUNS_EN
    ) or bool(re.search(r"\bboth\b", lowered))
    results = results or bool(_LEFTOVER.search(lowered))
    reading.pronoun = results or any(w in PRONOUNS_EN for w in words)
    reading.plural = (
        not results
        and any(w in PLURAL_PRONOUNS_EN for w in words)
        and not any(w in PRONOUNS_EN and w not in PLURAL_PRONOUNS_EN for w in words)
    )
    for rtype, nouns in TYPE_NOUNS_EN.items():
        for noun in nouns:
            for m in re.finditer(rf"\b((?:[\w']+[- ]){{0,3}}){re.escape(noun)}\b", lowered):
                lead = m.group(1)
                if _TARGET_LEAD.search(lead):
                    continue  # "convert it to audio": the kind to make
                if EDITED_EN.search(lead):
                    reading.referenced.add(rtype)
                elif re.search(r"\b(?:this|that|my|our|your)\s*$", lead):
                    reading.deictic.add(rtype)
                elif _INPUT_LEAD.search(lead) or not lead:
                    reading.mentioned.add(rtype)
    for rtype, nouns in PRODUCT_NOUNS_EN.items():
        if any(
            re.search(
                rf"\b(?:the|those|these|that|this|each|every|all|their|its)\s+(?:\w+\s+)?{re.escape(n)}\b", lowered
            )
            for n in nouns
        ):
            reading.referenced.add(rtype)
    for intent, nouns in PRODUCTS_BY_INTENT_EN.items():
        if any(
            re.search(
                rf"\b(?:the|those|these|that|this|its|their|each|every|all)\s+(?:[\w-]+\s+)?{re.escape(n)}\b", lowered
            )
            for n in nouns
        ):
            reading.products.add(intent)
    if re.search(r"\b(?:text|words|writing)\s+(?:in|on|from|of|off)\b", lowered):
        reading.mentioned.discard(T.TEXT)  # "the text in the image" is to be read, not a text resource
        reading.products.discard("read")


# --- literals --------------------------------------------------------------------------------------


def literal_for(reading: Reading, intent: Intent | None) -> tuple[str | None, bool]:
    """The text literal the clause gives a tool of ``intent``, and whether it is a referring expression."""
    if intent is None:
        return None, False
    clause = reading.clause
    if clause.quotes:
        return clause.quotes[0], False
    if intent.literal is Literal.QUESTION:
        if intent.name == "compare" and not clause.question:
            return None, False
        return _question(clause), False
    if intent.literal is Literal.CONTENT:
        return _content(clause), False
    if intent.literal is Literal.CATEGORY:
        return _category(clause), False
    if intent.literal is Literal.OBJECT:
        return object_phrase(clause), False
    if intent.literal is Literal.LINE:
        return value_line(clause), False
    if intent.literal is Literal.PHRASE:
        phrase = object_phrase(clause)
        if phrase is None:
            return None, False
        return phrase, intent.name == "ground" or is_referring(phrase, clause.lang)
    return None, False


#: Cues that only say how a value is found when a clause asks for a value ("find the total", "read the total").
_FINDING = frozenset({"detect", "where", "read", "question"})


def value_line(clause: Clause) -> str | None:
    """The line of a document that holds the value a clause asks for, named as documents name it: "how
    much did I pay in total" -> "total", "the price of the bagel" -> "bagel" (None: the clause names none)."""
    if clause.lang == "zh":
        return next((word for word in VALUE_LINES_ZH if word in clause.text), None)
    for pattern, name in VALUE_LINES_EN:
        match = re.search(pattern, clause.text, re.IGNORECASE)
        if match:
            return name or match.group(0).lower()
    item = VALUE_ITEM_EN.search(clause.text)
    return (item.group("a") or item.group("b")).strip() if item else None


def _question(clause: Clause) -> str:
    text = re.sub(
        r"^\s*(?:please\s+)?(?:tell me|let me know|find out|figure out|answer|ask)\s+",
        "",
        clause.text,
        flags=re.IGNORECASE,
    ).strip()
    return text if text.endswith(("?", "？")) else text + ("？" if clause.lang == "zh" else "?")


def _content(clause: Clause) -> str | None:
    match = re.search(r"[:：]\s*(.+)$", clause.text)
    if match:
        return match.group(1).strip()
    # "say aloud the summary": the adverb may come first; what follows is the content only if it is not
    # a reference to something ("the summary of essay.txt")
    match = re.match(
        r"^\s*(?:please\s+)?(?:say|speak)\s+(?:(?:out loud|aloud)\s+)?(.+?)(?:\s+(?:out loud|aloud))?$",
        clause.text,
        re.IGNORECASE,
    )
    if match and not re.match(r"(?:it|them|this|that|the|what|how|something)\b", match.group(1), re.IGNORECASE):
        return match.group(1).strip()
    return None


_VERB_OBJECT = re.compile(
    r"\b(?:detect|find|locate|spot|ground|point (?:out|to)|pick out|search for|look for|identify|crop|blur|"
    r"pixelate|hide|anonymi[sz]e|censor|highlight|mark|outline|box|circle|around|where (?:is|are|was|were)|where's|"
    r"position of|location of|positions of|locations of|count|how many|"
    r"(?:a |the )?(?:box|boxes|rectangle|circle)s? around|"
    r"where (?:exactly |precisely )?(?:is|are|was|were))"
    r"\s+(?:out\s+)?(.+)$",
    re.IGNORECASE,
)
_PLACE = re.compile(
    r"\s+(?:out of|in|on|from|within|of|off)\s+(?:the|this|that|my|a)?\s*(?:image|photo|picture|pic|"
    r"screenshot|scan|frame|⟦\d+⟧|[\w\-]+\.\w{2,4})\b.*$",
    re.IGNORECASE,
)
_MODIFIER = re.compile(
    r"\b(?:in|on|with|wearing|holding|near|next|behind|under|above|beside|left|right|top|bottom|"
    r"middle|who|that|which|red|green|blue|yellow|white|black|orange|purple|pink|brown|grey|gray|"
    r"tall|short|small|big|large|little|young|old|front|back|first|second|third|last)\b",
    re.IGNORECASE,
)
_ZH_OBJECT = re.compile(r"(?:找出|找到|定位|检测|识别出|框出|寻找|查找|标出|圈出|裁剪出?|模糊)(?:一下)?(.+)$")
_ZH_BA_OBJECT = re.compile(
    r"[把将](.+?)(?:都|全部|给)?(?:找出|框出|标出|圈出|裁剪|裁切|剪裁|抠出|模糊|打码|遮挡|检测|定位|数)"
)
_ZH_COUNT_OBJECT = re.compile(
    r"(?:几|多少)(?:个|只|位|辆|张|名|棵|本|条|处|块|行|种)?(?![个只位辆张名棵本条处块行种])"
    r"([\u4e00-\u9fff]{1,6}?)(?:[？?。，,]|$)"
)
_ZH_MODIFIER = re.compile(
    r"穿|戴|拿|抱|牵|骑|左|右|上面|下面|中间|红|蓝|绿|黄|白|黑|旁边|前面|后面|最大|最小|站|坐|正在"
)


def object_phrase(clause: Clause) -> str | None:
    """What a detect/ground clause is about: "the man in the red shirt", "cars and pedestrians"."""
    if clause.lang == "zh":
        match = (
            _ZH_BA_OBJECT.search(clause.text)
            or _ZH_OBJECT.search(clause.text)
            or re.search(r"^(.+?)(?:在哪(?:里|儿)?|在什么位置|的位置)", clause.text)
            or _ZH_COUNT_OBJECT.search(clause.text)
        )
        if not match:
            return None
        phrase = re.sub(r"^(?:出)?(?:这张|该)?(?:图片|照片|图像|图)(?:中|里|上)?(?:面)?的?", "", match.group(1))
        phrase = re.sub(r"(?:在哪(?:里|儿)?|在什么位置|的位置|出来|来)$", "", phrase).strip("，。？?！!")
        phrase = re.sub(r"^(?:所有|全部|每个|每一个|一切)的?", "", phrase)
        return phrase or None
    match = _VERB_OBJECT.search(clause.text)
    if not match:
        return None
    phrase = _PLACE.sub("", match.group(1))
    phrase = re.sub(
        r"\s+(?:are|is)\s+(?:there|in|on)\b.*$|\s+there\s+(?:are|is)\b.*$|\s+(?:located|situated)\s*$|"
        r"(?:\s+(?:who|that|which))?\s+(?:are|is|were|was)\s*$|[?.!]+$",  # "faces are" once "in this photo" is cut
        "",
        phrase.strip(),
        flags=re.IGNORECASE,
    )
    if re.fullmatch(
        r"(?:it|them|they|those|these|this|that|one|ones|there|each|all|everything|him|her|both|"
        r"the two|the rest)",
        phrase,
        re.IGNORECASE,
    ):
        return None
    phrase = re.sub(r"\s+(?:out|off|up|away)$|^there\s+(?:are|is|were|was)\b.*$", "", phrase, flags=re.IGNORECASE)
    for _ in range(2):
        phrase = re.sub(
            r"^(?:all|every|each|any|the|of|their|his|her|its|my|your|our|these|those)\s+",
            "",
            phrase,
            flags=re.IGNORECASE,
        ).strip()
    return phrase or None


_CATEGORY = (
    re.compile(
        r"\b(?:about|matching|labell?ed|named|called|of type|mentioning|with the (?:label|name|tag))\s+"
        r"[\"'“]?([\w -]+?)[\"'”]?(?:\s+(?:in|from|of)\b.*)?$",
        re.IGNORECASE,
    ),
    re.compile(
        r"\b(?:only|just|keep|select)\s+(?:the\s+)?([a-z][\w-]*)\s+"
        r"(?:boxes|detections|labels|tags|ones|classes)\b",
        re.IGNORECASE,
    ),
    re.compile(r"\b(?:keep|select|pick)\s+(?:out\s+)?(?:only\s+)?(?:the\s+)?([a-z][a-z -]*?)\s*$", re.IGNORECASE),
    re.compile(r"(?:只保留|保留|选出|挑出|筛选出?)(?:其中)?(?:所有)?(?:的)?(.+?)(?:的)?(?:框|检测框|标签|类别)"),
)
_NOT_CATEGORY = {
    "confident",
    "largest",
    "biggest",
    "smallest",
    "small",
    "large",
    "big",
    "best",
    "top",
    "first",
    "low",
    "high",
    "weak",
    "strong",
    "good",
    "remaining",
    "other",
    "detected",
    "new",
    "rest",
    "them",
    "it",
    "one",
    "ones",
    "those",
    "these",
}


def _category(clause: Clause) -> str | None:
    """The category to keep ("keep only the dog boxes" -> dog), None for size or score conditions."""
    for pattern in _CATEGORY:
        match = pattern.search(clause.text)
        if match is None:
            continue
        words = match.group(1).strip().lower().split()
        if words and not any(w in _NOT_CATEGORY or w.isdigit() for w in words) and len(words) <= 3:
            return match.group(1).strip()
    return None


def is_referring(phrase: str, lang: str) -> bool:
    """More than a category list: a relation, a colour, a position ("the man in the red shirt")."""
    if lang == "zh":
        return bool(_ZH_MODIFIER.search(phrase))
    return len(phrase.split()) >= 2 and bool(_MODIFIER.search(phrase))
