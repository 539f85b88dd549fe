"""The fixed dev/test split of an evaluation set: tune on dev, report test, never read test's failures.

A record's half is decided by its id alone (``sha256(id)``: even first byte → dev, odd → test), so the
split needs no stored list, never changes when records are added, and is the same for every set.

    >>> split_of("tbhf-33446682") in ("dev", "test")
    True
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Literal, Protocol, TypeVar

Split = Literal["dev", "test"]


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


S = TypeVar("S", bound=_Identified)


def split_of(record_id: str) -> Split:
    """Which half a record belongs to."""
    return "test" if hashlib.sha256(record_id.encode("utf-8")).digest()[0] % 2 else "dev"


def select_split(samples: Sequence[S], split: Split | None) -> list[S]:
    """The samples of one half (all of them for ``None``), in file order."""
    if split is None:
        return list(samples)
    return [s for s in samples if split_of(s.id) == split]
