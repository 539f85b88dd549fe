"""What an InternVL checkpoint is, read from its ``config.json`` before any weights are loaded.

Two kinds exist. ``-hf`` checkpoints (``model_type: internvl``) run on transformers' native classes
and use a ChatML chat template with no default system prompt. Original ones
(``model_type: internvl_chat``) need ``trust_remote_code``, name their conversation template in the
config (``template``), and some no longer run: the InternLM2 remote code stopped generating with
transformers 4.50. Deciding this from the config lets the backend pick the loader, the prompt
template and the tokens per tile — or refuse early with a message that says what to do instead.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from vlm.errors import CheckpointError, UnknownTemplateError
from vlm.templates import HF_TEMPLATE, Template, get_template, template_names

ModelType = Literal["internvl", "internvl_chat"]

#: Language models whose remote code no longer generates from this transformers version on.
REMOTE_CODE_BROKEN_SINCE: dict[str, str] = {"InternLM2ForCausalLM": "4.50"}
#: First transformers version with the native InternVL classes.
NATIVE_INTERNVL_SINCE = "4.52"


class CheckpointInfo(BaseModel):
    """The facts about a checkpoint that loading and prompting depend on.

    >>> info = info_from_config({                                       # an original InternVL2.5-1B
    ...     "model_type": "internvl_chat", "template": "internvl2_5", "downsample_ratio": 0.5,
    ...     "force_image_size": 448, "llm_config": {"architectures": ["Qwen2ForCausalLM"]},
    ...     "vision_config": {"image_size": 448, "patch_size": 14}}, transformers_version="5.0.0")
    >>> info.template, info.num_image_token, info.loadable
    ('internvl2_5', 256, True)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    path: Path | None = None
    model_type: ModelType
    #: Conversation template name (see :mod:`vlm.templates`); ``None`` if the -hf chat template is
    #: not the ChatML one we know, in which case a template must be named explicitly.
    template: str | None
    llm_architecture: str
    image_size: int
    patch_size: int
    downsample_ratio: float
    num_image_token: int
    max_dynamic_patch: int = 12
    use_thumbnail: bool = True
    #: Id of ``<IMG_CONTEXT>`` when the config records it (-hf ones do); else look it up in the tokenizer.
    image_token_id: int | None = None
    chat_template: str | None = None
    requires_remote_code: bool
    transformers_version: str
    loadable: bool
    problem: str | None = None

    def ensure_loadable(self) -> None:
        """Raise :class:`CheckpointError` (naming the transformers version) if it cannot run here."""
        if not self.loadable:
            raise CheckpointError(
                self.problem or f"{self.source} cannot be loaded",
                source=self.source,
                transformers_version=self.transformers_version,
                llm_architecture=self.llm_architecture,
            )

    def get_template(self, override: str | Template | None = None) -> Template:
        """The checkpoint's conversation template, or ``override`` when given."""
        if override is not None:
            return get_template(override)
        if self.template is None:
            raise UnknownTemplateError(
                f"the chat template of {self.source} is not the InternVL ChatML one; name a template "
                f"explicitly (known templates: {', '.join(template_names())})",
                source=self.source,
            )
        return get_template(self.template)


def inspect_checkpoint(source: str | Path, *, transformers_version: str | None = None) -> CheckpointInfo:
    """Inspect a checkpoint directory, its ``config.json``, or a hub id already in the local cache.

    Raises :class:`CheckpointError` when there is no readable config or it is not InternVL.
    """
    config_path = _find_config(source)
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read {config_path}: {exc}", source=str(source)) from exc
    folder = config_path.parent
    return info_from_config(
        config,
        source=str(source),
        path=folder,
        chat_template=_read_chat_template(folder),
        max_patches=_read_max_patches(folder),
        transformers_version=transformers_version,
    )


