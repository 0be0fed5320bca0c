"""Results side of the Redis LLM queue: the reader of ``P:llm:results:<origin>``.

One XREADGROUP BLOCK loop per submitter hands each result to its local waiter or to the
orphan book (and each partial entry of a streaming answer to the waiter's ``on_event``,
``partials``), acknowledges it, refreshes the queue depth and notices Redis going away and
coming back (why a stream and not pub/sub: ``redis_streams`` docstring). Mixed into
``RedisScheduler``, whose attributes (``redis``, ``blocking``, ``keys``, ``origin``,
``_waiters``, ``_answered``, ...) it uses.
"""
import asyncio
import logging
import time
from typing import Any, Dict

from redis.exceptions import ResponseError

from claudia_llm.core.errors import LLMError, SchedulerBusy, StoreUnavailable
from claudia_llm.core.redis_conn import REDIS_DOWN_ERRORS, BudgetExceeded, bounded

from . import keys as K
from . import partials
from .request import as_text, outcome_from_json

log = logging.getLogger('claudia_llm.core.llm.scheduler.redis_streams')

_REREAD_S = 5.0


class RedisLost(StoreUnavailable):
    """Redis became unreachable while a request waited; the request may be retried."""


class ResultsReader:
    """The results reader of ``RedisScheduler`` (see the module docstring)."""

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

    async def _read_loop(self) -> None:
        while not self._closing:
            try:
                if not self.available:
                    await self._setup()
                await self._read_once()
            except asyncio.CancelledError:
                raise
            except BudgetExceeded as exc:
                # One slow read alone can be a held-up event loop on a loaded machine (it
                # moved a request in process while a worker ran it: the LLM answered twice).
                # A stall is when a PING misses its bound too; entries of the cancelled read
                # stay pending in the group and are read again (_read_once).
                if await self._redis_answers():
                    log.info('reading LLM results of %s missed its bound (%s) but Redis '
                             'answers a PING: a busy process, not a stall', self.origin, exc)
                    self._reread_at = 0.0
                    continue
                self._mark_down(exc)
                await asyncio.sleep(self.retry_interval_s)
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

    async def _redis_answers(self) -> bool:
        """True when Redis answers a PING within ``stall_s``; never raises Redis errors."""
        try:
            await bounded(self.redis.ping(), self.stall_s, 'PING after a slow results read')
        except REDIS_DOWN_ERRORS:
            return False
        return True

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
            reply = await bounded(self.redis.xreadgroup(
                K.RESULTS_GROUP, 'reader', {stream: '0'}, count=1000), self.stall_s,
                'reading LLM results')
            for entry_id, fields in (reply[0][1] if reply else []):
                await self._on_result(stream, entry_id, fields)
        reply = await bounded(self.blocking.xreadgroup(
            K.RESULTS_GROUP, 'reader', {stream: '>'}, count=100,
            block=int(self.block_s * 1000)), self.block_s + self.stall_s, 'reading LLM results')
        for entry_id, fields in (reply[0][1] if reply else []):
            await self._on_result(stream, entry_id, fields)
        await self._expire_orphans()
        await self._refresh_depth()

    async def _on_result(self, stream: str, entry_id: Any, fields: Dict[Any, Any]) -> None:
        # aclose waits for this flag before cancelling the reader: cancelled between
        # resolving a waiter and acknowledging, a result would be answered twice.
        self._in_result = True
        try:
            await self._handle_result(stream, entry_id, fields)
        finally:
            self._in_result = False

    async def _handle_result(self, stream: str, entry_id: Any, fields: Dict[Any, Any]) -> None:
        data = {as_text(k): v for k, v in fields.items()}
        ticket = as_text(data.get('ticket', b''))
        if partials.is_partial(data):  # an event of an answer still streaming, no result
            partials.dispatch(self, ticket, data)
            async with self.redis.pipeline(transaction=False) as pipe:
                await pipe.xack(stream, K.RESULTS_GROUP, entry_id).xdel(stream, entry_id).execute()
            return
        if ticket in self._handed:
            return  # handed over: left unacknowledged for the next node (hand_over)
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
