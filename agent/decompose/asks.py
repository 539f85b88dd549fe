"""Split a long message into its asks: one piece per step, even where steps are listed without "then".

:func:`agent.decompose.clauses.split_clauses` splits at sentence ends, at ordering connectives and at a
weak connective ("and", a comma) followed by a verb it knows — its verbs were written for the built-in
toolbox. Messages written for other catalogues list their steps with verbs it does not know ("pay my
card bill, settle the electricity bill and then catch me up with the news"), so a whole list stays one
piece and every step but one is lost. :func:`split_asks` splits each of its clauses again, at a comma or
"and" followed by a verb, where a verb is recognised without a list written for any catalogue:

- a word the clause splitter knows as a verb;
- a *catalogue verb*: a word that, in one of the catalogue's own descriptions, is followed by a function
  word ("**Book** a flight", "**Get** the weather") — what the catalogue itself says its tools do;
- an imperative shape: a word followed by a determiner, possessive or object pronoun ("settle **the**
  bill", "catch **me** up") — closed-class English words, the same for any catalogue.

E-mail addresses are masked first, so "friend@example.com" does not end a sentence at its dot, and quoted
text is never split.

    >>> split_asks("Pay my card bill, settle the electricity bill and catch me up with the news.", set())
    ['Pay my card bill', 'settle the electricity bill', 'catch me up with the news']
    >>> split_asks("Mail it to ann@example.com, please.", set())
    ['Mail it to ann@example.com, please']
    >>> split_asks("Find the cats and dogs in the photo", set())
    ['Find the cats and dogs in the photo']
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from agent.decompose.clauses import QUOTED, is_verb, split_clauses
from graph.spec import ToolSpec

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
#: A comma (optionally with "and"/"or") or "and" between two pieces of a clause.
_JOIN = re.compile(r",\s*(?:(?:and|or)\s+)?|\s+and\s+", re.IGNORECASE)
_EMAIL_SLOT = re.compile(r"⟪(\d+)⟫")
_QUOTE_SLOT = re.compile(r"⟨(\d+)⟩")

#: Closed-class English words that follow an imperative verb: determiners, possessives, object pronouns
#: and verb particles ("settle the bill", "catch me up").
OBJECT_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "my",
        "me",
        "your",
        "our",
        "his",
        "her",
        "their",
        "its",
        "it",
        "them",
        "this",
        "that",
        "these",
        "those",
        "some",
        "any",
        "all",
        "him",
        "us",
        "up",
        "out",
        "off",
        "down",
        "back",
        "over",
    ]
)
#: Closed-class words that never start an imperative (pronoun subjects, auxiliaries, prepositions,
#: conjunctions, adverbs of degree), on top of :data:`OBJECT_WORDS`.
NOT_VERBS = OBJECT_WORDS | frozenset(
    [
        "i",
        "we",
        "you",
        "he",
        "she",
        "they",
        "and",
        "or",
        "but",
        "also",
        "then",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "with",
        "from",
        "by",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "has",
        "have",
        "had",
        "do",
        "does",
        "did",
        "can",
        "could",
        "would",
        "will",
        "shall",
        "should",
        "may",
        "might",
        "must",
        "not",
        "no",
        "so",
        "if",
        "when",
        "while",
        "which",
        "who",
        "what",
        "where",
        "how",
        "why",
        "there",
        "here",
        "just",
        "only",
        "very",
        "too",
        "more",
        "most",
        "please",
        "kindly",
    ]
)


def catalogue_verbs(specs: Iterable[ToolSpec]) -> frozenset[str]:
    """Words a catalogue's descriptions use as verbs: each word followed by a word of :data:`OBJECT_WORDS`.

    >>> from graph.spec import ToolSpec
    >>> spec = ToolSpec.model_validate({"name": "book_flight", "description": "Book a flight for a date",
    ...     "inputs": [], "outputs": [{"name": "result", "type": "text"}]})
    >>> sorted(catalogue_verbs([spec]))
    ['book']
    """
    verbs: set[str] = set()
    for spec in specs:
        words = [w.lower() for w in _WORD.findall(spec.description)]
        for word, after in zip(words, words[1:], strict=False):
            if after in OBJECT_WORDS and word not in NOT_VERBS and len(word) > 2:
                verbs.add(word)
    return frozenset(verbs)


def starts_ask(rest: str, verbs: frozenset[str]) -> bool:
    """Does ``rest`` (the text after a comma or "and") open a step of its own?"""
    words = [w.lower() for w in _WORD.findall(rest[:60])]
    if not words or words[0] in NOT_VERBS:
        return False
    first, after = words[0], (words[1] if len(words) > 1 else "")
    if is_verb(first) or first in verbs:
        return True
    # "settle the bill": a word before a determiner or object pronoun; a plural noun ("cats the") is not
    return after in OBJECT_WORDS and (not first.endswith("s") or first.endswith("ing"))


def split_asks(request: str, verbs: frozenset[str] | set[str]) -> list[str]:
    """The request's asks, in order: its clauses, each split again where a listed step starts."""
    emails: list[str] = []
    masked = _EMAIL.sub(lambda m: _hide(m, emails, "⟪⟫"), request)
    asks = [piece for clause in split_clauses(masked) for piece in _split_listed(clause.text, frozenset(verbs))]
    return [_EMAIL_SLOT.sub(lambda m: emails[int(m.group(1))], a) for a in asks]


def _hide(match: re.Match[str], store: list[str], marks: str) -> str:
    store.append(match.group(0))
    return f"{marks[0]}{len(store) - 1}{marks[1]}"


def _split_listed(clause: str, verbs: frozenset[str]) -> list[str]:
    """One clause split at each comma or "and" that opens a step of its own (quoted text kept whole)."""
    quotes: list[str] = []
    text = QUOTED.sub(lambda m: _hide(m, quotes, "⟨⟩"), clause)
    start = 0
    pieces: list[str] = []
    for join in _JOIN.finditer(text):
        if join.start() > 0 and starts_ask(text[join.end() :], verbs):
            pieces.append(text[start : join.start()])
            start = join.end()
    pieces.append(text[start:])
    restored = (_QUOTE_SLOT.sub(lambda m: quotes[int(m.group(1))], p).strip(" ,") for p in pieces)
    return [p for p in restored if p]
