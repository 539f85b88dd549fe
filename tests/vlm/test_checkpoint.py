"""Checkpoint inspection on config.json files shaped like the published InternVL checkpoints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vlm.checkpoint import CheckpointInfo, info_from_config, inspect_checkpoint
from vlm.errors import CheckpointError, UnknownTemplateError
from vlm.templates import get_template

VISION_ORIGINAL = {
    "architectures": ["InternVisionModel"],
    "hidden_size": 1024,
    "image_size": 448,
    "patch_size": 14,
    "model_type": "intern_vit_6b",
    "num_attention_heads": 16,
    "num_hidden_layers": 24,
    "norm_type": "layer_norm",
}


def _original(template: str, llm: dict[str, Any]) -> dict[str, Any]:
    return {
        "architectures": ["InternVLChatModel"],
        "auto_map": {
            "AutoConfig": "configuration_internvl_chat.InternVLChatConfig",
            "AutoModel": "modeling_internvl_chat.InternVLChatModel",
            "AutoModelForCausalLM": "modeling_internvl_chat.InternVLChatModel",
        },
        "downsample_ratio": 0.5,
        "dynamic_image_size": True,
        "force_image_size": 448,
        "llm_config": llm,
        "max_dynamic_patch": 12,
        "min_dynamic_patch": 1,
        "model_type": "internvl_chat",
        "ps_version": "v2",
        "select_layer": -1,
        "template": template,
        "torch_dtype": "bfloat16",
        "use_backbone_lora": 0,
        "use_llm_lora": 0,
        "use_thumbnail": True,
        "vision_config": VISION_ORIGINAL,
    }


INTERNVL2_5_1B = _original(
    "internvl2_5",
    {"architectures": ["Qwen2ForCausalLM"], "hidden_size": 896, "model_type": "qwen2", "vocab_size": 151674},
)
INTERNVL2_4B = _original(
    "phi3-chat",
    {
        "architectures": ["Phi3ForCausalLM"],
        "auto_map": {"AutoConfig": "configuration_phi3.Phi3Config"},
        "hidden_size": 3072,
        "model_type": "phi3",
        "vocab_size": 32020,
    },
)
INTERNVL2_8B = _original(
    "internlm2-chat",
    {
        "architectures": ["InternLM2ForCausalLM"],
        "auto_map": {"AutoConfig": "configuration_internlm2.InternLM2Config"},
        "hidden_size": 4096,
        "model_type": "internlm2",
        "vocab_size": 92553,
    },
)
INTERNVL3_1B_HF = {
    "architectures": ["InternVLForConditionalGeneration"],
    "downsample_ratio": 0.5,
    "image_seq_length": 256,
    "image_token_id": 151667,
    "model_type": "internvl",
    "projector_hidden_act": "gelu",
    "text_config": {"architectures": ["Qwen2ForCausalLM"], "hidden_size": 896, "model_type": "qwen2"},
    "vision_config": {
        "hidden_size": 1024,
        "image_size": [448, 448],
        "patch_size": [14, 14],
        "model_type": "internvl_vision",
    },
    "vision_feature_layer": -1,
    "vision_feature_select_strategy": "default",
}
HF_CHAT_TEMPLATE = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n'}}...{% endfor %}"


def _write(tmp_path: Path, config: Any, **files: Any) -> Path:
    (tmp_path / "config.json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    for name, content in files.items():
        text = content if isinstance(content, str) else json.dumps(content)
        (tmp_path / name.replace("__", ".")).write_text(text, encoding="utf-8")
    return tmp_path


def test_internvl2_5_original(tmp_path: Path) -> None:
    info = inspect_checkpoint(_write(tmp_path, INTERNVL2_5_1B), transformers_version="5.23.0")
    assert info.model_type == "internvl_chat"
    assert info.template == "internvl2_5"
    assert info.llm_architecture == "Qwen2ForCausalLM"
    assert (info.image_size, info.patch_size, info.downsample_ratio) == (448, 14, 0.5)
    assert info.num_image_token == 256
    assert info.max_dynamic_patch == 12 and info.use_thumbnail
    assert info.requires_remote_code and info.loadable
    assert info.path == tmp_path
    info.ensure_loadable()
    assert info.get_template().name == "internvl2_5"


def test_phi3_original_uses_phi3_template(tmp_path: Path) -> None:
    info = inspect_checkpoint(_write(tmp_path, INTERNVL2_4B) / "config.json", transformers_version="5.23.0")
    assert info.template == "phi3-chat"
    assert info.llm_architecture == "Phi3ForCausalLM"
    assert info.get_template().separator == "<|end|>"


def test_internlm2_original_is_not_loadable_on_new_transformers(tmp_path: Path) -> None:
    info = inspect_checkpoint(_write(tmp_path, INTERNVL2_8B), transformers_version="5.23.0")
    assert info.template == "internlm2-chat"
    assert info.llm_architecture == "InternLM2ForCausalLM"
    assert not info.loadable
    with pytest.raises(CheckpointError) as err:
        info.ensure_loadable()
    message = str(err.value)
    assert "5.23.0" in message and "InternLM2ForCausalLM" in message and "-hf" in message
    assert err.value.details["transformers_version"] == "5.23.0"


def test_internlm2_original_is_loadable_on_old_transformers() -> None:
    assert info_from_config(INTERNVL2_8B, transformers_version="4.45.2").loadable


def test_installed_transformers_version_is_used_by_default(tmp_path: Path) -> None:
    from importlib.metadata import version

    info = inspect_checkpoint(_write(tmp_path, INTERNVL2_8B))
    assert info.transformers_version == version("transformers")
    with pytest.raises(CheckpointError, match=version("transformers").replace(".", r"\.")):
        info.ensure_loadable()


def test_hf_checkpoint(tmp_path: Path) -> None:
    folder = _write(
        tmp_path,
        INTERNVL3_1B_HF,
        tokenizer_config__json={"chat_template": HF_CHAT_TEMPLATE},
        preprocessor_config__json={"max_patches": 12, "crop_to_patches": True},
    )
    info = inspect_checkpoint(folder, transformers_version="5.23.0")
    assert info.model_type == "internvl"
    assert info.template == "internvl-hf"
    assert info.chat_template == HF_CHAT_TEMPLATE
    assert info.llm_architecture == "Qwen2ForCausalLM"
    assert info.num_image_token == 256 and info.image_token_id == 151667
    assert not info.requires_remote_code and info.loadable
    assert info.get_template().default_system_message is None


def test_hf_checkpoint_on_too_old_transformers() -> None:
    info = info_from_config(INTERNVL3_1B_HF, transformers_version="4.51.3")
    assert not info.loadable
    with pytest.raises(CheckpointError, match=r"4\.51\.3"):
        info.ensure_loadable()


def test_chat_template_jinja_file_is_read(tmp_path: Path) -> None:
    folder = _write(tmp_path, INTERNVL3_1B_HF, chat_template__jinja=HF_CHAT_TEMPLATE)
    assert inspect_checkpoint(folder).chat_template == HF_CHAT_TEMPLATE


def test_hf_checkpoint_with_foreign_chat_template_needs_explicit_template(tmp_path: Path) -> None:
    folder = _write(tmp_path, INTERNVL3_1B_HF, chat_template__jinja="{{ '[INST]' }}")
    info = inspect_checkpoint(folder)
    assert info.template is None
    with pytest.raises(UnknownTemplateError, match="name a template"):
        info.get_template()
    assert info.get_template("internvl2_5") is get_template("internvl2_5")


def test_template_override() -> None:
    info = info_from_config(INTERNVL2_5_1B)
    assert info.get_template("Hermes-2").name == "Hermes-2"
    with pytest.raises(UnknownTemplateError, match="internvl2_5"):
        info.get_template("nope")


def test_unknown_template_name_in_config_fails_when_used() -> None:
    info = info_from_config({**INTERNVL2_5_1B, "template": "internvl_zh"})
    assert info.template == "internvl_zh"
    with pytest.raises(UnknownTemplateError, match="internvl_zh"):
        info.get_template()


def test_num_image_token_follows_the_config() -> None:
    config = {**INTERNVL2_5_1B, "force_image_size": 224}
    assert info_from_config(config).num_image_token == 64
    config = {**INTERNVL2_5_1B, "downsample_ratio": 1.0}
    assert info_from_config(config).num_image_token == 1024


def test_tiny_checkpoint_is_an_hf_checkpoint(tiny_internvl_dir: Path) -> None:
    info = inspect_checkpoint(tiny_internvl_dir)
    assert isinstance(info, CheckpointInfo)
    assert info.model_type == "internvl" and info.template == "internvl-hf" and info.loadable
    assert info.num_image_token == 256 and info.chat_template is not None


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ([1, 2], "JSON object"),
        ({"model_type": "llava"}, "not an InternVL checkpoint"),
        ({"architectures": ["X"]}, "not an InternVL checkpoint"),
        ({**INTERNVL2_5_1B, "template": None}, "template"),
        ({k: v for k, v in INTERNVL2_5_1B.items() if k != "llm_config"}, "llm_config"),
        ({k: v for k, v in INTERNVL3_1B_HF.items() if k != "vision_config"}, "vision_config"),
        ({**INTERNVL2_5_1B, "llm_config": {"hidden_size": 1}}, "architecture"),
        ({**INTERNVL3_1B_HF, "image_seq_length": 64}, "image_seq_length"),
        ({**INTERNVL2_5_1B, "downsample_ratio": 0}, "downsample_ratio"),
        ({**INTERNVL2_5_1B, "force_image_size": "448"}, "positive integer"),
    ],
)
def test_invalid_configs(config: Any, match: str) -> None:
    with pytest.raises(CheckpointError, match=match):
        info_from_config(config)


def test_missing_or_unreadable_checkpoints(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no config.json"):
        inspect_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="not found"):
        inspect_checkpoint(tmp_path / "missing")
    (tmp_path / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(CheckpointError, match="cannot read"):
        inspect_checkpoint(tmp_path)


def test_uncached_hub_id_fails_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError, match="hub"):
        inspect_checkpoint("not-a-real-org/not-a-real-model-xyz")
