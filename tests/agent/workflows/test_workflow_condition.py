"""The ``when:`` language: precedence, literals, emptiness tests, and refusing anything that is not in it."""

from __future__ import annotations

import pytest

from agent.workflows.condition import (
    AllOf,
    AnyOf,
    Compare,
    ConditionEvalError,
    ConditionSyntaxError,
    Const,
    Not,
    Truthy,
    evaluate,
    parse_condition,
)
from agent.workflows.refs import Ref, RefSyntaxError, parse_ref

N = Ref("step", "count", "count")
T = Ref("input", "text")
VALUES = {N: 3, T: "TOTAL 6.21", Ref("input", "none"): None, Ref("input", "empty"): [], Ref("input", "blank"): "  "}


def holds(text: str) -> bool:
    return evaluate(parse_condition(text), VALUES.__getitem__)


def test_and_binds_tighter_than_or_and_not_tighter_than_both() -> None:
    cond = parse_condition("${inputs.a} or ${inputs.b} and not ${inputs.c}")
    assert isinstance(cond, AnyOf) and isinstance(cond.operands[1], AllOf)
    assert isinstance(cond.operands[1].operands[1], Not)
    assert isinstance(parse_condition("(${inputs.a} or ${inputs.b}) and ${inputs.c}"), AllOf)


def test_comparisons_with_a_literal_on_either_side() -> None:
    assert parse_condition("${steps.count.outputs.count} >= 2") == Compare(N, ">=", 2, 0)
    assert parse_condition("2 < ${steps.count.outputs.count}") == Compare(N, ">", 2, 4)
    assert parse_condition("${inputs.text} == 'a b'").value == "a b"
    assert parse_condition('${inputs.text} != "x"').op == "!="
    assert parse_condition("${inputs.x} == 2.5e1").value == 25.0
    assert isinstance(parse_condition("${inputs.x}"), Truthy)
    assert parse_condition("false") == Const(False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${steps.count.outputs.count} > 2", True),
        ("${steps.count.outputs.count} > 3", False),
        ("${steps.count.outputs.count} == 3 and ${inputs.text} != 'x'", True),
        ("not ${steps.count.outputs.count} <= 3 or ${inputs.empty}", False),
        ("${inputs.empty}", False),
        ("${inputs.blank}", False),
        ("${inputs.text}", True),
        ("${inputs.none} == null", True),
        ("${inputs.none} != null", False),
        ("${inputs.none} > 1", False),
        ("true and not false", True),
    ],
)
def test_evaluation(text: str, expected: bool) -> None:
    assert holds(text) is expected


def test_and_or_short_circuit() -> None:
    seen = []

    def lookup(ref: Ref) -> object:
        seen.append(ref.name)
        return VALUES.get(ref, 0)

    assert evaluate(parse_condition("${inputs.empty} and ${inputs.text}"), lookup) is False
    assert seen == ["empty"]


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("", 0),
        ("${inputs.a} >", 13),
        ("${inputs.a} > ${inputs.b}", 14),
        ("3", 0),
        ("${inputs.a} ${inputs.b}", 12),
        ("(${inputs.a}", 12),
        ("${inputs.a} = 3", 12),
        ("os.system('x')", 0),
        ("${inputs.a} > 1 && ${inputs.b}", 16),
        ("${inputs.a.b}", 0),
    ],
)
def test_anything_outside_the_language_is_a_syntax_error(text: str, offset: int) -> None:
    with pytest.raises(ConditionSyntaxError) as info:
        parse_condition(text)
    assert info.value.offset == offset


def test_a_value_that_cannot_be_compared_is_a_typed_error() -> None:
    with pytest.raises(ConditionEvalError):
        evaluate(parse_condition("${inputs.x} > 1"), lambda ref: "text")


def test_references() -> None:
    assert parse_ref("${item}") == Ref("item")
    assert parse_ref(" ${ inputs.a } ") == Ref("input", "a")
    for bad in ("${inputs}", "${steps.a.image}", "${steps.a.outputs}", "x ${item}", "${outputs.a}"):
        with pytest.raises(RefSyntaxError):
            parse_ref(bad)
