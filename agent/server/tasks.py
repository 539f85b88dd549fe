"""Durable tasks: every task and every one of its events in SQLite (``<data_dir>/server.sqlite``, WAL mode).

The server writes here before it answers, so a restarted server finds every task it accepted. Events are
numbered per task from 1 (the SSE ``id``), so a client that reconnects with ``Last-Event-ID`` gets exactly
the events it missed. Status changes are compare-and-set (``UPDATE ... WHERE status = ?``), so a cancel
and a worker picking the task up cannot both win; a task's final status and its ``task_finished`` event are
one transaction.

Faults: the file is checked with SQLite's integrity check when the store opens, and a damaged one is a
:class:`~agent.server.errors.StoreCorruptError` (the server refuses to start). At run time every SQLite error
becomes a typed :class:`~agent.server.errors.StorageError` (503, or 507 when the disk or the file-size limit
is full); a failed write marks the store unwritable until a write goes through again (:meth:`TaskStore.probe`),
which is what readiness reports.

The ``idempotency`` table keeps, per ``Idempotency-Key`` (and caller), the fingerprint of the first request's
body and, once it has been handled, its response; a task and the response that announced it are written in
one transaction, so a crash cannot leave one without the other.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from agent.server.errors import StorageError, StoreCorruptError, TaskNotFoundError, storage_error
from agent.server.models import TASK_FINISHED, TaskEvent, TaskStatus
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
CREATE TABLE IF NOT EXISTS idempotency (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created REAL NOT NULL,
    status INTEGER,
    body TEXT,
    headers TEXT,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency(created);
CREATE TABLE IF NOT EXISTS health (k INTEGER PRIMARY KEY, at REAL NOT NULL);
"""

#: Up to this size the start-up check is the full ``integrity_check``; above it the faster ``quick_check``.
FULL_CHECK_MAX_BYTES = 256 << 20
#: SQLite's primary result codes that matter here (the low byte of an extended code).
_SQLITE_PERM, _SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = (
    3,
    8,
    10,
    11,
    13,
    14,
    26,
)
_UNWRITABLE = frozenset({_SQLITE_PERM, _SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN})
_RECOVER = (
    "stop the server, keep a copy of server.sqlite (with its -wal file), then recover it with "
    "`sqlite3 server.sqlite .recover | sqlite3 recovered.sqlite` and put recovered.sqlite in its place, "
    "or move server.sqlite aside to start with no tasks"
)

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


class StoredResponse(BaseModel):
    """What the store holds for one idempotency key: the first request's fingerprint and, once handled, its
    response (``status`` is None while that request is still being handled)."""

    fingerprint: str
    created: float
    status: int | None = None
    body: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)


class KeyCompletion(BaseModel):
    """The response to store for a claimed key."""

    scope: str
    key: str
    status: int
    body: str
    headers: dict[str, str] = Field(default_factory=dict)


