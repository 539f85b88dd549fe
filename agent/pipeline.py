"""The agent as a LangGraph ``StateGraph``: decompose -> plan -> execute -> (re-plan ->) respond.

State holds JSON only — the plan, solutions, artifact ids and summaries — so the SQLite checkpointer can
save it after every stage and a run interrupted mid-way resumes from its last finished stage by run id.
Values (images, boxes) live in the artifact store. Progress goes out through LangGraph's custom stream
(``stage_started``/``stage_finished`` and every engine event), which the CLI and REST relay.

Re-planning: when a subtask fails with every ranked solution, the ``replan`` stage searches again for
that subtask exhaustively, leaving out the solutions already tried, and only unfinished subtasks run
again (finished ones feed them through their stored artifacts).

Fallbacks are kept to what the subtask asks for: the ranked solutions a subtask may fall back to, and those a
re-plan finds, are only those the answerability check counts as meant for it as much as the first choice
(:meth:`~agent.answerability.AnswerabilityCheck.stand_ins`). When that first choice fails, the subtask
fails with its error rather than succeeding through an unrelated tool.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol, TypedDict

from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph

from agent.answerability import AnswerabilityCheck
from agent.bounds import check_subtasks, check_tool_calls
from agent.decompose.base import Decomposer, DecompositionError, Resource
from agent.empty import asked_for, empty_outputs
from agent.engine import Engine
from agent.engine.result import ExecutionResult
from agent.outcomes import UnsupportedRequestError
from agent.params import ParameterFiller
from agent.respond import Responder
from agent.result import Artifact, SubtaskOutcome
from graph.artifacts import ArtifactStore
from graph.errors import NoSolutionError, ToGError
from graph.plan import Plan, ResourceRef, Solution, Subtask
from graph.search import SearchConfig, Strategy, ToGPlanner
from graph.types import FILE_TYPES, IMAGE_TYPES, ResourceType
from tools.registry import ToolRegistry


def _merge(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    return {**(left or {}), **(right or {})}


class AgentState(TypedDict, total=False):
    run_id: str
    request: str
    mode: str
    resources: list[dict[str, Any]]
    inputs: list[dict[str, Any]]
    plan: dict[str, Any]
    solutions: dict[str, list[dict[str, Any]]]
    tried: dict[str, list[str]]
    parameters: list[dict[str, Any]]
    subtasks: dict[str, dict[str, Any]]
    replans: int
    answer: str
    #: subtasks whose asked-for result is empty: the run is ``empty``, not ``succeeded``
    empty: list[int]
    timings: Annotated[dict[str, float], _merge]
    cancelled: bool


class PlanningError(ToGError):
    """A subtask no available tool chain can solve; ``details`` says which tools would and why they can't run."""

    code = "planning_failed"


class UnavailableToolsError(UnsupportedRequestError, PlanningError):
    """A subtask only unavailable tools can solve: a refusal (status ``unsupported``) that names them and how
    to enable each (``details``: ``tools``, ``unavailable`` and, as before, ``reasons``)."""

    code = UnsupportedRequestError.code


