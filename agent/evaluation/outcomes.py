"""User trials: run realistic requests on real inputs through a real agent and judge each outcome honestly.

The question is not "did the tools run" but "what did the user get": the right answer, an honest
"cannot" with the right reason, or — the worst case — a wrong answer marked succeeded. Each case of a
suite (:mod:`agent.evaluation.outcome_cases`) gets one verdict:

==================== ====================================================================================
right                the expected answer (every check holds), or an expected "nothing found" with its reason
honest_refusal       an expected (or accepted: ``also_refused``) refusal whose reason names what it must
wrong_but_succeeded  status succeeded, but the answer is wrong or the request should have been refused
false_refusal        refused (or "nothing found") although the request is answerable here
wrong_refusal        refused or "nothing found" where that was right, but for the wrong reason
failed               a failed or partial run, a typed error other than a refusal, or a crash
skipped              an input could not be made on this machine (named in ``why``)
==================== ====================================================================================

One offline :class:`~agent.api.Agent` (no VLM, no LLM; its data in a temporary folder) serves the suite.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from agent.evaluation.outcome_cases import Case, Expect
from agent.evaluation.outcome_checks import Observed, Output, Transcriber, check_answer, names_all
from agent.evaluation.trial_inputs import SAMPLES, SampleMaker, SampleUnavailableError
from agent.outcomes import EMPTY, UNSUPPORTED
from graph.errors import ToGError
from graph.types import ResourceType

if TYPE_CHECKING:
    from PIL import Image as PILImage

    from agent.api import Agent
    from agent.decompose.base import Resource
    from agent.inputs import FileArg

Verdict = Literal[
    "right", "honest_refusal", "wrong_but_succeeded", "false_refusal", "wrong_refusal", "failed", "skipped"
]
VERDICTS: tuple[Verdict, ...] = (
    "right",
    "honest_refusal",
    "wrong_but_succeeded",
    "false_refusal",
    "wrong_refusal",
    "failed",
    "skipped",
)
#: Statuses a user reads as "it worked": an answer they will act on.
SUCCEEDED = "succeeded"
CRASHED = "crashed"
#: Types whose values the checks read (others stay unloaded).
_LOADED = frozenset(
    {ResourceType.IMAGE, ResourceType.NUMBER, ResourceType.TEXT, ResourceType.AUDIO, ResourceType.BBOXES}
)


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    why: str


def classify(expect: Expect, observed: Observed, problems: Sequence[str] = ()) -> Judgement:
    """The verdict of one run; ``problems`` are the failed answer checks (for a succeeded expected answer)."""
    status = observed.status
    if status == SUCCEEDED:
        if expect.outcome == "answer":
            if problems:
                return Judgement("wrong_but_succeeded", "; ".join(problems))
            return Judgement("right", "")
        should = "refused" if expect.outcome == "refusal" else "reported as empty"
        return Judgement("wrong_but_succeeded", f"should have been {should}; answered {_short(observed.answer)!r}")
    if status in (UNSUPPORTED, EMPTY):
        said = "refused" if status == UNSUPPORTED else "nothing found"
        if expect.outcome == "answer":
            if status == EMPTY and expect.also_empty:
                return _with_reason("right", expect.reason, observed)
            if status == UNSUPPORTED and expect.also_refused:
                return _with_reason("honest_refusal", expect.reason, observed)
            return Judgement("false_refusal", f"{said}, but it is answerable here: {_short(observed.reason())}")
        if expect.outcome == "refusal" and status == EMPTY:
            said = _short(observed.reason())
            return Judgement("wrong_refusal", f"should have been refused, got nothing found: {said}")
        if expect.outcome == "empty" and status == UNSUPPORTED:
            return Judgement("false_refusal", f"refused, but it can be done here: {_short(observed.reason())}")
        return _with_reason("honest_refusal" if status == UNSUPPORTED else "right", expect.reason, observed)
    error = observed.error or {}
    detail = error.get("message") or observed.answer
    return Judgement("failed", f"{status}: {_short(str(detail))}" if detail else status)


def _with_reason(verdict: Verdict, wanted: Sequence[str], observed: Observed) -> Judgement:
    missing = names_all(observed.reason(), wanted)
    if missing:
        named = ", ".join(repr(m) for m in missing)
        return Judgement("wrong_refusal", f"the reason does not name {named}: {_short(observed.reason())}")
    return Judgement(verdict, "")


def _short(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class CaseResult(BaseModel):
    """One case's outcome, as the report lists it."""

    id: str
    request: str
    lang: str
    kind: str = ""
    expected: str
    status: str
    verdict: Verdict
    why: str = ""
    answer: str = ""
    error_code: str | None = None
    seconds: float = 0.0


