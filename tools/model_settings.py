"""Settings for the models behind the tools: the InternVL backend (``TOG_VLM_*``) and the text LLM
(``TOG_LLM_*``).

Every ToG setting follows one scheme: ``TOG_<SECTION>_<FIELD>`` (one prefix, one ``_`` between the
section and the field; values of dict and list fields are JSON or comma lists). :class:`SettingsBase`
is that scheme, holding the two sections the tools need; ``agent.config.ToGSettings`` extends it with the
agent, engine and server sections. The tools read their sections through it (they must not import
``agent``: the dependency runs ``graph`` ← ``tools`` ← ``agent``), so both readers parse the environment
the same way::

    >>> VLMSettings(model="OpenGVLab/InternVL3-8B-hf").max_tiles
    24
    >>> VLMSettings.env_name("max_tiles")
    'TOG_VLM_MAX_TILES'

Nothing set means no model; nothing here downloads or contacts anything.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
    YamlConfigSettingsSource,
)

from vlm.images import MAX_TILES_CAP

__all__ = [
    "CONFIG_FILE_VARIABLE",
    "DEFAULT_MAX_TILES",
    "ENV_PREFIX",
    "LLMSettings",
    "ModelSettings",
    "SettingsBase",
    "VLMSettings",
    "env_name",
    "settings_problem",
]

#: Tile ceiling of backends built from settings: enough for the document tools' 24 tiles.
DEFAULT_MAX_TILES = 24
ENV_PREFIX = "TOG_"
#: Names a TOML or YAML file of settings (``[vlm] model = "..."``); the environment wins over it.
CONFIG_FILE_VARIABLE = "TOG_CONFIG"


def env_name(*loc: str | int) -> str:
    """The environment variable of a setting: ``env_name("vlm", "max_tiles") == "TOG_VLM_MAX_TILES"``.

    Deeper parts of a location (a key of a dict field) belong to the section field's JSON value.
    """
    return ENV_PREFIX + "_".join(str(part) for part in loc[:2]).upper()


class ModelSettings(BaseModel):
    """What both model settings share: an OpenAI-compatible server, its key and its model id."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
    #: The section's name in :class:`SettingsBase` (and in ``TOG_<SECTION>_<FIELD>``).
    section: ClassVar[str] = ""

    url: str = Field(default="", description="an OpenAI-compatible chat server (http:// or https://)")
    api_key: SecretStr = Field(default=SecretStr(""), description="bearer token for the server, if it wants one")
    served_model: str = Field(default="", description="the model id on the server; by default the server's first")

    @classmethod
    def env_name(cls, field: str) -> str:
        """The environment variable that sets ``field`` (``""``: the section's prefix)."""
        return env_name(cls.section, field) if field else f"{ENV_PREFIX}{cls.section.upper()}_"

    @classmethod
    def from_environment(cls) -> Self:
        """This section as the environment (over ``TOG_CONFIG``'s file) sets it.

        Only this section is validated, so a bad ``TOG_LLM_*`` value does not take the vision tools down.
        Raises :class:`pydantic.ValidationError` whose locations start with the section.
        """
        raw = raw_settings(SettingsBase).get(cls.section) or {}
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            errors = [{**item, "loc": (cls.section, *item["loc"])} for item in exc.errors()]
            raise ValidationError.from_exception_data(cls.__name__, errors) from None  # type: ignore[arg-type]


class VLMSettings(ModelSettings):
    """The InternVL model the vision tools use (and the text tools, when no separate LLM is set)."""

    section: ClassVar[str] = "vlm"

    url: str = Field(
        default="",
        description="an lmdeploy / vLLM server hosting InternVL (OpenAI chat API); wins over model",
    )
    model: str = Field(
        default="",
        description="a checkpoint directory or hub id run in this process (an http(s) URL here names a server)",
    )
    device: str = Field(default="auto", description="where a local model runs: auto, cpu, cuda:0, …")
    dtype: str = Field(default="auto", description="weights dtype of a local model: auto, bf16, fp16, fp32")
    trust_remote_code: bool = Field(
        default=False, description="allow an original (non -hf) checkpoint's own modelling code to run"
    )
    max_tiles: int = Field(
        default=DEFAULT_MAX_TILES,
        ge=1,
        le=MAX_TILES_CAP,
        description="tile ceiling per image; document tools ask for 24, the others for 12 at most",
    )


class LLMSettings(ModelSettings):
    """A separate text LLM for the text tools (any OpenAI-compatible server); unset, InternVL answers."""

    section: ClassVar[str] = "llm"


class SettingsBase(BaseSettings):
    """The one settings scheme: ``TOG_<SECTION>_<FIELD>`` variables, over an optional ``TOG_CONFIG`` file.

    Precedence: values passed in code, then the environment, then the file, then the defaults.

    >>> SettingsBase(vlm={"max_tiles": 6}).vlm.max_tiles
    6
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="_",
        env_nested_max_split=1,
        env_ignore_empty=True,
        extra="ignore",
        validate_default=True,
    )

    vlm: VLMSettings = Field(
        default_factory=VLMSettings,
        description="InternVL for the vision tools: TOG_VLM_MODEL (checkpoint) or TOG_VLM_URL (server), ...",
    )
    llm: LLMSettings = Field(
        default_factory=LLMSettings,
        description="a separate text LLM for the text tools: TOG_LLM_URL, ...; unset, InternVL answers text",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        file = config_file_source(settings_cls)
        return (init_settings, env_settings) + ((file,) if file is not None else ())


def config_file() -> Path | None:
    """The settings file ``TOG_CONFIG`` names, if any."""
    value = os.environ.get(CONFIG_FILE_VARIABLE, "").strip()
    return Path(value).expanduser() if value else None


def config_file_source(settings_cls: type[BaseSettings]) -> PydanticBaseSettingsSource | None:
    """A source reading ``TOG_CONFIG``'s file (``.toml``, ``.yaml`` or ``.yml``); a missing or unknown
    file is an error that names it, not a silent default."""
    path = config_file()
    if path is None:
        return None
    if not path.is_file():
        raise ValueError(f"{CONFIG_FILE_VARIABLE}={str(path)!r}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        return TomlConfigSettingsSource(settings_cls, toml_file=path)
    if suffix in (".yaml", ".yml"):
        return YamlConfigSettingsSource(settings_cls, yaml_file=path)
    raise ValueError(f"{CONFIG_FILE_VARIABLE}={str(path)!r}: expected a .toml, .yaml or .yml file")


def raw_settings(settings_cls: type[BaseSettings]) -> dict[str, Any]:
    """What the file and the environment set, section by section, before validation (environment wins)."""
    merged: dict[str, Any] = {}
    file = config_file_source(settings_cls)
    for source in ((file,) if file is not None else ()) + (EnvSettingsSource(settings_cls),):
        for key, value in source().items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
    return merged


def settings_problem(error: ValidationError) -> str:
    """One line naming each setting that failed and why, e.g.
    ``TOG_VLM_MAX_TILES='lots': Input should be a valid integer…``."""
    problems = []
    for item in error.errors():
        name = env_name(*item["loc"]) if item["loc"] else "settings"
        problems.append(f"{name}={item.get('input')!r}: {item['msg']}")
    return "; ".join(problems)
