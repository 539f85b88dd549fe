"""Split a request into clauses, one per thing the user asks for, in English and Chinese.

A clause boundary is a sentence end, a connective that orders steps ("then", "after that", 然后, 接着),
or a weak connective ("and", a comma, 并, 再) *followed by a verb or a question*: "find the cats and
dogs" stays whole, "find the cats and blur them" splits. Quoted text, file names and decimals are
masked first so their dots and words never split anything. "After X-ing ..., do Y" and "do Y before
X-ing" are put in the order the steps run. Two verbs sharing one object ("crop and rotate the photo")
become two clauses about that object.

    >>> [c.text for c in split_clauses("Find the cats and dogs in photo.jpg, then blur them.")]
    ['Find the cats and dogs in photo.jpg', 'blur them']
    >>> [c.text for c in split_clauses("检测图片中的人脸，然后把它们模糊")]
    ['检测图片中的人脸', '把它们模糊']
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.decompose.cues import (
    CLAUSE_VERBS_EN,
    FILLERS_EN,
    QUESTION_OPENERS_EN,
    SPLIT_PRODUCTS_EN,
    SPLIT_PRODUCTS_ZH,
    ZH_CONNECTIVES,
    ZH_PARALLEL,
    ZH_VERBS,
)

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
FILE_NAME = re.compile(
    r"(?<![\w/.-])(?:[\w\-]+[/\\])*[\w\-]+\.(?:png|jpe?g|gif|bmp|webp|tiff?|heic|wav|mp3|flac|ogg|m4a|aac|mp4|mov|avi|"
    r"mkv|webm|pdf|txt|md|json|csv|srt|vtt|html?|docx?)\b",
    re.IGNORECASE,
)
#: Quoted passages (straight, curly and CJK quotes; an apostrophe inside a word is not a quote).
QUOTED = re.compile(r"\"([^\"]+)\"|“([^”]+)”|「([^」]+)」|『([^』]+)』|‘([^’]+)’|(?<![A-Za-z])'([^']+)'(?![A-Za-z])")
_DECIMAL = re.compile(r"\d+\.\d+")
_ABBREVIATION = re.compile(r"\b(?:e\.g\.|i\.e\.|etc\.|vs\.|approx\.|no\.|fig\.)", re.IGNORECASE)
_URL = re.compile(r"https?://\S+")
_SLOT = re.compile(r"⟦(\d+)⟧")
#: A semicolon inside a word ("tl;dr", "a;b") joins, it does not end a sentence.
_INNER_SEMICOLON = re.compile(r"\w+(?:;\w+)+")


@dataclass(frozen=True)
class Clause:
    """One thing asked for. ``masked`` has quoted text replaced by ``⟦q⟧`` (cues are matched on it)."""

    text: str
    masked: str
    lang: str
    question: bool = False
    quotes: tuple[str, ...] = ()
    connective: str | None = None
    """How the clause joins the one before: "seq" ("then", 然后: it may work on what that one made), "and"
    (a list of steps: on what that one worked on, or else what it made), "also" ("also", "as well",
    同时: beside that one, not on its result), None (the first clause, or no connective)."""


class _Masker:
    """Replaces spans that must not be split (quotes, file names, numbers) by numbered slots."""

    def __init__(self) -> None:
        self.spans: list[str] = []
        self.quotes: set[int] = set()

    def mask(self, text: str) -> str:
        text = QUOTED.sub(lambda m: self._slot(m.group(0), quote=True), text)
        for pattern in (_URL, FILE_NAME, _DECIMAL, _ABBREVIATION, _INNER_SEMICOLON):
            text = pattern.sub(lambda m: self._slot(m.group(0)), text)
        return text

    def _slot(self, span: str, quote: bool = False) -> str:
        self.spans.append(span)
        if quote:
            self.quotes.add(len(self.spans) - 1)
        return f"⟦{len(self.spans) - 1}⟧"

    def clause(self, masked: str, lang: str, question: bool, connective: str | None) -> Clause:
        slots = [int(i) for i in _SLOT.findall(masked)]
        quotes = tuple(self.spans[i].strip("\"'“”「」『』‘’") for i in slots if i in self.quotes)
        text = _SLOT.sub(lambda m: self.spans[int(m.group(1))], masked)
        shown = _SLOT.sub(lambda m: "⟦q⟧" if int(m.group(1)) in self.quotes else self.spans[int(m.group(1))], masked)
        return Clause(
            text=text.strip(), masked=shown.strip(), lang=lang, question=question, quotes=quotes, connective=connective
        )


def is_chinese(text: str) -> bool:
    return bool(CJK.search(text))


def split_clauses(request: str) -> list[Clause]:
    """The clauses of a request in the order their steps should run (empty list for an empty request)."""
    masker = _Masker()
    masked = masker.mask(" ".join(request.split()))
    clauses: list[Clause] = []
    for sentence, question in _sentences(masked):
        if is_chinese(_SLOT.sub("", sentence)):
            parts = _split_chinese(sentence)
            lang = "zh"
        else:
            parts = _split_english(sentence)
            lang = "en"
        for i, (raw, connective) in enumerate(parts):
            part = raw.strip(" ,，、:：")
            first = (_WORD.findall(part)[:1] or [""])[0].lower()
            polite = bool(re.match(r"\W*(?:please\s+)?(?:can|could|would|will) you\b", part, re.IGNORECASE))
            asks = question and not polite and (i == len(parts) - 1 or first in QUESTION_OPENERS_EN)
            if _SLOT.sub("", part).strip(" ,.;:!?，。") or _SLOT.search(part):
                clauses.append(masker.clause(part, lang, asks, connective))
    return clauses


def _sentences(text: str) -> list[tuple[str, bool]]:
    out = []
    text = re.sub(r"\s+[—–-]{1,2}\s+|—", "; ", text)  # a dash between clauses ends one
    for match in re.finditer(r"[^.!?;。！？；\n]+[.!?;。！？；\n]*", text):
        chunk = match.group(0)
        body = chunk.rstrip(".!?;。！？；\n ")
        if body.strip():
            out.append((body, "?" in chunk[len(body) :] or "？" in chunk[len(body) :]))
    return out


# --- English --------------------------------------------------------------------------------------

_STRONG = (
    r"and\s+then|and\s+after\s+that|and\s+afterwards|and\s+finally|and\s+lastly|and\s+also|after\s+that|"
    r"afterwards|after\s+which|then|finally|lastly|followed\s+by|and\s+next"
)
_WEAK = r"as\s+well\s+as|and|also|plus|but|next|or"
_BOUNDARY = re.compile(rf"(?:\s*,\s*(?:(?:{_STRONG}|{_WEAK})\b)?|\s+(?:{_STRONG}|{_WEAK})\b)\s*", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z']+")


def is_verb(word: str) -> bool:
    """An imperative verb, or its -ing form ("blurring", "cropping", "rotating")."""
    w = word.lower()
    if w in CLAUSE_VERBS_EN:
        return True
    if w.endswith("ing") and len(w) > 5:
        stem = w[:-3]
        return (
            stem in CLAUSE_VERBS_EN
            or stem + "e" in CLAUSE_VERBS_EN
            or (len(stem) > 2 and stem[-1] == stem[-2] and stem[:-1] in CLAUSE_VERBS_EN)
        )
    return False


def _starts_clause(rest: str) -> bool:
    """Does the text after a weak connective start a new clause (a verb, a question, "I want ...", or
    a product of its own: "and a French translation")?"""
    words = [re.sub(r"'s$", "", w.lower()) for w in _WORD.findall(rest[:80])]  # "what's" opens a question
    while words and words[0] in FILLERS_EN:
        words.pop(0)
    if not words:
        return False
    first = words[0]
    if first in ("a", "an", "one", "another") and any(w.rstrip("s") in SPLIT_PRODUCTS_EN for w in words[1:5]):
        return True
    if first in QUESTION_OPENERS_EN and len(_WORD.findall(rest)) <= 2:
        return False  # "…, and when?" asks more of the same clause
    if first in ("i", "we") and len(words) > 1 and words[1] in ("want", "need", "would", "'d", "also", "wanna"):
        return True
    if first in ("let", "give", "tell", "show", "please") or first in QUESTION_OPENERS_EN:
        return first not in ("do", "does", "is", "are", "was", "were", "can", "could", "has", "have") or (
            len(words) > 1
            and words[1]
            in (
                "it",
                "they",
                "there",
                "the",
                "this",
                "that",
                "these",
                "those",
                "he",
                "she",
                "you",
                "any",
                "its",
                "their",
                "my",
            )
        )
    return is_verb(first) and not (len(words) > 1 and words[1] in ("of", "is", "are", "was"))


def _split_english(sentence: str) -> list[tuple[str, str | None]]:
    sentence = _reorder(sentence)
    parts: list[str] = []
    joins: list[str | None] = [_lead_connective(sentence)]
    start = 0
    for match in _BOUNDARY.finditer(sentence):
        if match.start() == 0:
            continue
        connective = match.group(0).strip(" ,").lower()
        rest = sentence[match.end() :]
        strong = bool(re.fullmatch(_STRONG, connective, re.IGNORECASE))
        if connective == "next" and rest.lower().startswith("to"):
            continue
        if strong and connective == "then" and not rest.strip():
            continue
        if not (strong or _starts_clause(rest)):
            continue
        parts.append(sentence[start : match.start()])
        joins.append(
            "seq"
            if re.search(r"then|after|next|finally|lastly|followed", connective)
            else "also"
            if re.search(r"also|well|plus", connective)
            else "and"
        )
        start = match.end()
    parts.append(sentence[start:])
    parts = [
        re.sub(rf"^\s*(?:(?:{_STRONG}|also|first|firstly|now|please)\b[\s,]*)+", "", p, flags=re.IGNORECASE)
        for p in parts
    ]
    kept = [(p, j) for p, j in zip(_share_objects(parts), joins) if p.strip()]
    return kept


def _lead_connective(sentence: str) -> str | None:
    """A sentence that starts with "Then …" or "Also …" joins the sentence before."""
    word = (_WORD.findall(sentence[:20])[:1] or [""])[0].lower()
    if word in ("then", "afterwards", "next", "finally", "lastly", "after"):
        return "seq"
    if word in ("also", "additionally", "plus", "besides"):
        return "also"
    return "and" if word == "and" else None


def _reorder(sentence: str) -> str:
    """Put "before/after X-ing" subordinate clauses in step order, joined by ", then"."""
    lead = re.match(r"^\s*(after|before|once|when)\s+(\w+ing\b[^,]*),\s*(.+)$", sentence, re.IGNORECASE)
    if lead and is_verb(lead.group(2).split()[0]):
        sub, main = lead.group(2), lead.group(3)
        return f"{main}, then {sub}" if lead.group(1).lower() == "before" else f"{sub}, then {main}"
    tail = re.match(r"^(.+?),?\s+\b(before|after)\s+(\w+ing\b.*)$", sentence, re.IGNORECASE)
    if tail and is_verb(tail.group(3).split()[0]):
        main, sub = tail.group(1), tail.group(3)
        return f"{main}, then {sub}" if tail.group(2).lower() == "before" else f"{sub}, then {main}"
    return sentence


def _share_objects(parts: list[str]) -> list[str]:
    """ "Crop and rotate the photo": a bare verb takes the object of the clause after it."""
    out = list(parts)
    for i in range(len(out) - 2, -1, -1):
        words = _WORD.findall(out[i])
        if 1 <= len(words) <= 2 and all(is_verb(w) or w.lower() in FILLERS_EN for w in words) and "⟦" not in out[i]:
            nxt = out[i + 1].split(None, 1)
            if len(nxt) == 2 and is_verb(nxt[0]):
                out[i] = f"{out[i].strip()} {nxt[1]}"
    return out


# --- Chinese --------------------------------------------------------------------------------------

_ZH_CONNECTIVE = re.compile("|".join(sorted(map(re.escape, ZH_CONNECTIVES), key=len, reverse=True)))
_ZH_VERB_AHEAD = re.compile("(?:" + "|".join(sorted(map(re.escape, ZH_VERBS), key=len, reverse=True)) + ")")
#: Words in which a connective's characters are not a connective.
_ZH_PRODUCT_AND = re.compile(
    r"(和|以及|还有|与)(?=(?:一个|一份|一段|个|份)?[\u4e00-\u9fff]{0,3}?(?:" + "|".join(SPLIT_PRODUCTS_ZH) + "))"
)
_ZH_NOT_CONNECTIVE = re.compile(r"合并|并排|并列|再见|再次|最后一|之后的|同时的|另外的|以及其")


def _split_chinese(sentence: str) -> list[tuple[str, str | None]]:
    parts: list[tuple[str, str | None]] = []
    for segment in re.split(r"[，,、]\s*(?=(?:" + _ZH_CONNECTIVE.pattern + "))|[，,]", sentence):
        pieces = _split_at_connectives(segment)
        parts.extend(pieces)
    out = []
    for text, join in parts:
        text = re.sub(r"^(?:先|首先|第一步|请|麻烦)", "", text.strip())
        if text:
            out.append((text, join))
    return out


def _zh_join(connective: str) -> str:
    return "also" if connective in ZH_PARALLEL else "seq"


def _split_at_connectives(segment: str) -> list[tuple[str, str | None]]:
    protected = {m.start() + k for m in _ZH_NOT_CONNECTIVE.finditer(segment) for k in range(len(m.group(0)))}
    cuts: list[tuple[int, int, str | None]] = []
    for match in _ZH_CONNECTIVE.finditer(segment):
        if match.start() in protected:
            continue
        ahead = segment[match.end() :]
        if (
            match.start() == 0
            or _ZH_VERB_AHEAD.match(ahead.lstrip())
            or re.match(r"\s*(?:把|将|对|给|用|帮|告诉)", ahead)
        ):
            cuts.append((match.start(), match.end(), _zh_join(match.group(0))))
    for match in _ZH_PRODUCT_AND.finditer(segment):  # "做一个摘要和一个英文翻译"
        cuts.append((match.start(), match.start() + len(match.group(1)), "also"))
    cuts.sort()
    pieces: list[tuple[str, str | None]] = []
    start, join = 0, None
    for begin, end, kind in cuts:
        if begin < start:
            continue
        pieces.append((segment[start:begin], join))
        start, join = end, kind
    pieces.append((segment[start:], join))
    return [(p, j) for p, j in pieces if p.strip()]
