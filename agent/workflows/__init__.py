"""Scripted workflows: declarative, type-checked, parallel, reusable tool pipelines (YAML files).

``Workflow.load("redact.yaml").run({"image": "photo.jpg"}).save_to("out/")``; ``tog run`` and
``tog validate`` on the command line; :func:`export_workflow` turns an agent run into a workflow.
"""

from __future__ import annotations

from agent.workflows.errors import (
    Problem,
    WorkflowError,
    WorkflowExportError,
    WorkflowFailedError,
    WorkflowInputError,
    WorkflowUnavailableError,
    WorkflowValidationError,
)
from agent.workflows.export import export_workflow, workflow_yaml
from agent.workflows.model import WorkflowSpec, json_schema
from agent.workflows.result import OutputValue, StepRecord, WorkflowEvent, WorkflowResult
from agent.workflows.workflow import Workflow, run_workflow

__all__ = [
    "OutputValue",
    "Problem",
    "StepRecord",
    "Workflow",
    "WorkflowError",
    "WorkflowEvent",
    "WorkflowExportError",
    "WorkflowFailedError",
    "WorkflowInputError",
    "WorkflowResult",
    "WorkflowSpec",
    "WorkflowUnavailableError",
    "WorkflowValidationError",
    "export_workflow",
    "json_schema",
    "run_workflow",
    "workflow_yaml",
]
