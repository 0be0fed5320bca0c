"""LLM request scheduling (issue 5): priorities, deadlines, coalescing, bounded in-flight.

Modules: ``request`` (the request and its wire form), ``slots`` (in-flight bound shared
per Ollama host), ``inprocess`` (the scheduler in one process), ``keys`` (Redis layout and
scripts), ``redis_streams`` (submitting through Redis streams; its results reader in
``redis_results``, restart orphans in ``redis_orphans``), ``worker`` (serving them; what it
reads next in ``worker_intake``), ``failover`` (Redis when up, in process when not).
``make_scheduler`` wires them from the flat settings of ``core.settings``; the pipeline
only sees the ``Scheduler`` protocol.
"""
import socket
from typing import Any, Callable, Dict, Optional

from claudia_llm.core.errors import ConfigError
from claudia_llm.core.redis_conn import make_redis

from .failover import FailoverScheduler
from .inprocess import InProcessScheduler
from .redis_streams import OnOrphan, RedisLost, RedisScheduler
from .request import LLMRequest
from .slots import SlotLimiter
from .worker import LLMWorker

try:
    from typing import Protocol
except ImportError:  # pragma: no cover - Python < 3.8
    Protocol = object

__all__ = ['FailoverScheduler', 'InProcessScheduler', 'LLMRequest', 'LLMWorker', 'RedisLost',
           'RedisScheduler', 'Scheduler', 'SlotLimiter', 'make_scheduler']

BLOCK_S = 1.0
"""Longest XREADGROUP BLOCK of the results reader and the in-node worker, s."""


class Scheduler(Protocol):
    """What the pipeline calls. All methods run on the pipeline's event loop."""

    async def start(self) -> None:
        """Connect (never fails because Redis is down) and start background readers."""

    async def submit(self, request: LLMRequest) -> Any:
        """Wait for the ``LLMResult`` of ``request``.

        Raises:
            SchedulerBusy: the queue is full (answer at once, ``busy``).
            RequestExpired: the deadline passed before an answer.
            RequestCancelled: an emergency stop (``cancel_before``) or shutdown.
            LLMError: the LLM call failed (the real error: timeout, HTTP, malformed...).
        """

    def cancel_before(self, stamp: float) -> int:
        """Cancel unanswered requests created before ``stamp`` (wall clock s)."""

    def depth(self) -> int:
        """Requests waiting for a slot."""

    def in_flight(self) -> int:
        """LLM calls running."""

    async def aclose(self) -> None:
        """Stop; waiting requests get ``RequestCancelled``."""


def make_scheduler(settings: Dict[str, Any], llm: Any, redis: Any = None,
                   blocking_redis: Any = None, on_orphan: Optional[OnOrphan] = None,
                   origin: str = 'llm_node',
                   redis_factory: Callable[..., Any] = make_redis) -> Scheduler:
    """Build the scheduler ``settings`` ask for.

    ``scheduler.backend`` 'memory' (or no ``redis`` client): an ``InProcessScheduler``.
    'redis': a ``FailoverScheduler`` over a ``RedisScheduler`` named ``origin`` and the
    in-process one; with ``scheduler.in_node_worker`` also an ``LLMWorker`` on ``llm`` named
    ``<origin>@<hostname>`` (stable across restarts), on a blocking connection of its own
    that the scheduler opens and closes. In-flight calls to ``llm`` are bounded by
    ``min(ollama.parallel_slots, scheduler.max_concurrency)``, shared by the worker and the
    in-process fallback.

    Args:
        settings: ``core.settings`` values for 'llm_node' (``scheduler.*``,
            ``ollama.parallel_slots``, ``redis.*``).
        llm: ``core.llm.OllamaChat``.
        redis, blocking_redis: ``make_redis`` clients (the second with
            ``for_blocking_reads=True, block_s >= 1``); not closed by the scheduler.
        on_orphan: ``(request, result, error)``, sync or async: outcomes of requests this
            origin submitted before a restart (``redis_streams`` docstring).
        origin: name of this submitter, unique and stable (the node name).

    Raises:
        ConfigError: unknown ``scheduler.backend`` or a bound below 1.
    """
    backend = settings['scheduler.backend']
    if backend not in ('redis', 'memory'):
        raise ConfigError("scheduler.backend must be 'redis' or 'memory', got %r" % backend)
    slots_n = min(settings['ollama.parallel_slots'], settings['scheduler.max_concurrency'])
    if slots_n < 1 or settings['scheduler.queue_size'] < 0:
        raise ConfigError('need ollama.parallel_slots >= 1, scheduler.max_concurrency >= 1 and '
                          'scheduler.queue_size >= 0')
    slots = SlotLimiter(slots_n)
    inprocess = InProcessScheduler(llm, slots=slots, queue_size=settings['scheduler.queue_size'])
    if backend == 'memory' or redis is None:
        return inprocess

    def redis_scheduler() -> RedisScheduler:
        return RedisScheduler(redis, blocking_redis, llm, origin=origin,
                              queue_size=settings['scheduler.queue_size'],
                              prefix=settings['redis.key_prefix'], on_orphan=on_orphan,
                              block_s=BLOCK_S,
                              retry_interval_s=settings['redis.retry_interval_s'])

    workers, clients = [], []
    if settings['scheduler.in_node_worker']:
        worker_blocking = redis_factory(
            settings['redis.url'], socket_timeout_s=settings['redis.socket_timeout_s'],
            connect_timeout_s=settings['redis.connect_timeout_s'], for_blocking_reads=True,
            block_s=BLOCK_S)
        clients.append(worker_blocking)
        consumer = origin if '@' in origin else '%s@%s' % (origin, socket.gethostname())
        workers.append(LLMWorker(
            redis, worker_blocking, llm, consumer,
            claim_idle_s=settings['scheduler.claim_idle_s'],
            prefix=settings['redis.key_prefix'], block_s=BLOCK_S, slots=slots,
            retry_interval_s=min(settings['redis.retry_interval_s'], 1.0)))
    return FailoverScheduler(redis_scheduler, inprocess, workers=workers, clients=clients)
