"""Type evidence: what a clause says about the types a tool must take and give, from any catalogue's types.

Sentence embeddings see "image" in "I have a photo, example.jpg" and in "generate an image from this
text" alike: a tool that *makes* an image and one that *reads* one score the same. The request's own
structure says which way the data flows:

- a clause that names a given file works **on** it: a tool that takes none of the named files' types
  loses :data:`FILE_PENALTY` in that clause ("I've got an image example.jpg" is not a request to draw one);
- a type word after an indefinite article or "into"/"to"/"as"/"new" ("create **an image**", "convert it
  **into text**") is something to **make**: a tool that gives that type gains :data:`NEW_TYPE_BONUS` —
  unless the clause names a given file of that type ("I have **a photo**, a.jpg" describes the file).

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
    for row, clause in enumerate(clauses):
        named = {r.type for r in resources if r.name and r.name in clause}
        named = {t for t in named if t is not ResourceType.TEXT and t in taken}
        own_words = QUOTED.sub(" ", FILE_NAME.sub(" ", clause))  # quoted material is not an ask
        wanted = ({_TYPE_WORDS[w.lower()] for w in _NEW.findall(own_words)} & given) - named
        for column in range(len(specs)):
            if named and not takes[column] & named:
                evidence[row, column] -= FILE_PENALTY
            if gives[column] & wanted:
                evidence[row, column] += NEW_TYPE_BONUS
    return evidence
