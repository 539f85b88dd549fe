"""What one clause says: its intents, the resources it names or points back to, and its text literal.

A :class:`Reading` is the decomposer's view of a clause before any tool is considered:

* ``intents`` — the lexical cues that matched, strongest first (:data:`agent.decompose.cues.INTENTS`);
* ``named`` — given resources named by file name; ``mentioned`` — kinds named as inputs ("the
  recording"); ``deictic`` — kinds pointed at ("this photo", 这张图片: the user's file);
  ``referenced`` — kinds named as earlier results ("the cropped image", "those faces", 模糊后的图片);
  ``pronoun`` — "it", "them", 它们, 结果; ``original`` — "the original photo", 原图;
* ``literal`` — text a tool needs from the user: the question of a question, the phrase to ground,
  quoted or dictated words. ``referring`` says the phrase is more than a category name.

    >>> r = read_clause(split_clauses("find the man in the red shirt")[0], [])
    >>> r.intent.name, r.literal, r.referring
    ('detect', 'man in the red shirt', True)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from agent.decompose.base import Resource
from agent.decompose.clauses import Clause, split_clauses
from agent.decompose.cues import (
    EDITED_EN,
    INTENT_BY_NAME,
    INTENTS,
    ORIGINAL_EN,
    ORIGINAL_ZH,
    PRODUCT_NOUNS_EN,
    PRONOUNS_EN,
    RESULT_NOUNS_EN,
    RESULT_WORDS_ZH,
    TYPE_NOUNS_EN,
    TYPE_NOUNS_ZH,
    ZH_GLOSSES,
    Intent,
    Literal,
)
from graph.types import ResourceType

T = ResourceType

__all__ = ["Reading", "basename", "merge_context", "read_clause", "split_clauses"]


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
    original: bool = False
    literal: str | None = None
    referring: bool = False
    object: str | None = None  # what the clause acts on, in its words ("the largest face")

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
        return not (self.named or self.mentioned or self.deictic or self.referenced or self.object
                    or self.clause.quotes)

    @property
    def strong_literal(self) -> bool:
        """A literal that must reach a tool: a question, quoted words, a referring expression."""
        return self.literal is not None and (self.referring or self.intent is None
                                             or self.intent.literal is not Literal.PHRASE)


def basename(name: str) -> str:
    return re.split(r"[/\\]", name.strip())[-1].lower()


def read_clause(clause: Clause, resources: Sequence[Resource]) -> Reading:
    chinese = clause.lang == "zh"
    found = [(i.priority, pos, i) for i in INTENTS if (pos := i.find(clause.masked, chinese)) is not None]
    question = INTENT_BY_NAME["question"]
    if clause.question and all(i is not question for _, _, i in found):
        found.append((question.priority, len(clause.masked), question))
    reading = Reading(clause=clause, intents=[i for _, _, i in sorted(found, key=lambda f: (-f[0], f[1]))],
                      gloss=gloss(clause.masked) if chinese else "")
    lowered = clause.text.lower()
    for index, res in enumerate(resources):
        names = {basename(str(n)) for n in (res.name, res.value) if isinstance(n, str) and n}
        if any(re.search(rf"(?<![\w.-]){re.escape(n)}(?![\w-])", lowered) for n in names):
            reading.named.append(index)
    if chinese:
        _references_zh(reading)
    else:
        _references_en(reading)
    reading.object = object_phrase(clause)
    reading.literal, reading.referring = _literal(reading)
    if reading.literal is not None and reading.intent is not None and reading.intent.literal is Literal.CONTENT:
        reading.mentioned.discard(T.TEXT)  # "read this text aloud: hello" gives the text itself
        reading.deictic.discard(T.TEXT)
    return reading


# --- merging context clauses -----------------------------------------------------------------------


def merge_context(readings: list[Reading]) -> list[Reading]:
    """A clause with no cue ("In photo.jpg") is context: it joins the next clause (or the last one)."""
    out: list[Reading] = []
    pending: list[Reading] = []
    for reading in readings:
        if not reading.intents:
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
        text=sep.join(r.clause.text for r in readings), masked=sep.join(r.clause.masked for r in readings),
        lang="zh" if chinese else "en", question=any(r.clause.question for r in readings),
        quotes=tuple(q for r in readings for q in r.clause.quotes),
    )
    main = next((r for r in readings if r.intents), readings[-1])
    merged = Reading(clause=clause, intents=main.intents, gloss=" ".join(r.gloss for r in readings if r.gloss),
                     literal=main.literal, referring=main.referring)
    for r in readings:
        merged.named += [i for i in r.named if i not in merged.named]
        merged.mentioned |= r.mentioned
        merged.deictic |= r.deictic
        merged.referenced |= r.referenced
        merged.pronoun = merged.pronoun or r.pronoun
        merged.original = merged.original or r.original
    return merged


# --- glossing Chinese --------------------------------------------------------------------------------

_ZH_GLOSS = re.compile("|".join(sorted((re.escape(k) for k, _ in ZH_GLOSSES), key=len, reverse=True))
                       + r"|[A-Za-z0-9][\w.\-]*")
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
    for rtype, nouns in TYPE_NOUNS_ZH.items():
        for noun in nouns:
            for m in re.finditer(re.escape(noun), text):
                before = text[max(0, m.start() - 4):m.start()]
                if re.search(r"(?:成|为|生成|合成|出)$", before):
                    continue  # 转成语音: the kind to make, not one to take
                if re.search(r"(?:后的|过的|到的|出的)$", before):
                    reading.referenced.add(rtype)
                elif re.search(r"(?:这|那|该|我的)(?:一)?(?:张|个|幅|段|份|篇|部|条)?$", before):
                    reading.deictic.add(rtype)
                else:
                    reading.mentioned.add(rtype)


_INPUT_LEAD = re.compile(r"\b(?:the|this|that|these|those|my|our|your|both|two|each|all|in|from|of|on)\b")
_TARGET_LEAD = re.compile(r"\b(?:to|into|as|an?|new|make|create|generate|produce)\s*$")


def _references_en(reading: Reading) -> None:
    lowered = reading.clause.masked.lower()
    words = re.findall(r"[a-z']+", lowered)
    reading.original = bool(ORIGINAL_EN.search(lowered))
    reading.pronoun = any(w in PRONOUNS_EN for w in words) or any(
        re.search(rf"\b(?:the|that|this|those|these)\s+{re.escape(n)}\b", lowered) for n in RESULT_NOUNS_EN)
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
        if any(re.search(rf"\b(?:the|those|these|that|this|each|every|all|their|its)\s+(?:\w+\s+)?{re.escape(n)}\b",
                         lowered) for n in nouns):
            reading.referenced.add(rtype)
    if re.search(r"\b(?:text|words|writing)\s+(?:in|on|from|of)\b", lowered):
        reading.mentioned.discard(T.TEXT)  # "the text in the image" is to be read, not a text resource


# --- literals --------------------------------------------------------------------------------------


def _literal(reading: Reading) -> tuple[str | None, bool]:
    """The text literal the clause gives its tool, and whether it is a referring expression."""
    intent = reading.intent
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
    if intent.literal is Literal.PHRASE:
        phrase = object_phrase(clause)
        if phrase is None:
            return None, False
        return phrase, intent.name == "where" or _is_referring(phrase, clause.lang)
    return None, False


def _question(clause: Clause) -> str:
    text = re.sub(r"^\s*(?:please\s+)?(?:tell me|let me know|find out|figure out|answer|ask)\s+", "", clause.text,
                  flags=re.IGNORECASE).strip()
    return text if text.endswith(("?", "？")) else text + ("？" if clause.lang == "zh" else "?")


def _content(clause: Clause) -> str | None:
    match = re.search(r"[:：]\s*(.+)$", clause.text)
    if match:
        return match.group(1).strip()
    match = re.match(r"^\s*(?:please\s+)?(?:say|speak)\s+(.+?)(?:\s+(?:out loud|aloud))?$", clause.text, re.IGNORECASE)
    if match and not re.match(r"(?:it|them|this|that|the|what|how|something)\b", match.group(1), re.IGNORECASE):
        return match.group(1).strip()
    return None


_VERB_OBJECT = re.compile(
    r"\b(?:detect|find|locate|spot|ground|point (?:out|to)|pick out|search for|look for|identify|crop|blur|"
    r"pixelate|hide|highlight|mark|outline|box|circle|where (?:is|are|was|were)|where's|position of|location of|"
    r"count|how many)\s+(?:out\s+)?(.+)$", re.IGNORECASE)
_PLACE = re.compile(r"\s+(?:in|on|from|within|of|out of)\s+(?:the|this|that|my|a)?\s*(?:image|photo|picture|pic|"
                    r"screenshot|scan|frame|⟦\d+⟧|[\w\-]+\.\w{2,4})\b.*$", re.IGNORECASE)
_MODIFIER = re.compile(r"\b(?:in|on|with|wearing|holding|near|next|behind|under|above|beside|left|right|top|bottom|"
                       r"middle|who|that|which|red|green|blue|yellow|white|black|orange|purple|pink|brown|grey|gray|"
                       r"tall|short|small|big|large|little|young|old|front|back|first|second|third|last)\b",
                       re.IGNORECASE)
_ZH_OBJECT = re.compile(r"(?:找出|找到|定位|检测|识别出|框出|寻找|查找|标出|圈出|裁剪出?|模糊)(?:一下)?(.+)$")
_ZH_MODIFIER = re.compile(r"的|穿|戴|拿|左|右|上面|下面|中间|红|蓝|绿|黄|白|黑|旁边|前面|后面")


def object_phrase(clause: Clause) -> str | None:
    """What a detect/ground clause is about: "the man in the red shirt", "cars and pedestrians"."""
    if clause.lang == "zh":
        match = _ZH_OBJECT.search(clause.text) or re.search(r"^(.+?)(?:在哪(?:里|儿)?|在什么位置|的位置)", clause.text)
        if not match:
            return None
        phrase = re.sub(r"^(?:出)?(?:这张|该)?(?:图片|照片|图像|图)(?:中|里|上)?的?", "", match.group(1))
        phrase = re.sub(r"(?:在哪(?:里|儿)?|在什么位置|的位置|出来|来)$", "", phrase).strip("，。？?！!")
        return phrase or None
    match = _VERB_OBJECT.search(clause.text)
    if not match:
        return None
    phrase = _PLACE.sub("", match.group(1))
    phrase = re.sub(r"\s+(?:are|is)\s+(?:there|in|on)\b.*$|\s+there\s+(?:are|is)\b.*$|\s+(?:located|situated)\s*$|"
                    r"[?.!]+$", "", phrase.strip(), flags=re.IGNORECASE)
    if re.fullmatch(r"(?:it|them|they|those|these|this|that|one|ones|there|each|all|everything)", phrase, re.IGNORECASE):
        return None
    phrase = re.sub(r"^(?:all|every|each|any|the|of)\s+", "", phrase, flags=re.IGNORECASE)
    phrase = re.sub(r"^(?:all|every|each|any|the|of)\s+", "", phrase, flags=re.IGNORECASE).strip()
    return phrase or None


def _is_referring(phrase: str, lang: str) -> bool:
    """More than a category list: a relation, a colour, a position ("the man in the red shirt")."""
    if lang == "zh":
        return bool(_ZH_MODIFIER.search(phrase))
    return len(phrase.split()) >= 2 and bool(_MODIFIER.search(phrase))
