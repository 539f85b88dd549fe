"""The tiny InternVL fixture goes through the real loading and generation path."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from vlm.prompt import ImageTokens, build_prompt, image_token_ids  # noqa: E402
from vlm.testing import SPECIAL_TOKENS, tiny_internvl  # noqa: E402


@pytest.fixture(scope="module")
def loaded(tiny_internvl_dir: Path):
    model = transformers.AutoModelForImageTextToText.from_pretrained(tiny_internvl_dir).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_internvl_dir)
    return model, tokenizer


def _inputs(tokenizer, question: str, crops: list[int], seed: int = 0):
    prompt = build_prompt("internvl-hf", question, crops, tokens=ImageTokens.from_tokenizer(tokenizer))
    encoded = tokenizer(prompt, return_tensors="pt")
    generator = torch.Generator().manual_seed(seed)
    pixel_values = torch.randn(sum(crops), 3, 448, 448, generator=generator)
    return encoded, pixel_values


def test_builds_fast_and_writes_a_normal_checkpoint(tmp_path: Path) -> None:
    from transformers import InternVLForConditionalGeneration  # noqa: F401 - warm the lazy import, not timed

    start = time.perf_counter()
    out = tiny_internvl(tmp_path / "ckpt")
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, f"tiny_internvl took {elapsed:.2f} s"
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json"} <= names


def test_same_seed_same_weights_other_seed_other_weights(tmp_path: Path, tiny_internvl_dir: Path) -> None:
    from safetensors.torch import load_file

    reference = load_file(tiny_internvl_dir / "model.safetensors")
    same = load_file(tiny_internvl(tmp_path / "same") / "model.safetensors")
    other = load_file(tiny_internvl(tmp_path / "other", seed=1) / "model.safetensors")
    assert reference.keys() == same.keys()
    assert all(torch.equal(reference[k], same[k]) for k in reference)
    assert any(not torch.equal(reference[k], other[k]) for k in reference)
    assert (tmp_path / "same" / "tokenizer.json").read_bytes() == (tiny_internvl_dir / "tokenizer.json").read_bytes()


def test_build_leaves_the_callers_rng_alone(tmp_path: Path) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tiny_internvl(tmp_path / "ckpt")
    assert torch.equal(torch.rand(3), expected)


def test_loads_through_the_auto_classes(loaded) -> None:
    model, tokenizer = loaded
    assert type(model).__name__ == "InternVLForConditionalGeneration"
    assert model.config.model_type == "internvl"
    assert model.config.image_token_id == tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>")
    assert model.config.image_seq_length == 256
    assert model.generation_config.eos_token_id == tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    assert tokenizer.padding_side == "left"


def test_special_tokens_are_single_tokens_with_looked_up_ids(loaded) -> None:
    _, tokenizer = loaded
    ids = [tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS]
    assert all(isinstance(i, int) for i in ids) and len(set(ids)) == len(SPECIAL_TOKENS)
    for token, token_id in zip(SPECIAL_TOKENS, ids):
        assert tokenizer(token, add_special_tokens=False)["input_ids"] == [token_id]
    assert tokenizer.context_image_token == "<IMG_CONTEXT>"
    assert tokenizer.start_image_token == "<img>" and tokenizer.end_image_token == "</img>"
    assert tokenizer.context_image_token_id == image_token_ids(tokenizer).context
    # <ref>/<box> survive decoding when special tokens are kept (backends that parse boxes need that)
    ids = tokenizer("<ref>cat</ref><box>[[1, 2, 3, 4]]</box>", add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == "<ref>cat</ref><box>[[1, 2, 3, 4]]</box>"


def test_chat_template_matches_our_hf_template(loaded) -> None:
    _, tokenizer = loaded
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is it?"}]},
        {"role": "assistant", "content": "A cat."},
        {"role": "user", "content": "Sure?"},
    ]
    rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    expanded = rendered.replace("<IMG_CONTEXT>", ImageTokens().expansion(256 * 3), 1)
    ours = build_prompt(
        "internvl-hf", "Sure?", [3], history=[("<image>\nWhat is it?", "A cat.")], system_message="Be brief."
    )
    assert expanded == ours


@pytest.mark.parametrize("crops", [1, 13])
def test_generates_on_1_and_13_crops(loaded, crops: int) -> None:
    model, tokenizer = loaded
    encoded, pixel_values = _inputs(tokenizer, "Describe the image.", [crops])
    context_id = image_token_ids(tokenizer).context
    assert int((encoded["input_ids"] == context_id).sum()) == 256 * crops
    with torch.no_grad():
        out = model.generate(**encoded, pixel_values=pixel_values, max_new_tokens=4, do_sample=False)
    new = out[0, encoded["input_ids"].shape[1] :]
    assert 1 <= new.numel() <= 4
    assert context_id not in new.tolist()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_generates_on_cuda_in_bf16(tiny_internvl_dir: Path) -> None:
    model = transformers.AutoModelForImageTextToText.from_pretrained(tiny_internvl_dir, dtype=torch.bfloat16)
    model = model.to("cuda").eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_internvl_dir)
    encoded, pixel_values = _inputs(tokenizer, "Describe the image.", [13])
    with torch.no_grad():
        out = model.generate(
            **encoded.to("cuda"),
            pixel_values=pixel_values.to("cuda", torch.bfloat16),
            max_new_tokens=4,
            do_sample=False,
        )
    assert out.device.type == "cuda" and out.shape[1] > encoded["input_ids"].shape[1]


def test_answers_depend_on_the_input(loaded) -> None:
    model, tokenizer = loaded
    answers = set()
    for seed in range(3):
        encoded, pixel_values = _inputs(tokenizer, f"Question {seed}?", [1], seed=seed)
        with torch.no_grad():
            out = model.generate(**encoded, pixel_values=pixel_values, max_new_tokens=6, do_sample=False)
        answers.add(tuple(out[0, encoded["input_ids"].shape[1] :].tolist()))
    assert len(answers) > 1


def test_batch_with_left_padding(loaded) -> None:
    model, tokenizer = loaded
    prompts = [
        build_prompt("internvl-hf", "Short?", [1]),
        build_prompt("internvl-hf", "A much longer question about the second image, please?", [2]),
    ]
    batch = tokenizer(prompts, return_tensors="pt", padding=True)
    assert (batch["attention_mask"][0] == 0).any() and batch["attention_mask"][0, -1] == 1  # left-padded
    pixel_values = torch.randn(3, 3, 448, 448, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = model.generate(**batch, pixel_values=pixel_values, max_new_tokens=3, do_sample=False)
    assert out.shape[0] == 2


def test_save_load_round_trip_gives_identical_logits(loaded, tmp_path: Path) -> None:
    model, tokenizer = loaded
    encoded, pixel_values = _inputs(tokenizer, "Describe.", [2])
    with torch.no_grad():
        before = model(**encoded, pixel_values=pixel_values).logits
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    reloaded = transformers.AutoModelForImageTextToText.from_pretrained(tmp_path).eval()
    retokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path)
    assert torch.equal(
        retokenizer(build_prompt("internvl-hf", "Describe.", [2]), return_tensors="pt")["input_ids"],
        encoded["input_ids"],
    )
    with torch.no_grad():
        after = reloaded(**encoded, pixel_values=pixel_values).logits
    assert torch.equal(before, after)
