"""Redis-backed scheduling while Redis answers, in-process scheduling while it does not.

Issue 5 item 7: with Redis unavailable the same scheduling (priorities, bound, deadlines,
coalescing, ``cancel_before``) runs in process, and requests go through Redis again as soon
as the Redis scheduler's results reader reconnects. A request that was waiting on Redis
when it went away (``RedisLost``) is submitted again in process with what is left of its
deadline, so it is answered rather than lost; if Redis later delivers an answer for it
too, the Redis scheduler ignores it (it remembers which requests it gave up).
"""
import asyncio
import logging
from typing import Any, Callable, Sequence

from .inprocess import InProcessScheduler
from .redis_streams import RedisLost, RedisScheduler

log = logging.getLogger(__name__)


class FailoverScheduler:
    """A ``RedisScheduler`` with an ``InProcessScheduler`` behind it.

    Args:
        redis_scheduler_factory: builds the ``RedisScheduler`` (called once, in ``start``).
        inprocess: the fallback; share its ``SlotLimiter`` with any in-node worker.
        workers: ``LLMWorker`` objects started and stopped with this scheduler.
        clients: Redis clients this scheduler owns and closes in ``aclose``.
    """

    def __init__(self, redis_scheduler_factory: Callable[[], RedisScheduler],
                 inprocess: InProcessScheduler, workers: Sequence[Any] = (),
                 clients: Sequence[Any] = ()):
        self._factory = redis_scheduler_factory
        self.inprocess = inprocess
        self.workers = list(workers)
        self._clients = list(clients)
        self.redis = None  # type: Optional[RedisScheduler]
        self._mode = ''

    @property
    def mode(self) -> str:
        """'redis' while requests go through Redis, else 'memory'."""
        return 'redis' if self.redis is not None and self.redis.available else 'memory'

    async def start(self) -> None:
        """Start the Redis side (it keeps retrying if Redis is down) and the workers."""
        if self.redis is None:
            self.redis = self._factory()
        await self.inprocess.start()
        await self.redis.start()
        for worker in self.workers:
            await worker.start()
        self._note_mode()

    async def submit(self, request) -> Any:
        """Through Redis when available, else (or when Redis is lost meanwhile) in process.

        Raises:
            SchedulerBusy, RequestExpired, RequestCancelled, LLMError: as the scheduler
            that took the request raised them.
        """
        if self.redis is not None and self.redis.available:
            try:
                return await self.redis.submit(request)
            except RedisLost as exc:
                log.info('request %s moves to the in-process queue: %s',
                         request.request_id, exc)
        self._note_mode()
        return await self.inprocess.submit(request)

    def cancel_before(self, stamp: float) -> int:
        """Cancel older unanswered requests on both sides; returns how many."""
        count = self.inprocess.cancel_before(stamp)
        if self.redis is not None:
            count += self.redis.cancel_before(stamp)
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
        await asyncio.gather(*(worker.stop(drain_s=drain_s) for worker in self.workers))

    def hand_over(self) -> int:
        """Leave unanswered Redis requests for the next node (``RedisScheduler.hand_over``)."""
        return self.redis.hand_over() if self.redis is not None else 0

    async def aclose(self) -> None:
        """Stop the workers, both schedulers, and close the clients this object owns."""
        for worker in self.workers:
            await worker.stop()
        if self.redis is not None:
            await self.redis.aclose()
        await self.inprocess.aclose()
        for client in self._clients:
            await _close_client(client)

    def _note_mode(self) -> None:
        mode = self.mode
        if mode != self._mode:
            if self._mode:
                log.warning('LLM scheduling switched from %s to %s', self._mode, mode)
            self._mode = mode


async def _close_client(client: Any) -> None:
    closer = getattr(client, 'aclose', None) or client.close  # redis-py < 5
    await closer()
