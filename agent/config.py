"""ToG's settings: one model, one naming scheme, ``TOG_<SECTION>_<FIELD>``.

Sections: ``agent`` (planning and the data directory), ``engine`` (execution), ``server`` (``tog serve``),
``vlm`` (InternVL) and ``llm`` (a separate text model). Values come from, in order of precedence: code
(``ToGSettings(agent={"strategy": "beam"})``), the environment (``TOG_AGENT_STRATEGY=beam``), the TOML or
YAML file ``TOG_CONFIG`` names (``[agent] strategy = "beam"``), and the defaults. Dict and list fields take
JSON (``TOG_ENGINE_TOOL_TIMEOUTS='{"caption_image": 60}'``); lists of words also take commas
(``TOG_SERVER_API_KEYS=key1,key2``). ``tog config`` prints every effective value and where it came from.

Nothing here downloads weights: a model is used only when the user names one.

    >>> ToGSettings(agent={"strategy": "beam"}).agent.search_config().strategy.value
    'beam'
"""

from __future__ import annotations

import difflib
import logging
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.engine.config import EngineConfig
from agent.server.config import ServerSettings
from graph.search import SearchConfig, Strategy
from tools.model_settings import CONFIG_FILE_VARIABLE, ENV_PREFIX, SettingsBase, env_name

logger = logging.getLogger(__name__)

#: ``TOG_*`` variables that are not settings (read by tests and tools directly).
NOT_SETTINGS = frozenset({CONFIG_FILE_VARIABLE, "TOG_TEST_ARTIFACTS"})


class AgentSettings(BaseModel):
    """How the agent plans: the assessor, the ToG strategy and its bounds, the decomposer, where data lives."""

    model_config = ConfigDict(extra="forbid")

    data_dir: Path = Field(default=Path(".tog"), description="SQLite database and artifact store live here")
    assessor: Literal["embedding", "uniform", "llm"] = Field(
        default="embedding",
        description="scores candidate tools: embedding (MiniLM), uniform, or llm (one batched call per subtask)",
    )
    strategy: Strategy = Field(default=Strategy.ADAPTIVE, description="ToG search: greedy, beam, adaptive, exhaustive")
    max_depth: int = Field(default=5, ge=1, le=12, description="longest tool chain per subtask")
    beam_width: int = Field(default=3, ge=1, description="tools kept per step by the beam strategy")
    threshold: float = Field(default=0.25, ge=0.0, le=1.0, description="lowest score the adaptive strategy expands")
    top_k: int = Field(default=5, ge=1, description="ranked solutions kept per subtask (fallbacks)")
    decomposer: Literal["offline", "llm"] = Field(
        default="offline", description="offline (no model) or llm (the configured LLM, TOG_LLM_* / TOG_VLM_*)"
    )
    max_request_chars: int = Field(
        default=20_000, ge=1, description="longest request text, for the CLI, Python and REST alike"
    )
    max_subtasks: int = Field(default=16, ge=1, description="most subtasks one request may be decomposed into")
    max_tool_calls: int = Field(default=64, ge=1, description="most tool calls the plan of one task may make")
    cache_dir: Path | None = Field(
        default=None,
        description="cached tool-text embeddings; default $XDG_CACHE_HOME/tog, else ~/.cache/tog",
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


class ToGSettings(SettingsBase):
    """Deployment settings: every section of the ``TOG_<SECTION>_<FIELD>`` scheme.

    The ``vlm`` and ``llm`` sections are defined in :mod:`tools.model_settings` (the tools read them
    without importing the agent); this class adds the agent's own.
    """

    agent: AgentSettings = Field(default_factory=AgentSettings, description="planning and the data directory")
    engine: EngineConfig = Field(default_factory=EngineConfig, description="execution: TOG_ENGINE_BACKEND=ray, ...")
    server: ServerSettings = Field(
        default_factory=ServerSettings, description="REST server (tog serve): TOG_SERVER_PORT, TOG_SERVER_API_KEYS"
    )

    def model_post_init(self, context: Any, /) -> None:
        for name, hint in unknown_variables(type(self)).items():
            logger.warning("%s is not a ToG setting and is ignored%s", name, f" (did you mean {hint}?)" if hint else "")


def setting_names(settings_cls: type[SettingsBase] = ToGSettings) -> list[str]:
    """Every ``TOG_<SECTION>_<FIELD>`` variable the settings read."""
    names: list[str] = []
    for section, field in settings_cls.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names.extend(env_name(section, name) for name in annotation.model_fields)
    return names


def unknown_variables(settings_cls: type[SettingsBase] = ToGSettings) -> dict[str, str]:
    """``TOG_*`` variables in the environment that no setting reads, each with the nearest real name
    (``TOG_STRATEGY`` → ``TOG_AGENT_STRATEGY``) or ``""``, so a misspelt or outdated name is not silently
    ignored."""
    known = setting_names(settings_cls)
    unknown: dict[str, str] = {}
    for name in os.environ:
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in NOT_SETTINGS or upper in known:
            continue
        tail = upper.removeprefix(ENV_PREFIX).replace("__", "_")
        suffix_matches = [k for k in known if k.endswith("_" + tail)]
        close = suffix_matches or difflib.get_close_matches(ENV_PREFIX + tail, known, n=1, cutoff=0.75)
        unknown[name] = close[0] if close else ""
    return unknown