def info_from_config(
    config: Any,
    *,
    source: str = "<config>",
    path: Path | None = None,
    chat_template: str | None = None,
    max_patches: int | None = None,
    transformers_version: str | None = None,
) -> CheckpointInfo:
    """Build :class:`CheckpointInfo` from a parsed ``config.json``."""
    if not isinstance(config, dict):
        raise CheckpointError(f"{source}: config.json must hold a JSON object", source=source)
    version = transformers_version or _installed_transformers()
    model_type = config.get("model_type")
    if model_type == "internvl":
        return _hf_info(config, source, path, chat_template, max_patches, version)
    if model_type == "internvl_chat":
        return _original_info(config, source, path, chat_template, version)
    raise CheckpointError(
        f"{source} is not an InternVL checkpoint: model_type is {model_type!r}, "
        "expected 'internvl' (-hf) or 'internvl_chat' (original)",
        source=source,
        model_type=model_type,
    )


def _hf_info(
    config: dict[str, Any],
    source: str,
    path: Path | None,
    chat_template: str | None,
    max_patches: int | None,
    version: str,
) -> CheckpointInfo:
    text = _section(config, "text_config", source)
    vision = _section(config, "vision_config", source)
    image_size = _square(vision.get("image_size", 448), "vision_config.image_size", source)
    patch_size = _square(vision.get("patch_size", 14), "vision_config.patch_size", source)
    ratio = _ratio(config.get("downsample_ratio", 0.5), source)
    tokens = _num_image_token(image_size, patch_size, ratio)
    declared = config.get("image_seq_length")
    if declared is not None and declared != tokens:
        raise CheckpointError(
            f"{source}: image_seq_length {declared} disagrees with the vision config "
            f"({image_size} px / {patch_size} px patches, downsample {ratio} -> {tokens} tokens)",
            source=source,
        )
    native = _at_least(version, NATIVE_INTERNVL_SINCE)
    return CheckpointInfo(
        source=source,
        path=path,
        model_type="internvl",
        template=HF_TEMPLATE if chat_template is None or "<|im_start|>" in chat_template else None,
        llm_architecture=_architecture(text, "text_config", source),
        image_size=image_size,
        patch_size=patch_size,
        downsample_ratio=ratio,
        num_image_token=tokens,
        max_dynamic_patch=max_patches or 12,
        image_token_id=config.get("image_token_id"),
        chat_template=chat_template,
        requires_remote_code=False,
        transformers_version=version,
        loadable=native,
        problem=None
        if native
        else (
            f"{source} is an -hf InternVL checkpoint; its native classes need transformers >= "
            f"{NATIVE_INTERNVL_SINCE}, but {version} is installed"
        ),
    )


def _original_info(
    config: dict[str, Any], source: str, path: Path | None, chat_template: str | None, version: str
) -> CheckpointInfo:
    llm = _section(config, "llm_config", source)
    vision = _section(config, "vision_config", source)
    template = config.get("template")
    if not isinstance(template, str) or not template:
        raise CheckpointError(f"{source}: an original InternVL config must name its 'template'", source=source)
    image_size = _square(config.get("force_image_size") or vision.get("image_size", 448), "force_image_size", source)
    patch_size = _square(vision.get("patch_size", 14), "vision_config.patch_size", source)
    ratio = _ratio(config.get("downsample_ratio", 0.5), source)
    architecture = _architecture(llm, "llm_config", source)
    broken_since = REMOTE_CODE_BROKEN_SINCE.get(architecture)
    problem = None
    if broken_since is not None and _at_least(version, broken_since):
        problem = (
            f"{source} is an original InternVL checkpoint built on {architecture}, whose remote code no "
            f"longer generates on transformers {version} (it needs transformers < {broken_since}). Use the "
            "-hf conversion of the model (model_type 'internvl', e.g. OpenGVLab/InternVL3-8B-hf), or serve "
            "it with lmdeploy or vLLM and use the OpenAI-compatible backend."
        )
    return CheckpointInfo(
        source=source,
        path=path,
        model_type="internvl_chat",
        template=template,
        llm_architecture=architecture,
        image_size=image_size,
        patch_size=patch_size,
        downsample_ratio=ratio,
        num_image_token=_num_image_token(image_size, patch_size, ratio),
        max_dynamic_patch=int(config.get("max_dynamic_patch") or 12),
        use_thumbnail=bool(config.get("use_thumbnail", True)),
        chat_template=chat_template,
        requires_remote_code=True,
        transformers_version=version,
        loadable=problem is None,
        problem=problem,
    )


