"""Moving the node's LLM requests off a lost or stalled Redis (issue 16 item 2).

The node keeps every request it queued in Redis until its record is out. When Redis is
lost (refused, reset, restarted) or stalls (SIGSTOP: the TCP connection stays up and calls
just hang), ``FailoverScheduler`` calls ``Migration.move_all``:

- every request still waiting on the Redis scheduler moves to the in-process scheduler,
  most urgent first (priority, then age), with what is left of its deadline, so none
  expires because Redis failed; its Redis ``submit`` ends with ``RedisLost`` at once and
  the failover scheduler waits for the in-process outcome instead (``follow``);
- the Redis scheduler counts the ticket as answered: a result for it that shows up later
  (the worker had finished it, or Redis ran the queueing call its client gave up on) is
  acknowledged and dropped, never answered a second time.

Each moved ticket keeps a tombstone until Redis answers again; ``write_tombstones`` then
sets its drop marker and removes it from the origin's in-flight hash, so a worker that
reads its entry later publishes it as cancelled without calling the LLM, and no later
life of the node loads it as an orphan. The queueing script refuses a ticket that has a
drop marker (``keys.SUBMIT``), so a late copy of the call cannot queue it again.
"""
import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any, Callable, Optional

from claudia_llm.core.redis_conn import REDIS_DOWN_ERRORS, bounded

from .redis_results import RedisLost
from .request import LLMRequest, priority_rank

log = logging.getLogger(__name__)

TOMBSTONES_MAX = 10000
"""Most tombstones kept while Redis is away (the oldest go first)."""


class Migration:
    """The requests moved in process and the tombstones they leave for Redis.

    Args:
        redis_scheduler: returns the ``RedisScheduler`` (or None before it is built); its
            ``_waiters``, ``_remember_answered``, ``redis``, ``keys``, ``origin`` are used.
        inprocess: the ``InProcessScheduler`` that takes the moved requests.
    """

    def __init__(self, redis_scheduler: Callable[[], Any], inprocess: Any):
        self._redis = redis_scheduler
        self.inprocess = inprocess
        self._moved = {}  # type: Dict[str, asyncio.Future]  ticket -> in-process submit
        self._tombstones = OrderedDict()  # type: OrderedDict[str, float]  -> expires_at
        self.moved_total = 0

    def tombstones(self) -> int:
        """Moved tickets whose drop markers Redis has not received yet."""
        return len(self._tombstones)

    def move_all(self, also: Optional[LLMRequest] = None, also_event: Any = None) -> int:
        """Move every request waiting on Redis (and ``also``) in process, most urgent first.

        Each keeps its ``on_event`` (``also_event`` for ``also``, whose Redis ``submit``
        has ended): a streamed answer streams again from the in-process call, and
        ``StreamedAnswer`` skips what was said already.

        Returns:
            How many requests moved now (those moved before are not counted again).
        """
        sched = self._redis()
        waiting = [] if sched is None else [
            (request, future) for request, future in list(sched._waiters.values())
            if not future.done()]  # type: List[Tuple[LLMRequest, Optional[asyncio.Future]]]
        if also is not None and all(r.ticket != also.ticket for r, _f in waiting):
            waiting.append((also, None))
        waiting.sort(key=lambda item: (priority_rank(item[0].priority), item[0].created))
        moved = sum(1 for request, future in waiting if self._move(
            request, future, also_event if request is also else None))
        if moved:
            log.warning('%d LLM requests move from Redis to the in-process queue, most '
                        'urgent first', moved)
        return moved

    def moved(self, request: LLMRequest) -> bool:
        """True while ``request`` (its ticket) is answered by the in-process scheduler."""
        return bool(request.ticket) and request.ticket in self._moved

    async def follow(self, request: LLMRequest, on_event: Any = None) -> Any:
        """The outcome of ``request`` from the in-process scheduler, moving it if needed.

        Call when its Redis ``submit`` raised ``RedisLost``. While Redis is unavailable,
        every other request waiting on it moves too (in priority order, this one among
        them); else only this one does (Redis refused it).

        Raises:
            what ``InProcessScheduler.submit`` raises.
        """
        sched = self._redis()
        if not self.moved(request):
            if sched is not None and not sched.available:
                self.move_all(also=request, also_event=on_event)
            else:
                self._move(request, None, on_event)
        task = self._moved[request.ticket]
        try:
            return await task
        finally:
            if self._moved.get(request.ticket) is task:
                del self._moved[request.ticket]

    def discard(self, request: LLMRequest) -> None:
        """Drop the in-process twin of ``request`` if nobody will follow it (cancelled)."""
        task = self._moved.pop(request.ticket, None) if request.ticket else None
        if task is not None:
            task.cancel()

    async def write_tombstones(self, stall_s: float) -> bool:
        """Give Redis a drop marker for each moved ticket and clear its in-flight entry.

        Args:
            stall_s: bound of the one pipeline call, s.

        Returns:
            True when Redis took them all (or there were none); False when it did not
            answer (they are kept for the next try).
        """
        sched = self._redis()
        if not self._tombstones or sched is None:
            return True
        items = list(self._tombstones.items())
        now = time.time()
        try:
            async with sched.redis.pipeline(transaction=False) as pipe:
                for ticket, expires_at in items:
                    ttl_ms = max(int((expires_at - now) * 1000), 0) + 60000
                    pipe.set(sched.keys.drop(ticket), '1', px=ttl_ms)
                    pipe.hdel(sched.keys.inflight(sched.origin), ticket)
                await bounded(pipe.execute(), stall_s, 'writing drop markers')
        except REDIS_DOWN_ERRORS as exc:
            log.debug('drop markers of %d moved requests not written yet: %s', len(items), exc)
            return False
        for ticket, _expires in items:
            self._tombstones.pop(ticket, None)
        log.info('Redis told that %d LLM requests answered in process are not to be run',
                 len(items))
        return True

    def _move(self, request: LLMRequest, future: Optional['asyncio.Future'],
              on_event: Any = None) -> bool:
        ticket = request.ticket
        if not ticket or ticket in self._moved:
            return False
        sched = self._redis()
        if sched is not None:
            sched._remember_answered(ticket)
        self._tombstones[ticket] = request.expires_at
        while len(self._tombstones) > TOMBSTONES_MAX:
            self._tombstones.popitem(last=False)
        # Tasks start in creation order: the most urgent request reaches the in-process
        # queue (and a free slot) first.
        if on_event is None and sched is not None:
            on_event = sched._listeners.get(ticket)
        self._moved[ticket] = asyncio.ensure_future(self.inprocess.submit(request,
                                                                          on_event=on_event))
        self.moved_total += 1
        if future is not None and not future.done():
            future.set_exception(RedisLost('request %s moved to the in-process queue'
                                           % request.request_id))
            future.exception()  # retrieved: its submit may be gone (cancelled) already
        log.debug('request %s (%s) moves to the in-process queue', request.request_id,
                  request.priority)
        return True
