"""Key-value store for the caches: Redis when reachable, process memory when not.

``FailoverStore`` writes through to an in-process ``MemoryStore`` (bounded LRU, TTL)
and to Redis. Reads come from memory first (a hit costs microseconds), then Redis.
When Redis is unreachable it logs once, keeps serving from memory, probes Redis again
every ``retry_interval_s`` and, when Redis is back, logs once and replays the entries
written meanwhile so nothing learnt during the outage is lost.

Every Redis call a caller waits on has a time budget (``budget_s``, parameter
``redis.budget_ms``), the wait for a pool connection included. A call past it, or one
refused, opens the circuit breaker: callers get memory at once while a background probe
(the half-open state) asks Redis; its answer closes the breaker and replays the writes.
The call cut at its budget is cancelled; redis-py (>= 4.5.4, redis/redis-py#2695)
disconnects a connection whose command was cancelled mid-read, so the next command on it
cannot read the stale reply (redis/redis-py#2624); ``test_store_redis`` checks this over a
SIGSTOPped server. A paused server still accepts TCP connections (the kernel completes the
handshake), so only a budget, not a refused connect, notices it.

A key Redis does not have is remembered (``core.cache.negative``, with a change token that
every write here increments) so a lookup that misses memory and was absent in Redis before
does not wait on Redis again until some process writes.

Values are bytes; hashes map str -> bytes. TTLs are absolute seconds from the write
(never refreshed by reads); ``ttl_s`` None or 0 means no expiry.
"""
import asyncio
import logging
import time
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Tuple

from claudia_llm.core.errors import StoreUnavailable
from claudia_llm.core.redis_conn import REDIS_DOWN_ERRORS, BudgetExceeded

from .negative import NegativeCache

log = logging.getLogger(__name__)

Value = object  # bytes, or Dict[str, bytes] for hashes
BREAKER_STATES = ('closed', 'open', 'half_open')


class MemoryStore:
    """Bounded in-process store with per-key absolute expiry and LRU eviction."""

    def __init__(self, max_entries: int = 50000, clock: Callable[[], float] = time.monotonic):
        if max_entries <= 0:
            raise ValueError('max_entries must be > 0, got %r' % max_entries)
        self._data = OrderedDict()  # type: OrderedDict[str, Tuple[Value, Optional[float]]]
        self._max = max_entries
        self._clock = clock

    def get(self, key: str) -> Optional[Value]:
        """Return the value, or None when absent or expired."""
        item = self._data.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and self._clock() >= expires:
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return value

    def set(self, key: str, value: Value, ttl_s: Optional[float] = None) -> None:
        """Store ``value``; evicts the least recently used entry beyond ``max_entries``."""
        expires = self._clock() + ttl_s if ttl_s else None
        self._data[key] = (value, expires)
        self._data.move_to_end(key)
        while len(self._data) > self._max:
            self._data.popitem(last=False)

    def ttl_left(self, key: str) -> Optional[float]:
        """Seconds until ``key`` expires, or None for no expiry or absent."""
        item = self._data.get(key)
        if item is None or item[1] is None:
            return None
        return max(item[1] - self._clock(), 0.0)

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        self._data.pop(key, None)

    def keys(self, prefix: str) -> List[str]:
        """Live keys starting with ``prefix``."""
        return [k for k in list(self._data) if k.startswith(prefix) and self.get(k) is not None]

    def __len__(self) -> int:
        return len(self._data)


