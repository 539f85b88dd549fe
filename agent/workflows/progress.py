"""Live terminal progress of a workflow run: the engine progress bar, with lines named by step.

>>> from rich.console import Console
>>> WorkflowProgress(Console(file=open("/dev/null", "w"))).total
0
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape

from agent.engine.events import EventKind
from agent.progress import _SETTLED, RunProgress
from agent.workflows.result import WorkflowEvent

_LINES = {
    "action_failed": "[red]✗[/] {step}: {tool} failed: {error}",
    "action_retried": "[yellow]↻[/] {step}: {tool} retried ({message})",
    "subtask_finished": "[green]✓[/] {step}",
    "step_skipped": "[dim]–[/] {step} skipped: {message}",
}


class WorkflowProgress(RunProgress):
    """A :class:`RunProgress` fed with workflow events (``on_event=progress.workflow_event``); ``labels``
    name the runs of a batch."""

    def __init__(self, console: Console, labels: Sequence[str] = ()) -> None:
        super().__init__(console, "starting")
        self.labels = list(labels)

    def workflow_event(self, event: WorkflowEvent) -> None:
        step = (event.step or "") + (f"[{event.item}]" if event.item is not None else "")
        if event.run is not None and self.labels:
            step = f"{self.labels[event.run]}: {step}"
        engine = event.engine
        if engine is not None:
            if engine.kind is EventKind.ACTION_QUEUED:
                self.total += 1
            elif engine.kind in _SETTLED:
                self.done += 1
            self._progress.update(self._task, total=self.total, completed=self.done, description=step or "running")
        line = _LINES.get(event.kind)
        if line is not None:
            error = ((engine.error if engine else None) or {}).get("message", "")
            self.console.print(
                line.format(
                    step=escape(step),
                    tool=engine.tool if engine else "",
                    message=escape(event.message),
                    error=escape(str(error)),
                )
            )
