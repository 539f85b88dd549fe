"""The two text tools the receipt workflow uses (tools/text_ops.py), and the doctests of the workflow modules."""

from __future__ import annotations

import doctest
import importlib

import pytest

from tools.errors import ToolInputError
from tools.text_ops import extract_number, numbers_in, select_lines

RECEIPT = "CORNER CAFE\nCoffee 3.50\nSubtotal 5.75\nTax 0.46\nTOTAL 6.21\nTotal items: 2"


def test_select_lines_matches_by_words() -> None:
    assert select_lines(text=RECEIPT, query="total")["text"] == "TOTAL 6.21\nTotal items: 2"
    assert select_lines(text=RECEIPT, query="totals items")["text"] == "Total items: 2"
    assert select_lines(text=RECEIPT, query="tip")["text"] == ""


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("TOTAL $1,234.50", [1234.5]),
        ("12,50 EUR", [12.5]),
        ("pay 1,000 now", [1000.0]),
        ("-3 and 4.5", [-3.0, 4.5]),
        ("Tax: 0.46 (8%)", [0.46, 8.0]),
        ("1,2,3 and A1B2", []),
    ],
)
def test_numbers_are_read_as_written(text: str, numbers: list[float]) -> None:
    assert numbers_in(text) == numbers


def test_extract_number_picks_first_last_or_largest() -> None:
    text = "Subtotal 5.75 Tax 0.46 TOTAL 6.21"
    assert [extract_number(text=text, which=w)["number"] for w in ("first", "last", "largest")] == [5.75, 6.21, 6.21]


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: extract_number(text="no digits here"), "text"),
        (lambda: extract_number(text="3", which="middle"), "which"),
        (lambda: select_lines(text=" \n ", query="total"), "text"),
        (lambda: select_lines(text=RECEIPT, query="--"), "query"),
    ],
)
def test_bad_input_names_the_argument(call, argument: str) -> None:
    with pytest.raises(ToolInputError) as info:
        call()
    assert info.value.argument == argument


@pytest.mark.parametrize(
    "module",
    [
        "tools.text_ops",
        "agent.workflows.errors",
        "agent.workflows.model",
        "agent.workflows.parse",
        "agent.workflows.refs",
        "agent.workflows.condition",
        "agent.workflows.workflow",
        "agent.workflows.progress",
    ],
)
def test_doctests(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0 and result.attempted > 0
