"""Processing side of the LLM queue: reads the request streams, calls Ollama, publishes.

One ``LLMWorker`` per Ollama host (issue 5 items 1, 2, 4, 5). It takes a request from
Redis only when it holds one of the host's ``max_in_flight`` slots, so requests beyond the
host's parallel slots wait in Redis, where they can be reordered, expired and cancelled,
never in Ollama's FIFO queue. Which entry it takes next: ``worker_intake``.

While a request runs, the worker re-claims its entry every ``claim_idle_s / 3`` (XCLAIM
with idle 0, JUSTID) so a live but slow worker is never mistaken for a dead one.

Before calling the LLM it answers ``expired`` (deadline passed), ``cancelled`` (created
before its origin's last emergency stamp) or skips a request nobody waits for (dropped),
for the leader and for each coalesced follower. While the call streams, its events go to
the waiters' results streams as partial entries, and the call is cancelled as soon as
nobody wants it any more (``partials``). The outcome is published, and the entry
acknowledged and deleted, by one Lua script that sets ``P:llm:done:<ticket>`` with NX
first: a request two workers finished is published once. A worker killed before that
script runs leaves its entry pending; another worker claims it after ``claim_idle_s``.
"""
import asyncio
import logging
import time
from typing import Any, Dict, List, Optional, Tuple

from redis.exceptions import ResponseError

from claudia_llm.core.errors import LLMError, RequestCancelled, RequestExpired
from claudia_llm.core.redis_conn import REDIS_DOWN_ERRORS

from . import keys as K
from .partials import CallStream
from .request import LLMRequest, as_text, outcome_to_json
from .slots import SlotLimiter
from .worker_intake import Entry, StreamIntake

log = logging.getLogger(__name__)

DONE_TTL_MS = 3600 * 1000


