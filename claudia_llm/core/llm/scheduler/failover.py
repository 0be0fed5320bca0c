"""Redis-backed scheduling while Redis answers, in-process scheduling while it does not.

Issue 5 item 7: with Redis unavailable the same scheduling (priorities, bound, deadlines,
coalescing, ``cancel_before``) runs in process, and requests go through Redis again as soon
as the Redis scheduler's results reader reconnects.

Issue 16 item 2: the node keeps every request it queued until its record is out. A
``RedisWatch`` notices a lost or stalled Redis within about ``stall_s``; the requests
waiting on it then move in process, most urgent first, with what is left of their
deadlines, and the in-node workers pause so they hold no Ollama slot while Redis hangs
(``migration``). A request whose own Redis call fails first (``RedisLost``) moves the same
way. When Redis answers again, the moved requests' tombstones are written before the
workers resume, so nothing is answered twice and a worker does not run a moved request.
"""
import asyncio
import logging
from typing import Any, Callable, Optional, Sequence

from .inprocess import InProcessScheduler
from .migration import Migration
from .redis_streams import RedisLost, RedisScheduler
from .redis_watch import RedisWatch
from .worker_pause import WorkerPause

log = logging.getLogger(__name__)


class FailoverScheduler:
    """A ``RedisScheduler`` with an ``InProcessScheduler`` behind it.

    Args:
        redis_scheduler_factory: builds the ``RedisScheduler`` (called once, in ``start``).
        inprocess: the fallback; share its ``SlotLimiter`` with any in-node worker.
        workers: ``LLMWorker`` objects started and stopped with this scheduler.
        clients: Redis clients this scheduler owns and closes in ``aclose``.
        stall_s: a Redis PING unanswered this long is an outage, s
            (``scheduler.redis_stall_s``); None: no watch (outages show only through
            the Redis scheduler's own calls).
    """

    def __init__(self, redis_scheduler_factory: Callable[[], RedisScheduler],
                 inprocess: InProcessScheduler, workers: Sequence[Any] = (),
                 clients: Sequence[Any] = (), stall_s: Optional[float] = 1.0):
        self._factory = redis_scheduler_factory
        self.inprocess = inprocess
        self.workers = list(workers)
        self._clients = list(clients)
        self.redis = None  # type: Optional[RedisScheduler]
        self.stall_s = stall_s
        self.migration = Migration(lambda: self.redis, inprocess)
        self.watch = None  # type: Optional[RedisWatch]
        self.pause = WorkerPause(self.workers, self._workers_may_run)
        self._stopping = False
        self._mode = ''

    @property
    def mode(self) -> str:
        """'redis' while requests go through Redis, else 'memory'."""
        return 'redis' if self.redis is not None and self.redis.available else 'memory'

    async def start(self) -> None:
        """Start the Redis side (it keeps retrying if Redis is down) and the workers."""
        if self.redis is None:
            self.redis = self._factory()
        self._stopping = False
        await self.inprocess.start()
        await self.redis.start()
        for worker in self.workers:
            await worker.start()
        if self.stall_s is not None and self.watch is None:
            self.watch = RedisWatch(self.redis.redis, self.stall_s, self._on_lost,
                                    self._on_back, on_up=self._on_up)
        if self.watch is not None:
            await self.watch.start()
        self._note_mode()

    async def submit(self, request, on_event=None) -> Any:
        """Through Redis when available, else (or when Redis is lost meanwhile) in process.

        ``on_event`` gets the answer's ``StreamEvents`` while it streams (``events``).

        Raises:
            SchedulerBusy, RequestExpired, RequestCancelled, LLMError: as the scheduler
            that took the request raised them.
        """
        if self.redis is not None and self.redis.available:
            try:
                result = await self.redis.submit(request, on_event=on_event)
            except asyncio.CancelledError:
                self.migration.discard(request)
                raise
            except Exception as exc:  # noqa: BLE001 - a moved request answers in process
                if not isinstance(exc, RedisLost) and not self.migration.moved(request):
                    raise
                log.debug('request %s is answered in process: %s', request.request_id, exc)
                self._note_mode()
                self.pause.pause_soon('LLM requests are answered in process')
                return await self.migration.follow(request, on_event)
            self.migration.discard(request)
            return result
        self._note_mode()
        self.pause.pause_soon('LLM requests are answered in process')
        return await self.inprocess.submit(request, on_event=on_event)

    def cancel_before(self, stamp: float) -> int:
        """Cancel older unanswered requests on both sides; returns how many."""
        count = self.inprocess.cancel_before(stamp)
        if self.redis is not None:
            count += self.redis.cancel_before(stamp)
            for worker in self.workers:  # their calls for us stop now, not at the next check
                worker.cancel_before(self.redis.origin, stamp)
        return count

    def depth(self) -> int:
        """Requests waiting: in the Redis streams (if reachable) plus in process."""
        redis_depth = self.redis.depth() if self.mode == 'redis' else 0
        return redis_depth + self.inprocess.depth()

    def in_flight(self) -> int:
        """LLM calls running: delivered Redis entries (if reachable) plus in process."""
        redis_flight = self.redis.in_flight() if self.mode == 'redis' else 0
        return redis_flight + self.inprocess.in_flight()

    async def stop_workers(self, drain_s: float) -> None:
        """Stop the workers taking requests; their running calls get ``drain_s`` s to finish.

        Calls still running then are cancelled and stay pending in Redis for another
        worker (graceful stop, ``core.shutdown``).
        """
        self._stopping = True
        await asyncio.gather(*(worker.stop(drain_s=drain_s) for worker in self.workers))

    def hand_over(self) -> int:
        """Leave unanswered Redis requests for the next node (``RedisScheduler.hand_over``)."""
        return self.redis.hand_over() if self.redis is not None else 0

    async def aclose(self) -> None:
        """Stop the workers, both schedulers, and close the clients this object owns."""
        self._stopping = True
        if self.watch is not None:
            await self.watch.aclose()
        # Last chance for drop markers of requests answered in process (no-op if none).
        await self.migration.write_tombstones(self.stall_s or 1.0)
        for worker in self.workers:
            await worker.stop()
        if self.redis is not None:
            await self.redis.aclose()
        await self.pause.aclose()
        await self.inprocess.aclose()
        for client in self._clients:
            await _close_client(client)

    async def _on_lost(self, exc: BaseException) -> None:
        """Redis lost or stalled: move its waiting requests in process, pause the workers."""
        if self.redis is None:
            return
        self.migration.move_all()
        self.redis._mark_down(exc)
        self._note_mode()
        if not self._stopping:
            await self.pause.pause('Redis lost or stalled')

    async def _on_back(self) -> bool:
        """Redis answers again: write the tombstones (False until Redis took them)."""
        done = await self.migration.write_tombstones(self.stall_s or 1.0)
        self._note_mode()
        return done

    async def _on_up(self) -> None:
        """Redis answers: write pending drop markers, then maybe resume the workers.

        Markers are pending here when requests moved without an outage of the watch (their
        own call, or the results reader, missed its bound first).
        """
        if self.migration.tombstones():
            await self.migration.write_tombstones(self.stall_s or 1.0)
        await self.pause.resume_if_allowed()

    def _workers_may_run(self) -> bool:
        """Redis takes requests again, its tombstones are out, nothing is left in process."""
        return (not self._stopping and self.redis is not None and self.redis.available
                and (self.watch is None or not self.watch.down)
                and not self.migration.tombstones()
                and not self.inprocess.depth() and not self.inprocess.in_flight())

    def _note_mode(self) -> None:
        mode = self.mode
        if mode != self._mode:
            if self._mode:
                log.warning('LLM scheduling switched from %s to %s', self._mode, mode)
            self._mode = mode


async def _close_client(client: Any) -> None:
    closer = getattr(client, 'aclose', None) or client.close  # redis-py < 5
    await closer()
