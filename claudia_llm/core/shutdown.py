"""Graceful stop of the engine (issue 16 item 3): no answer computed and dropped.

``drain`` runs on the engine's loop after the node stopped taking utterances:

1. the in-node LLM workers stop taking requests from the Redis queue (what waits there
   stays for the next node), and the calls they run get the grace period to finish;
2. every ``handle`` call still open gets up to ``grace_s`` to publish its record;
3. then the Redis scheduler hands over what is still unanswered: those requests stay in
   the queue and in this node's in-flight hash, and the next node started under the same
   name (origin) publishes each once (``redis_orphans``); this node publishes nothing
   for them;
4. whatever is still open after ``SETTLE_S`` more (an in-process LLM call while Redis is
   down, a request that never reached Redis) is cancelled and answered ``shutting_down``.

The node's publishers stay valid through all of it: the ROS layer shuts the context down
only after ``drain`` returned (``ros/stop_signals``).
"""
import asyncio
import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

SETTLE_S = 1.0
"""After the hand-over, how long answers already resolved get to publish, s."""


@dataclass
class DrainReport:
    """What a graceful stop did with the answers open when it began (counts)."""

    open: int = 0           # handle() calls running when the stop began (or during it)
    answered: int = 0       # published by this node during the grace period
    handed_over: int = 0    # left in the Redis queue for the next node
    shutting_down: int = 0  # answered 'shutting_down'

    def __str__(self) -> str:
        return ('%d open: %d answered, %d handed over to the Redis queue, %d answered '
                'shutting_down' % (self.open, self.answered, self.handed_over,
                                   self.shutting_down))


async def drain(pipeline: Any, scheduler: Any, grace_s: float) -> DrainReport:
    """Let open answers publish for up to ``grace_s`` s, hand over or answer the rest.

    Args:
        pipeline: the engine's ``Pipeline`` (``open_answers``, ``answer_shutting_down``).
        scheduler: its scheduler; ``stop_workers(grace_s)`` and ``hand_over()`` are used
            where it has them (the Redis failover scheduler), else skipped.
        grace_s: the grace period (``scheduler.shutdown_grace_s``), s; 0 = none.

    Returns:
        a ``DrainReport``. Never raises (except on cancellation).
    """
    report = DrainReport()
    seen = set(pipeline.open_answers())
    workers = asyncio.ensure_future(_stop_workers(scheduler, grace_s))
    await _wait_open(pipeline, grace_s, seen)
    hand_over = getattr(scheduler, 'hand_over', None)
    report.handed_over = hand_over() if hand_over is not None else 0
    await _wait_open(pipeline, SETTLE_S, seen)
    left = pipeline.open_answers()
    seen.update(left)
    for task in left:
        task.cancel()
    await asyncio.gather(*left, return_exceptions=True)
    for record in left.values():
        pipeline.answer_shutting_down(record)
    report.shutting_down = len(left)
    await workers
    report.open = len(seen)
    report.answered = max(report.open - report.handed_over - report.shutting_down, 0)
    return report


async def _wait_open(pipeline: Any, timeout_s: float, seen: set) -> None:
    """Wait until no ``handle`` call is open, at most ``timeout_s`` s; note each one seen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(timeout_s, 0.0)
    while True:
        tasks = pipeline.open_answers()
        seen.update(tasks)
        remaining = deadline - loop.time()
        if not tasks or remaining <= 0:
            return
        await asyncio.wait(list(tasks), timeout=remaining)


async def _stop_workers(scheduler: Any, grace_s: float) -> None:
    stop = getattr(scheduler, 'stop_workers', None)
    if stop is None:
        return
    try:
        await stop(grace_s)
    except Exception:  # noqa: BLE001 - stopping: the calls left are pending in Redis
        log.exception('stopping the LLM workers failed')
