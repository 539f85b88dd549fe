"""Schemathesis against the OpenAPI schema, on a real uvicorn (loopback): no 5xx, every response as documented.

Bounded and deterministic (``derandomize``): 25 examples per operation. Left out: the check that every
schema-valid body is accepted (a valid-looking body can still be refused on purpose: an image that does
not decode, a file type the server does not take, a value of the wrong shape for its resource type),
which fuzzing a workflow body would mostly exercise as "no such tool" anyway.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from server_support import free_port, make_agent, make_settings

from agent.server.app import create_app

# schemathesis's own strategies trip this hypothesis deprecation; it is not about this project's code
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory) -> Iterator[object]:
    app_settings = make_settings(tmp_path_factory.mktemp("fuzz") / "tog")
    agent = make_agent(app_settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(app_settings, agent), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield schemathesis.openapi.from_url(f"http://127.0.0.1:{port}/openapi.json")
    server.should_exit = True
    thread.join(10)
    agent.close()


def test_the_api_never_fails_and_answers_as_documented(api_schema) -> None:
    failures: dict[str, str] = {}
    tested = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        tested += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case) -> None:
            case.call_and_validate(excluded_checks=[positive_data_acceptance])

        try:
            check()
        except BaseException as exc:  # schemathesis raises an exception group of its findings
            if isinstance(exc, KeyboardInterrupt):
                raise
            failures[f"{operation.method.upper()} {operation.path}"] = str(exc)[:2000]
    assert tested >= 14
    assert not failures, "\n\n".join(f"{op}:\n{text}" for op, text in failures.items())
