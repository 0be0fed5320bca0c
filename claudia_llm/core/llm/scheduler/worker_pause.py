"""Pausing the in-node LLM workers while the in-process scheduler has work (issue 16 item 2).

The in-node worker and the in-process scheduler share the Ollama host's slots
(``SlotLimiter``). A worker takes its slot before it reads, and a freed slot goes to a
waiting worker before the in-process scheduler: while the worker is busy with the
streams, or its read hangs on a stalled Redis, the in-process queue gets no slot and
expires. So the failover scheduler pauses its workers whenever requests are answered in
process (Redis lost or stalled, or not taking requests yet) and resumes them once Redis
answers, the Redis scheduler takes requests again and the in-process queue is empty.
A paused worker's running call is cancelled; its entry stays pending in Redis and the
same worker takes it back when it resumes (a moved request's entry then has a drop
marker, so it is published as cancelled without an LLM call).
"""
import asyncio
import logging
from typing import Any, Callable, Sequence

log = logging.getLogger(__name__)


class WorkerPause:
    """Stop and start ``workers`` as a group; one change at a time.

    Args:
        workers: ``LLMWorker`` objects (``start()``, ``stop(drain_s)``).
        may_run: True when the workers may run now (checked by ``resume_if_allowed``).
    """

    def __init__(self, workers: Sequence[Any], may_run: Callable[[], bool]):
        self.workers = list(workers)
        self.may_run = may_run
        self.paused = False
        self.pauses = 0
        self._lock = None  # type: Optional[asyncio.Lock]  (built on the running loop)
        self._pending = None  # type: Optional[asyncio.Future]

    async def pause(self, reason: str) -> None:
        """Stop the workers now (their running calls are cancelled); no-op when paused."""
        if not self.workers or self.paused:
            return
        async with self._get_lock():
            if self.paused:
                return
            self.paused = True
            self.pauses += 1
            log.info('in-node LLM workers paused: %s', reason)
            await asyncio.gather(*(worker.stop(drain_s=0.0) for worker in self.workers))

    def pause_soon(self, reason: str) -> None:
        """``pause`` in the background (from code that must not wait for it)."""
        if self.workers and not self.paused and (self._pending is None or self._pending.done()):
            self._pending = asyncio.ensure_future(self.pause(reason))

    async def resume_if_allowed(self) -> bool:
        """Start the paused workers when ``may_run()``; True when they run (or never paused)."""
        if not self.paused:
            return True
        if not self.may_run():
            return False
        async with self._get_lock():
            if self.paused and self.may_run():
                for worker in self.workers:
                    await worker.start()
                self.paused = False
                log.info('in-node LLM workers resumed')
        return not self.paused

    async def aclose(self) -> None:
        """Wait for a background pause still running."""
        if self._pending is not None:
            await asyncio.gather(self._pending, return_exceptions=True)

    def _get_lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock
