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

Orphans (a node restarted with requests still queued): every request also sits in the
hash ``P:llm:inflight:<origin>`` until answered. At start the scheduler loads the entries
it has no waiter for; each is passed to ``on_orphan(request, result, error)`` exactly once:
with its outcome when a worker's result arrives, or with ``RequestExpired`` once its
deadline passes without one. HDEL on that hash is the claim that makes "exactly once"
hold even when a result and a local expiry race. The ``origin`` must therefore be unique
among running submitters.

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
import inspect
import logging
import time
import uuid
from collections import OrderedDict
from typing import Any, Awaitable, Callable, Dict, Optional

from redis.exceptions import RedisError, ResponseError

from claudia_llm.core.errors import (
    LLMError,
    RequestCancelled,
    RequestExpired,
    SchedulerBusy,
    StoreUnavailable,
)
from claudia_llm.core.redis_conn import REDIS_DOWN_ERRORS

from . import keys as K
from .request import LLMRequest, key_for, outcome_from_json, priority_rank

log = logging.getLogger(__name__)

_REREAD_S = 5.0

OnOrphan = Callable[[LLMRequest, Any, Optional[LLMError]], Optional[Awaitable[None]]]


class RedisLost(StoreUnavailable):
    """Redis became unreachable while a request waited; the request may be retried."""


