"""Wake the event streams of a task as soon as this process records an event for it.

Events are written by worker threads and read by SSE generators on the server's event loop; instead of
every stream re-reading the store on a short timer, a stream subscribes before it reads and sleeps until
the store says the task changed (or until its fallback timeout, which covers events written by another
server process sharing the database).

    >>> import asyncio
    >>> async def demo() -> bool:
    ...     wakeups = EventWakeups()
    ...     woken = wakeups.subscribe("t")
    ...     asyncio.get_running_loop().call_later(0.01, wakeups.notify, "t")
    ...     return await wakeups.wait(woken, timeout=5)
    >>> asyncio.run(demo())
    True
"""

from __future__ import annotations

import asyncio
import threading


class EventWakeups:
    """Per-task futures, resolved from any thread by :meth:`notify`; :meth:`close` wakes every stream for good."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        #: Set by :meth:`close`: the server is shutting down and every event stream should end now.
        self.closed = False

    def subscribe(self, task_id: str) -> asyncio.Future[None]:
        """A future the next :meth:`notify` of ``task_id`` resolves; call on the loop that will await it,
        before reading the store, so an event written in between still wakes the reader. Already resolved
        once the wakeups are closed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._lock:
            if self.closed:
                future.set_result(None)
                return future
            self._waiters.setdefault(task_id, set()).add(future)
        return future

    def close(self) -> None:
        """Thread-safe: wake every stream now and every later subscriber at once (the server is stopping)."""
        with self._lock:
            self.closed = True
            waiters = [future for futures in self._waiters.values() for future in futures]
            self._waiters.clear()
        for future in waiters:
            future.get_loop().call_soon_threadsafe(_resolve, future)

    def unsubscribe(self, task_id: str, future: asyncio.Future[None]) -> None:
        with self._lock:
            waiters = self._waiters.get(task_id)
            if waiters is not None:
                waiters.discard(future)
                if not waiters:
                    del self._waiters[task_id]

    def notify(self, task_id: str) -> None:
        """Thread-safe: wake every current subscriber of ``task_id``."""
        with self._lock:
            waiters = self._waiters.pop(task_id, set())
        for future in waiters:
            future.get_loop().call_soon_threadsafe(_resolve, future)

    @staticmethod
    async def wait(future: asyncio.Future[None], timeout: float) -> bool:
        """Whether ``future`` was resolved within ``timeout`` seconds (False: timed out)."""
        done, _ = await asyncio.wait({future}, timeout=timeout)
        return bool(done)

    def subscribers(self) -> int:
        with self._lock:
            return sum(len(waiters) for waiters in self._waiters.values())


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