class TaskStore:
    """Tasks and events in one SQLite file; safe to share between threads (one connection, one lock)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._writable = threading.Event()
        self._writable.set()
        #: Set once SQLite reports the file damaged; nothing clears it but a restart after recovery.
        self.corrupt = False
        #: Why the last write failed, while the store is unwritable.
        self.failure: str | None = None
        #: Wakes this process's event streams when a task changes (see :mod:`agent.server.wakeups`).
        self.wakeups = EventWakeups()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            self._db.row_factory = sqlite3.Row
            self._check_integrity()
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._page_size = int(self._db.execute("PRAGMA page_size").fetchone()[0])
        except sqlite3.Error as exc:
            if _code(exc) in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
                raise _corrupt(str(exc)) from None
            raise storage_error(exc, "tasks") from None

    def _check_integrity(self) -> None:
        """Refuse a damaged file before anything reads or writes it (a half-readable index answers some
        lookups and fails others, which looks like random 500s)."""
        size = self.path.stat().st_size if self.path.exists() else 0
        pragma = "integrity_check" if size <= FULL_CHECK_MAX_BYTES else "quick_check"
        rows = self._db.execute(f"PRAGMA {pragma}(5)").fetchall()
        problems = [str(row[0]) for row in rows if str(row[0]) != "ok"]
        if problems:
            raise _corrupt("; ".join(problems))

    @property
    def journal_mode(self) -> str:
        with self._reading() as db:
            return str(db.execute("PRAGMA journal_mode").fetchone()[0])

    # --- health ------------------------------------------------------------------------------------------

    @property
    def writable(self) -> bool:
        """Whether the last write went through (and the file is not known to be damaged)."""
        return self._writable.is_set() and not self.corrupt

    def probe(self) -> bool:
        """Try one small write; whether it went through (which marks the store writable again)."""
        try:
            with self._writing() as db:
                db.execute("INSERT OR REPLACE INTO health (k, at) VALUES (1, ?)", (time.time(),))
        except StorageError:
            return False
        return True

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise self._failed(exc, write=False) from None

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``); SQLite errors become typed :class:`StorageError`."""
        with self._lock:
            try:
                with self._db:
                    self._db.execute("BEGIN IMMEDIATE")
                    yield self._db
            except sqlite3.IntegrityError:
                raise
            except sqlite3.Error as exc:
                raise self._failed(exc, write=True) from None
            if not self._writable.is_set():
                self._writable.set()
                self.failure = None

    def _failed(self, exc: sqlite3.Error, *, write: bool) -> StorageError:
        code = _code(exc)
        if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
            self.corrupt = True
            return StoreCorruptError(
                f"the task store is damaged ({exc}); the server's operator must recover it", reason=str(exc)
            )
        full = code == _SQLITE_FULL or (code == _SQLITE_IOERR and write and self._out_of_room())
        error = storage_error(exc, "the task's state" if write else "the task", full=full)
        if write and code in _UNWRITABLE:
            self._writable.clear()
            self.failure = error.message
        return error

    def _out_of_room(self) -> bool:
        """Whether a failed write is for lack of room: SQLite reports EFBIG as a plain I/O error."""
        try:
            import resource

            soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
        except (ImportError, OSError, ValueError):
            soft = -1
        frame = self._page_size + 24  # a WAL frame: the page and its header
        files = (self.path, self.path.with_name(self.path.name + "-wal"))
        sizes = [f.stat().st_size for f in files if f.exists()]
        if soft >= 0 and max(sizes, default=0) + 2 * frame > soft:
            return True
        try:
            disk = os.statvfs(self.path.parent)
        except OSError:
            return False
        return disk.f_bavail * disk.f_frsize < 4 * frame

    # --- tasks -------------------------------------------------------------------------------------------

    def create(
        self,
        task_id: str,
        request: str,
        resources: list[dict[str, Any]],
        inputs: list[dict[str, Any]],
        completes: KeyCompletion | None = None,
    ) -> TaskRecord:
        """Record a queued task; with ``completes``, store that key's response in the same transaction."""
        now = time.time()
        with self._writing() as db:
            db.execute(
                "INSERT INTO tasks (id, status, request, created, resources, inputs) VALUES (?, 'queued', ?, ?, ?, ?)",
                (task_id, request, now, json.dumps(resources), json.dumps(inputs)),
            )
            self._insert_event(task_id, "server", "task_queued", now, {})
            if completes is not None:
                self._complete_key(completes)
        self.wakeups.notify(task_id)
        return self.get(task_id)

    def get(self, task_id: str) -> TaskRecord:
        with self._reading() as db:
            row = db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        if row is None:
            raise TaskNotFoundError(f"no task with id {task_id!r}", task_id=task_id)
        return _record(row)

    def page(
        self, limit: int, cursor: int | None = None, status: str | None = None
    ) -> tuple[list[TaskRecord], int | None]:
        """Up to ``limit`` tasks older than ``cursor``, newest first, and the cursor of the next page."""
        where: list[str] = ["n < ?"]
        args: list[int | str] = [cursor if cursor is not None else 2**62]
        if status is not None:
            where.append("status = ?")
            args.append(status)
        with self._reading() as db:
            rows = db.execute(
                f"SELECT * FROM tasks WHERE {' AND '.join(where)} ORDER BY n DESC LIMIT ?", (*args, limit + 1)
            ).fetchall()
        records = [_record(r) for r in rows[:limit]]
        return records, (records[-1].n if len(rows) > limit else None)

    def with_status(self, *statuses: str) -> list[TaskRecord]:
        """Tasks in any of ``statuses``, oldest first."""
        marks = ",".join("?" * len(statuses))
        with self._reading() as db:
            rows = db.execute(f"SELECT * FROM tasks WHERE status IN ({marks}) ORDER BY n", statuses).fetchall()
        return [_record(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._reading() as db:
            rows = db.execute("SELECT status, COUNT(*) FROM tasks GROUP BY status").fetchall()
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
        with self._writing() as db:
            cursor = db.execute(
                f"UPDATE tasks SET {assignments} WHERE id = ? AND status IN ({marks})",
                (*columns.values(), task_id, *expected),
            )
        changed = cursor.rowcount == 1
        if changed:
            self.wakeups.notify(task_id)
        return changed

    def finish(
        self,
        task_id: str,
        expected: Iterable[str],
        status: TaskStatus,
        *,
        message: str | None = None,
        error: dict[str, Any] | None = None,
        result: dict[str, Any] | None = None,
    ) -> bool:
        """Set a final status (compare-and-set, as :meth:`transition`) and record ``task_finished`` with it, in
        one transaction: a failed write leaves neither, so the attempt can simply be repeated."""
        expected = tuple(expected)
        marks = ",".join("?" * len(expected))
        now = time.time()
        with self._writing() as db:
            cursor = db.execute(
                f"UPDATE tasks SET status = ?, finished = ?, message = ?, error = ?, result = COALESCE(?, result) "
                f"WHERE id = ? AND status IN ({marks})",
                (
                    status,
                    now,
                    message,
                    json.dumps(error) if error is not None else None,
                    json.dumps(result) if result is not None else None,
                    task_id,
                    *expected,
                ),
            )
            changed = cursor.rowcount == 1
            if changed:
                self._insert_event(task_id, "server", TASK_FINISHED, now, {"status": status, "message": message})
        if changed:
            self.wakeups.notify(task_id)
        return changed

    def save_result(self, task_id: str, result: dict[str, Any]) -> None:
        with self._writing() as db:
            db.execute("UPDATE tasks SET result = ? WHERE id = ?", (json.dumps(result), task_id))

    # --- idempotency keys --------------------------------------------------------------------------------

    def claim_key(self, scope: str, key: str, fingerprint: str, ttl_s: float) -> StoredResponse | None:
        """Reserve ``key`` for a request with ``fingerprint`` (None), or what is stored for it already."""
        now = time.time()
        with self._writing() as db:
            db.execute("DELETE FROM idempotency WHERE scope = ? AND key = ? AND created < ?", (scope, key, now - ttl_s))
            row = db.execute("SELECT * FROM idempotency WHERE scope = ? AND key = ?", (scope, key)).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO idempotency (scope, key, fingerprint, created) VALUES (?, ?, ?, ?)",
                    (scope, key, fingerprint, now),
                )
                return None
        return StoredResponse(
            fingerprint=row["fingerprint"],
            created=row["created"],
            status=row["status"],
            body=row["body"],
            headers=json.loads(row["headers"] or "{}"),
        )

    def complete_key(self, completion: KeyCompletion) -> None:
        with self._writing():
            self._complete_key(completion)

    def release_key(self, scope: str, key: str) -> None:
        """Forget a claim whose request failed, so that a retry is handled afresh."""
        with self._writing() as db:
            db.execute("DELETE FROM idempotency WHERE scope = ? AND key = ? AND status IS NULL", (scope, key))

    def purge_keys(self, ttl_s: float, *, unfinished: bool = False) -> int:
        """Drop keys older than ``ttl_s`` and, with ``unfinished``, claims a previous process never completed
        (their requests died with it and recorded nothing: see :meth:`create`)."""
        with self._writing() as db:
            cursor = db.execute(
                "DELETE FROM idempotency WHERE created < ? OR (? AND status IS NULL)", (time.time() - ttl_s, unfinished)
            )
        return int(cursor.rowcount)

    def _complete_key(self, completion: KeyCompletion) -> None:
        self._db.execute(
            "UPDATE idempotency SET status = ?, body = ?, headers = ? WHERE scope = ? AND key = ?",
            (completion.status, completion.body, json.dumps(completion.headers), completion.scope, completion.key),
        )

    # --- events ------------------------------------------------------------------------------------------

    def add_event(
        self, task_id: str, stage: str, kind: str, data: dict[str, Any] | None = None, at: float | None = None
    ) -> int:
        """Append an event; returns its seq."""
        with self._writing():
            seq = self._insert_event(task_id, stage, kind, at or time.time(), data or {})
        self.wakeups.notify(task_id)  # after the commit, so a woken reader sees the row
        return seq

    def events(self, task_id: str, after: int = 0, limit: int = 1000) -> list[TaskEvent]:
        with self._reading() as db:
            rows = db.execute(
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


def _code(exc: sqlite3.Error) -> int:
    """SQLite's primary result code of ``exc`` (0 when unknown)."""
    return int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF


def _corrupt(problem: str) -> StoreCorruptError:
    lines = [line.strip() for line in problem.splitlines() if line.strip() and not line.startswith("***")]
    found = "; ".join(lines)[:300] or "unreadable"
    return StoreCorruptError(f"the task store is damaged ({found}): {_RECOVER}", problem=found)


def _record(row: sqlite3.Row) -> TaskRecord:
    values = dict(row)
    for key in _JSON_COLUMNS:
        if values.get(key) is not None:
            values[key] = json.loads(values[key])
    return TaskRecord.model_validate(values)
