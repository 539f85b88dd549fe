"""Settings for the models behind the tools: the InternVL backend (``TOG_VLM_*``) and the text LLM
(``TOG_LLM_*``).

One definition serves both readers: :mod:`tools.models` builds its backends from these classes, and
:class:`agent.config.ToGSettings` holds them as its ``vlm`` and ``llm`` fields, so a deployment's model
is configured, validated and documented in one place. They live in ``tools`` because the dependency
runs ``graph`` ← ``tools`` ← ``agent``: the tools must not import the agent's settings.

Each class reads its own environment variables (prefix plus field name, any case; empty means unset)::

    >>> VLMSettings(model="OpenGVLab/InternVL3-8B-hf").max_tiles
    24
    >>> VLMSettings.env_name("max_tiles")
    'TOG_VLM_MAX_TILES'

Nothing set means no model; nothing here downloads or contacts anything.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from vlm.images import MAX_TILES_CAP

__all__ = ["DEFAULT_MAX_TILES", "LLMSettings", "ModelSettings", "VLMSettings", "settings_problem"]

#: Tile ceiling of backends built from settings: enough for the document tools' 24 tiles.
DEFAULT_MAX_TILES = 24


class ModelSettings(BaseSettings):
    """What both model settings share: an OpenAI-compatible server, its key and its model id."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, env_ignore_empty=True, str_strip_whitespace=True)

    url: str = Field(default="", description="an OpenAI-compatible chat server (http:// or https://)")
    api_key: SecretStr = Field(default=SecretStr(""), description="bearer token for the server, if it wants one")
    served_model: str = Field(default="", description="the model id on the server; by default the server's first")

    @classmethod
    def env_name(cls, field: str) -> str:
        """The environment variable that sets ``field``."""
        return f"{cls.model_config.get('env_prefix', '')}{field}".upper()


class VLMSettings(ModelSettings):
    """The InternVL model the vision tools use (and the text tools, when no separate LLM is set)."""

    model_config = SettingsConfigDict(env_prefix="TOG_VLM_")

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

    model_config = SettingsConfigDict(env_prefix="TOG_LLM_")


def settings_problem(cls: type[ModelSettings], error: ValidationError) -> str:
    """One line naming each environment variable that failed and why, e.g.
    ``TOG_VLM_MAX_TILES='lots': Input should be a valid integer…``."""
    problems = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "settings"
        problems.append(f"{cls.env_name(field)}={item.get('input')!r}: {item['msg']}")
    return "; ".join(problems)