@dataclass
class Stages:
    """What the stages use; one per :class:`~agent.api.Agent`."""

    registry: ToolRegistry
    decomposer: Decomposer
    planner: ToGPlanner
    filler: ParameterFiller
    engine: Engine
    responder: Responder
    store: ArtifactStore
    max_replans: int = 1
    #: Work bounds (agent settings): checked after decomposing and after planning, before any tool runs.
    max_subtasks: int = 16
    max_tool_calls: int = 64
    #: Whether a plan is checked before it runs (:mod:`agent.answerability`); built on first use.
    check_answerable: bool = True
    cancels: dict[str, threading.Event] = field(default_factory=dict)
    active: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _answerability: AnswerabilityCheck | None = None

    def answerability(self) -> AnswerabilityCheck:
        """The check over every registered tool; the unavailable ones are those the planner's graph lacks."""
        with self.lock:
            if self._answerability is None:
                planned = {s.name for s in self.planner.graph.specs}
                reasons = self.registry.unavailable()
                missing = {
                    s.name: reasons.get(s.name, "not in the planner's tool graph")
                    for s in self.registry.specs()
                    if s.name not in planned
                }
                self._answerability = AnswerabilityCheck(self.registry.specs(), missing, self.planner.config)
            return self._answerability

    def cancel(self, run_id: str) -> None:
        """Stop a run: the running engine run is cancelled, later stages are skipped."""
        with self.lock:
            self.cancels.setdefault(run_id, threading.Event()).set()
            run = self.active.get(run_id)
        if run is not None:
            run.cancel()

    def is_cancelled(self, run_id: str) -> bool:
        event = self.cancels.get(run_id)
        return event is not None and event.is_set()


def build_graph(stages: Stages, checkpointer: Any = None) -> Any:
    """The compiled pipeline graph."""
    graph = StateGraph(AgentState)
    graph.add_node("decompose", _stage(stages, "decompose", lambda s: _decompose(stages, s)))
    graph.add_node("plan", _stage(stages, "plan", lambda s: _plan(stages, s)))
    graph.add_node("execute", _stage(stages, "execute", lambda s: _execute(stages, s)))
    graph.add_node("replan", _stage(stages, "replan", lambda s: _replan(stages, s)))
    graph.add_node("respond", _stage(stages, "respond", lambda s: _respond(stages, s)))
    graph.add_edge(START, "decompose")
    graph.add_conditional_edges("decompose", lambda s: END if s.get("cancelled") else "plan", ["plan", END])
    graph.add_conditional_edges(
        "plan", lambda s: END if s.get("mode") == "plan" or s.get("cancelled") else "execute", ["execute", END]
    )
    graph.add_conditional_edges(
        "execute", lambda s: END if s.get("cancelled") else _after_execute(stages, s), ["replan", "respond", END]
    )
    graph.add_conditional_edges("replan", lambda s: "execute" if _pending(s) else "respond", ["execute", "respond"])
    graph.add_edge("respond", END)
    return graph.compile(checkpointer=checkpointer)


class _Node(Protocol):
    """A pipeline node. langgraph's node protocols name the parameter ``state``, so a bare
    ``Callable[[AgentState], ...]`` does not match them for a type checker."""

    def __call__(self, state: AgentState) -> dict[str, Any]: ...


def _stage(stages: Stages, name: str, work: Callable[[AgentState], dict[str, Any]]) -> _Node:
    def node(state: AgentState) -> dict[str, Any]:
        if stages.is_cancelled(state["run_id"]):
            return {"cancelled": True}
        write = get_stream_writer()
        write({"stage": name, "kind": "stage_started", "data": {}})
        started = time.perf_counter()
        update = work(state)
        ms = (time.perf_counter() - started) * 1000
        write({"stage": name, "kind": "stage_finished", "data": {"ms": round(ms, 2)}})
        timings = dict(update.pop("timings", {}) or {})
        key = name if name not in (state.get("timings") or {}) else f"{name}_{len(state.get('timings') or {})}"
        return {**update, "timings": {**timings, key: round(ms, 2)}}

    return node


# --- stages -----------------------------------------------------------------------------------------


def _decompose(stages: Stages, state: AgentState) -> dict[str, Any]:
    if state.get("plan"):  # given by the caller (Agent.execute)
        check_subtasks(Plan.model_validate(state["plan"]), stages.max_subtasks)
        return {}
    resources = [Resource.model_validate(r) for r in state.get("resources", [])]
    if stages.check_answerable:  # a product no tool here makes: refused before any work on the request
        stages.answerability().check_products(state["request"], [r.type for r in resources])
    try:
        plan = stages.decomposer.decompose(state["request"], resources)
    except DecompositionError as exc:
        raise _unsupported(stages, exc, given=bool(resources)) from exc
    check_subtasks(plan, stages.max_subtasks)  # before planning: planning a thousand subtasks is the cost
    return {"plan": plan.model_dump(mode="json")}


