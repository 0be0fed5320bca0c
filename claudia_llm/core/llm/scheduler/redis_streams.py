"""Submitting side of the LLM queue in Redis streams (issue 5 items 1, 3, 4, 6).

``RedisScheduler.submit`` queues a request on ``P:llm:<priority>`` and waits for its
outcome; ``LLMWorker`` processes (``worker.py``). Key layout and scripts: ``keys.py``.

How results come back: each submitter has an ``origin`` name, stable across restarts
(the node name), and one results stream ``P:llm:results:<origin>`` that workers append
to. The submitter reads it with XREADGROUP BLOCK on its own blocking connection, in a
consumer group, acknowledging each entry once handled. Chosen over pub/sub because a
stream keeps what was written while nobody listened: a node that restarts finds the
results of the requests it submitted before the restart, starting at its group's last
acknowledged entry (delivered-but-unacknowledged entries are read again first). One
blocking read serves every waiter of the process, instead of one per request.

Orphans (requests queued before a restart, answered or expired once): ``redis_orphans``;
the results reader: ``redis_results``.

Coalescing across processes: the first request of a coalescing key becomes the leader
(``SET NX`` of ``P:llm:coalesce:<key>``, expiring at its deadline); identical requests
queued meanwhile join its followers list instead of the stream (one Lua script, so a
join never races the leader's end). The worker answers the leader and every follower,
each on its own origin's results stream. A request does not join a leader of lower
priority; it is queued itself.

When Redis is unreachable, waiting ``submit`` calls raise ``RedisLost`` (the failover
scheduler then answers them in process) and ``available`` is False until Redis answers
again; when the results group has vanished (Redis restarted empty), every local waiter
is queued again.
"""
import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from typing import Any, Optional

from redis.exceptions import RedisError

from claudia_llm.core.errors import (
    RequestCancelled,
    RequestExpired,
    RequestHandedOver,
    SchedulerBusy,
)
from claudia_llm.core.redis_conn import REDIS_DOWN_ERRORS, bounded

from . import keys as K
from .redis_orphans import OnOrphan, OrphanBook
from .redis_results import RedisLost, ResultsReader
from .request import LLMRequest, as_text, key_for, priority_rank

log = logging.getLogger(__name__)

__all__ = ['OnOrphan', 'RedisLost', 'RedisScheduler']


