"""Small text tools that need no model: keep the lines that mention something, and read a number out of text.

They turn OCR output into answers without an LLM: ``read_text`` on a receipt, ``select_lines`` with
"total", ``extract_number`` -> the amount. Lines match by words the way the list tools match labels
(every query word among the line's words, ignoring case and plurals: "total" finds "TOTAL 6.21" but
not "Subtotal 5.75").

Numbers are read as written on receipts and forms: ``1,234.50`` (comma thousands), ``12,50`` (decimal
comma), ``-3``, currency signs ignored. Blank text is bad input, as for every text tool; text without
a number is bad input for ``extract_number`` (there is nothing to return, and a retry will not help).

    >>> select_lines(text="Subtotal 5.75\\nTOTAL 6.21", query="total")
    {'text': 'TOTAL 6.21'}
    >>> extract_number(text="TOTAL $1,234.50", which="last")
    {'number': 1234.5}
"""

from __future__ import annotations

import re
from typing import Literal

from tools.annotations import Text
from tools.base import Tool, tool
from tools.errors import ToolInputError
from tools.list_ops import matches, query_words

_GENERAL = ("general",)
#: A written number: digits with optional thousands separators and decimals (``1,234.50``, ``12,50``, ``7``).
_NUMBER = re.compile(r"(?<![\w.,])-?\d[\d,]*(?:\.\d+)?(?![\d])")


def _check_text(text: str, argument: str) -> None:
    if not text.strip():
        raise ToolInputError(f"{argument} is empty: there is no text to read", argument=argument)


def parse_number(written: str) -> float | None:
    """The value of one written number, or None when its separators make no sense (``1,2,3``)."""
    digits = written.lstrip("-")
    sign = -1.0 if written.startswith("-") else 1.0
    if "." in digits:
        whole, _, decimals = digits.partition(".")
        if whole.count(",") and not re.fullmatch(r"\d{1,3}(,\d{3})+", whole):
            return None
        return sign * float(whole.replace(",", "") + "." + decimals)
    if re.fullmatch(r"\d+,\d{1,2}", digits):  # a decimal comma: 12,50
        return sign * float(digits.replace(",", "."))
    if "," in digits and not re.fullmatch(r"\d{1,3}(,\d{3})+", digits):
        return None
    return sign * float(digits.replace(",", ""))


def numbers_in(text: str) -> list[float]:
    """Every number written in ``text``, in order."""
    found = (parse_number(m.group().rstrip(",")) for m in _NUMBER.finditer(text))
    return [n for n in found if n is not None]


# The query is the user's; a question-answering tool's short answer has no lines worth selecting.
@tool(domains=_GENERAL, from_subtask=("query",), not_after=("question-answering",))
def select_lines(text: Text, query: Text) -> Text:
    """Select the lines of a text that mention a word or phrase, e.g. the "total" line of a receipt read by OCR.

    A line matches when every word of ``query`` is among its words, ignoring case and plural "s"
    ("total" matches "TOTAL 6.21" but not "Subtotal"). No matching line gives an empty text.

    Args:
        text: the text to search, one item per line (e.g. the output of read_text).
        query: the word or phrase the wanted lines contain.

    Returns:
        text: the matching lines, in their original order, one per line.
    """
    _check_text(text, "text")
    wanted = query_words(query, "query")
    return "\n".join(line.strip() for line in text.splitlines() if matches(wanted, line))


@tool(domains=_GENERAL)
def extract_number(text: Text, which: Literal["first", "last", "largest"] = "last") -> float:
    """Extract a number written in a text, e.g. the amount on a receipt's total line or a price in a sentence.

    Reads 1,234.50 (comma thousands), 12,50 (decimal comma) and negative numbers; currency signs and
    other words are ignored.

    Args:
        text: the text to read the number from.
        which: "first" or "last" number in the text, or the "largest" one.

    Returns:
        number: the number.
    """
    _check_text(text, "text")
    found = numbers_in(text)
    if not found:
        raise ToolInputError(f"there is no number in the text {text[:60]!r}", argument="text")
    if which == "first":
        return found[0]
    return max(found) if which == "largest" else found[-1]


TOOLS: tuple[Tool, ...] = (select_lines, extract_number)