def _plan(stages: Stages, state: AgentState) -> dict[str, Any]:
    plan = Plan.model_validate(state["plan"])
    given = state.get("solutions") or {}
    todo = [s for s in plan.subtasks if str(s.id) not in given]
    check = stages.answerability() if stages.check_answerable and todo else None

    def search(subtask: Subtask) -> list[Solution]:
        solutions = _search(stages, subtask)
        if check is not None:
            check.check_subtask(subtask, solutions)
            solutions = check.stand_ins(subtask, solutions)  # no fallback to a tool not meant for it
        return solutions

    with ThreadPoolExecutor(max_workers=max(1, min(4, len(todo)))) as pool:
        found = dict(zip([s.id for s in todo], pool.map(search, todo)))
    ranked = {**{int(k): [Solution.model_validate(x) for x in v] for k, v in given.items()}, **found}
    if state.get("mode") != "plan":  # about to execute: the budget holds before the first tool call
        check_tool_calls(ranked, stages.max_tool_calls)
    return _with_parameters(stages, plan, ranked, state.get("parameters") or [])


def _search(
    stages: Stages, subtask: Subtask, config: SearchConfig | None = None, exclude: AbstractSet[str] = frozenset()
) -> list[Solution]:
    try:
        result = stages.planner.search(subtask, config)
    except NoSolutionError as exc:
        raise _explain(stages, subtask, exc) from exc
    return [s for s in result.solutions if s.signature() not in exclude]


def _unsupported(stages: Stages, exc: DecompositionError, *, given: bool) -> ToGError:
    """A clause the decomposer could not plan is a refusal naming the nearest tools when no tool is meant for
    it at all (nothing in the catalogue is like it: "compose piano music", "what's the weather tomorrow"), or
    when the request came with inputs and no chain serves the clause from them. It stays a decomposition
    error, the user's to fix, when a tool is meant for it but an input it needs is missing ("read this text
    aloud" with no text)."""
    clause = exc.details.get("clause")
    if not stages.check_answerable or not isinstance(clause, str):
        return exc
    check = stages.answerability()
    if check.meant(clause) and (not given or exc.details.get("missing")):
        return exc
    return check.unsolvable(clause, exc.message)


def _explain(stages: Stages, subtask: Subtask, exc: NoSolutionError) -> ToGError:
    """Say which unavailable tools could have solved the subtask, and why each cannot run."""
    unavailable = stages.registry.unavailable()
    if not unavailable:
        return exc
    from graph.toolgraph import ToolGraph

    everything = ToGPlanner(
        ToolGraph(stages.registry.specs()), assessor=stages.planner.assessor, config=stages.planner.config
    )
    try:
        could = everything.search(subtask, strategy=Strategy.GREEDY)
    except NoSolutionError:
        return exc
    needed = sorted({t for sol in could.solutions for t in sol.tools if t in unavailable})
    if not needed:
        return exc
    reasons = "; ".join(f"{t}: {unavailable[t]}" for t in needed)
    return UnavailableToolsError(
        f"subtask {subtask.id} ({subtask.description!r}) needs {', '.join(needed)}, which "
        f"{'is' if len(needed) == 1 else 'are'} unavailable here ({reasons})",
        missing=subtask.description,
        tools=needed,
        unavailable={t: unavailable[t] for t in needed},
        subtask=subtask.id,
        reasons={t: unavailable[t] for t in needed},
    )