class LLMWorker(StreamIntake):
    """Serve the LLM request streams with one Ollama host; see the module docstring.

    Args:
        redis: ``make_redis(url)`` client for commands (never closed here).
        blocking_redis: ``make_redis(url, for_blocking_reads=True, block_s >= block_s)``,
            used only by this worker (never closed here).
        llm: ``core.llm.OllamaChat`` (``async chat(text) -> LLMResult``).
        consumer_name: unique name in the consumer group, stable across restarts of the
            same worker (its own pending entries are resumed at start).
        max_in_flight: the host's parallel slots (ignored when ``slots`` is given).
        claim_idle_s: entries pending this long on another consumer are taken over, s.
        prefix: ``redis.key_prefix``.
        block_s: longest XREADGROUP BLOCK, s.
        slots: a ``SlotLimiter`` shared with the in-process scheduler on the same host.
        retry_interval_s: pause between attempts while Redis is unreachable, s.

    Raises:
        ValueError: ``claim_idle_s`` or ``block_s`` not > 0, or an empty consumer name.
    """

    def __init__(self, redis, blocking_redis, llm: Any, consumer_name: str,
                 max_in_flight: int = 1, claim_idle_s: float = 15.0, prefix: str = 'claudia',
                 block_s: float = 1.0, slots: Optional[SlotLimiter] = None,
                 retry_interval_s: float = 1.0):
        if not claim_idle_s > 0 or not block_s > 0:
            raise ValueError('claim_idle_s and block_s must be > 0, got %r, %r'
                             % (claim_idle_s, block_s))
        if not consumer_name:
            raise ValueError('consumer_name must not be empty')
        self.redis, self.blocking, self.llm = redis, blocking_redis, llm
        self.name, self.claim_idle_s, self.block_s = consumer_name, claim_idle_s, block_s
        self.retry_interval_s = retry_interval_s
        self.keys = K.Keys(prefix)
        self.slots = slots if slots is not None else SlotLimiter(max_in_flight)
        self._close_script = redis.register_script(K.CLOSE)
        self._publish_script = redis.register_script(K.PUBLISH)
        self._buffer = []  # type: List[Entry]
        self._running = {}  # type: Dict[asyncio.Task, Tuple[str, str]]
        self._streams = set()  # type: set  # CallStreams running
        self._loop_task = None  # type: Optional[asyncio.Task]
        self._beat_task = None  # type: Optional[asyncio.Task]
        self._claim_at = 0.0
        self._down = False
        self._stopping = False
        self.processed = 0

    async def start(self) -> None:
        """Start reading (Redis may still be down: the loop waits for it)."""
        self._stopping = False
        if self._loop_task is None or self._loop_task.done():
            self._buffer = []  # what this name holds in Redis is read again at start
            self._loop_task = asyncio.ensure_future(self._loop())
            self._beat_task = asyncio.ensure_future(self._heartbeat())

    def in_flight(self) -> int:
        """Requests this worker is processing now."""
        return len(self._running)

    async def stop(self, drain_s: float = 5.0) -> None:
        """Stop reading; let running requests finish for up to ``drain_s`` s.

        Requests still running then are cancelled and stay pending in Redis, where
        another worker (or this one, restarted under the same name) takes them over.
        The read loop also checks a stop flag: on Python < 3.12 ``asyncio.wait_for``
        inside redis-py can swallow a cancellation that lands as a command completes.
        """
        self._stopping = True
        await _cancel_and_wait(self._beat_task, self.block_s)
        await _cancel_and_wait(self._loop_task, self.block_s)
        running = list(self._running)
        if running:
            done, pending = await asyncio.wait(running, timeout=drain_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self._loop_task = self._beat_task = None

    async def _loop(self) -> None:
        await self._resume_own_pending()
        while not self._stopping:
            await self.slots.acquire()
            try:
                entry = await self._next_entry()
            except BaseException as exc:
                self.slots.release()
                if isinstance(exc, asyncio.CancelledError):
                    raise
                await self._on_loop_error(exc)
                continue
            if entry is None or self._stopping:
                self.slots.release()
                if entry is not None:  # ours in Redis' pending list; claimed after a restart
                    self._buffer.append(entry)
                continue
            task = asyncio.ensure_future(self._process(entry))
            self._running[task] = (entry[1], entry[2])

    async def _on_loop_error(self, exc: BaseException) -> None:
        if isinstance(exc, REDIS_DOWN_ERRORS):
            if not self._down:
                log.warning('worker %s: Redis unreachable (%s); retrying every %.1f s',
                            self.name, exc, self.retry_interval_s)
            self._down = True
        elif isinstance(exc, ResponseError) and 'NOGROUP' in str(exc):
            log.warning('worker %s: request streams have no group (Redis restarted empty?); '
                        'creating them', self.name)
            try:
                await self._ensure_groups()
                return
            except REDIS_DOWN_ERRORS:
                self._down = True
        else:
            log.exception('worker %s: unexpected error while reading', self.name)
        await asyncio.sleep(self.retry_interval_s)

    async def _heartbeat(self) -> None:
        """Keep running entries' idle time low so no one claims them from a live worker."""
        while True:
            await asyncio.sleep(max(self.claim_idle_s / 3.0, 0.05))
            by_stream = {}  # type: Dict[str, List[str]]
            for stream, entry_id in list(self._running.values()):
                by_stream.setdefault(stream, []).append(entry_id)
            for stream, ids in by_stream.items():
                try:
                    await self.redis.xclaim(stream, K.GROUP, self.name, 0, ids, justid=True)
                except (ResponseError,) + REDIS_DOWN_ERRORS as exc:
                    log.debug('heartbeat of %s failed: %s', ids, exc)

    async def _process(self, entry: Entry) -> None:
        _rank, stream, entry_id, fields = entry
        try:
            await self._serve(stream, entry_id, fields)
            self.processed += 1
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the entry stays pending and is claimed again
            log.exception('worker %s: request entry %s failed; left pending', self.name,
                          entry_id)
        finally:
            self._running.pop(asyncio.current_task(), None)
            self.slots.release()

    async def _serve(self, stream: str, entry_id: str, fields: Dict[Any, Any]) -> None:
        try:
            leader = LLMRequest.from_fields(fields)
        except (KeyError, ValueError) as exc:
            log.warning('dropping malformed request entry %s: %s', entry_id, exc)
            await self._publish(stream, entry_id, '', [])
            return
        followers = []  # type: List[LLMRequest]
        verdict = (await self._verdicts([leader]))[0]
        if verdict is not None:
            followers = await self._close(leader)
            verdicts = await self._verdicts(followers)
            if all(v is not None for v in verdicts):
                await self._publish(stream, entry_id, leader.ticket, [
                    (r, None, v) for r, v in zip([leader] + followers, [verdict] + verdicts)])
                return
        result, error = await self._call(leader)
        if verdict is None:
            followers = await self._close(leader)
        targets = [leader] + followers
        verdicts = await self._verdicts(targets)
        await self._publish(stream, entry_id, leader.ticket, [
            (r, result if v is None and error is None else None, v or error)
            for r, v in zip(targets, verdicts)])

    async def _call(self, leader: LLMRequest) -> Tuple[Any, Optional[LLMError]]:
        """The LLM call, streamed (``partials.CallStream``: events, cancellation watch)."""
        stream = CallStream(self.redis, self.keys, self.llm, leader, self._verdicts)
        self._streams.add(stream)
        try:
            return await stream.run(), None
        except LLMError as exc:
            return None, exc
        except Exception as exc:  # noqa: BLE001 - every waiter must still get an answer
            log.exception('worker %s: LLM call failed unexpectedly', self.name)
            return None, LLMError('unexpected %s: %s' % (type(exc).__name__, exc))
        finally:
            self._streams.discard(stream)

    def cancel_before(self, origin: str, stamp: float) -> int:
        """Stop the calls only ``origin``'s requests older than ``stamp`` wait for; count them.

        For an emergency stop of the node this worker runs in.

        The same verdict the calls' own watch reaches once the stamp is in Redis, without
        waiting for it (``partials.CallStream.cancel_before``).
        """
        return sum(1 for stream in list(self._streams) if stream.cancel_before(origin, stamp))

    async def _verdicts(self, requests: List[LLMRequest]) -> List[Optional[LLMError]]:
        """None for each request still wanted, else the error that answers it."""
        if not requests:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for request in requests:
                pipe.get(self.keys.cancel_before(request.origin))
                pipe.exists(self.keys.drop(request.ticket))
            replies = await pipe.execute()
        now, verdicts = time.time(), []
        for index, request in enumerate(requests):
            stamp, dropped = replies[2 * index], replies[2 * index + 1]
            if request.expired(now):
                verdicts.append(RequestExpired('request %s expired before an answer'
                                               % request.request_id))
            elif stamp is not None and request.created < float(as_text(stamp)):
                verdicts.append(RequestCancelled('cancelled by an emergency stop'))
            elif dropped:
                verdicts.append(RequestCancelled('nobody waits for this request any more'))
            else:
                verdicts.append(None)
        return verdicts

    async def _close(self, leader: LLMRequest) -> List[LLMRequest]:
        raw = await self._close_script(keys=[self.keys.coalesce(leader.key),
                                             self.keys.followers_prefix() + leader.ticket],
                                       args=[leader.ticket])
        followers = []
        for item in raw or []:
            try:
                followers.append(LLMRequest.from_json(item))
            except (KeyError, ValueError) as exc:
                log.warning('dropping malformed follower of %s: %s', leader.request_id, exc)
        return followers

    async def _publish(self, stream: str, entry_id: str, leader_ticket: str,
                       outcomes: List[Tuple[LLMRequest, Any, Optional[BaseException]]]) -> None:
        """Publish each outcome once, then XACK + XDEL; retried while Redis is down."""
        args = [K.GROUP, entry_id, self.keys.done_prefix(), self.keys.results(''),
                DONE_TTL_MS, K.RESULTS_MAXLEN]
        for request, result, error in outcomes:
            args += [request.ticket or request.request_id, request.request_id, request.origin,
                     outcome_to_json(result, error)]
        keys = [stream, self.keys.followers_prefix() + leader_ticket]
        give_up = time.monotonic() + max(self.claim_idle_s, 5.0)
        while True:
            try:
                await self._publish_script(keys=keys, args=args)
                return
            except REDIS_DOWN_ERRORS as exc:
                if time.monotonic() > give_up:
                    raise
                log.warning('worker %s: cannot publish %s yet (%s); retrying', self.name,
                            leader_ticket, exc)
                await asyncio.sleep(min(self.retry_interval_s, 0.5))

    def _up(self) -> None:
        if self._down:
            log.info('worker %s: Redis reachable again', self.name)
        self._down = False


async def _cancel_and_wait(task: Optional[asyncio.Task], bound_s: float) -> None:
    """Cancel ``task`` and wait for it; cancel again if a cancellation was swallowed."""
    while task is not None and not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=bound_s + 1.0)
