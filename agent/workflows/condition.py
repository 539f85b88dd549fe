"""``when:`` conditions: a tiny, safe language parsed here (no ``eval``), checked before anything runs.

    condition  := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | primary
    primary    := "(" condition ")" | reference [op literal] | literal op reference | "true" | "false"
    op         := "==" | "!=" | "<" | "<=" | ">" | ">="
    literal    := number | 'text' | "text" | true | false | null

A bare reference tests whether its value is non-empty (boxes were found, the text is not blank, the
number is not 0). Comparisons are always between one reference and one literal, so their types can be
checked against the reference's type when the workflow is validated.

    >>> cond = parse_condition("${steps.count.outputs.count} >= 2 and not ${inputs.dry_run}")
    >>> values = {"${steps.count.outputs.count}": 3, "${inputs.dry_run}": False}
    >>> evaluate(cond, lambda ref: values[str(ref)])
    True
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from agent.workflows.refs import Ref, RefSyntaxError, parse_ref

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<ref>\$\{[^{}]*\})
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<string>'[^']*'|"[^"]*")
  | (?P<op>==|!=|<=|>=|<|>)
  | (?P<paren>[()])
  | (?P<word>[A-Za-z_]+)
""",
    re.VERBOSE,
)
_WORDS = {"and", "or", "not", "true", "false", "null"}
_LITERAL_WORDS: dict[str, Any] = {"true": True, "false": False, "null": None}
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_FLIPPED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


class ConditionSyntaxError(ValueError):
    """A condition that does not parse; ``offset`` is the character it went wrong at (0-based)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


class ConditionEvalError(ValueError):
    """A value a condition cannot compare (its type changed since validation)."""


@dataclass(frozen=True)
class Const:
    value: bool


@dataclass(frozen=True)
class Truthy:
    """A bare reference: is its value non-empty?"""

    ref: Ref
    at: int


@dataclass(frozen=True)
class Compare:
    ref: Ref
    op: str
    value: Any
    at: int


@dataclass(frozen=True)
class Not:
    operand: Condition


@dataclass(frozen=True)
class AllOf:
    operands: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    operands: tuple[Condition, ...]


Condition = Const | Truthy | Compare | Not | AllOf | AnyOf


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    at: int


def _tokens(text: str) -> list[_Token]:
    tokens, at = [], 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:
            raise ConditionSyntaxError(f"unexpected {text[at]!r} in the condition", at)
        kind = match.lastgroup or ""
        if kind == "word" and match.group().lower() not in _WORDS:
            raise ConditionSyntaxError(
                f"unknown word {match.group()!r} (text literals are quoted: '{match.group()}')", at
            )
        if kind != "space":
            tokens.append(_Token(kind if kind != "word" else match.group().lower(), match.group(), at))
        at = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0

    @property
    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def take(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def parse(self) -> Condition:
        if self.peek.kind == "end":
            raise ConditionSyntaxError("the condition is empty", 0)
        result = self.any_of()
        if self.peek.kind != "end":
            raise ConditionSyntaxError(f"unexpected {self.peek.text!r}; join conditions with and / or", self.peek.at)
        return result

    def any_of(self) -> Condition:
        items = [self.all_of()]
        while self.peek.kind == "or":
            self.take()
            items.append(self.all_of())
        return items[0] if len(items) == 1 else AnyOf(tuple(items))

    def all_of(self) -> Condition:
        items = [self.negation()]
        while self.peek.kind == "and":
            self.take()
            items.append(self.negation())
        return items[0] if len(items) == 1 else AllOf(tuple(items))

    def negation(self) -> Condition:
        if self.peek.kind == "not":
            self.take()
            return Not(self.negation())
        return self.primary()

    def primary(self) -> Condition:
        token = self.take()
        if token.kind == "paren" and token.text == "(":
            inner = self.any_of()
            close = self.take()
            if close.text != ")":
                raise ConditionSyntaxError("a '(' is not closed", close.at)
            return inner
        if token.kind == "ref":
            ref = self._ref(token)
            if self.peek.kind != "op":
                return Truthy(ref, token.at)
            op = self.take().text
            return Compare(ref, op, self._literal(self.take()), token.at)
        if token.kind in ("number", "string", "true", "false", "null"):
            value = self._literal(token)
            if self.peek.kind != "op":
                if isinstance(value, bool):
                    return Const(value)
                raise ConditionSyntaxError(
                    f"a literal alone ({token.text}) is not a condition; compare a reference with it", token.at
                )
            op = self.take().text
            ref_token = self.take()
            if ref_token.kind != "ref":
                raise ConditionSyntaxError("a comparison needs a reference on one side", ref_token.at)
            return Compare(self._ref(ref_token), _FLIPPED[op], value, ref_token.at)
        if token.kind == "end":
            raise ConditionSyntaxError("the condition ends too early", token.at)
        raise ConditionSyntaxError(f"unexpected {token.text!r}", token.at)

    @staticmethod
    def _ref(token: _Token) -> Ref:
        try:
            return parse_ref(token.text)
        except RefSyntaxError as exc:
            raise ConditionSyntaxError(str(exc), token.at) from None

    @staticmethod
    def _literal(token: _Token) -> Any:
        if token.kind == "number":
            number = float(token.text)
            return int(number) if number.is_integer() and re.fullmatch(r"-?\d+", token.text) else number
        if token.kind == "string":
            return token.text[1:-1]
        if token.kind in _LITERAL_WORDS:
            return _LITERAL_WORDS[token.kind]
        if token.kind == "ref":
            raise ConditionSyntaxError("compare a reference with a literal, not with another reference", token.at)
        raise ConditionSyntaxError(
            f"expected a literal (a number, 'text', true, false or null), got {token.text or 'the end'!r}", token.at
        )


def parse_condition(text: str) -> Condition:
    """Parse a ``when:`` condition; raises :class:`ConditionSyntaxError` with the offending offset."""
    return _Parser(text).parse()


def references(condition: Condition) -> Iterator[Truthy | Compare]:
    """Every reference test and comparison in a condition, left to right."""
    if isinstance(condition, (Truthy, Compare)):
        yield condition
    elif isinstance(condition, Not):
        yield from references(condition.operand)
    elif isinstance(condition, (AllOf, AnyOf)):
        for operand in condition.operands:
            yield from references(operand)


def truthy(value: Any) -> bool:
    """Non-empty: a list with items, text that is not blank, a number that is not 0, any image or file."""
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, (list, tuple, dict, bool, int, float)):
        return bool(value)
    return True


def evaluate(condition: Condition, lookup: Callable[[Ref], Any]) -> bool:
    """Decide a condition with ``lookup`` giving each reference's value (short-circuiting and / or)."""
    if isinstance(condition, Const):
        return condition.value
    if isinstance(condition, Truthy):
        return truthy(lookup(condition.ref))
    if isinstance(condition, Compare):
        value = lookup(condition.ref)
        if condition.value is None or value is None:
            return _OPS[condition.op](value is None, condition.value is None) if condition.op in ("==", "!=") else False
        try:
            return bool(_OPS[condition.op](value, condition.value))
        except TypeError:
            raise ConditionEvalError(
                f"cannot compare {type(value).__name__} {value!r} with {condition.value!r}"
            ) from None
    if isinstance(condition, Not):
        return not evaluate(condition.operand, lookup)
    if isinstance(condition, AllOf):
        return all(evaluate(c, lookup) for c in condition.operands)
    assert isinstance(condition, AnyOf)
    return any(evaluate(c, lookup) for c in condition.operands)