def _with_parameters(
    stages: Stages, plan: Plan, ranked: dict[int, list[Solution]], parameters: list[dict[str, Any]]
) -> dict[str, Any]:
    subtasks = []
    filled_all = list(parameters)
    for sub in plan.subtasks:
        updated = []
        for solution in ranked.get(sub.id, []):
            sub, solution, filled = stages.filler.fill(sub, solution)
            updated.append(solution)
            filled_all.extend(f.model_dump(mode="json") for f in filled)
        ranked[sub.id] = updated
        subtasks.append(sub)
    new_plan = plan.model_copy(update={"subtasks": subtasks})
    return {
        "plan": new_plan.model_dump(mode="json"),
        "solutions": {str(k): [s.model_dump(mode="json") for s in v] for k, v in ranked.items()},
        "parameters": filled_all,
    }


def _pending(state: AgentState) -> list[int]:
    plan = Plan.model_validate(state["plan"])
    done = state.get("subtasks") or {}
    return [s.id for s in plan.subtasks if str(s.id) not in done and (state.get("solutions") or {}).get(str(s.id))]


def _execute(stages: Stages, state: AgentState) -> dict[str, Any]:
    plan = Plan.model_validate(state["plan"])
    previous = dict(state.get("subtasks") or {})
    remaining = _remaining_plan(plan, previous)
    solutions = {
        int(k): [Solution.model_validate(x) for x in v]
        for k, v in (state.get("solutions") or {}).items()
        if remaining is not None and int(k) in {s.id for s in remaining.subtasks}
    }
    if remaining is None or not remaining.subtasks:
        return {}
    write = get_stream_writer()

    def relay(event: Any) -> None:
        # The engine's run_started/run_finished frame one execution (there is one per re-plan); the agent's
        # own run_finished, sent once at the very end, is the only event of that name a run has.
        kind = _ENGINE_KINDS.get(event.kind.value, event.kind.value)
        write({"stage": "execute", "kind": kind, "data": event.model_dump(mode="json")})

    run_id = state["run_id"]
    engine_run = stages.engine.prepare(remaining, solutions, on_event=relay)
    with stages.lock:
        stages.active[run_id] = engine_run
    if stages.is_cancelled(run_id):
        engine_run.cancel()
    try:
        run = engine_run.execute()
    finally:
        with stages.lock:
            stages.active.pop(run_id, None)
    tried = {k: list(v) for k, v in (state.get("tried") or {}).items()}
    for sid, sols in solutions.items():  # a subtask that failed tried all its solutions; a skipped one none
        if run.subtasks[sid].status.value == "failed":
            tried.setdefault(str(sid), []).extend(s.signature() for s in sols)
    previous.update(_store_outcomes(stages.store, remaining, run))
    return {"subtasks": previous, "tried": tried, "cancelled": run.status.value == "cancelled"}


#: Engine event kinds renamed as the pipeline relays them.
_ENGINE_KINDS = {"run_started": "execution_started", "run_finished": "execution_finished"}


def _remaining_plan(plan: Plan, done: dict[str, dict[str, Any]]) -> Plan | None:
    """The subtasks still to run; inputs from finished subtasks become their stored artifacts."""
    finished = {int(k): v for k, v in done.items() if v.get("status") == "succeeded"}
    subtasks = []
    for sub in plan.subtasks:
        if sub.id in finished:
            continue
        inputs = []
        for ref in sub.inputs:
            k = ref.generated_by
            if k is not None and k in finished:
                outputs = [Artifact.model_validate(a) for a in finished[k]["outputs"]]
                match = next((a for a in outputs if a.type == ref.type), None)
                inputs.append(ResourceRef(type=ref.type, value=match.id if match else None))
            else:
                inputs.append(ref)
        subtasks.append(sub.model_copy(update={"inputs": inputs, "deps": [d for d in sub.deps if d not in finished]}))
    if not subtasks:
        return None
    return Plan.model_validate({"request": plan.request, "subtasks": [s.model_dump() for s in subtasks]})


