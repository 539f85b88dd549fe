"""Prompt building: golden strings per template, placeholder expansion, history and system prompts."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from vlm.errors import CheckpointError, PromptError, UnknownTemplateError
from vlm.prompt import (
    ImageTokens,
    build_prompt,
    expand_image_placeholders,
    image_placeholders,
    image_token_ids,
)
from vlm.templates import INTERNVL2_5_SYSTEM, INTERNVL2_SYSTEM, get_template, template_names

SYS25 = "你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家合作单位联合开发的多模态大语言模型。"
SYS2 = "你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, 是一个有用无害的人工智能助手。"
IMG2 = "<img><IMG_CONTEXT><IMG_CONTEXT></img>"  # one tile at num_image_token=2


def test_default_system_messages_are_the_published_ones() -> None:
    assert INTERNVL2_5_SYSTEM == SYS25
    assert INTERNVL2_SYSTEM == SYS2


# --- golden strings, one per template family -------------------------------------------------------


def test_internvl2_5_golden() -> None:
    prompt = build_prompt("internvl2_5", "What is in the image?", [1], num_image_token=2)
    assert prompt == (
        f"<|im_start|>system\n{SYS25}<|im_end|>\n"
        f"<|im_start|>user\n{IMG2}\nWhat is in the image?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


@pytest.mark.parametrize("name", ["Hermes-2", "internlm2-chat"])
def test_hermes_and_internlm2_golden_have_no_newline_after_im_end(name: str) -> None:
    prompt = build_prompt(name, "What is in the image?", [1], num_image_token=2)
    assert prompt == (
        f"<|im_start|>system\n{SYS2}<|im_end|>"
        f"<|im_start|>user\n{IMG2}\nWhat is in the image?<|im_end|>"
        "<|im_start|>assistant\n"
    )


def test_phi3_golden() -> None:
    prompt = build_prompt("phi3-chat", "What is in the image?", [1], num_image_token=2)
    assert prompt == (f"<|system|>\n{SYS2}<|end|><|user|>\n{IMG2}\nWhat is in the image?<|end|><|assistant|>\n")


def test_hf_golden_has_no_system_prompt_by_default() -> None:
    prompt = build_prompt("internvl-hf", "What is in the image?", [1], num_image_token=2)
    assert prompt == (f"<|im_start|>user\n{IMG2}\nWhat is in the image?<|im_end|>\n<|im_start|>assistant\n")


def test_hf_golden_with_given_system_prompt() -> None:
    prompt = build_prompt("internvl-hf", "Hi", system_message="Be brief.")
    assert prompt == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )


def test_original_templates_replace_default_system_prompt_when_given() -> None:
    prompt = build_prompt("internvl2_5", "Hi", system_message="Be brief.")
    assert prompt == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )
    assert SYS25 not in prompt


def test_empty_system_message_keeps_an_empty_block_like_original_chat() -> None:
    assert build_prompt("Hermes-2", "Hi", system_message="").startswith(
        "<|im_start|>system\n<|im_end|><|im_start|>user\nHi"
    )


def test_text_only_prompt_has_no_image_tokens() -> None:
    prompt = build_prompt("internvl2_5", "Tell me a joke.")
    assert "<img>" not in prompt and "<image>" not in prompt
    assert prompt.endswith("<|im_start|>user\nTell me a joke.<|im_end|>\n<|im_start|>assistant\n")


# --- multi-image, video, history ----------------------------------------------------------------


def test_multi_image_labels_each_image_in_order() -> None:
    prompt = build_prompt("internvl-hf", "Compare them.", [2, 1], num_image_token=1)
    assert prompt == (
        "<|im_start|>user\n"
        "Image-1: <img><IMG_CONTEXT><IMG_CONTEXT></img>\n"
        "Image-2: <img><IMG_CONTEXT></img>\n"
        "Compare them.<|im_end|>\n<|im_start|>assistant\n"
    )


def test_video_labels_frames() -> None:
    prompt = build_prompt("internvl-hf", "What happens?", [1, 1, 1], kind="video", num_image_token=1)
    assert prompt == (
        "<|im_start|>user\n"
        "Frame1: <img><IMG_CONTEXT></img>\n"
        "Frame2: <img><IMG_CONTEXT></img>\n"
        "Frame3: <img><IMG_CONTEXT></img>\n"
        "What happens?<|im_end|>\n<|im_start|>assistant\n"
    )


def test_single_video_frame_is_still_labelled_as_a_frame() -> None:
    assert image_placeholders(1, "video") == "Frame1: <image>\n"
    assert image_placeholders(1) == "<image>\n"
    assert image_placeholders(0) == ""


def test_history_turns_in_order_with_image_in_first_turn() -> None:
    prompt = build_prompt(
        "internvl2_5",
        "And its colour?",
        [1],
        history=[("<image>\nWhat is it?", "A cat."), ("Is it asleep?", "Yes.")],
        num_image_token=2,
    )
    assert prompt == (
        f"<|im_start|>system\n{SYS25}<|im_end|>\n"
        f"<|im_start|>user\n{IMG2}\nWhat is it?<|im_end|>\n"
        "<|im_start|>assistant\nA cat.<|im_end|>\n"
        "<|im_start|>user\nIs it asleep?<|im_end|>\n"
        "<|im_start|>assistant\nYes.<|im_end|>\n"
        "<|im_start|>user\nAnd its colour?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_history_accepts_turn_objects() -> None:
    turn = SimpleNamespace(question="Hi", answer="Hello")
    assert build_prompt("phi3-chat", "Bye", history=[turn], system_message="S") == (
        "<|system|>\nS<|end|><|user|>\nHi<|end|><|assistant|>\nHello<|end|><|user|>\nBye<|end|><|assistant|>\n"
    )


def test_images_without_placeholders_in_history_go_before_current_question() -> None:
    prompt = build_prompt("internvl-hf", "Now?", [1], history=[("Hi", "Hello")], num_image_token=1)
    assert prompt.endswith("<|im_start|>user\n<img><IMG_CONTEXT></img>\nNow?<|im_end|>\n<|im_start|>assistant\n")


# --- expansion counts and placeholder rules ---------------------------------------------------------


def test_expansion_counts_with_default_256_tokens_per_tile() -> None:
    prompt = build_prompt("internvl2_5", "Describe both.", [7, 13])
    assert prompt.count("<IMG_CONTEXT>") == 256 * (7 + 13)
    assert prompt.count("<img>") == 2 and prompt.count("</img>") == 2
    first = prompt.index("<img>")
    assert prompt[first : prompt.index("</img>")].count("<IMG_CONTEXT>") == 256 * 7


def test_explicit_placeholders_are_used_in_order_and_not_added_again() -> None:
    prompt = build_prompt("internvl-hf", "Left <image> right <image> which?", [1, 2], num_image_token=1)
    assert "Left <img><IMG_CONTEXT></img> right <img><IMG_CONTEXT><IMG_CONTEXT></img> which?" in prompt
    assert "Image-1" not in prompt


def test_placeholder_count_must_match_images() -> None:
    with pytest.raises(PromptError, match="2 <image> placeholder"):
        build_prompt("internvl-hf", "<image> and <image>", [1])
    with pytest.raises(PromptError, match="1 <image> placeholder"):
        build_prompt("internvl-hf", "<image> what?", [])


def test_text_with_image_token_strings_is_rejected() -> None:
    with pytest.raises(PromptError, match="IMG_CONTEXT"):
        build_prompt("internvl-hf", "say <IMG_CONTEXT>", [1])
    with pytest.raises(PromptError, match="<img>"):
        build_prompt("internvl-hf", "ok", history=[("<img>", "x")])


def test_zero_tile_image_is_rejected() -> None:
    with pytest.raises(PromptError, match="at least one tile"):
        expand_image_placeholders("<image>", [0])


def test_custom_token_strings_come_from_the_tokenizer() -> None:
    tokenizer = SimpleNamespace(start_image_token="<s>", context_image_token="<c>", end_image_token="</s>")
    tokens = ImageTokens.from_tokenizer(tokenizer)
    assert build_prompt("internvl-hf", "Q", [1], num_image_token=3, tokens=tokens).count("<s><c><c><c></s>\nQ") == 1
    assert ImageTokens.from_tokenizer(object()) == ImageTokens()


def test_image_token_ids_are_looked_up(tiny_internvl_dir) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_internvl_dir)
    ids = image_token_ids(tokenizer)
    assert ids.start == tokenizer.convert_tokens_to_ids("<img>")
    assert ids.context == tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>")
    assert ids.end == tokenizer.convert_tokens_to_ids("</img>")
    assert len({ids.start, ids.context, ids.end}) == 3


def test_image_token_ids_reject_a_tokenizer_without_them() -> None:
    vocab = {"<img>": 1, "</img>": 2}
    tokenizer = SimpleNamespace(
        unk_token_id=0,
        convert_tokens_to_ids=lambda t: vocab.get(t, 0),
        convert_ids_to_tokens=lambda i: {v: k for k, v in vocab.items()}.get(i, "<unk>"),
    )
    with pytest.raises(CheckpointError, match="IMG_CONTEXT"):
        image_token_ids(tokenizer)


# --- template registry and stop strings -------------------------------------------------------------


def test_unknown_template_lists_known_ones() -> None:
    with pytest.raises(UnknownTemplateError) as err:
        get_template("vicuna_v1.1")
    for name in ("internvl2_5", "Hermes-2", "internlm2-chat", "phi3-chat", "internvl-hf"):
        assert name in str(err.value)
    assert set(template_names()) == {"internvl2_5", "Hermes-2", "internlm2-chat", "phi3-chat", "internvl-hf"}
    with pytest.raises(UnknownTemplateError):
        build_prompt("llama3-chat", "Hi")


@pytest.mark.parametrize(
    ("name", "stop"),
    [
        ("internvl2_5", "<|im_end|>"),
        ("Hermes-2", "<|im_end|>"),
        ("internlm2-chat", "<|im_end|>"),
        ("phi3-chat", "<|end|>"),
        ("internvl-hf", "<|im_end|>"),
    ],
)
def test_stop_strings_end_the_answer(name: str, stop: str) -> None:
    template = get_template(name)
    assert template.stop_strings[0] == stop
    assert template.clean_answer(f"  A cat.{stop}\n<|im_start|>user\nmore") == "A cat."
    assert template.clean_answer("No stop here ") == "No stop here"


def test_stop_token_ids_only_include_single_tokens(tiny_internvl_dir) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_internvl_dir)
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert get_template("internvl2_5").stop_token_ids(tokenizer) == [im_end]
    assert get_template("phi3-chat").stop_token_ids(tokenizer) == []  # no <|end|> in a Qwen2 vocabulary
