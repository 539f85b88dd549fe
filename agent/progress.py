"""Live terminal progress of an engine run, driven by its events (rich progress bar plus one line per change).

>>> from rich.console import Console
>>> progress = RunProgress(Console(file=open("/dev/null", "w")))
>>> progress.done, progress.total
(0, 0)
"""

from __future__ import annotations

from typing import Self

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agent.engine.events import EngineEvent, EventKind
from agent.result import AgentEvent

_SETTLED = {EventKind.ACTION_FINISHED, EventKind.ACTION_FAILED, EventKind.ACTION_CANCELLED}
_LINES = {
    EventKind.ACTION_FAILED: "[red]✗[/] subtask {subtask}: {tool} failed: {error}",
    EventKind.ACTION_RETRIED: "[yellow]↻[/] subtask {subtask}: {tool} retried ({message})",
    EventKind.SUBTASK_FALLBACK: "[yellow]⤷[/] subtask {subtask}: {message}",
    EventKind.SUBTASK_FINISHED: "[green]✓[/] subtask {subtask} done",
    EventKind.SUBTASK_FAILED: "[red]✗[/] subtask {subtask} failed: {error}",
    EventKind.SUBTASK_SKIPPED: "[dim]–[/] subtask {subtask} skipped: {error}",
}


class RunProgress:
    """An event sink (``engine.run(..., on_event=progress)``) that shows calls settled out of calls queued."""

    def __init__(self, console: Console, description: str = "running") -> None:
        self.console = console
        self.total = 0
        self.done = 0
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task = self._progress.add_task(description, total=None)

    def __enter__(self) -> Self:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def __call__(self, event: EngineEvent) -> None:
        if event.kind is EventKind.ACTION_QUEUED:
            self.total += 1
        elif event.kind in _SETTLED:
            self.done += 1
        line = _LINES.get(event.kind)
        if line is not None:
            error = (event.error or {}).get("message", "")
            self.console.print(
                line.format(
                    subtask=event.subtask, tool=event.tool, message=escape(event.message), error=escape(str(error))
                )
            )
        self._progress.update(
            self._task, total=self.total, completed=self.done, description=f"{event.tool or 'running'}"
        )


class AgentProgress(RunProgress):
    """Shows the pipeline's stages as they start and end, and its tool calls through :class:`RunProgress`."""

    def __init__(self, console: Console) -> None:
        super().__init__(console, "starting")

    def agent_event(self, event: AgentEvent) -> None:
        if event.kind == "stage_started":
            self._progress.update(self._task, description=event.stage)
        elif event.kind == "stage_finished":
            self.console.print(f"[dim]{event.stage}: {event.data.get('ms', 0):.0f} ms[/]")
        elif event.stage == "execute" and "seq" in event.data:  # an engine event (its own kind in the data)
            self(EngineEvent.model_validate(event.data))
