"""Durable tasks: every task and every one of its events in SQLite (``<data_dir>/server.sqlite``, WAL mode).

The server writes here before it answers, so a restarted server finds every task it accepted. Events are
numbered per task from 1 (the SSE ``id``), so a client that reconnects with ``Last-Event-ID`` gets exactly
the events it missed. Status changes are compare-and-set (``UPDATE ... WHERE status = ?``), so a cancel
and a worker picking the task up cannot both win.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from agent.server.errors import TaskNotFoundError
from agent.server.models import TaskEvent, TaskStatus
from agent.server.wakeups import EventWakeups

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    request TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    message TEXT,
    resources TEXT NOT NULL,
    inputs TEXT NOT NULL,
    result TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS tasks_status ON tasks(status);
CREATE TABLE IF NOT EXISTS events (
    task_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    stage TEXT NOT NULL,
    kind TEXT NOT NULL,
    time REAL NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (task_id, seq)
) WITHOUT ROWID;
"""

_JSON_COLUMNS = ("resources", "inputs", "result", "error")


class TaskRecord(BaseModel):
    """One row of ``tasks``: what was asked, where it stands, and the agent's result so far."""

    n: int = Field(description="insertion order; the paging cursor")
    id: str
    status: TaskStatus
    request: str
    created: float
    started: float | None = None
    finished: float | None = None
    message: str | None = None
    resources: list[dict[str, Any]] = Field(default_factory=list)
    inputs: list[dict[str, Any]] = Field(default_factory=list)
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class TaskStore:
    """Tasks and events in one SQLite file; safe to share between threads (one connection, one lock)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        #: Wakes this process's event streams when a task changes (see :mod:`agent.server.wakeups`).
        self.wakeups = EventWakeups()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)

    @property
    def journal_mode(self) -> str:
        with self._lock:
            return str(self._db.execute("PRAGMA journal_mode").fetchone()[0])

    # --- tasks -------------------------------------------------------------------------------------------

    def create(
        self, task_id: str, request: str, resources: list[dict[str, Any]], inputs: list[dict[str, Any]]
    ) -> TaskRecord:
        now = time.time()
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT INTO tasks (id, status, request, created, resources, inputs) VALUES (?, 'queued', ?, ?, ?, ?)",
                (task_id, request, now, json.dumps(resources), json.dumps(inputs)),
            )
            self._insert_event(task_id, "server", "task_queued", now, {})
        self.wakeups.notify(task_id)
        return self.get(task_id)

    def get(self, task_id: str) -> TaskRecord:
        with self._lock:
            row = self._db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        if row is None:
            raise TaskNotFoundError(f"no task with id {task_id!r}", task_id=task_id)
        return _record(row)

    def page(
        self, limit: int, cursor: int | None = None, status: str | None = None
    ) -> tuple[list[TaskRecord], int | None]:
        """Up to ``limit`` tasks older than ``cursor``, newest first, and the cursor of the next page."""
        where, args = ["n < ?"], [cursor if cursor is not None else 2**62]
        if status is not None:
            where.append("status = ?")
            args.append(status)
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM tasks WHERE {' AND '.join(where)} ORDER BY n DESC LIMIT ?", (*args, limit + 1)
            ).fetchall()
        records = [_record(r) for r in rows[:limit]]
        return records, (records[-1].n if len(rows) > limit else None)

    def with_status(self, *statuses: str) -> list[TaskRecord]:
        """Tasks in any of ``statuses``, oldest first."""
        marks = ",".join("?" * len(statuses))
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM tasks WHERE status IN ({marks}) ORDER BY n", statuses).fetchall()
        return [_record(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) FROM tasks GROUP BY status").fetchall()
        return {str(status): int(count) for status, count in rows}

    def transition(self, task_id: str, expected: Iterable[str], status: TaskStatus, **fields: Any) -> bool:
        """Set ``status`` (and ``fields``) only if the task is in one of ``expected``; whether it was."""
        expected = tuple(expected)
        columns = {
            "status": status,
            **{k: json.dumps(v) if k in _JSON_COLUMNS and v is not None else v for k, v in fields.items()},
        }
        assignments = ", ".join(f"{k} = ?" for k in columns)
        marks = ",".join("?" * len(expected))
        with self._lock, self._db:
            cursor = self._db.execute(
                f"UPDATE tasks SET {assignments} WHERE id = ? AND status IN ({marks})",
                (*columns.values(), task_id, *expected),
            )
        changed = cursor.rowcount == 1
        if changed:
            self.wakeups.notify(task_id)
        return changed

    def save_result(self, task_id: str, result: dict[str, Any]) -> None:
        with self._lock, self._db:
            self._db.execute("UPDATE tasks SET result = ? WHERE id = ?", (json.dumps(result), task_id))

    # --- events ------------------------------------------------------------------------------------------

    def add_event(
        self, task_id: str, stage: str, kind: str, data: dict[str, Any] | None = None, at: float | None = None
    ) -> int:
        """Append an event; returns its seq."""
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            seq = self._insert_event(task_id, stage, kind, at or time.time(), data or {})
        self.wakeups.notify(task_id)  # after the commit, so a woken reader sees the row
        return seq

    def events(self, task_id: str, after: int = 0, limit: int = 1000) -> list[TaskEvent]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM events WHERE task_id = ? AND seq > ? ORDER BY seq LIMIT ?", (task_id, after, limit)
            ).fetchall()
        return [
            TaskEvent(
                task_id=r["task_id"],
                seq=r["seq"],
                stage=r["stage"],
                kind=r["kind"],
                time=r["time"],
                data=json.loads(r["data"]),
            )
            for r in rows
        ]

    def _insert_event(self, task_id: str, stage: str, kind: str, at: float, data: dict[str, Any]) -> int:
        (last,) = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM events WHERE task_id = ?", (task_id,)).fetchone()
        self._db.execute(
            "INSERT INTO events (task_id, seq, stage, kind, time, data) VALUES (?, ?, ?, ?, ?, ?)",
            (task_id, last + 1, stage, kind, at, json.dumps(data, default=str)),
        )
        return int(last + 1)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _record(row: sqlite3.Row) -> TaskRecord:
    values = dict(row)
    for key in _JSON_COLUMNS:
        if values.get(key) is not None:
            values[key] = json.loads(values[key])
    return TaskRecord.model_validate(values)