class OutcomeReport(BaseModel):
    results: list[CaseResult] = Field(default_factory=list)

    def counts(self) -> dict[str, int]:
        found = Counter(r.verdict for r in self.results)
        return {v: found.get(v, 0) for v in VERDICTS}

    def summary(self) -> dict[str, Any]:
        """The figures on one line: each verdict's count, impossible requests refused, timings."""
        impossible = [r for r in self.results if r.kind == "impossible"]
        seconds = sorted(r.seconds for r in self.results if r.verdict != "skipped")
        return {
            "n": len(self.results),
            **self.counts(),
            "crashed": sum(r.status == CRASHED for r in self.results),
            "impossible": len(impossible),
            "impossible_refused": sum(r.verdict == "honest_refusal" for r in impossible),
            "seconds": round(sum(seconds), 2),
            "median_seconds": round(seconds[len(seconds) // 2], 3) if seconds else 0.0,
            "max_seconds": round(seconds[-1], 3) if seconds else 0.0,
        }


@contextmanager
def trial_agent(
    prefix: str,
    agent: Agent | None = None,
    folder: Path | None = None,
    models: Mapping[str, Mapping[str, Any]] | None = None,
) -> Iterator[tuple[Agent, Path]]:
    """The agent a trial runs on and its work folder: ``agent`` if given (left open), else an
    :func:`offline_agent` made for the trial and closed after it; ``folder``, else a temporary one."""
    with tempfile.TemporaryDirectory(prefix=prefix) as scratch:
        work = folder or Path(scratch)
        running = agent or offline_agent(work / "data", models)
        try:
            yield running, work
        finally:
            if agent is None:
                running.close()


def offline_agent(data_dir: Path, models: Mapping[str, Mapping[str, Any]] | None = None) -> Agent:
    """An agent as a new user has it before configuring any model: offline decomposer, no VLM, no LLM
    (whatever the environment says), unless ``models`` sets the ``vlm`` / ``llm`` sections."""
    from agent.api import Agent
    from agent.config import ToGSettings

    sections: dict[str, Any] = {
        "agent": {"data_dir": data_dir, "decomposer": "offline"},
        "vlm": {"url": "", "model": "", **(models or {}).get("vlm", {})},
        "llm": {"url": "", **(models or {}).get("llm", {})},
    }
    settings = ToGSettings(**sections)
    return Agent(settings)


def observe(agent: Agent, request: str, files: Sequence[FileArg] = (), resources: Sequence[Resource] = ()) -> Observed:
    """Run one request and keep what the user sees: status, answer, error, the output values."""
    started = time.perf_counter()
    try:
        result = agent.run(request, files=files, resources=resources)
    except ToGError as exc:  # refused or failed before any answer; a refusal is the unsupported code
        status = UNSUPPORTED if exc.code == UNSUPPORTED else "failed"
        return Observed(status=status, error=exc.to_dict(), seconds=time.perf_counter() - started)
    except Exception as exc:  # a crash is a finding of the trial, not a reason to stop it
        error = {"code": type(exc).__name__, "message": str(exc)}
        return Observed(status=CRASHED, error=error, seconds=time.perf_counter() - started)
    outputs = []
    for artifact in result.artifacts:
        if artifact.role != "output" or artifact.type not in _LOADED:
            continue
        if artifact.type == ResourceType.AUDIO:
            value: Any = agent.store.path(artifact.id)
        else:
            value = agent.store.load(artifact.id)
        outputs.append(Output(type=artifact.type, value=value, subtask=artifact.subtask))
    return Observed(
        status=result.status,
        answer=result.answer,
        error=result.error,
        outputs=outputs,
        seconds=time.perf_counter() - started,
    )


def default_transcriber() -> Transcriber | None:
    """whisper through the speech_to_text tool, when it can run here."""
    from tools.audio import speech_to_text

    if not speech_to_text.available()[0]:
        return None

    def transcribe(path: Path) -> str:
        return str(speech_to_text(audio=path)["text"])

    return transcribe


class OutcomeRunner:
    """Runs cases through one agent; inputs are made once under ``folder``."""

    def __init__(self, agent: Agent, folder: Path, transcribe: Transcriber | None = None) -> None:
        self.agent = agent
        self.maker = SampleMaker(folder)
        self.transcribe = transcribe

    def run(self, case: Case) -> CaseResult:
        try:
            files, resources, reference = self._inputs(case)
        except SampleUnavailableError as exc:
            return self._result(case, Observed(status="skipped"), Judgement("skipped", exc.message))
        observed = observe(self.agent, case.request, files, resources)
        problems: list[str] = []
        if observed.status == SUCCEEDED and case.expect.outcome == "answer":
            problems = check_answer(case.expect, observed, reference, self.transcribe)
        return self._result(case, observed, classify(case.expect, observed, problems))

    def _inputs(self, case: Case) -> tuple[list[FileArg], list[Resource], PILImage.Image | None]:
        from PIL import Image

        from agent.decompose.base import Resource

        files: list[FileArg] = []
        resources: list[Resource] = []
        reference = None
        for item in case.inputs:
            if item.sample is None:
                assert item.type is not None  # checked when the suite was loaded
                resources.append(Resource(name=item.name or item.type.value, type=item.type, value=item.value))
                continue
            rtype = item.type or SAMPLES[item.sample].type
            path = self.maker.file(item.sample, item.name)
            files.append((path, rtype))
            if reference is None and rtype == ResourceType.IMAGE:
                with Image.open(path) as opened:
                    reference = opened.convert("RGB")
        return files, resources, reference

    @staticmethod
    def _result(case: Case, observed: Observed, judgement: Judgement) -> CaseResult:
        return CaseResult(
            id=case.id,
            request=case.request,
            lang=case.lang,
            kind=case.kind,
            expected=case.expect.outcome,
            status=observed.status,
            verdict=judgement.verdict,
            why=judgement.why,
            answer=_short(observed.answer, 300),
            error_code=(observed.error or {}).get("code"),
            seconds=round(observed.seconds, 3),
        )


def run_suite(
    cases: Sequence[Case],
    *,
    agent: Agent | None = None,
    folder: Path | None = None,
    transcribe: Transcriber | None = None,
    progress: Callable[[CaseResult], None] | None = None,
    models: Mapping[str, Mapping[str, Any]] | None = None,
) -> OutcomeReport:
    """Run every case (one agent for all; a temporary offline one unless given, with ``models`` — a
    suite's ``settings`` — if any) and judge each."""
    with trial_agent("tog-trials-", agent, folder, models) as (running, work):
        runner = OutcomeRunner(running, work / "inputs", transcribe or default_transcriber())
        report = OutcomeReport()
        for case in cases:
            result = runner.run(case)
            report.results.append(result)
            if progress is not None:
                progress(result)
        return report
