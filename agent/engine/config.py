"""Engine settings: which backend, how many workers, timeouts, retries, GPU shares.

They are a nested part of :class:`agent.config.ToGSettings` (``TOG_ENGINE_BACKEND=ray``,
``TOG_ENGINE_MAX_RETRIES=3``), and can be built directly for library use.

    >>> EngineConfig(backend="local", max_retries=1).timeout_for("caption_image")
    300.0
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RayConfig(BaseModel):
    """How ToG uses Ray. With no ``address`` a local cluster is started with ``num_cpus``/``num_gpus``."""

    model_config = ConfigDict(extra="forbid")

    address: str | None = Field(default=None, description="join this cluster (e.g. 'auto' or 'ray://host:10001')")
    num_cpus: int | None = Field(default=None, ge=1, description="CPUs of a locally started cluster")
    num_gpus: int | None = Field(
        default=None, ge=0, description="GPUs of a locally started cluster (logical ones work)"
    )
    gpus_per_worker: dict[str, float] = Field(
        default_factory=dict,
        description="GPU share of one actor of a tool family (0.5 = two actors per GPU); default 1",
    )
    workers: dict[str, int] = Field(
        default_factory=dict, description="actors per tool family; default: as many as the GPUs allow, at least 1"
    )
    cpus_per_task: float = Field(default=1.0, gt=0, description="num_cpus of a CPU tool's Ray task")
    cpus_per_actor: float = Field(default=1.0, ge=0, description="num_cpus of a GPU worker actor")
    placement: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="custom Ray resources a family's actors require, e.g. {'vlm': {'big_gpu': 1}}",
    )
    max_worker_restarts: int = Field(default=3, ge=0, description="replacements of a dead actor per family")


class EngineConfig(BaseModel):
    """Execution settings shared by every backend."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["local", "ray"] = "local"
    max_workers: int = Field(default=8, ge=1, description="threads of the local backend")
    timeout_s: float | None = Field(default=300.0, gt=0, description="per-action timeout; None = wait forever")
    tool_timeouts: dict[str, float] = Field(default_factory=dict, description="per-tool overrides of timeout_s")
    max_retries: int = Field(default=2, ge=0, description="retries of a transient failure (not of bad input)")
    tool_retries: dict[str, int] = Field(default_factory=dict, description="per-tool overrides of max_retries")
    retry_backoff_s: float = Field(default=0.2, ge=0, description="first retry delay; doubles each time")
    retry_backoff_max_s: float = Field(default=5.0, ge=0)
    retry_timeouts: bool = Field(default=False, description="treat a timed-out action as transient")
    fallback: bool = Field(default=True, description="on a subtask's failure, run its next-ranked solution")
    tool_concurrency: dict[str, int] = Field(
        default_factory=dict, description="at most this many concurrent calls of a tool (overrides the backend)"
    )
    devices: list[str] = Field(
        default_factory=list,
        description="local devices for GPU-hinted tools (e.g. ['cuda:0', 'cuda:1']); "
        "default: all CUDA devices, else cpu",
    )
    ray: RayConfig = Field(default_factory=RayConfig)

    def timeout_for(self, tool: str) -> float | None:
        return self.tool_timeouts.get(tool, self.timeout_s)

    def retries_for(self, tool: str) -> int:
        return self.tool_retries.get(tool, self.max_retries)

    def backoff(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (1-based)."""
        return min(self.retry_backoff_s * 2.0 ** (attempt - 1), self.retry_backoff_max_s)
