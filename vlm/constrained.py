"""Schema-constrained JSON decoding for the in-process backend, and how long such an answer can get.

A request whose :class:`~vlm.backends.base.GenerationConfig` carries ``json_schema`` is decoded with a
logits processor that, at every step, leaves only the tokens that keep the answer a prefix of a JSON
document valid for that schema (and the stop tokens once the document is complete). The token-level
work is lm-format-enforcer's ``TokenEnforcer`` over its ``JsonSchemaParser``; this module feeds it.

Why lm-format-enforcer (0.11.3, checked here against transformers 5.23 and torch 2.13 on CPU):

* It is pure Python (a ``py3-none-any`` wheel; its only new dependency is ``interegular``, also pure
  Python), so it runs wherever the model runs, CPU included. xgrammar 0.2.8 is a compiled wheel that
  requires ``apache-tvm-ffi`` and, on Linux x86-64, ``triton`` (a GPU kernel compiler); outlines 1.3.3
  brings the compiled ``outlines_core`` plus ``diskcache`` and ``genson`` (from their package
  metadata; neither was installed or run here).
* Its engine is independent of transformers, so a breaking transformers release costs us this
  small module rather than the library. That has already happened: its
  ``integrations.transformers`` module imports ``transformers.tokenization_utils``, which
  transformers 5 removed, so it fails to import. We build the tokenizer table and drive
  ``TokenEnforcer`` from our own logits processor.

Four things are done differently from the library's defaults. With only the third of them, 29 of 30
answers of the tiny random InternVL (:mod:`vlm.testing`) were invalid. With all four, all 60 answers
tried through the backend validated against their schema (checked with ``jsonschema``):

* Each token's own text, as the table lists it, is what gets fed to the parser. By default the library
  re-decodes the current word, so with byte-level BPE the bytes of a character split across tokens
  reach the parser a step later than the length check that allowed them. A string then overruns its
  ``maxLength``, the parser empties, and the answer stops in the middle of a string.
* The parser's alphabet is every character of every token, not only characters that start a token.
  Otherwise a token whose middle holds a CJK character is allowed by the free-text shortcut, then
  rejected one character at a time (same symptom).
* Tokens containing control characters are left out: the library would let raw newlines and control
  bytes into JSON strings, which JSON forbids. Whitespace between elements is then spaces only, at
  most :data:`MAX_WHITESPACE` in a row, so a weak model cannot pad its answer with blank space.
* A free-text string may not start with whitespace: the library skips such spaces without counting
  them, so they pushed strings past ``maxLength``.

:func:`json_token_budget` bounds the tokens of any answer such a decoder can produce for a schema
whose strings and arrays all have maximum lengths. With ``max_new_tokens`` at least that large, every
answer is complete, even one from a random model. :func:`check_schema` refuses keywords the
enforcer would silently ignore, so a constraint never promises more than it enforces.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vlm.errors import VLMError

if TYPE_CHECKING:
    import torch
    from lmformatenforcer import TokenEnforcer, TokenEnforcerTokenizerData

#: Longest run of whitespace allowed between JSON elements.
MAX_WHITESPACE = 2

#: Characters one unit of a string's ``maxLength`` can cost at most: a ``\\uXXXX`` escape counts as one
#: unit (its backslash) but is six characters, each possibly its own token.
_ESCAPE_WIDTH = 6

#: Keywords that JSON schemas use but lm-format-enforcer does not enforce.
_UNENFORCED = frozenset(
    {
        "not", "if", "then", "else", "oneOf", "prefixItems", "uniqueItems", "contains", "minContains",
        "maxContains", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
        "patternProperties", "propertyNames", "minProperties", "maxProperties", "dependentRequired",
        "dependentSchemas", "unevaluatedItems", "unevaluatedProperties", "format",
    }
)  # fmt: skip

_TYPES = frozenset({"string", "integer", "number", "boolean", "null", "array", "object"})


class SchemaError(VLMError, ValueError):
    """A JSON schema that cannot constrain decoding, or whose answers have no length bound."""

    code = "invalid_schema"


# --- checking and measuring schemas ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Size:
    """The longest document: its ``chars`` other than whitespace, and the ``gaps`` after them where a run
    of whitespace may follow (after a brace, bracket, comma, colon, closing quote or unquoted value;
    never after an opening quote, as enum strings take none and free strings may not start with it)."""

    chars: int
    gaps: int

    def __add__(self, other: _Size) -> _Size:
        return _Size(self.chars + other.chars, self.gaps + other.gaps)

    def times(self, count: int) -> _Size:
        return _Size(self.chars * count, self.gaps * count)

    def widest(self, other: _Size) -> _Size:
        return _Size(max(self.chars, other.chars), max(self.gaps, other.gaps))


def _marks(count: int) -> _Size:
    """``count`` structural characters (braces, brackets, commas, colons), each with its gap."""
    return _Size(count, count)


def _scalar(chars: int) -> _Size:
    """A value of ``chars`` characters with one gap after it (a quoted string's is after its closing quote)."""
    return _Size(chars, 1)


class _Walker:
    """One pass over a schema: raises :class:`SchemaError` on what the enforcer cannot do, and returns
    the size of the longest document (``None`` when unbounded, with the reason in ``unbounded``)."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.unbounded: list[str] = []
        self._resolving: list[str] = []

    def _endless(self, path: str, why: str) -> None:
        self.unbounded.append(f"{path}: {why}")

    def walk(self, node: Any, path: str = "$") -> _Size | None:
        if not isinstance(node, Mapping):
            raise SchemaError(f"{path}: a schema must be an object, not {node!r}", path=path)
        used = _UNENFORCED.intersection(node)
        if used:
            raise SchemaError(
                f"{path}: lm-format-enforcer does not enforce {', '.join(sorted(used))}",
                path=path,
                keywords=sorted(used),
            )
        if "$ref" in node:
            return self._ref(node["$ref"], path)
        if "allOf" in node:
            parts = node["allOf"]
            if not isinstance(parts, list) or len(parts) != 1:
                raise SchemaError(f"{path}: allOf with more than one schema is not supported", path=path)
            return self.walk(parts[0], f"{path}.allOf[0]")
        if "anyOf" in node:
            options = node["anyOf"]
            if not isinstance(options, list) or not options:
                raise SchemaError(f"{path}: anyOf needs a non-empty list of schemas", path=path)
            return _widest([self.walk(option, f"{path}.anyOf[{k}]") for k, option in enumerate(options)])
        if "const" in node:
            return _scalar(len(json.dumps(node["const"])))
        kind = node.get("type")
        if "enum" in node:
            if kind in ("array", "object"):
                raise SchemaError(f"{path}: an enum of {kind}s is not supported", path=path)
            return _enum_size(node["enum"], path)
        if isinstance(kind, list):
            return _widest([self.walk({**node, "type": k}, f"{path}<{k}>") for k in kind])
        if kind not in _TYPES:
            raise SchemaError(
                f"{path}: needs a type (one of {', '.join(sorted(_TYPES))}), an enum or a $ref", path=path
            )
        method: Callable[[Any, str], _Size | None] = getattr(self, f"_{kind}")
        return method(node, path)

    def _ref(self, ref: Any, path: str) -> _Size | None:
        prefix = next((p for p in ("#/$defs/", "#/definitions/") if isinstance(ref, str) and ref.startswith(p)), None)
        table = self.root.get(prefix[2:-1]) if prefix else None
        name = ref[len(prefix) :] if prefix else ""
        if not isinstance(table, Mapping) or name not in table:
            raise SchemaError(
                f"{path}: cannot resolve $ref {ref!r} (only #/$defs/... and #/definitions/...)", path=path
            )
        if ref in self._resolving:
            self._endless(path, f"{ref} refers to itself")
            return None
        self._resolving.append(ref)
        try:
            return self.walk(table[name], f"{path}->{name}")
        finally:
            self._resolving.pop()

    def _string(self, node: Mapping[str, Any], path: str) -> _Size | None:
        low, high = node.get("minLength", 0), node.get("maxLength")
        if high is not None and low > high:
            raise SchemaError(f"{path}: minLength {low} is larger than maxLength {high}", path=path)
        if "pattern" in node:
            if "maxLength" in node or "minLength" in node:
                raise SchemaError(f"{path}: a pattern cannot be combined with a length bound", path=path)
            self._endless(path, "a pattern (give maxLength instead, or an enum)")
            return None
        if high is None:
            self._endless(path, "a string without maxLength")
            return None
        return _scalar(2 + _ESCAPE_WIDTH * high)

    def _integer(self, node: Mapping[str, Any], path: str) -> _Size | None:
        self._endless(path, "a number without an enum of its values")
        return None

    _number = _integer

    def _boolean(self, node: Mapping[str, Any], path: str) -> _Size:
        return _scalar(len("false"))

    def _null(self, node: Mapping[str, Any], path: str) -> _Size:
        return _scalar(len("null"))

    def _array(self, node: Mapping[str, Any], path: str) -> _Size | None:
        items = node.get("items")
        if not isinstance(items, Mapping):
            raise SchemaError(f"{path}: an array needs one schema for its items", path=path)
        item = self.walk(items, f"{path}[]")
        high = node.get("maxItems")
        if high is None:
            self._endless(path, "an array without maxItems")
            return None
        if node.get("minItems", 0) > high:
            raise SchemaError(f"{path}: minItems is larger than maxItems", path=path)
        if item is None:
            return None
        return _marks(2 + max(0, high - 1)) + item.times(high)

    def _object(self, node: Mapping[str, Any], path: str) -> _Size | None:
        properties = node.get("properties")
        if not isinstance(properties, Mapping):
            self._endless(path, "an object without properties (any keys)")
            return None
        missing = [name for name in node.get("required", []) if name not in properties]
        if missing:
            raise SchemaError(f"{path}: required names unknown properties {missing}", path=path)
        size: _Size | None = _marks(2 + max(0, len(properties) - 1))
        for name, schema in properties.items():
            value = self.walk(schema, f"{path}.{name}")
            size = None if size is None or value is None else size + _scalar(2 + len(name)) + _marks(1) + value
        return size


def _widest(sizes: Sequence[_Size | None]) -> _Size | None:
    known = [size for size in sizes if size is not None]
    if len(known) < len(sizes):
        return None
    result = known[0]
    for size in known[1:]:
        result = result.widest(size)
    return result


def _enum_size(values: Any, path: str) -> _Size:
    if not isinstance(values, list) or not values:
        raise SchemaError(f"{path}: enum needs a non-empty list", path=path)
    if all(isinstance(v, str) for v in values):
        return _scalar(2 + max(len(v) for v in values))
    if all(type(v) in (int, float) for v in values):  # not bool: the enforcer would write True
        return _scalar(max(len(str(v)) for v in values))
    raise SchemaError(f"{path}: an enum must hold only strings or only numbers, not {values!r}", path=path)


def check_schema(schema: Mapping[str, Any]) -> None:
    """Raise :class:`SchemaError` if ``schema`` uses what constrained decoding cannot enforce."""
    _Walker(schema).walk(schema)


def json_token_budget(schema: Mapping[str, Any], max_whitespace: int = MAX_WHITESPACE) -> int:
    """The most new tokens a constrained answer for ``schema`` can take, end token included.

    Every token adds at least one character, and whitespace comes in runs of at most ``max_whitespace``
    at the start and after each element, so the longest admissible document bounds the answer. Raises
    :class:`SchemaError` naming every part without a bound (a string with no ``maxLength``, an array
    with no ``maxItems``, a number that is not an enum).

    >>> json_token_budget({"type": "object", "properties": {"ok": {"type": "boolean"}}})
    25
    """
    walker = _Walker(schema)
    size = walker.walk(schema)
    if size is None:
        raise SchemaError(
            "the schema admits answers of any length: " + "; ".join(walker.unbounded), unbounded=walker.unbounded
        )
    return size.chars + max_whitespace * (size.gaps + 1) + 1


# --- decoding -------------------------------------------------------------------------------------


class JsonConstrainer:
    """Builds per-request logits processors for one tokenizer.

    The token table (each token's text, the prefix tree over them) is built on first use and kept. It
    takes about 0.1 s for the tiny test tokenizer and 2.3 s for a 30,522-token vocabulary here, and
    grows with the vocabulary. ``stop_ids`` end a complete document (the template's separator and
    the model's eos).
    """

    def __init__(self, tokenizer: Any, stop_ids: Sequence[int], max_whitespace: int = MAX_WHITESPACE) -> None:
        if not stop_ids:
            raise ValueError("constrained decoding needs at least one stop token id")
        self.tokenizer = tokenizer
        self.stop_ids = tuple(stop_ids)
        self.max_whitespace = max_whitespace
        self._data: TokenEnforcerTokenizerData | None = None
        self._alphabet = ""
        self._spaced: list[int] = []
        self._lock = threading.Lock()

    def _table(self) -> TokenEnforcerTokenizerData:
        with self._lock:
            if self._data is None:
                from lmformatenforcer import TokenEnforcerTokenizerData

                tokens = _regular_tokens(self.tokenizer)
                self._alphabet = "".join(sorted({char for _, text, _ in tokens for char in text}))
                self._spaced = [token_id for token_id, text, _ in tokens if text[0].isspace()]
                self._data = TokenEnforcerTokenizerData(
                    tokens, self.tokenizer.decode, list(self.stop_ids), False, len(self.tokenizer)
                )
            return self._data

    def enforcer(self, schema: Mapping[str, Any]) -> TokenEnforcer:
        """A fresh enforcer for one answer (checked first: :class:`SchemaError` before any decoding)."""
        from lmformatenforcer import CharacterLevelParserConfig, JsonSchemaParser, TokenEnforcer

        check_schema(schema)
        data = self._table()
        config = CharacterLevelParserConfig(alphabet=self._alphabet, max_consecutive_whitespaces=self.max_whitespace)
        try:
            parser = JsonSchemaParser(dict(schema), config)
        except Exception as exc:
            raise SchemaError(f"lm-format-enforcer rejects the schema: {type(exc).__name__}: {exc}") from exc
        enforcer = TokenEnforcer(data, parser)
        parser.config = config  # TokenEnforcer replaces the parser's config with one of its defaults
        return enforcer

    def processor(self, schemas: Sequence[Mapping[str, Any] | None], prompt_length: int) -> JsonLogitsProcessor:
        """A logits processor for one batch: row ``k`` follows ``schemas[k]`` (``None``: unconstrained).
        ``prompt_length`` is where the new tokens start in every (left-padded) row."""
        enforcers = [None if schema is None else self.enforcer(schema) for schema in schemas]
        return JsonLogitsProcessor(enforcers, prompt_length, self.stop_ids, self._spaced)


class JsonLogitsProcessor:
    """A transformers logits processor (by protocol: ``(input_ids, scores) -> scores``) that masks, per
    row, every token its enforcer does not allow, and the ``spaced`` tokens (text starting with
    whitespace) at the start of a free-text string. Rows that already emitted a stop token are left
    alone: what follows is padding."""

    def __init__(
        self,
        enforcers: Sequence[TokenEnforcer | None],
        prompt_length: int,
        stop_ids: Sequence[int],
        spaced: Sequence[int] = (),
    ) -> None:
        self.enforcers = list(enforcers)
        self.prompt_length = prompt_length
        self.stop_ids = frozenset(stop_ids)
        self.spaced = list(spaced)
        self._indices: dict[int, tuple[Any, torch.Tensor]] = {}

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        import torch

        if input_ids.shape[0] != len(self.enforcers):
            raise ValueError(f"the processor was built for {len(self.enforcers)} rows, not {input_ids.shape[0]}")
        banned: torch.Tensor | None = None
        for row, enforcer in enumerate(self.enforcers):
            if enforcer is None:
                continue
            generated = input_ids[row, self.prompt_length :].tolist()
            if self.stop_ids.intersection(generated):
                continue
            allowed = enforcer.get_allowed_tokens(generated)
            if banned is None:
                banned = torch.zeros_like(scores, dtype=torch.bool)
            banned[row] = True
            banned[row, self._index(allowed, scores.device)] = False
            if self.spaced and _starts_string(enforcer.prefix_states[tuple(generated)].parser):
                banned[row, self.spaced] = True
        return scores if banned is None else scores.masked_fill(banned, float("-inf"))

    def _index(self, allowed: Any, device: torch.device) -> torch.Tensor:
        """The allowed ids as a tensor; the enforcer reuses its lists, so each is converted once."""
        import torch

        cached = self._indices.get(id(allowed))
        if cached is None or cached[0] is not allowed:
            cached = (allowed, torch.tensor(allowed.allowed_tokens, dtype=torch.long, device=device))
            self._indices[id(allowed)] = cached
        return cached[1]


def _starts_string(parser: Any) -> bool:
    """Whether the parser (or one option of a union) is right after the opening quote of a free-text string."""
    options = getattr(parser, "parsers", None)  # a UnionParser
    if isinstance(options, list):
        return any(_starts_string(option) for option in options)
    key = parser.shortcut_key()
    return isinstance(key, tuple) and key[:2] == ("json_freetext", 0)


def _regular_tokens(tokenizer: Any) -> list[tuple[int, str, bool]]:
    """``(id, text, starts_word)`` for every token a JSON answer may use.

    Text is decoded after a ``0`` token and the ``0`` dropped, which keeps the leading space of
    SentencePiece word-start tokens. Left out: special tokens, tokens with no text, and tokens with
    control characters. Every token counts as starting a word, so the enforcer feeds the parser this
    text rather than re-decoding the running word (see the module docstring).
    """
    special = set(tokenizer.all_special_ids)
    zero = tokenizer.encode("0", add_special_tokens=False)[-1]
    ids = [i for i in range(len(tokenizer)) if i not in special]
    texts = tokenizer.batch_decode([[zero, i] for i in ids], skip_special_tokens=False)
    tokens = []
    for token_id, text in zip(ids, texts):
        text = text[1:]
        if text and not any(ord(char) < 0x20 for char in text):
            tokens.append((token_id, text, True))
    return tokens
