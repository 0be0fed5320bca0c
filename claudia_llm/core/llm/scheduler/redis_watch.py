"""Noticing a lost or stalled Redis within about a second, and its return (issue 16 item 2).

A refused or reset connection shows at once, but a Redis paused by SIGSTOP keeps its TCP
connections (the kernel even accepts new ones) and simply answers nothing: every command
then waits for its socket timeout, and redis-py retries it. ``RedisWatch`` sends PING every
``stall_s / 4`` with a bound of ``stall_s``; a refused connection, or two PINGs in a row
that miss the bound, call ``on_lost`` (one miss alone can be this process's event loop held
up on a loaded machine, not Redis: a SIGSTOP is then noticed after about 2 x ``stall_s``);
the first PING answered after that calls ``on_back``, and every one answered while Redis is
up calls ``on_up``. The failover scheduler moves its requests in
process and pauses its workers on the first, writes the moved requests' tombstones on the
second, and resumes its workers from the third once nothing is left in process.
"""
import asyncio
import logging
from typing import Any, Awaitable, Callable, Optional

from redis.exceptions import RedisError

from claudia_llm.core.redis_conn import bounded

log = logging.getLogger(__name__)


class RedisWatch:
    """PING Redis with a bound; report when it goes and when it comes back.

    Args:
        redis: ``make_redis(url)`` commands client (never closed here).
        stall_s: a PING unanswered this long means Redis stalled, s
            (``scheduler.redis_stall_s``).
        on_lost: ``async (exc)``, called once per outage with the PING's error.
        on_back: ``async () -> bool``, called when PING answers again after an outage;
            False means "not done yet": it is called again after the next PING.
        interval_s: pause between PINGs, s (default ``stall_s / 4``).
        on_up: ``async ()``, called after every answered PING while Redis is up.

    Raises:
        ValueError: ``stall_s`` not > 0.
    """

    def __init__(self, redis: Any, stall_s: float,
                 on_lost: Callable[[BaseException], Awaitable[None]],
                 on_back: Callable[[], Awaitable[bool]],
                 interval_s: Optional[float] = None,
                 on_up: Optional[Callable[[], Awaitable[None]]] = None):
        if not stall_s > 0:
            raise ValueError('stall_s must be > 0, got %r' % stall_s)
        self.redis, self.stall_s = redis, stall_s
        self.on_lost, self.on_back, self.on_up = on_lost, on_back, on_up
        self.interval_s = stall_s / 4.0 if interval_s is None else interval_s
        self.down = False
        self.outages = 0
        self.misses = 0  # PINGs in a row that missed the bound while Redis was up
        self._task = None  # type: Optional[asyncio.Task]

    async def start(self) -> None:
        """Start pinging (Redis may be down: that is reported as an outage)."""
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._loop())

    async def aclose(self) -> None:
        """Stop pinging."""
        task, self._task = self._task, None
        while task is not None and not task.done():  # again if redis-py swallowed one
            task.cancel()
            await asyncio.wait({task}, timeout=self.stall_s + 1.0)

    async def _loop(self) -> None:
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the watch must outlive a failing callback
                log.exception('Redis watch: a callback failed')
            await asyncio.sleep(self.interval_s)

    async def check(self) -> None:
        """One PING and what follows from it (``on_lost`` or ``on_back``)."""
        try:
            await bounded(self.redis.ping(), self.stall_s, 'PING')
        except (RedisError, OSError) as exc:  # down, stalled, refusing (NOAUTH, LOADING)
            self.misses += 1
            if not self.down and self.misses < 2 and _is_timeout(exc):
                log.info('Redis PING unanswered within %.2f s; asking again', self.stall_s)
                return
            if not self.down:
                self.down = True
                self.outages += 1
                log.warning('Redis lost or stalled (%s: %s); LLM requests are answered in '
                            'process until it answers again', type(exc).__name__, exc)
                await self.on_lost(exc)
            return
        self.misses = 0
        if self.down:
            if not await self.on_back():
                return
            self.down = False
            log.info('Redis answers again; LLM requests go through the streams')
        if self.on_up is not None:
            await self.on_up()


def _is_timeout(exc: BaseException) -> bool:
    """A bound missed (asyncio or redis-py timeout), as opposed to a refused connection."""
    from redis.exceptions import TimeoutError as RedisTimeout
    return isinstance(exc, (asyncio.TimeoutError, RedisTimeout, TimeoutError))
