"""The conversation templates InternVL checkpoints were trained with.

A wrong template does not fail loudly: the model still answers, only worse. So each family is written
out here once, and the checkpoint's own config (``template`` in an original ``internvl_chat`` config,
the ChatML chat template of an ``-hf`` one) picks it; see :mod:`vlm.checkpoint`.

All families lay a conversation out the same way — optional system block, then alternating user and
assistant turns, each closed by the separator, and finally the open assistant prefix — and differ only
in the strings:

=================  ================================  ==============  ==================================
template           used by                           separator       default system message
=================  ================================  ==============  ==================================
``internvl2_5``    InternVL 2.5, 3 (original)        ``<|im_end|>``  ``你是书生·万象…`` (always inserted)
                                                     + newline
``Hermes-2``       InternVL 1.5, 2 (Qwen2/Yi/Llama)  ``<|im_end|>``  ``你是由上海人工智能实验室…``
``internlm2-chat`` InternVL 1.5, 2 (InternLM2)       ``<|im_end|>``  ``你是由上海人工智能实验室…``
``phi3-chat``      InternVL2-4B, Mini-InternVL 4B    ``<|end|>``     ``你是由上海人工智能实验室…``
``internvl-hf``    ``model_type: internvl`` (-hf)    ``<|im_end|>``  none unless given
                                                     + newline
=================  ================================  ==============  ==================================

``Hermes-2`` and ``internlm2-chat`` render identically at inference (they differed only in a BOS token
during training); both put no newline after ``<|im_end|>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vlm.errors import UnknownTemplateError

#: The system message the InternVL 2.5 / 3 ``chat()`` always inserts.
INTERNVL2_5_SYSTEM = (
    "你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家合作单位联合开发的多模态大语言模型。"
)
#: The system message of the InternVL 1.5 / 2 templates (kept there to leave benchmarks unchanged).
INTERNVL2_SYSTEM = (
    "你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, 是一个有用无害的人工智能助手。"
)


@dataclass(frozen=True, slots=True)
class Template:
    """One conversation layout. ``render`` produces the text the tokenizer sees, ending where the
    model's answer begins; ``stop_strings`` are where that answer ends.

    >>> t = get_template("phi3-chat")
    >>> t.render("Hi", system_message="Be brief.")
    '<|system|>\\nBe brief.<|end|><|user|>\\nHi<|end|><|assistant|>\\n'
    >>> t.clean_answer(" Hello!<|end|><|user|>")
    'Hello!'
    """

    name: str
    system_prefix: str
    user_prefix: str
    assistant_prefix: str
    separator: str
    default_system_message: str | None
    stop_strings: tuple[str, ...]

    def render(
        self,
        question: str,
        history: Iterable[tuple[str, str]] = (),
        system_message: str | None = None,
    ) -> str:
        """Lay out ``history`` (question, answer) pairs and the new ``question``.

        ``system_message=None`` means the template's default (none for ``internvl-hf``); an explicit
        ``""`` keeps an empty system block, as the original ``chat()`` does.
        """
        system = self.default_system_message if system_message is None else system_message
        parts: list[str] = []
        if system is not None:
            parts.append(self.system_prefix + system + self.separator)
        for old_question, old_answer in history:
            parts.append(self.user_prefix + old_question + self.separator)
            parts.append(self.assistant_prefix + old_answer + self.separator)
        parts.append(self.user_prefix + question + self.separator)
        parts.append(self.assistant_prefix)
        return "".join(parts)

    def clean_answer(self, text: str) -> str:
        """Cut generated text at the first stop string and trim it (what ``chat()`` returns)."""
        return clean_answer(text, self.stop_strings)

    def stop_token_ids(self, tokenizer: object) -> list[int]:
        """Ids of the stop strings that are single tokens of ``tokenizer`` (for ``eos_token_id``)."""
        ids: list[int] = []
        unk = getattr(tokenizer, "unk_token_id", None)
        for stop in self.stop_strings:
            token_id = tokenizer.convert_tokens_to_ids(stop)  # type: ignore[attr-defined]
            if isinstance(token_id, int) and token_id != unk and token_id not in ids:
                ids.append(token_id)
        return ids


def clean_answer(text: str, stop_strings: Sequence[str]) -> str:
    """``text`` up to the first of ``stop_strings``, stripped.

    >>> clean_answer(" A cat.<|im_end|>junk", ("<|im_end|>",))
    'A cat.'
    """
    cut = len(text)
    for stop in stop_strings:
        at = text.find(stop) if stop else -1
        if at != -1:
            cut = min(cut, at)
    return text[:cut].strip()


class AnswerStream:
    """The streaming twin of :func:`clean_answer`: feed generated text piece by piece, get back only
    what is certainly part of the answer.

    Leading whitespace is dropped, trailing whitespace and any tail that may be the start of a stop
    string are held back until later text decides, and nothing after a stop string is emitted. So
    the pieces returned by :meth:`feed` and :meth:`finish` concatenate to exactly
    ``clean_answer(whole_text, stop_strings)``, however the text was split.

    >>> stream = AnswerStream(("<|im_end|>",))
    >>> [stream.feed(p) for p in (" A", " cat. <|im_", "end|> junk")] + [stream.finish()]
    ['A', ' cat.', '', '']
    """

    def __init__(self, stop_strings: Sequence[str]) -> None:
        self.stop_strings = tuple(stop for stop in stop_strings if stop)
        self.stopped = False
        self._pending = ""
        self._started = False

    def feed(self, piece: str) -> str:
        """Take the next piece of generated text; return what can be emitted now (maybe ``""``)."""
        if self.stopped or not piece:
            return ""
        self._pending += piece
        cut = min((at for at in (self._pending.find(s) for s in self.stop_strings) if at != -1), default=-1)
        if cut != -1:
            self.stopped = True
            return self._take(len(self._pending[:cut].rstrip()))
        hold = max((k for s in self.stop_strings for k in range(1, len(s)) if self._pending.endswith(s[:k])), default=0)
        return self._take(len(self._pending[: len(self._pending) - hold].rstrip()))

    def finish(self) -> str:
        """The end of generation: release what was held back, less trailing whitespace."""
        if self.stopped:
            return ""
        self.stopped = True
        return self._take(len(self._pending.rstrip()))

    def _take(self, end: int) -> str:
        out, self._pending = self._pending[:end], self._pending[end:]
        if not self._started:
            out = out.lstrip()
            self._started = bool(out)
        return out


def _chatml(name: str, separator: str, system: str | None, stops: tuple[str, ...]) -> Template:
    return Template(
        name=name,
        system_prefix="<|im_start|>system\n",
        user_prefix="<|im_start|>user\n",
        assistant_prefix="<|im_start|>assistant\n",
        separator=separator,
        default_system_message=system,
        stop_strings=stops,
    )


#: Name of the template of ``-hf`` (``model_type: internvl``) checkpoints.
HF_TEMPLATE = "internvl-hf"

TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        _chatml("internvl2_5", "<|im_end|>\n", INTERNVL2_5_SYSTEM, ("<|im_end|>",)),
        _chatml("Hermes-2", "<|im_end|>", INTERNVL2_SYSTEM, ("<|im_end|>", "<|endoftext|>")),
        _chatml("internlm2-chat", "<|im_end|>", INTERNVL2_SYSTEM, ("<|im_end|>",)),
        Template(
            name="phi3-chat",
            system_prefix="<|system|>\n",
            user_prefix="<|user|>\n",
            assistant_prefix="<|assistant|>\n",
            separator="<|end|>",
            default_system_message=INTERNVL2_SYSTEM,
            stop_strings=("<|end|>",),
        ),
        _chatml(HF_TEMPLATE, "<|im_end|>\n", None, ("<|im_end|>",)),
    )
}


def template_names() -> list[str]:
    """The known template names, sorted."""
    return sorted(TEMPLATES)


def get_template(name: str | Template) -> Template:
    """The template called ``name`` (a :class:`Template` passes through).

    >>> get_template("internvl2_5").separator
    '<|im_end|>\\n'
    """
    if isinstance(name, Template):
        return name
    try:
        return TEMPLATES[name]
    except KeyError:
        raise UnknownTemplateError(
            f"unknown conversation template {name!r}; known templates: {', '.join(template_names())}",
            template=name,
            known=template_names(),
        ) from None