class RedisScheduler(ResultsReader, OrphanBook):
    """Queue LLM requests in Redis streams and wait for their results.

    Args:
        redis: ``make_redis(url)`` client for commands (never closed here).
        blocking_redis: ``make_redis(url, for_blocking_reads=True, block_s=...)``, used only
            by this scheduler's results reader (never closed here).
        llm: gives the model, prompt version and options of the coalescing key.
        origin: this submitter's name, stable across restarts and unique (the node name).
        queue_size: most requests waiting in the streams; beyond it ``SchedulerBusy``.
        prefix: ``redis.key_prefix``.
        on_orphan: ``(request, result, error)``, sync or async; see the module docstring.
        block_s: longest XREADGROUP BLOCK, s (<= the blocking client's ``block_s``).
        retry_interval_s: how often to try Redis again while it is down, s.
        coalesce: join identical requests (off only for benchmarks and tests).
        stall_s: longest wait for queueing a request or reading results beyond the BLOCK
            time, s (``scheduler.redis_stall_s``); past it Redis counts as lost.
    """

    def __init__(self, redis, blocking_redis, llm: Any, origin: str = 'llm_node',
                 queue_size: int = 16, prefix: str = 'claudia',
                 on_orphan: Optional[OnOrphan] = None, block_s: float = 1.0,
                 retry_interval_s: float = 2.0, coalesce: bool = True,
                 stall_s: float = 1.0):
        if not origin or ':' in origin:
            raise ValueError('origin must be a non-empty name without ":", got %r' % origin)
        self.redis, self.blocking = redis, blocking_redis
        self.llm, self.origin, self.queue_size = llm, origin, queue_size
        self.keys = K.Keys(prefix)
        self.on_orphan = on_orphan
        self.block_s, self.retry_interval_s, self.coalesce = block_s, retry_interval_s, coalesce
        self.stall_s = stall_s
        self._stamp_warned = False
        self.available = False
        self._submit_script = redis.register_script(K.SUBMIT)
        self._stamp_script = redis.register_script(K.RAISE_STAMP)
        self._waiters = {}  # type: Dict[str, Tuple[LLMRequest, asyncio.Future]]
        self._listeners = {}  # type: Dict[str, Any]  ticket -> on_event (partials)
        self._orphans = {}  # type: Dict[str, LLMRequest]
        self._answered = OrderedDict()  # type: OrderedDict[str, None]
        self._handed = set()  # tickets left in Redis for the next node (hand_over)
        self._in_result = False  # the reader is handling a result (redis_results)
        self._lost = None  # type: Optional[asyncio.Event]
        self._reader = None  # type: Optional[asyncio.Task]
        self._tasks = set()  # type: set
        self._depth, self._pending, self._depth_at = 0, 0, 0.0
        self._reread_at = 0.0
        self._closing = False

    async def start(self) -> None:
        """Start the results reader; connects now if Redis is up, later otherwise."""
        self._lost, self._closing = asyncio.Event(), False
        if self._reader is None or self._reader.done():
            try:
                await self._setup()
            except (RedisError, OSError) as exc:  # down or refusing (NOAUTH...): retry later
                self._mark_down(exc)
            self._reader = asyncio.ensure_future(self._read_loop())

    def depth(self) -> int:
        """Requests waiting in the three streams (refreshed about once per ``block_s``)."""
        return self._depth

    def in_flight(self) -> int:
        """Requests delivered to workers and not yet acknowledged (same refresh)."""
        return self._pending

    async def submit(self, request: LLMRequest, on_event: Any = None) -> Any:
        """Queue ``request`` (or join an identical leader) and wait for its ``LLMResult``.

        ``on_event`` gets the answer's ``StreamEvents`` while it streams (the worker's
        partial entries, ``partials``), before the result.

        Raises:
            SchedulerBusy: the streams already hold ``queue_size`` waiting requests.
            RequestExpired: the deadline passed first.
            RequestCancelled: ``cancel_before`` cancelled it.
            LLMError: the LLM call failed (the real error).
            RedisLost: Redis is or became unreachable before the answer came.
        """
        request.origin = self.origin
        request.key = key_for(request, self.llm)
        request.ticket = uuid.uuid4().hex
        request.events = on_event is not None
        if request.expired():
            raise RequestExpired('request %s is past its deadline' % request.request_id)
        if not self.available:
            raise RedisLost('Redis is not reachable')
        future = asyncio.get_running_loop().create_future()
        self._waiters[request.ticket] = (request, future)
        if on_event is not None:
            self._listeners[request.ticket] = on_event
        try:
            await self._enqueue(request)
            return await self._wait(request, future)
        finally:
            self._waiters.pop(request.ticket, None)
            self._listeners.pop(request.ticket, None)

    def cancel_before(self, stamp: float) -> int:
        """Cancel this origin's unanswered requests created before ``stamp`` (wall clock s).

        Local waiters get ``RequestCancelled`` at once; workers skip the queued ones (the
        stamp is stored in Redis in the background); orphans go to ``on_orphan`` cancelled.

        Returns:
            The number of local waiters and orphans cancelled.
        """
        count = 0
        for request, future in list(self._waiters.values()):
            if request.created < stamp and not future.done():
                self._give_up(request)
                future.set_exception(RequestCancelled('cancelled by an emergency stop'))
                count += 1
        for ticket, request in list(self._orphans.items()):
            if request.created < stamp:
                self._spawn(self._settle_orphan(
                    ticket, None, RequestCancelled('cancelled by an emergency stop')))
                count += 1
        self._spawn(self._store_stamp(stamp))
        return count

    def hand_over(self) -> int:
        """Leave every unanswered request in Redis for the next node; return how many.

        For a graceful stop: each local waiter gets ``RequestHandedOver`` (publish nothing
        for it), its entry stays in the request stream and in this origin's in-flight hash
        (no drop marker), and results that arrive for it are left unread in the results
        stream. The next node started under the same origin loads those entries as
        orphans and publishes each once (``redis_orphans``). Nothing to hand over while
        Redis is unreachable (its waiters have moved in process, ``RedisLost``).
        """
        if not self.available:
            return 0
        count = 0
        for request, future in list(self._waiters.values()):
            if not future.done():
                self._handed.add(request.ticket)
                future.set_exception(RequestHandedOver(
                    'request %s stays in the Redis queue for the next node' % request.request_id))
                count += 1
        return count

    async def aclose(self) -> None:
        """Stop reading results; local waiters get ``RequestCancelled``."""
        for _request, future in list(self._waiters.values()):
            if not future.done():
                future.set_exception(RequestCancelled('the scheduler is closed'))
                future.exception()  # retrieved: a waiter already gone logs no traceback
        self._closing = True
        settle = time.monotonic() + self.block_s
        while self._in_result and time.monotonic() < settle:
            await asyncio.sleep(0.01)
        tasks = [t for t in [self._reader] + list(self._tasks) if t is not None]
        while any(not t.done() for t in tasks):  # cancel again if redis-py swallowed one
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=self.block_s + 1.0)
        self._reader = None

    async def _enqueue(self, request: LLMRequest) -> None:
        k = self.keys
        rank = priority_rank(request.priority)
        remaining_ms = max(int(request.remaining_s() * 1000), 1)
        fields = [x for pair in request.to_fields().items() for x in pair]
        try:
            # Bounded by stall_s (and the deadline): a stalled Redis (SIGSTOP) keeps the
            # connection up and answers nothing; redis-py bounds waiting for a free pooled
            # connection but not for the pool's own lock, and a request must never hang.
            status, ref = await bounded(self._submit_script(
                keys=[k.coalesce(request.key)] + k.streams + [
                    k.inflight(self.origin), k.drop(request.ticket),
                    k.done_prefix() + request.ticket],
                args=[request.to_json(), request.ticket, rank, self.queue_size,
                      remaining_ms, K.GROUP, k.followers_prefix(), remaining_ms + 60000,
                      '1' if self.coalesce else '0'] + fields),
                min(remaining_ms / 1000.0, self.stall_s), 'queueing an LLM request')
        except REDIS_DOWN_ERRORS as exc:
            self._mark_down(exc)
            raise RedisLost('Redis unreachable while queueing: %s' % exc) from exc
        except RedisError as exc:  # e.g. OOM or a script error: answer in process instead
            log.warning('queueing request %s in Redis failed: %s', request.request_id, exc)
            raise RedisLost('Redis refused the request: %s' % exc) from exc
        if as_text(status) == 'busy':
            raise SchedulerBusy('%s LLM requests already queued (scheduler.queue_size)'
                                % as_text(ref))
        log.debug('request %s %s (%s)', request.request_id, as_text(status), as_text(ref))

    async def _wait(self, request: LLMRequest, future: 'asyncio.Future') -> Any:
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            await asyncio.wait({future, lost}, timeout=max(request.remaining_s(), 0.0),
                               return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            if not future.done():
                self._give_up(request)
            raise
        finally:
            lost.cancel()
        if future.done():  # answered by the reader, cancel_before or aclose
            return future.result()
        self._give_up(request)
        if self._lost.is_set():
            raise RedisLost('Redis became unreachable while request %s waited'
                            % request.request_id)
        raise RequestExpired('request %s waited past its deadline of %.1f s'
                             % (request.request_id, request.deadline_s))

    def _give_up(self, request: LLMRequest) -> None:
        """No answer for this request will be taken from Redis any more."""
        self._remember_answered(request.ticket)
        self._spawn(self._forget(request))

    async def _forget(self, request: LLMRequest) -> None:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hdel(self.keys.inflight(self.origin), request.ticket)
                pipe.set(self.keys.drop(request.ticket), '1',
                         px=max(int(request.remaining_s() * 1000), 0) + 60000)
                await pipe.execute()
        except REDIS_DOWN_ERRORS as exc:
            log.debug('could not mark request %s dropped: %s', request.request_id, exc)

    async def _store_stamp(self, stamp: float) -> None:
        try:
            await self._stamp_script(keys=[self.keys.cancel_before(self.origin)],
                                     args=[repr(float(stamp)), 3600 * 1000])
        except REDIS_DOWN_ERRORS as exc:
            # Once per outage is enough: the "Redis unreachable" warning already said why.
            level = logging.DEBUG if self._stamp_warned else logging.WARNING
            self._stamp_warned = True
            log.log(level, 'emergency stamp not stored in Redis (%s); workers will still '
                    'answer the queued requests, which this node ignores', exc)
            return
        self._stamp_warned = False

    def _remember_answered(self, ticket: str, limit: int = 10000) -> None:
        self._answered[ticket] = None
        while len(self._answered) > limit:
            self._answered.popitem(last=False)

    def _spawn(self, coroutine) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
