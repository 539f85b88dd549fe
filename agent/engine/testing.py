"""Small real tools for exercising the engine: delays, failures, hangs, and where a call ran.

They are importable by module path, so they pickle by reference into Ray workers; tests and
``benchmarks/engine.py`` build a :class:`~tools.registry.ToolRegistry` from :data:`TOOLS`. None of them
pretends to be a model: they only wait, fail or report their process and device.

    >>> append(text="a", suffix="b")
    {'result': 'ab'}
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from graph.plan import Action, Plan, Solution
from graph.types import ResourceType
from tools.annotations import Number, Text
from tools.base import tool
from tools.devices import current_device
from tools.errors import ToolExecutionError
from tools.registry import ToolRegistry


@tool
def append(text: str, suffix: str = "") -> str:
    """Append a suffix to a text."""
    return text + suffix


@tool
def join_texts(first: str, second: Text) -> str:
    """Join two texts with a plus sign, keeping their order."""
    return f"{first}+{second}"


@tool
def wait(text: str, seconds: Number = 0.0) -> str:
    """Wait a number of seconds on the CPU, then return the text with '.' appended."""
    time.sleep(seconds)
    return text + "."


@tool(device="gpu")
def gpu_wait(text: str, seconds: Number = 0.0) -> str:
    """Hold a GPU slot for a number of seconds (a stand-in for a model call), then return the text with '!'."""
    time.sleep(seconds)
    return text + "!"


@tool
def always_fail(text: str) -> str:
    """Fail every time with a non-retryable error: the engine must fall back, not retry."""
    raise ToolExecutionError(f"always_fail refuses {text!r}", retryable=False)


@tool
def flaky(text: str, counter: Text, failures: Number = 1) -> str:
    """Fail with a retryable error the first `failures` times (counted in the file `counter`), then succeed."""
    path = Path(counter)
    seen = int(path.read_text()) if path.exists() else 0
    path.write_text(str(seen + 1))
    if seen < failures:
        raise ToolExecutionError(f"flaky: transient failure {seen + 1} of {int(failures)}", retryable=True)
    return text + "~"


@tool
def hang(text: str, seconds: Number = 30.0) -> str:
    """Sleep far longer than any sane timeout (the engine must time it out), then return the text."""
    time.sleep(seconds)
    return text


@tool(device="gpu")
def where_am_i(text: str, seconds: Number = 0.0) -> str:
    """Report (as JSON) the process, the CUDA_VISIBLE_DEVICES it sees and the engine's device for the call."""
    time.sleep(seconds)
    return json.dumps(
        {
            "text": text,
            "pid": os.getpid(),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "device": current_device(),
        }
    )


TOOLS = (append, join_texts, wait, gpu_wait, always_fail, flaky, hang, where_am_i)


def registry() -> ToolRegistry:
    return ToolRegistry(TOOLS)


def subtask(index: int, description: str, *inputs: tuple[str, Any], deps: Sequence[int] = ()) -> dict[str, Any]:
    """A text-returning subtask in ControlLLM's JSON shape.

    An input ``("text", "<GENERATED>-0")`` is subtask 0's result.
    """
    return {
        "id": index,
        "description": description,
        "dep": list(deps),
        "args": [{"type": t, "value": v} for t, v in inputs],
        "returns": [{"type": "text"}],
    }


def plan(*subtasks: dict[str, Any]) -> Plan:
    return Plan.parse({"request": "; ".join(s["description"] for s in subtasks), "subtasks": list(subtasks)})


def step(action_id: str, tool_name: str, **args: str) -> Action:
    """An action of one of :data:`TOOLS`; ``args`` are resource keys (``input:0``, ``a0.result``)."""
    return Action(id=action_id, tool=tool_name, args=args, outputs={"result": ResourceType.TEXT})


def solution(subtask_id: int, *actions: Action, output: str | None = None) -> Solution:
    """A solution whose result is ``output`` (default: the last action's result)."""
    return Solution(subtask_id=subtask_id, actions=list(actions), outputs=[output or actions[-1].output_key("result")])