class RedisScheduler:
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
    """

    def __init__(self, redis, blocking_redis, llm: Any, origin: str = 'llm_node',
                 queue_size: int = 16, prefix: str = 'claudia',
                 on_orphan: Optional[OnOrphan] = None, block_s: float = 1.0,
                 retry_interval_s: float = 2.0, coalesce: bool = True):
        if not origin or ':' in origin:
            raise ValueError('origin must be a non-empty name without ":", got %r' % origin)
        self.redis, self.blocking = redis, blocking_redis
        self.llm, self.origin, self.queue_size = llm, origin, queue_size
        self.keys = K.Keys(prefix)
        self.on_orphan = on_orphan
        self.block_s, self.retry_interval_s, self.coalesce = block_s, retry_interval_s, coalesce
        self._stamp_warned = False
        self.available = False
        self._submit_script = redis.register_script(K.SUBMIT)
        self._stamp_script = redis.register_script(K.RAISE_STAMP)
        self._waiters = {}  # type: Dict[str, Tuple[LLMRequest, asyncio.Future]]
        self._orphans = {}  # type: Dict[str, LLMRequest]
        self._answered = OrderedDict()  # type: OrderedDict[str, None]
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

    async def submit(self, request: LLMRequest) -> Any:
        """Queue ``request`` (or join an identical leader) and wait for its ``LLMResult``.

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
        if request.expired():
            raise RequestExpired('request %s is past its deadline' % request.request_id)
        if not self.available:
            raise RedisLost('Redis is not reachable')
        future = asyncio.get_running_loop().create_future()
        self._waiters[request.ticket] = (request, future)
        try:
            await self._enqueue(request)
            return await self._wait(request, future)
        finally:
            self._waiters.pop(request.ticket, None)

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

    async def aclose(self) -> None:
        """Stop reading results; local waiters get ``RequestCancelled``."""
        for _request, future in list(self._waiters.values()):
            if not future.done():
                future.set_exception(RequestCancelled('the scheduler is closed'))
        self._closing = True
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
            # Bounded by the request's deadline: redis-py bounds waiting for a free pooled
            # connection but not for the pool's own lock, and a request must never hang.
            status, ref = await asyncio.wait_for(self._submit_script(
                keys=[k.coalesce(request.key)] + k.streams + [k.inflight(self.origin)],
                args=[request.to_json(), request.ticket, rank, self.queue_size,
                      remaining_ms, K.GROUP, k.followers_prefix(), remaining_ms + 60000,
                      '1' if self.coalesce else '0'] + fields), remaining_ms / 1000.0)
        except asyncio.TimeoutError as exc:
            self._mark_down(exc)
            raise RedisLost('Redis did not take request %s within its deadline'
                            % request.request_id) from exc
        except REDIS_DOWN_ERRORS as exc:
            self._mark_down(exc)
            raise RedisLost('Redis unreachable while queueing: %s' % exc) from exc
        except RedisError as exc:  # e.g. OOM or a script error: answer in process instead
            log.warning('queueing request %s in Redis failed: %s', request.request_id, exc)
            raise RedisLost('Redis refused the request: %s' % exc) from exc
        if _text(status) == 'busy':
            raise SchedulerBusy('%s LLM requests already queued (scheduler.queue_size)'
                                % _text(ref))
        log.debug('request %s %s (%s)', request.request_id, _text(status), _text(ref))

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

    async def _setup(self) -> None:
        """Create the results group, load orphans, refresh the depth. Raises Redis errors."""
        stream = self.keys.results(self.origin)
        try:
            await self.redis.xgroup_create(stream, K.RESULTS_GROUP, id='0', mkstream=True)
        except ResponseError as exc:
            if 'BUSYGROUP' not in str(exc):
                raise
        await self._load_orphans()
        await self._refresh_depth(force=True)
        if not self.available:
            log.info('LLM queue in Redis streams is available (origin %s)', self.origin)
        self.available, self._reread_at = True, 0.0
        if self._lost is not None:
            self._lost.clear()

    async def _load_orphans(self) -> None:
        raw = await self.redis.hgetall(self.keys.inflight(self.origin))
        for key, value in raw.items():
            ticket = _text(key)
            if ticket in self._waiters or ticket in self._orphans:
                continue
            if ticket in self._answered:
                await self.redis.hdel(self.keys.inflight(self.origin), ticket)
                continue
            try:
                self._orphans[ticket] = LLMRequest.from_json(value)
            except (KeyError, ValueError) as exc:
                log.warning('dropping unreadable in-flight request %s: %s', ticket, exc)
                await self.redis.hdel(self.keys.inflight(self.origin), ticket)
        if self._orphans:
            log.info('%d LLM requests from before a restart are still open; they will be '
                     'answered or expired', len(self._orphans))

    async def _read_loop(self) -> None:
        while not self._closing:
            try:
                if not self.available:
                    await self._setup()
                await self._read_once()
            except asyncio.CancelledError:
                raise
            except REDIS_DOWN_ERRORS as exc:
                self._mark_down(exc)
                await asyncio.sleep(self.retry_interval_s)
            except ResponseError as exc:
                if 'NOGROUP' not in str(exc):
                    log.exception('results reader of %s: Redis error', self.origin)
                    await asyncio.sleep(self.retry_interval_s)
                    continue
                log.warning('results group of %s vanished (Redis restarted empty?); queueing '
                            'the %d waiting requests again', self.origin, len(self._waiters))
                self.available = False
                await self._setup()
                await self._requeue_all()
            except Exception:  # noqa: BLE001 - the reader must outlive any one bad entry
                log.exception('results reader of %s failed; restarting it', self.origin)
                await asyncio.sleep(self.retry_interval_s)

    async def _read_once(self) -> None:
        """Handle new results (BLOCK up to ``block_s``), then housekeeping.

        Every ``_REREAD_S`` (and after each reconnection) the delivered-but-unacknowledged
        entries are read again first: a reply lost with a connection that redis-py's Retry
        re-established would otherwise sit unhandled in the group's pending list.
        """
        stream = self.keys.results(self.origin)
        now = time.monotonic()
        if now - self._reread_at >= _REREAD_S:
            self._reread_at = now
            reply = await self.redis.xreadgroup(K.RESULTS_GROUP, 'reader', {stream: '0'},
                                                count=1000)
            for entry_id, fields in (reply[0][1] if reply else []):
                await self._on_result(stream, entry_id, fields)
        reply = await self.blocking.xreadgroup(K.RESULTS_GROUP, 'reader', {stream: '>'},
                                               count=100, block=int(self.block_s * 1000))
        for entry_id, fields in (reply[0][1] if reply else []):
            await self._on_result(stream, entry_id, fields)
        await self._expire_orphans()
        await self._refresh_depth()

    async def _on_result(self, stream: str, entry_id: Any, fields: Dict[Any, Any]) -> None:
        data = {_text(k): v for k, v in fields.items()}
        ticket = _text(data.get('ticket', b''))
        try:
            result, error = outcome_from_json(data['outcome'])
        except (KeyError, ValueError, TypeError) as exc:
            result, error = None, LLMError('unreadable result for %s: %s' % (ticket, exc))
        waiter = self._waiters.get(ticket)
        if waiter is not None and ticket not in self._answered:
            self._remember_answered(ticket)
            if not waiter[1].done():
                if error is not None:
                    waiter[1].set_exception(error)
                else:
                    waiter[1].set_result(result)
            await self.redis.hdel(self.keys.inflight(self.origin), ticket)
        elif ticket not in self._answered:
            await self._settle_orphan(ticket, result, error)
        async with self.redis.pipeline(transaction=False) as pipe:
            await pipe.xack(stream, K.RESULTS_GROUP, entry_id).xdel(stream, entry_id).execute()

    async def _settle_orphan(self, ticket: str, result: Any,
                             error: Optional[LLMError]) -> None:
        """Pass an orphan's outcome to ``on_orphan`` if this call wins the HDEL claim."""
        request = self._orphans.pop(ticket, None)
        if request is None:  # queued by this origin but not loaded as an orphan yet
            raw = await self.redis.hget(self.keys.inflight(self.origin), ticket)
            if raw is None:
                self._remember_answered(ticket)
                return  # not ours, or answered before
            request = LLMRequest.from_json(raw)
        self._remember_answered(ticket)
        if not await self.redis.hdel(self.keys.inflight(self.origin), ticket):
            return  # answered before (by a previous life of this node, or another path)
        request_id = request.request_id
        log.info('orphan request %s answered: %s', request_id,
                 'ok' if error is None else error.code)
        if self.on_orphan is None:
            return
        try:
            outcome = self.on_orphan(request, result, error)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:  # noqa: BLE001 - a failing callback must not stop the reader
            log.exception('on_orphan failed for request %s', request_id)

    async def _expire_orphans(self) -> None:
        now = time.time()
        for ticket, request in list(self._orphans.items()):
            if request.expired(now):
                await self._settle_orphan(ticket, None, RequestExpired(
                    'request %s (from before a restart) expired unanswered'
                    % request.request_id))

    async def _requeue_all(self) -> None:
        for request, future in list(self._waiters.values()):
            if future.done() or request.ticket in self._answered:
                continue
            try:
                await self._enqueue(request)
            except (SchedulerBusy, RedisLost) as exc:
                if not future.done():
                    future.set_exception(exc)

    async def _refresh_depth(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._depth_at < self.block_s:
            return
        self._depth_at = now
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream in self.keys.streams:
                pipe.xlen(stream)
            for stream in self.keys.streams:
                pipe.xpending(stream, K.GROUP)
            replies = await pipe.execute(raise_on_error=False)
        lengths = [r if isinstance(r, int) else 0 for r in replies[:3]]
        pending = [r.get('pending', 0) if isinstance(r, dict) else 0 for r in replies[3:]]
        self._pending = sum(pending)
        self._depth = max(sum(lengths) - self._pending, 0)

    def _mark_down(self, exc: BaseException) -> None:
        if self.available:
            log.warning('LLM queue in Redis unreachable (%s: %s); retrying every %.1f s',
                        type(exc).__name__, exc, self.retry_interval_s)
        self.available = False
        if self._lost is not None:
            self._lost.set()

    def _remember_answered(self, ticket: str, limit: int = 10000) -> None:
        self._answered[ticket] = None
        while len(self._answered) > limit:
            self._answered.popitem(last=False)

    def _spawn(self, coroutine) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _text(value: Any) -> str:
    return value.decode('utf-8') if isinstance(value, bytes) else str(value)
