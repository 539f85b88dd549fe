"""The Python API: ``Agent().run("blur the faces", files=["photo.jpg"])``.

An :class:`Agent` owns the tool registry, planner, engine, artifact store and the LangGraph pipeline with
its SQLite checkpointer (``<data_dir>/runs.sqlite``), so a run can be resumed by id after a crash.
Results are :class:`~agent.result.AgentResult` objects holding artifact ids; ``result.save_to(dir,
agent.store)`` writes the files.

    >>> import tempfile
    >>> class CountIt(Decomposer):  # a scripted decomposer: one counting subtask over what was given
    ...     def decompose(self, request, resources=()):
    ...         return Plan.parse({"request": request, "subtasks": [{"id": 0, "description": request,
    ...             "args": [r.ref().model_dump() for r in resources], "returns": [{"type": "number"}]}]})
    >>> agent = Agent(ToGSettings(agent={"data_dir": tempfile.mkdtemp(), "assessor": "uniform"}), decomposer=CountIt())
    >>> result = agent.run("count the boxes", resources=[Resource(name="boxes", type="bboxes",
    ...     value=[{"x1": 0, "y1": 0, "x2": 4, "y2": 4}, {"x1": 5, "y1": 5, "x2": 9, "y2": 9}])])
    >>> result.status, result.answer
    ('succeeded', '1. count the boxes (count_boxes): 2')
    >>> agent.close()
"""

from __future__ import annotations

import asyncio
import csv
import gc
import io
import itertools
import json
import logging
import queue
import sqlite3
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from agent.bounds import check_request_length
from agent.config import ToGSettings
from agent.decompose.base import Decomposer, Resource
from agent.engine import Engine
from agent.engine.backend import ExecutionBackend
from agent.inputs import STRING_TYPES, FileArg, InputSpecError, check_path, type_for_file
from agent.outcomes import EMPTY
from agent.params import OfflineParameterFiller, ParameterFiller
from agent.planning import build_planner
from agent.respond import Responder, default_responder
from agent.result import AgentEvent, AgentResult, Artifact, SubtaskOutcome
from graph import sniff
from graph.artifacts import ArtifactStore
from graph.errors import EmptyRequestError, InvalidArtifactError, ToGError
from graph.plan import Plan, Solution
from graph.types import FILE_TYPES, ResourceType, resolve_type
from tools.models import llm_status
from tools.registry import ToolRegistry, default_registry

logger = logging.getLogger(__name__)

#: What :meth:`Agent.warm` decomposes and plans: a two-step image request, like most first requests.
WARM_REQUEST = "find the faces in photo.jpg and blur them"


class InputFileError(ToGError, ValueError):
    code = "invalid_input_file"


class RunNotFoundError(ToGError, KeyError):
    code = "run_not_found"

    def __str__(self) -> str:
        return self.message


def default_decomposer(settings: ToGSettings) -> Decomposer:
    """The decomposer the settings name: ``offline`` needs no model; ``llm`` uses the configured LLM
    (``TOG_LLM_URL``, else InternVL through ``TOG_VLM_*``) with schema-constrained output."""
    if settings.agent.decomposer == "llm":
        from agent.decompose.llm import LLMDecomposer
        from tools.models import get_llm

        return LLMDecomposer(get_llm())
    from agent.decompose.offline import OfflineDecomposer

    return OfflineDecomposer()


def _models_differ_from_environment(settings: ToGSettings) -> bool:
    from tools.model_settings import LLMSettings, VLMSettings

    return settings.vlm != VLMSettings.from_environment() or settings.llm != LLMSettings.from_environment()


