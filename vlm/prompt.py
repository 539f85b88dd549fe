"""Build the exact text InternVL sees: template, image placeholders, image-token expansion.

A question refers to its images with ``<image>`` placeholders. Each placeholder becomes
``<img>`` + ``<IMG_CONTEXT>`` × (tokens per tile · tiles of that image) + ``</img>``; the model swaps
every ``<IMG_CONTEXT>`` for one ViT feature, so the count must match ``pixel_values`` exactly or the
forward pass fails. Placeholders are added the way InternVL was trained when the question has none:

- one image: ``<image>\\n`` before the question;
- several images: ``Image-1: <image>\\nImage-2: <image>\\n`` before the question;
- video frames: ``Frame1: <image>\\nFrame2: <image>\\n`` before the question (one tile per frame).

The token strings come from the tokenizer (``-hf`` tokenizers name them ``start_image_token`` …), and
so do their ids: they differ per checkpoint (151667, 92546, …) and are never hard-coded here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from vlm.errors import CheckpointError, PromptError
from vlm.templates import Template, get_template

#: The placeholder a question uses for "an image goes here".
IMAGE_PLACEHOLDER = "<image>"
#: Tokens per 448 px tile: (448 / 14)² patches, pixel-shuffled by 0.5 in each direction.
DEFAULT_NUM_IMAGE_TOKEN = 256


@dataclass(frozen=True, slots=True)
class ImageTokens:
    """The three strings that wrap an image's features in the prompt."""

    start: str = "<img>"
    context: str = "<IMG_CONTEXT>"
    end: str = "</img>"

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> ImageTokens:
        """The strings a tokenizer declares (``-hf`` tokenizers do), else InternVL's defaults."""
        default = cls()
        return cls(
            start=getattr(tokenizer, "start_image_token", None) or default.start,
            context=getattr(tokenizer, "context_image_token", None) or default.context,
            end=getattr(tokenizer, "end_image_token", None) or default.end,
        )

    def expansion(self, num_tokens: int) -> str:
        """``start`` + ``context`` × ``num_tokens`` + ``end``."""
        return self.start + self.context * num_tokens + self.end


@dataclass(frozen=True, slots=True)
class ImageTokenIds:
    """Token ids of :class:`ImageTokens` in one tokenizer."""

    start: int
    context: int
    end: int


def image_token_ids(tokenizer: Any, tokens: ImageTokens | None = None) -> ImageTokenIds:
    """Look the image tokens up in ``tokenizer``; each must be one token of its vocabulary.

    >>> from vlm.testing import tiny_internvl                          # doctest: +SKIP
    >>> from transformers import AutoTokenizer                         # doctest: +SKIP
    >>> tok = AutoTokenizer.from_pretrained(tiny_internvl("/tmp/t"))   # doctest: +SKIP
    >>> image_token_ids(tok).context == tok.convert_tokens_to_ids("<IMG_CONTEXT>")  # doctest: +SKIP
    True
    """
    tokens = tokens or ImageTokens.from_tokenizer(tokenizer)
    unk = getattr(tokenizer, "unk_token_id", None)
    ids: dict[str, int] = {}
    for field, text in (("start", tokens.start), ("context", tokens.context), ("end", tokens.end)):
        token_id = tokenizer.convert_tokens_to_ids(text)
        if not isinstance(token_id, int) or token_id == unk or tokenizer.convert_ids_to_tokens(token_id) != text:
            raise CheckpointError(
                f"the tokenizer has no {text!r} token: this does not look like an InternVL tokenizer",
                token=text,
            )
        ids[field] = token_id
    return ImageTokenIds(**ids)


def image_placeholders(num_images: int, kind: Literal["images", "video"] = "images") -> str:
    """The placeholder lines put before a question that has none.

    >>> image_placeholders(2)
    'Image-1: <image>\\nImage-2: <image>\\n'
    >>> image_placeholders(2, "video")
    'Frame1: <image>\\nFrame2: <image>\\n'
    """
    if num_images <= 0:
        return ""
    if kind == "video":
        return "".join(f"Frame{i}: {IMAGE_PLACEHOLDER}\n" for i in range(1, num_images + 1))
    if num_images == 1:
        return IMAGE_PLACEHOLDER + "\n"
    return "".join(f"Image-{i}: {IMAGE_PLACEHOLDER}\n" for i in range(1, num_images + 1))