def _store_outcomes(store: ArtifactStore, plan: Plan, run: ExecutionResult) -> dict[str, dict[str, Any]]:
    outcomes = {}
    for sid, sub in run.subtasks.items():
        targets = plan.subtask(sid).outputs
        artifacts = []
        for index, (value, target) in enumerate(zip(sub.outputs, targets)):
            meta = store_value(store, value, target.type)
            artifacts.append(Artifact(id=meta.id, type=target.type, mime=meta.mime, subtask=sid, index=index))
        outcome = SubtaskOutcome(
            id=sid,
            description=plan.subtask(sid).description,
            status=sub.status.value,
            tools=sub.tools,
            solution=sub.solution,
            outputs=artifacts,
            error=sub.error,
            fallbacks=sub.fallbacks,
        )
        outcomes[str(sid)] = outcome.model_dump(mode="json")
    return outcomes


def store_value(store: ArtifactStore, value: Any, rtype: ResourceType) -> Any:
    """Put one result into the store in the form its type calls for."""
    if rtype in IMAGE_TYPES and hasattr(value, "save"):
        return store.put_image(value, rtype)
    if rtype in FILE_TYPES:
        return store.put_file(value, rtype)
    return store.put_json(value, rtype)


def _after_execute(stages: Stages, state: AgentState) -> str:
    failed = [k for k, v in (state.get("subtasks") or {}).items() if v.get("status") == "failed"]
    return "replan" if failed and state.get("replans", 0) < stages.max_replans else "respond"


def _replan(stages: Stages, state: AgentState) -> dict[str, Any]:
    plan = Plan.model_validate(state["plan"])
    done = state.get("subtasks") or {}
    tried = {k: set(v) for k, v in (state.get("tried") or {}).items()}
    solutions = dict(state.get("solutions") or {})
    subtasks = dict(done)
    keep = stages.planner.config.top_k
    ranked: dict[int, list[Solution]] = {}
    for key, outcome in done.items():
        if outcome.get("status") == "skipped":  # never ran: run it again with its solutions if upstream recovers
            subtasks.pop(key)
            continue
        if outcome.get("status") != "failed":
            continue
        sub = plan.subtask(int(key))
        excluded = tried.get(key, set())
        config = stages.planner.config.model_copy(
            update={"strategy": Strategy.EXHAUSTIVE, "top_k": keep + len(excluded)}
        )
        try:
            fresh = _search(stages, sub, config, exclude=excluded)
        except ToGError:
            fresh = []
        first = solutions.get(key)
        if fresh and first and stages.check_answerable:  # only what the failed first choice was meant to do
            fresh = stages.answerability().stand_ins(sub, fresh, Solution.model_validate(first[0]))
        fresh = fresh[:keep]
        if fresh:
            ranked[sub.id] = fresh
            subtasks.pop(key)  # to be run again
    if not ranked:
        return {"replans": state.get("replans", 0) + 1}
    update = _with_parameters(
        stages,
        plan,
        {**{int(k): [Solution.model_validate(x) for x in v] for k, v in solutions.items()}, **ranked},
        state.get("parameters") or [],
    )
    return {**update, "subtasks": subtasks, "replans": state.get("replans", 0) + 1}


def _respond(stages: Stages, state: AgentState) -> dict[str, Any]:
    plan = Plan.model_validate(state["plan"])
    done = state.get("subtasks") or {}
    outcomes = [
        SubtaskOutcome.model_validate(done[str(s.id)])
        if str(s.id) in done
        else SubtaskOutcome(id=s.id, description=s.description, status="not_run")
        for s in plan.subtasks
    ]
    values: dict[int, list[Any]] = {}
    for outcome in outcomes:
        values[outcome.id] = [stages.store.load(a.id) if a.type not in FILE_TYPES else None for a in outcome.outputs]
    return {
        "answer": stages.responder.respond(state["request"], outcomes, values),
        "empty": empty_outputs(values, asked_for(plan)),  # asked-for results that say nothing (agent.empty)
    }