class Agent:
    """Decompose, plan, execute and answer requests. Close it (or use ``with``) to stop its workers."""

    def __init__(
        self,
        settings: ToGSettings | None = None,
        *,
        registry: ToolRegistry | None = None,
        decomposer: Decomposer | None = None,
        responder: Responder | None = None,
        filler: ParameterFiller | None = None,
        backend: ExecutionBackend | None = None,
        store: ArtifactStore | None = None,
    ) -> None:
        from agent.pipeline import Stages, build_graph

        self._own_model_settings = False
        if settings is not None and _models_differ_from_environment(settings):
            # The tools' model provider is per process and reads TOG_VLM_* / TOG_LLM_* by default; model
            # settings given in code must reach it before the registry decides which tools are available.
            from tools.models import use_settings

            use_settings(settings.vlm, settings.llm)
            self._own_model_settings = True
        self.settings = settings or ToGSettings()
        self._previous_cache_dir: tuple[Path | None] | None = None
        if self.settings.agent.cache_dir is not None:  # the shared embedder's vectors live there
            from graph.embedding import set_cache_dir

            self._previous_cache_dir = (set_cache_dir(self.settings.agent.cache_dir),)
        self.registry = registry or default_registry()
        self.store = store or ArtifactStore(self.settings.agent.artifacts_dir)
        self.planner = build_planner(self.registry.tool_graph(), self.settings)
        self.engine = Engine(self.registry, self.settings.engine, backend=backend, store=self.store)
        self._stages = Stages(
            registry=self.registry,
            decomposer=decomposer or default_decomposer(self.settings),
            planner=self.planner,
            filler=filler or OfflineParameterFiller(self.registry),
            engine=self.engine,
            responder=responder or default_responder(llm_status()[0], self.registry),
            store=self.store,
            max_subtasks=self.settings.agent.max_subtasks,
            max_tool_calls=self.settings.agent.max_tool_calls,
        )
        self.settings.agent.data_dir.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.settings.agent.data_dir / "runs.sqlite", check_same_thread=False)
        from langgraph.checkpoint.sqlite import SqliteSaver

        self._graph = build_graph(self._stages, checkpointer=SqliteSaver(self._db))

    def warm(self) -> float:
        """Do now what the first request would otherwise wait for; returns the milliseconds it took.

        Loads the embedding model, reads the catalogue's vectors (from the disk cache, or embeds and
        caches them), and decomposes, plans and checks (:mod:`agent.answerability`) :data:`WARM_REQUEST` once
        so the decomposer's, the planner's and the check's lazily built state (graph, feasibility checks,
        per-domain indexes, the planner over every tool) exists, then freezes
        what is alive out of the garbage collector's reach (:func:`gc.freeze`). Nothing is stored or run.
        The REST server calls it at start-up; a one-shot ``tog ask`` gains nothing from it.
        """
        from graph.assessors import EmbeddingAssessor
        from graph.types import ResourceType

        started = time.perf_counter()
        assessor = self.planner.assessor
        embedding = isinstance(assessor, EmbeddingAssessor)
        if isinstance(assessor, EmbeddingAssessor):
            assessor.warm(self.planner.graph.specs)
        # The check before running embeds every tool's text, unavailable ones too, and the cues' glosses; warmed
        # with the model the planner loads anyway (a uniform assessor's agent loads no model here).
        check = self._stages.answerability() if self._stages.check_answerable and embedding else None
        if check is not None:
            check.warm()
            check.claimed()
        if getattr(self._stages.decomposer, "name", "") == "offline":  # a model-free decomposer: cheap to try
            photo = Resource(name="photo.jpg", type=ResourceType.IMAGE, value="warm-up")
            try:
                plan = self._stages.decomposer.decompose(WARM_REQUEST, [photo])
                for subtask in plan.subtasks:
                    solutions = self.planner.search(subtask).solutions
                    if check is not None:  # its planner over every tool, built on first use
                        check.check_subtask(subtask, solutions)
            except ToGError as exc:  # a catalogue without face tools: still warm enough
                logger.info("warm-up request not planned: %s", exc)
        # What is alive now (the model, vectors, indexes) lives as long as the process: moved out of the
        # collector's generations, a full collection no longer rescans ~200,000 objects (~80 ms) in the
        # middle of some later request.
        gc.collect()
        gc.freeze()
        return (time.perf_counter() - started) * 1000

    # --- inputs -----------------------------------------------------------------------------------------

    def add_files(self, files: Sequence[FileArg]) -> list[tuple[Resource, Artifact]]:
        """Put files into the store as typed resources (type from the name: ``photo.jpg`` -> image, or as given
        in a ``(path, type)`` pair). A file of a value type (``notes.txt``: text, ``.json``) is read: its
        content is the resource's value.

        Every file is checked first (exists, is a file, readable, type known), so a bad one stores none of
        them; every error names the file as the caller wrote it, never a path inside the store.
        """
        given: list[tuple[Path, ResourceType]] = []
        for item in files:
            raw, declared = item if isinstance(item, tuple) else (item, None)
            path = Path(raw)
            try:
                check_path(path, str(raw))
            except InputSpecError as exc:
                raise InputFileError(exc.message, path=str(raw)) from None
            given.append((path, resolve_type(declared) if declared is not None else type_for_file(path)))
        for path, rtype in given:
            _check_content(path, rtype)
        added = []
        for path, rtype in given:
            if rtype in FILE_TYPES:
                try:
                    meta = self.store.put_file(path, rtype)
                except InvalidArtifactError as exc:  # an image that does not decode: say which file
                    raise InputFileError(
                        f"{str(path)!r} is not a readable {rtype.value}", path=str(path), reason=exc.message
                    ) from None
                value: Any = meta.id
            else:
                value = _read_value(path, rtype)
                meta = self.store.put_json(value, rtype)
            added.append(
                (
                    Resource(name=path.name, type=rtype, value=value),
                    Artifact(id=meta.id, type=rtype, mime=meta.mime, role="input", name=path.name),
                )
            )
        return added

    def _inputs(
        self, request: str, files: Sequence[FileArg], resources: Sequence[Resource], run_id: str | None, **extra: Any
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        if not request or not request.strip():
            raise EmptyRequestError("the request is empty: say what you want done")
        check_request_length(request, self.settings.agent.max_request_chars)  # before any file is stored
        added = self.add_files(files)
        given = [*(r for r, _ in added), *resources]
        run_id = run_id or uuid.uuid4().hex[:16]
        state = {
            "run_id": run_id,
            "request": request,
            "resources": [r.model_dump(mode="json") for r in given],
            "inputs": [a.model_dump(mode="json") for _, a in added],
            "replans": 0,
            **extra,
        }
        return state, {"configurable": {"thread_id": run_id}}

    # --- running ----------------------------------------------------------------------------------------

    def run(
        self,
        request: str,
        files: Sequence[FileArg] = (),
        resources: Sequence[Resource] = (),
        *,
        run_id: str | None = None,
    ) -> AgentResult:
        """Do what the request asks; returns the result (partial results included, see ``status``)."""
        *_, last = self.stream(request, files, resources, run_id=run_id)
        return self.result(last.run_id)

    def plan(
        self,
        request: str,
        files: Sequence[FileArg] = (),
        resources: Sequence[Resource] = (),
        *,
        run_id: str | None = None,
    ) -> AgentResult:
        """Decompose and plan only (status ``planned``)."""
        state, config = self._inputs(request, files, resources, run_id, mode="plan")
        self._graph.invoke(state, config)
        return self.result(state["run_id"])

    def execute(
        self,
        plan: Plan,
        solutions: Mapping[int, Sequence[Solution]] | None = None,
        *,
        resources: Sequence[Resource] = (),
        run_id: str | None = None,
    ) -> AgentResult:
        """Run a given plan (planning any subtask without ``solutions``) and answer."""
        extra: dict[str, Any] = {"plan": plan.model_dump(mode="json")}
        if solutions:
            extra["solutions"] = {str(k): [s.model_dump(mode="json") for s in v] for k, v in solutions.items()}
        state, config = self._inputs(plan.request, (), resources, run_id, **extra)
        self._graph.invoke(state, config)
        return self.result(state["run_id"])

    def stream(
        self,
        request: str,
        files: Sequence[FileArg] = (),
        resources: Sequence[Resource] = (),
        *,
        run_id: str | None = None,
    ) -> Iterator[AgentEvent]:
        """Run and yield progress events as they happen; the last one is ``kind == "run_finished"``."""
        state, config = self._inputs(request, files, resources, run_id)
        return self._events(state, config)

    def resume(self, run_id: str) -> AgentResult:
        """Finish a run that was interrupted (the process died, a stage raised) from its last saved stage."""
        config = {"configurable": {"thread_id": run_id}}
        snapshot = self._graph.get_state(config)
        if not snapshot.values:
            raise RunNotFoundError(f"no run with id {run_id!r}", run_id=run_id)
        if snapshot.next:
            for _ in self._events(None, config, run_id=run_id):
                pass
        return self.result(run_id)

    def _events(
        self, state: dict[str, Any] | None, config: dict[str, Any], run_id: str | None = None
    ) -> Iterator[AgentEvent]:
        run_id = run_id or (state or {})["run_id"]
        seq = itertools.count(1)
        for chunk in self._graph.stream(state, config, stream_mode="custom"):
            yield AgentEvent(
                run_id=run_id,
                seq=next(seq),
                stage=chunk["stage"],
                kind=chunk["kind"],
                time=time.time(),
                data=chunk.get("data", {}),
            )
        yield AgentEvent(
            run_id=run_id,
            seq=next(seq),
            stage="done",
            kind="run_finished",
            time=time.time(),
            data={"status": self.result(run_id).status},
        )

    def cancel(self, run_id: str) -> None:
        """Stop a run in progress (thread-safe): pending tool calls never start, later stages are skipped."""
        self._stages.cancel(run_id)

    def result(self, run_id: str) -> AgentResult:
        """The result of a run so far, from its checkpoint."""
        values = self._graph.get_state({"configurable": {"thread_id": run_id}}).values
        if not values or "run_id" not in values:  # none yet, or a run so new that its input is not saved yet
            raise RunNotFoundError(f"no run with id {run_id!r}", run_id=run_id)
        return _result(values)

    # --- async ------------------------------------------------------------------------------------------

    async def arun(
        self,
        request: str,
        files: Sequence[FileArg] = (),
        resources: Sequence[Resource] = (),
        *,
        run_id: str | None = None,
    ) -> AgentResult:
        return await asyncio.to_thread(self.run, request, files, resources, run_id=run_id)

    async def aplan(
        self,
        request: str,
        files: Sequence[FileArg] = (),
        resources: Sequence[Resource] = (),
        *,
        run_id: str | None = None,
    ) -> AgentResult:
        return await asyncio.to_thread(self.plan, request, files, resources, run_id=run_id)

    async def aexecute(
        self,
        plan: Plan,
        solutions: Mapping[int, Sequence[Solution]] | None = None,
        *,
        resources: Sequence[Resource] = (),
        run_id: str | None = None,
    ) -> AgentResult:
        return await asyncio.to_thread(self.execute, plan, solutions, resources=resources, run_id=run_id)

    async def astream(
        self,
        request: str,
        files: Sequence[FileArg] = (),
        resources: Sequence[Resource] = (),
        *,
        run_id: str | None = None,
    ) -> AsyncIterator[AgentEvent]:
        """Events as they happen, without blocking the event loop (the run works on a thread)."""
        events: queue.SimpleQueue[AgentEvent | BaseException | None] = queue.SimpleQueue()

        def work() -> None:
            try:
                for event in self.stream(request, files, resources, run_id=run_id):
                    events.put(event)
                events.put(None)
            except BaseException as exc:  # re-raised in the caller's task
                events.put(exc)

        threading.Thread(target=work, daemon=True).start()
        while True:
            item = await asyncio.to_thread(events.get)
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self.engine.close()
        self._db.close()
        if self._previous_cache_dir is not None:  # back to the cache directory before this agent
            from graph.embedding import set_cache_dir

            set_cache_dir(self._previous_cache_dir[0])
            self._previous_cache_dir = None
        if self._own_model_settings:  # back to the environment's models for whatever runs next
            from tools.models import use_settings

            use_settings()
            self._own_model_settings = False

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_content(path: Path, rtype: ResourceType) -> None:
    """Refuse audio or video whose first bytes are no such file (a text file named ``talk.mp3``)."""
    try:
        with path.open("rb") as f:
            head = f.read(sniff.HEAD_BYTES)
    except OSError as exc:
        raise InputFileError(f"cannot read {str(path)!r}: {exc.strerror or exc}", path=str(path)) from None
    if sniff.matches(head, rtype) is False:
        raise InputFileError(
            f"{str(path)!r} is not {rtype.value}: its content is no {rtype.value} format this agent knows",
            path=str(path),
            type=rtype.value,
        )


def _read_value(path: Path, rtype: ResourceType) -> Any:
    """The value of a file of a value type: its text for text-like types, else its parsed JSON."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputFileError(
            f"{str(path)!r} is not UTF-8 text, so it cannot be a {rtype.value}", path=str(path)
        ) from None
    except OSError as exc:
        raise InputFileError(f"cannot read {str(path)!r}: {exc.strerror or exc}", path=str(path)) from None
    if rtype is ResourceType.TABLE and path.suffix.lower() == ".csv":
        return [dict(row) for row in csv.DictReader(io.StringIO(text))]
    if rtype in STRING_TYPES:
        if not text.strip():
            raise InputFileError(f"{str(path)!r} is empty", path=str(path))
        return text
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InputFileError(
            f"{str(path)!r} is not JSON, so it cannot be a {rtype.value}: {exc}", path=str(path)
        ) from None


def _result(values: Mapping[str, Any]) -> AgentResult:
    """The result a run's saved state stands for. A run whose tools all succeeded but whose asked-for result
    is empty (:mod:`agent.empty`, found by the respond stage) is ``empty``, not ``succeeded``."""
    plan = Plan.model_validate(values["plan"]) if values.get("plan") else None
    outcomes = [
        SubtaskOutcome.model_validate(v)
        for _, v in sorted((values.get("subtasks") or {}).items(), key=lambda kv: int(kv[0]))
    ]
    artifacts = [
        *(Artifact.model_validate(a) for a in values.get("inputs") or []),
        *(a for o in outcomes for a in o.outputs),
    ]
    if values.get("cancelled"):
        status = "cancelled"
    elif values.get("answer") is not None:
        statuses = {o.status for o in outcomes}
        status = (
            "succeeded"
            if statuses == {"succeeded"} and plan and len(outcomes) == len(plan.subtasks)
            else ("partial" if "succeeded" in statuses else "failed")
        )
        if status == "succeeded" and values.get("empty"):
            status = EMPTY
    elif values.get("mode") == "plan" and values.get("solutions"):
        status = "planned"
    else:
        status = "interrupted"
    return AgentResult(
        run_id=values["run_id"],
        request=values["request"],
        status=status,
        answer=values.get("answer", ""),
        plan=plan,
        solutions={int(k): [Solution.model_validate(s) for s in v] for k, v in (values.get("solutions") or {}).items()},
        subtasks=outcomes,
        artifacts=artifacts,
        parameters=values.get("parameters") or [],
        timings=values.get("timings") or {},
    )