def expand_image_placeholders(
    text: str,
    num_patches_list: Sequence[int],
    num_image_token: int = DEFAULT_NUM_IMAGE_TOKEN,
    tokens: ImageTokens | None = None,
) -> str:
    """Replace the ``<image>`` placeholders of ``text``, in order, by each image's token run."""
    tokens = tokens or ImageTokens()
    pieces = text.split(IMAGE_PLACEHOLDER)
    if len(pieces) - 1 != len(num_patches_list):
        raise PromptError(
            f"the prompt has {len(pieces) - 1} {IMAGE_PLACEHOLDER} placeholder(s) "
            f"but {len(num_patches_list)} image(s) were given",
            placeholders=len(pieces) - 1,
            images=len(num_patches_list),
        )
    out = [pieces[0]]
    for patches, piece in zip(num_patches_list, pieces[1:]):
        if patches < 1:
            raise PromptError(f"an image must have at least one tile, got {patches}", tiles=patches)
        out.append(tokens.expansion(num_image_token * patches))
        out.append(piece)
    return "".join(out)


def build_prompt(
    template: Template | str,
    question: str,
    num_patches_list: Sequence[int] = (),
    history: Iterable[Any] = (),
    system_message: str | None = None,
    kind: Literal["images", "video"] = "images",
    num_image_token: int = DEFAULT_NUM_IMAGE_TOKEN,
    tokens: ImageTokens | None = None,
) -> str:
    """The full prompt for ``question`` about images with ``num_patches_list`` tiles each.

    ``history`` holds earlier (question, answer) pairs (tuples or objects with ``question`` and
    ``answer``). Placeholders may be written by the caller anywhere in the history questions and the
    question, one per image, in image order; if there are none, they are put before the current
    question (see the module docstring). ``system_message=None`` keeps the template's default.

    >>> build_prompt("internvl-hf", "What is it?", [1], num_image_token=2)
    '<|im_start|>user\\n<img><IMG_CONTEXT><IMG_CONTEXT></img>\\nWhat is it?<|im_end|>\\n<|im_start|>assistant\\n'
    """
    template = get_template(template)
    tokens = tokens or ImageTokens()
    turns = [_as_pair(turn) for turn in history]
    texts = [question] + [text for pair in turns for text in pair]
    for text in [*texts, system_message or ""]:
        for marker in (tokens.start, tokens.context, tokens.end):
            if marker in text:
                raise PromptError(
                    f"the text contains the image token {marker!r}; use {IMAGE_PLACEHOLDER!r} placeholders",
                    token=marker,
                )
    question = place_images(question, turns, len(num_patches_list), kind)
    text = template.render(question, turns, system_message)
    return expand_image_placeholders(text, num_patches_list, num_image_token, tokens)


def place_images(
    question: str, history: Iterable[Any], num_images: int, kind: Literal["images", "video"] = "images"
) -> str:
    """``question`` with InternVL's placeholder lines in front when neither it nor ``history`` has any.

    Placeholders the caller wrote (anywhere in the history and the question) are kept, but there must
    be exactly one per image. Backends that hand prompts to a checkpoint's own ``chat()`` use this to
    lay images out exactly as :func:`build_prompt` does.

    >>> place_images("Same scene?", [], 2)
    'Image-1: <image>\\nImage-2: <image>\\nSame scene?'
    """
    texts = [question] + [text for pair in (_as_pair(turn) for turn in history) for text in pair]
    written = sum(text.count(IMAGE_PLACEHOLDER) for text in texts)
    if written == 0 and num_images:
        return image_placeholders(num_images, kind) + question
    if written != num_images:
        raise PromptError(
            f"the question and history have {written} {IMAGE_PLACEHOLDER} placeholder(s) "
            f"but {num_images} image(s) were given",
            placeholders=written,
            images=num_images,
        )
    return question


def _as_pair(turn: Any) -> tuple[str, str]:
    if isinstance(turn, (tuple, list)) and len(turn) == 2:
        return str(turn[0]), str(turn[1])
    if hasattr(turn, "question") and hasattr(turn, "answer"):
        return str(turn.question), str(turn.answer)
    raise PromptError(f"a history turn must be a (question, answer) pair, got {turn!r}")
