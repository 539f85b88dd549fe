"""The small interface every execution backend implements, and the one function that runs a tool.

The scheduler decides *what* runs *when* (readiness, limits, deadlines, retries, fallback); a backend
only runs one tool call somewhere and reports back. Failures travel as :class:`Failure` records, not
exceptions, so they cross process boundaries (Ray) without losing their kind or details.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from tools.base import Tool
from tools.errors import ToolError, ToolExecutionError, ToolInputError, ToolUnavailableError

FailureKind = Literal["input", "execution", "unavailable", "timeout", "worker_lost", "internal"]

#: Exception types raised inside a tool that usually pass: a retry may succeed.
TRANSIENT = (ConnectionError, TimeoutError, BrokenPipeError)


class Failure(BaseModel):
    """Why a tool call failed, in a form that pickles and serialises."""

    kind: FailureKind
    type: str
    message: str
    retryable: bool = False
    details: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_exception(cls, exc: BaseException) -> Failure:
        kind: FailureKind
        retryable = False
        if isinstance(exc, ToolInputError):
            kind = "input"
        elif isinstance(exc, ToolUnavailableError):
            kind = "unavailable"
        elif isinstance(exc, ToolExecutionError):
            kind = "execution"
            retryable = exc.retryable or isinstance(exc.__cause__, TRANSIENT)
        elif isinstance(exc, ToolError):
            kind = "execution"
        elif isinstance(exc, TRANSIENT):
            kind, retryable = "execution", True
        else:
            kind = "internal"
        details = exc.to_dict()["details"] if isinstance(exc, ToolError) else {}
        message = exc.message if isinstance(exc, ToolError) else f"{type(exc).__name__}: {exc}"
        return cls(kind=kind, type=type(exc).__name__, message=message, retryable=retryable, details=details)


@dataclass(frozen=True)
class Produced:
    """Output ``name`` of an earlier call, held by the backend as ``handle`` (a dict, or a Ray ref)."""

    handle: Any
    name: str


@dataclass(frozen=True)
class Value:
    """A literal argument value."""

    value: Any


Binding = Produced | Value


@dataclass(frozen=True)
class ActionCall:
    """One attempt at one tool call."""

    call_id: str
    node: str
    tool: str
    args: Mapping[str, Binding]


@dataclass
class Outcome:
    """What one attempt did; ``handle`` holds the outputs (backend-specific) when it succeeded."""

    call_id: str
    ok: bool
    handle: Any = None
    failure: Failure | None = None
    started_at: float = 0.0
    ended_at: float = 0.0
    worker: str = ""
    transient_infra: bool = field(default=False)
    """The worker died or vanished: not the tool's fault, so it is retried elsewhere without counting."""


Report = Callable[[Outcome], None]


def invoke(
    tool: Tool, arguments: Mapping[str, Any], call_id: str, worker: str
) -> tuple[Outcome, dict[str, Any] | None]:
    """Run ``tool`` on resolved ``arguments``; never raises for a tool's failure."""
    started = time.time()
    try:
        outputs = tool(**arguments)
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return Outcome(
            call_id, False, failure=Failure.from_exception(exc), started_at=started, ended_at=time.time(), worker=worker
        ), None
    return Outcome(call_id, True, started_at=started, ended_at=time.time(), worker=worker), outputs


class ExecutionBackend(ABC):
    """Where tool calls run. Implementations: :class:`~agent.engine.local.LocalBackend`, RayBackend."""

    name: str = "backend"

    @abstractmethod
    def start(self, tools: Mapping[str, Tool]) -> None:
        """Prepare to run these tools (idempotent; called before every run with the run's tools)."""

    @abstractmethod
    def slot(self, tool: Tool) -> tuple[str, int]:
        """The concurrency group of ``tool`` and how many of its calls may run at once."""

    @abstractmethod
    def submit(self, call: ActionCall, report: Report) -> None:
        """Start ``call``; ``report`` is called exactly once, from any thread, unless it is cancelled."""

    @abstractmethod
    def cancel(self, call_id: str) -> None:
        """Stop a call that timed out or was cancelled, as far as the backend can; its report is ignored."""

    @abstractmethod
    def fetch(self, handle: Any, name: str) -> Any:
        """The value of output ``name`` of a successful call."""

    def close(self) -> None:
        """Release workers. The engine calls it once when it is closed."""
        return None

    def __enter__(self) -> ExecutionBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CallTable:
    """Thread-safe map of live call ids, shared by backends to drop reports of cancelled calls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[str, Any] = {}

    def add(self, call_id: str, value: Any = None) -> None:
        with self._lock:
            self._live[call_id] = value

    def pop(self, call_id: str) -> tuple[bool, Any]:
        with self._lock:
            if call_id in self._live:
                return True, self._live.pop(call_id)
            return False, None

    def replace(self, call_id: str, value: Any) -> bool:
        """Set the value of a live call; False if it is no longer live."""
        with self._lock:
            if call_id not in self._live:
                return False
            self._live[call_id] = value
            return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._live)
