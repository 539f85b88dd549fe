"""Type evidence: what a clause says about the types a tool must take and give, from any catalogue's types.

Sentence embeddings see "image" in "I have a photo, example.jpg" and in "generate an image from this
text" alike: a tool that *makes* an image and one that *reads* one score the same. The request's own
structure says which way the data flows:

- a clause that names a given file works **on** it: a tool that takes none of the named files' types
  loses :data:`FILE_PENALTY` in that clause ("I've got an image example.jpg" is not a request to draw one);
- a type word after an indefinite article or "into"/"to"/"as"/"new" ("create **an image**", "convert it
  **into text**") is something to **make**: a tool that gives that type gains :data:`NEW_TYPE_BONUS` —
  unless the clause names a given file of that type ("I have **a photo**, a.jpg" describes the file);
- a clause that supplies a value of a recognisable kind (an e-mail address, a phone number, a URL, a
  clock time, a date) asks for a tool with a parameter of that kind: a tool whose parameter is named or
  described with the kind's word (``email_address``, ``phone_number``, "The date to ... (date)") gains
  :data:`VALUE_BONUS` — named parameters are what API catalogues give instead of types.

Type words are the resource types' own names and :data:`graph.types.TYPE_ALIASES` — the project's type
vocabulary, the same for every catalogue. A type no tool takes (or gives) is no evidence, so a catalogue
without typed files (API catalogues whose tools all take text) is scored as before.

    >>> from graph.spec import ToolSpec
    >>> from agent.decompose.base import Resource
    >>> draw = ToolSpec.model_validate({"name": "draw", "description": "make a picture from a prompt",
    ...     "inputs": [{"name": "text", "type": "text"}], "outputs": [{"name": "image", "type": "image"}]})
    >>> ocr = ToolSpec.model_validate({"name": "ocr", "description": "read the text in a picture",
    ...     "inputs": [{"name": "image", "type": "image"}], "outputs": [{"name": "text", "type": "text"}]})
    >>> type_evidence(["I have a photo, a.jpg", "make an image of a cat"], [Resource(name="a.jpg", type="image")],
    ...     [draw, ocr]).round(2).tolist()
    [[-0.1, 0.0], [0.05, 0.0]]
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from agent.decompose.base import Resource
from agent.decompose.clauses import FILE_NAME, QUOTED
from graph.spec import ToolSpec
from graph.types import TYPE_ALIASES, ResourceType

#: Taken off a tool's score in a clause that names a given file of a type the tool does not take
#: (chosen on the dev halves of the public TaskBench sets: 0.05 helps less, 0.2 no more).
FILE_PENALTY = 0.1
#: Added to a tool's score in a clause that asks for a new value of a type the tool gives (dev halves;
#: 0.1 starts to pull in generators where the type word only described the input).
NEW_TYPE_BONUS = 0.05

#: Kinds of literal value a request can supply, each found by its shape, and the word a parameter that
#: takes it is named or described with (``email_address``, ``phone_number``, "The date to ... (date)").
VALUE_KINDS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    "phone": re.compile(r"(?<![\w.-])(?!\d{4}-\d{2}-\d{2})\+?\d[\d ()-]{6,}\d(?![\w.-])"),
    "url": re.compile(r"https?://\S+"),
    "time": re.compile(r"\b\d{1,2}(?::\d{2})?\s*(?:[ap]\.?m\.?)(?!\w)|\b\d{1,2}:\d{2}\b", re.IGNORECASE),
    "date": re.compile(
        r"\b\d{4}-\d{2}-\d{2}\b|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2}(?:st|nd|rd|th)?"
        r"\b|\b\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b",
        re.IGNORECASE,
    ),
}
#: Added to a tool's score in a clause that supplies a value of a kind one of its parameters takes
#: (chosen on the dev halves).
VALUE_BONUS = 0.05

_TYPE_WORDS: dict[str, ResourceType] = {t.value: t for t in ResourceType} | dict(TYPE_ALIASES)
_ALTERNATIVES = "|".join(sorted(map(re.escape, _TYPE_WORDS), key=len, reverse=True))
#: "an image", "into text", "a new short video": a type word the clause asks to make.
_NEW = re.compile(rf"\b(?:an?|new|into|to|as)\s+(?:\w+\s+)?({_ALTERNATIVES})s?\b", re.IGNORECASE)


def type_evidence(
    clauses: Sequence[str], resources: Sequence[Resource], specs: Sequence[ToolSpec]
) -> NDArray[np.float64]:
    """A (clauses × tools) matrix added to the similarity scores (module docstring)."""
    evidence = np.zeros((len(clauses), len(specs)), dtype=np.float64)
    takes = [{i.type for i in spec.inputs} for spec in specs]
    gives = [{o.type for o in spec.outputs} for spec in specs]
    taken = set().union(*takes) if takes else set()
    given = set().union(*gives) if gives else set()
    kinds = [
        {k for k in VALUE_KINDS for i in spec.inputs if k in f"{i.name} {i.description or ''}".lower()}
        for spec in specs
    ]
    for row, clause in enumerate(clauses):
        supplied = {k for k, pattern in VALUE_KINDS.items() if pattern.search(clause)}
        named = {r.type for r in resources if r.name and r.name in clause}
        named = {t for t in named if t is not ResourceType.TEXT and t in taken}
        own_words = QUOTED.sub(" ", FILE_NAME.sub(" ", clause))  # quoted material is not an ask
        wanted = ({_TYPE_WORDS[w.lower()] for w in _NEW.findall(own_words)} & given) - named
        for column in range(len(specs)):
            if named and not takes[column] & named:
                evidence[row, column] -= FILE_PENALTY
            if gives[column] & wanted:
                evidence[row, column] += NEW_TYPE_BONUS
            if kinds[column] & supplied:
                evidence[row, column] += VALUE_BONUS
    return evidence
