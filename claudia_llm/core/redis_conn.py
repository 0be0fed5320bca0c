"""redis-py clients set up for failure: bounded waits, retries with backoff, a blocking pool.

Every Redis wait here has a bound from a parameter (STYLE.md). Blocking stream reads
(XREADGROUP BLOCK) must use ``make_redis(..., for_blocking_reads=True)``: their own
connection, whose socket timeout exceeds the block time, so a long read never starves
or times out the connections the caches use.
"""
import asyncio
from typing import Any, Awaitable, Optional

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError


def make_redis(url: str, socket_timeout_s: float = 0.5, connect_timeout_s: float = 0.5,
               max_connections: int = 16, retries: int = 2,
               for_blocking_reads: bool = False,
               block_s: Optional[float] = None) -> 'aioredis.Redis':
    """Return a ``redis.asyncio.Redis`` on a ``BlockingConnectionPool``.

    Args:
        url: ``redis://host:port/db``.
        socket_timeout_s: read/write timeout per command, seconds.
        connect_timeout_s: TCP connect timeout, seconds.
        max_connections: pool size; a caller beyond it waits up to ``socket_timeout_s``.
        retries: retries on ConnectionError/TimeoutError, exponential backoff 10 ms..0.5 s.
        for_blocking_reads: a one-connection pool for XREADGROUP BLOCK; its socket timeout
            is ``block_s + socket_timeout_s``.
        block_s: the longest BLOCK a caller will use, seconds (with ``for_blocking_reads``).

    The client is lazy: no connection is made until the first command, so building one
    never raises while Redis is down.
    """
    timeout = socket_timeout_s
    if for_blocking_reads:
        timeout = (block_s or 1.0) + socket_timeout_s
        max_connections = 1
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=timeout,
        socket_timeout=timeout, socket_connect_timeout=connect_timeout_s,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.01), retries),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        health_check_interval=30)
    return aioredis.Redis(connection_pool=pool)


class BudgetExceeded(RedisTimeoutError):
    """A Redis call did not finish within its time budget or bound.

    ``redis.budget_ms`` on the utterance path, ``scheduler.redis_stall_s`` on the LLM
    queue's path.
    """


async def bounded(awaitable: Awaitable[Any], seconds: float, what: str = 'Redis call') -> Any:
    """Await a Redis call for at most ``seconds`` s; cancel it past that.

    A SIGSTOPped Redis keeps its TCP connections up and answers nothing, so only a bound
    like this one notices it before the socket timeout (and redis-py's retries) run out.
    Cancelling a command closes its connection (redis-py does so for any error while
    reading a reply), so no late reply is read by the next command.

    Raises:
        BudgetExceeded: (a redis ``TimeoutError``, in ``REDIS_DOWN_ERRORS``) past the bound.
        Whatever the call raises before it.
    """
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except asyncio.TimeoutError as exc:
        raise BudgetExceeded('%s took longer than %.2f s (Redis stalled?)'
                             % (what, seconds)) from exc


REDIS_DOWN_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
"""Errors meaning "Redis unreachable right now" (as opposed to a bad command)."""
