"""Helpers every benchmark shares: quiet single-threaded timing, a machine line, the table, the JSON line.

Benchmarks print a human table first and a JSON object as the very last line of stdout, so scripts and
CI read the figures with ``tail -n 1`` while people read the table.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def single_thread_torch() -> None:
    """Pin torch to one thread: on a busy 2-core machine two threads make timings vary several-fold."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    torch.set_num_threads(1)


def machine() -> str:
    """One line naming the machine the figures come from."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def timed(call: Callable[[], T]) -> tuple[float, T | None, BaseException | None]:
    """Milliseconds one call took, with its result or the exception it raised (timed either way)."""
    started = time.perf_counter()
    try:
        value = call()
    except Exception as exc:
        return (time.perf_counter() - started) * 1000, None, exc
    return (time.perf_counter() - started) * 1000, value, None


def median(values: Iterable[float]) -> float:
    """Median, or NaN for no values (printed as ``-``), so empty groups never crash a report."""
    items = list(values)
    return statistics.median(items) if items else float("nan")


def fmt(value: float | int | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A rich table on stdout (plain text when stdout is not a terminal)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    Console(width=max(120, len(columns) * 14)).print(table)


def emit_json(figures: dict[str, Any]) -> None:
    """The machine-readable summary: always the very last line of stdout."""
    print(json.dumps(_finite(figures), sort_keys=True, allow_nan=False), flush=True)


def _finite(value: Any) -> Any:
    """NaN (a median of nothing) becomes ``null``: JSON has no NaN."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
