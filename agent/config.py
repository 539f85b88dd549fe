"""One settings model for ToG, read from ``TOG_*`` environment variables (or passed explicitly).

Later stages (vlm backends, engine, REST) add their fields here so a deployment is configured in one
place. Nothing here downloads weights: a model is used only when the user names one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from agent.engine.config import EngineConfig
from agent.server.config import ServerSettings
from graph.search import SearchConfig, Strategy
from tools.model_settings import LLMSettings, VLMSettings


class ToGSettings(BaseSettings):
    """Deployment settings.

    >>> ToGSettings(strategy="beam").search_config().strategy.value
    'beam'
    """

    model_config = SettingsConfigDict(env_prefix="TOG_", env_nested_delimiter="__", extra="ignore")

    data_dir: Path = Field(default=Path(".tog"), description="SQLite database and artifact store live here")
    assessor: Literal["embedding", "uniform", "llm"] = "embedding"
    strategy: Strategy = Strategy.ADAPTIVE
    max_depth: int = Field(default=5, ge=1, le=12)
    beam_width: int = Field(default=3, ge=1)
    threshold: float = Field(default=0.25, ge=0.0, le=1.0)
    top_k: int = Field(default=5, ge=1)
    decomposer: Literal["offline", "llm"] = Field(
        default="offline", description="offline (no model) or llm (the configured LLM, TOG_LLM_* / TOG_VLM_*)"
    )
    engine: EngineConfig = Field(default_factory=EngineConfig, description="execution: TOG_ENGINE__BACKEND=ray, ...")
    server: ServerSettings = Field(
        default_factory=ServerSettings,
        description="REST server (tog serve): TOG_SERVER_PORT, TOG_API_KEYS, limits, ...",
    )

    def search_config(self) -> SearchConfig:
        return SearchConfig(
            strategy=self.strategy,
            max_depth=self.max_depth,
            beam_width=self.beam_width,
            threshold=self.threshold,
            top_k=self.top_k,
        )

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "artifacts"

    # The models behind the tools. Defined in tools.model_settings (tools must not import agent) and read
    # by tools.models; each reads its own TOG_VLM_<FIELD> / TOG_LLM_<FIELD> variables.
    vlm: VLMSettings = Field(
        default_factory=VLMSettings,
        description="InternVL for the vision tools: TOG_VLM_MODEL (checkpoint) or TOG_VLM_URL (server), ...",
    )
    llm: LLMSettings = Field(
        default_factory=LLMSettings,
        description="a separate text LLM for the text tools: TOG_LLM_URL, ...; unset, InternVL answers text",
    )
