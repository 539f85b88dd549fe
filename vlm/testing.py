"""A tiny random-weight InternVL checkpoint, built offline in a fraction of a second.

Tests and benchmarks need a model that goes through exactly the production loading path
(``from_pretrained`` on a directory, our tokenizer lookups, our prompt expansion) without downloading
gigabytes. :func:`tiny_internvl` writes such a directory with real transformers classes: an
``InternVLForConditionalGeneration`` with a 2-layer ViT (448 px tiles, 256 tokens per tile after pixel
shuffle) and a 2-layer Qwen2 decoder, plus a byte-level BPE tokenizer trained in-process that carries
the InternVL special tokens and the ``-hf`` chat template. Its answers are noise; its shapes, token
ids and code paths are real. It is a fixture, never a default model.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

#: Special tokens of the InternVL ``-hf`` tokenizers (Qwen2 chat tokens first, then the vision ones).
SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<img>",
    "</img>",
    "<IMG_CONTEXT>",
    "<quad>",
    "</quad>",
    "<ref>",
    "</ref>",
    "<box>",
    "</box>",
    "<video>",
)

#: Named special tokens, as the ``-hf`` tokenizers expose them (``tokenizer.context_image_token`` …).
NAMED_TOKENS: dict[str, str] = {
    "start_image_token": "<img>",
    "end_image_token": "</img>",
    "context_image_token": "<IMG_CONTEXT>",
    "video_token": "<video>",
}

# The -hf chat template's shape: ChatML, no default system prompt, one placeholder line per image or
# video part, then the text; ``add_generation_prompt`` opens the assistant turn.
CHAT_TEMPLATE = (
    "{% set marks = {'image': '<IMG_CONTEXT>\\n', 'video': '<video>\\n'} %}"
    "{% for m in messages %}"
    "{{ '<|im_start|>' ~ m.role ~ '\\n' }}"
    "{% if m.content is string %}{{ m.content }}{% else %}"
    "{% for part in m.content %}{{ part.text if part.type == 'text' else marks.get(part.type, '') }}{% endfor %}"
    "{% endif %}"
    "{{ '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

_CORPUS = (
    "Please describe the image in detail.",
    "The cat sits on the mat next to a red ball.",
    "A person rides a bicycle down a busy street in the city.",
    "What is in the picture? There are two dogs and a tree.",
    "Please provide the bounding box coordinate of the region this sentence describes.",
    "Frame1: a man walks. Frame2: the man stops. Image-1 and Image-2 show the same scene.",
    "你是书生·万象，英文名是InternVL。",
)


def tiny_internvl(path: str | Path, *, seed: int = 0, vocab_size: int = 512) -> Path:
    """Write a tiny random InternVL checkpoint to ``path`` and return it (created if missing).

    The same ``seed`` gives the same weights; the caller's torch RNG state is left untouched.

    >>> from vlm.testing import tiny_internvl                      # doctest: +SKIP
    >>> from transformers import AutoModelForImageTextToText       # doctest: +SKIP
    >>> ckpt = tiny_internvl("/tmp/tiny-internvl")                 # doctest: +SKIP
    >>> model = AutoModelForImageTextToText.from_pretrained(ckpt)  # doctest: +SKIP
    """
    import torch
    from transformers import (
        GenerationConfig,
        InternVLConfig,
        InternVLForConditionalGeneration,
        InternVLVisionConfig,
        Qwen2Config,
    )

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = _train_tokenizer(vocab_size)
    ids: dict[str, int] = {}
    for tok in SPECIAL_TOKENS:
        token_id = tokenizer.convert_tokens_to_ids(tok)
        assert isinstance(token_id, int)  # one token in, one id out
        ids[tok] = token_id

    vision = InternVLVisionConfig(
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=256,
        image_size=448,
        patch_size=14,
    )
    text = Qwen2Config(
        architectures=["Qwen2ForCausalLM"],
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=16384,
        # Wider than the usual 0.02 so that greedy answers differ from input to input (tests can tell
        # whose answer is whose); with 0.02 every prompt decodes to the same repeated token.
        initializer_range=0.2,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
    )
    config = InternVLConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=ids["<IMG_CONTEXT>"],
        image_seq_length=256,
        downsample_ratio=0.5,
        tie_word_embeddings=True,
    )
    config.architectures = ["InternVLForConditionalGeneration"]

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        # transformers' PreTrainedModel.eval, GenerationConfig.__init__ and the progress-bar switches are unannotated.
        model = InternVLForConditionalGeneration(config).eval()  # type: ignore[no-untyped-call]
    # A trained model never emits image markers; random weights might, so they are banned outright.
    banned = [[ids[t]] for t in ("<img>", "</img>", "<IMG_CONTEXT>", "<video>")]
    model.generation_config = GenerationConfig(  # type: ignore[no-untyped-call]
        eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"], do_sample=False, bad_words_ids=banned
    )
    with _quiet_progress_bars():
        model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@contextmanager
def _quiet_progress_bars() -> Iterator[None]:
    """save_pretrained draws a progress bar per call; a fixture should not."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # unannotated in transformers
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]  # unannotated in transformers


def _train_tokenizer(vocab_size: int) -> PreTrainedTokenizerFast:
    """A byte-level BPE over a few sentences, wrapped like the -hf InternVL tokenizers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_CORPUS, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]  # transformers leaves __init__ unannotated
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        padding_side="left",
        extra_special_tokens=dict(NAMED_TOKENS),
        chat_template=CHAT_TEMPLATE,
        model_max_length=16384,
    )
    # Like the real -hf tokenizers, every InternVL marker is a registered special token (so
    # ``skip_special_tokens=True`` also drops <ref>/<box>: backends that parse boxes must not use it).
    tokenizer.add_special_tokens(
        {"additional_special_tokens": [t for t in SPECIAL_TOKENS if t not in ("<|endoftext|>",)]},
        replace_extra_special_tokens=False,
    )
    return tokenizer