def _num_image_token(image_size: int, patch_size: int, ratio: float) -> int:
    return int((image_size // patch_size) ** 2 * ratio**2)


def _find_config(source: str | Path) -> Path:
    path = Path(source).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        config = path / "config.json"
        if not config.is_file():
            raise CheckpointError(f"{path} has no config.json: not a model checkpoint directory", source=str(source))
        return config
    text = str(source)
    if text.count("/") == 1 and not text.startswith((".", "/", "~")):
        return _cached_hub_config(text)
    raise CheckpointError(f"checkpoint {text!r} not found: no such file or directory", source=text)


def _cached_hub_config(repo_id: str) -> Path:
    """config.json of a hub model; offline (HF_HUB_OFFLINE) this only finds what is cached."""
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo_id, "config.json"))
    except Exception as exc:
        raise CheckpointError(
            f"cannot get config.json of {repo_id!r} from the Hugging Face hub or its local cache: {exc}",
            source=repo_id,
        ) from exc


def _read_chat_template(folder: Path) -> str | None:
    """The tokenizer's chat template, wherever this checkpoint keeps it."""
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    for name in ("chat_template.json", "tokenizer_config.json", "processor_config.json"):
        data = _read_json(folder / name)
        template = data.get("chat_template") if isinstance(data, dict) else None
        if isinstance(template, str):
            return template
        if isinstance(template, list):  # named templates: [{"name": "default", "template": ...}]
            for entry in template:
                text = entry.get("template") if isinstance(entry, dict) and entry.get("name") == "default" else None
                if isinstance(text, str):
                    return text
    return None


def _read_max_patches(folder: Path) -> int | None:
    data = _read_json(folder / "preprocessor_config.json")
    value = data.get("max_patches") if isinstance(data, dict) else None
    return value if isinstance(value, int) and value > 0 else None


def _read_json(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def _section(config: dict[str, Any], key: str, source: str) -> dict[str, Any]:
    section = config.get(key)
    if not isinstance(section, dict):
        raise CheckpointError(f"{source}: config.json has no {key!r} object", source=source, missing=key)
    return section


def _architecture(section: dict[str, Any], key: str, source: str) -> str:
    architectures = section.get("architectures")
    if isinstance(architectures, list) and architectures and isinstance(architectures[0], str):
        return architectures[0]
    model_type = section.get("model_type")
    if isinstance(model_type, str) and model_type:
        return model_type
    raise CheckpointError(f"{source}: {key} names no architecture or model_type", source=source)


def _square(value: Any, name: str, source: str) -> int:
    if isinstance(value, (list, tuple)) and len(value) == 2 and value[0] == value[1]:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise CheckpointError(f"{source}: {name} must be a positive integer (square), got {value!r}", source=source)
    return value


def _ratio(value: Any, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise CheckpointError(f"{source}: downsample_ratio must be in (0, 1], got {value!r}", source=source)
    return float(value)


def _installed_transformers() -> str:
    try:
        return metadata.version("transformers")
    except metadata.PackageNotFoundError as exc:
        raise CheckpointError("transformers is not installed") from exc


def _at_least(version: str, minimum: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version) >= Version(minimum)
    except InvalidVersion as exc:
        raise CheckpointError(f"cannot compare transformers version {version!r}") from exc
