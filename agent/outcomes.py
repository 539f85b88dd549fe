"""How a request ended for the user, beyond "the tools ran": refused, or answered with nothing.

A run whose tools all succeeded is not necessarily an answer. Two outcomes are kept apart from
``succeeded`` so that a caller never mistakes them for one:

- **unsupported** — what the request asks for cannot be done with the tools here (no tool is meant for
  it), or only with a tool that is unavailable (no model configured, weights that cannot load). Nothing
  runs; :class:`UnsupportedRequestError` says what is missing, the nearest tools, and for an unavailable
  tool how to enable it. REST: task status ``unsupported``. CLI: exit code :data:`EXIT_UNSUPPORTED`.
- **empty** — the tools ran, but a result the user asked for is empty (no text found, nothing
  detected). The answer says so, with the reason. REST: task status ``empty``. CLI: exit code
  :data:`EXIT_EMPTY`.

    >>> error = UnsupportedRequestError(
    ...     "describing an image needs describe_image, which is unavailable here",
    ...     missing="describe this image",
    ...     tools=["describe_image"],
    ...     unavailable={"describe_image": "no InternVL model configured (set TOG_VLM_MODEL or TOG_VLM_URL)"},
    ... )
    >>> error.to_dict()["code"]
    'unsupported'
"""

from __future__ import annotations

from typing import Any

from graph.errors import ToGError

#: A run refused before any tool ran (:class:`UnsupportedRequestError`).
UNSUPPORTED = "unsupported"
#: A run whose tools succeeded but whose asked-for result is empty.
EMPTY = "empty"

#: CLI exit codes: 0 answered, 1 failed or partial, 2 a usage mistake, 3 refused, 4 nothing found.
EXIT_UNSUPPORTED = 3
EXIT_EMPTY = 4


class UnsupportedRequestError(ToGError, ValueError):
    """The request (or a part of it) cannot be answered with the tools here; nothing was run.

    ``details``: ``missing`` (the part of the request no tool serves), ``tools`` (the nearest tools, best
    first) and ``unavailable`` (tool -> why it cannot run and how to enable it), each when known.
    """

    code = UNSUPPORTED

    def __init__(
        self,
        message: str,
        *,
        missing: str | None = None,
        tools: list[str] | None = None,
        unavailable: dict[str, str] | None = None,
        **details: Any,
    ) -> None:
        super().__init__(
            message, missing=missing, tools=list(tools or []), unavailable=dict(unavailable or {}), **details
        )
        self.missing = missing
        self.tools = list(tools or [])
        self.unavailable = dict(unavailable or {})