class FailoverStore:
    """Redis with an in-memory mirror and failover; see the module docstring.

    Args:
        redis: a ``redis.asyncio.Redis`` (see ``redis_conn.make_redis``) or None to run on
            memory only. The store never closes a client it was given.
        retry_interval_s: how often to probe Redis while it is down, seconds.
        memory: the mirror; a new ``MemoryStore`` by default.
        budget_s: longest wait for one Redis call, seconds; None: only redis-py's own
            socket and pool timeouts bound it.
        change_key: the Redis key of the change token (incremented by every write of any
            ``FailoverStore`` on the same Redis); None: no negative caching.
        negative_ttl_s: longest time a key Redis did not have is trusted as absent,
            seconds; 0: no negative caching.
    """

    def __init__(self, redis, retry_interval_s: float = 2.0,
                 memory: Optional[MemoryStore] = None,
                 clock: Callable[[], float] = time.monotonic,
                 budget_s: Optional[float] = None,
                 change_key: Optional[str] = None, negative_ttl_s: float = 0.0):
        self.redis = redis
        self.budget_s = budget_s
        self.budget_misses = 0  # calls cut at their budget since start
        self.memory = memory if memory is not None else MemoryStore()
        self._retry_interval_s = retry_interval_s
        self._clock = clock
        self._down_since = None  # type: Optional[float]
        self._last_probe = 0.0
        self._unsynced = OrderedDict()  # type: OrderedDict[str, None]
        self._probe_task = None  # type: Optional[asyncio.Future]
        self.change_key = change_key
        self.negative = NegativeCache(negative_ttl_s if change_key else 0.0, clock=clock)
        self._token_task = None  # type: Optional[asyncio.Future]

    @property
    def redis_up(self) -> bool:
        """False while Redis is known to be unreachable."""
        return self.redis is not None and self._down_since is None

    @property
    def breaker(self) -> str:
        """Circuit breaker state: 'closed', 'open' or 'half_open'.

        'closed': Redis is used; 'open': memory only; 'half_open': memory only while a
        background probe asks Redis.
        """
        if self.redis_up:
            return 'closed'
        if self.redis is not None and self._probe_task is not None and \
                not self._probe_task.done():
            return 'half_open'
        return 'open'

    def status(self) -> Dict[str, object]:
        """``{'breaker': state, 'budget_misses': n}`` for response records and diagnostics."""
        return {'breaker': self.breaker, 'budget_misses': self.budget_misses}

    async def call(self, awaitable):
        """Await one Redis call within ``budget_s``.

        Raises:
            BudgetExceeded: (a redis TimeoutError, in ``REDIS_DOWN_ERRORS``) past the budget;
                the call is cancelled and counted in ``budget_misses``.
        """
        if self.budget_s is None:
            return await awaitable
        try:
            return await asyncio.wait_for(awaitable, self.budget_s)
        except asyncio.TimeoutError as exc:
            self.budget_misses += 1
            raise BudgetExceeded('Redis call over its %.0f ms budget'
                                 % (self.budget_s * 1000.0)) from exc

    async def get(self, key: str) -> Optional[bytes]:
        """Return the bytes at ``key`` or None (memory first, then Redis)."""
        value = self.memory.get(key)
        if value is not None or not await self._redis_usable() or self._known_absent(key):
            return value
        try:
            token, value, ttl_ms = await self.call(self._get_with_ttl(key))
        except REDIS_DOWN_ERRORS as exc:
            self._mark_down(exc)
            return None
        if value is None:
            self.negative.note_absent(key, token)
        else:
            self.memory.set(key, value, ttl_ms / 1000.0 if ttl_ms and ttl_ms > 0 else None)
        return value

    async def set(self, key: str, value: bytes, ttl_s: Optional[float] = None) -> None:
        """Write ``value`` to memory and Redis; remembered for replay if Redis is down."""
        self.memory.set(key, value, ttl_s)
        self.negative.forget(key)
        await self._write(key)

    async def hset(self, key: str, mapping: Dict[str, bytes],
                   ttl_s: Optional[float] = None) -> None:
        """Write a whole hash (replacing it) to memory and Redis."""
        self.memory.set(key, dict(mapping), ttl_s)
        self.negative.forget(key)
        await self._write(key)

    async def hgetall(self, key: str) -> Optional[Dict[str, bytes]]:
        """Return the hash at ``key`` (field -> bytes) or None."""
        value = self.memory.get(key)
        if value is not None or not await self._redis_usable() or self._known_absent(key):
            return value
        try:
            token, raw, ttl_ms = await self.call(self._hgetall_with_ttl(key))
        except REDIS_DOWN_ERRORS as exc:
            self._mark_down(exc)
            return None
        if not raw:
            self.negative.note_absent(key, token)
            return None
        value = {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()}
        self.memory.set(key, value, ttl_ms / 1000.0 if ttl_ms and ttl_ms > 0 else None)
        return value

    async def delete(self, key: str) -> None:
        """Remove ``key`` from memory and Redis."""
        self.memory.delete(key)
        self._unsynced.pop(key, None)
        if await self._redis_usable():
            try:
                await self.call(self.redis.delete(key))
            except REDIS_DOWN_ERRORS as exc:
                self._mark_down(exc)

    async def keys(self, prefix: str) -> List[str]:
        """Keys under ``prefix`` in Redis (SCAN) and memory, without duplicates."""
        found = dict.fromkeys(self.memory.keys(prefix))
        if await self._redis_usable():
            try:
                async for key in self.redis.scan_iter(match=_glob_escape(prefix) + '*',
                                                      count=500):
                    found[key.decode() if isinstance(key, bytes) else key] = None
            except REDIS_DOWN_ERRORS as exc:
                self._mark_down(exc)
        return list(found)

    async def ping(self) -> bool:
        """True when Redis answers PING now (also ends a known outage)."""
        return await self._redis_usable(force=True)

    def _known_absent(self, key: str) -> bool:
        """True when the negative cache says Redis has no ``key`` (token read if due)."""
        if not self.negative.enabled:
            return False
        if self.negative.check_due() and (self._token_task is None or self._token_task.done()):
            self._token_task = asyncio.ensure_future(self._read_token())
        return self.negative.knows_absent(key)

    async def _read_token(self) -> None:
        try:
            token = await self.call(self.redis.get(self.change_key))
        except REDIS_DOWN_ERRORS as exc:
            self._mark_down(exc)
            return
        self.negative.saw_token(token)

    async def _hgetall_with_ttl(self, key: str):
        return await self._read_with_ttl(key, 'hgetall')

    async def _get_with_ttl(
            self, key: str) -> Tuple[Optional[bytes], Optional[bytes], Optional[int]]:
        return await self._read_with_ttl(key, 'get')

    async def _read_with_ttl(self, key: str, command: str):
        """``(change token, value, pttl ms)`` in one round trip.

        The token is read first: a write that lands between the reads then leaves a newer
        token behind, so the absence noted under the old one is dropped at the next check.
        """
        async with self.redis.pipeline(transaction=False) as pipe:
            if self.change_key:
                pipe.get(self.change_key)
            getattr(pipe, command)(key).pttl(key)
            replies = await pipe.execute()
        token = replies[0] if self.change_key else None
        return (token,) + tuple(replies[-2:])

    async def _write(self, key: str) -> None:
        if not await self._redis_usable():
            self._unsynced[key] = None
            return
        try:
            await self.call(self._push(key))
        except REDIS_DOWN_ERRORS as exc:
            self._unsynced[key] = None
            self._mark_down(exc)

    async def _push(self, key: str) -> None:
        value = self.memory.get(key)
        if value is None:
            return
        ttl = self.memory.ttl_left(key)
        px = max(int(ttl * 1000), 1) if ttl is not None else None
        async with self.redis.pipeline(transaction=True) as pipe:
            if isinstance(value, dict):
                pipe.delete(key).hset(key, mapping=value)
                if px:
                    pipe.pexpire(key, px)
            else:
                pipe.set(key, value, px=px)
            if self.change_key:  # after the write: see _read_with_ttl
                pipe.incr(self.change_key)
            await pipe.execute()

    async def _redis_usable(self, force: bool = False) -> bool:
        """True when Redis may be used now.

        While it is down, a probe runs in the background every ``retry_interval_s`` so no
        request waits on a dead server.
        """
        if self.redis is None:
            return False
        if self._down_since is None and not force:
            return True
        if force:
            return await self._probe()
        now = self._clock()
        if now - self._last_probe >= self._retry_interval_s and (
                self._probe_task is None or self._probe_task.done()):
            self._last_probe = now
            self._probe_task = asyncio.ensure_future(self._probe())
        return False

    async def _probe(self) -> bool:
        self._last_probe = self._clock()
        try:
            await self.redis.ping()
        except REDIS_DOWN_ERRORS as exc:
            self._mark_down(exc)
            return False
        if self._down_since is not None:
            log.info('Redis is reachable again after %.1f s; replaying %d entries',
                     self._clock() - self._down_since, len(self._unsynced))
            self._down_since = None
            self.negative.clear()
            await self._replay()
        return self._down_since is None

    async def _replay(self) -> None:
        while self._unsynced:
            key = next(iter(self._unsynced))
            try:
                await self._push(key)
            except REDIS_DOWN_ERRORS as exc:
                self._mark_down(exc)
                return
            self._unsynced.pop(key, None)

    def _mark_down(self, exc: BaseException) -> None:
        self.negative.clear()
        if self._down_since is None:
            self._down_since = self._clock()
            self._last_probe = self._down_since
            # A budget miss is a slow Redis (or a loaded machine), not necessarily a lost one.
            what = 'too slow' if isinstance(exc, BudgetExceeded) else 'unreachable'
            log.warning('Redis %s (%s: %s); serving from memory, retrying every %.1f s',
                        what, type(exc).__name__, exc, self._retry_interval_s)


def _glob_escape(text: str) -> str:
    return ''.join('\\' + c if c in '*?[]\\' else c for c in text)


def require_redis(store: FailoverStore) -> None:
    """Raise StoreUnavailable when the store has no Redis behind it right now.

    Raises:
        StoreUnavailable: Redis is down or not configured.
    """
    if not store.redis_up:
        raise StoreUnavailable('Redis is not reachable')
