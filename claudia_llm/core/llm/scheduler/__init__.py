"""LLM request scheduling (issue 5): priorities, deadlines, coalescing, bounded in-flight.

Modules: ``request`` (the request and its wire form), ``slots`` (in-flight bound shared
per Ollama host), ``inprocess`` (the scheduler in one process), ``keys`` (Redis layout and
scripts), ``redis_streams`` (submitting through Redis streams; its results reader in
``redis_results``, restart orphans in ``redis_orphans``), ``worker`` (serving them; what it
reads next in ``worker_intake``), ``failover`` (Redis when up, in process when not; a
lost or stalled Redis noticed by ``redis_watch``, its waiting requests moved in process by
``migration``, the in-node workers paused meanwhile by ``worker_pause``).
``core.build.make_scheduler`` wires them from the configuration; the pipeline only sees
the ``Scheduler`` protocol.
"""
from typing import Any

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

__all__ = ['BLOCK_S', 'FailoverScheduler', 'InProcessScheduler', 'LLMRequest', 'LLMWorker',
           'OnOrphan', 'RedisLost', 'RedisScheduler', 'Scheduler', 'SlotLimiter']

BLOCK_S = 1.0
"""Longest XREADGROUP BLOCK of the results reader and the in-node worker, s."""


class Scheduler(Protocol):
    """What the pipeline calls. All methods run on the pipeline's event loop."""

    async def start(self) -> None:
        """Connect (never fails because Redis is down) and start background readers."""

    async def submit(self, request: LLMRequest, on_event: Any = None) -> Any:
        """Wait for the ``LLMResult`` of ``request``.

        ``on_event``, when given, is called on the loop with each ``StreamEvents`` of the
        answer while it streams (the actions once, reply pieces), before the result.

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
