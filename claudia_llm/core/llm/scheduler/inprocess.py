"""The LLM request scheduler inside one process: priorities, bound, deadlines, coalescing.

Used when ``scheduler.backend`` is ``memory`` and, by ``FailoverScheduler``, while Redis is
unreachable. Semantics (issue 5 items 1-3, 6), the same as the Redis scheduler's:

- Jobs wait in three FIFO queues, high before normal before low; at most ``max_in_flight``
  LLM calls run at once (the Ollama host's parallel slots), the rest wait here, never in
  Ollama, so they can still be reordered, expired and cancelled.
- Identical concurrent requests (same coalescing key) share one job and one LLM call,
  whether the job is still queued or already running. Every waiter gets the result or its
  own copy of the real error. A waiter that is cancelled leaves; the others keep waiting;
  a job whose last waiter left is dropped (queued) or its LLM call cancelled (running).
  Nothing is cached: the job is forgotten when it ends, errors included.
- A waiting higher-priority request promotes the queued job it joins.
- More than ``queue_size`` queued jobs: ``submit`` raises ``SchedulerBusy`` at once.
- A waiter gets ``RequestExpired`` as soon as its deadline passes (while queued or running);
  deadlines are also checked when a job is dequeued and when it finishes.
- ``cancel_before(stamp)`` answers every unanswered waiter created before ``stamp`` with
  ``RequestCancelled`` at once (emergency stop); queued jobs left without waiters never
  reach the LLM, a running call left without waiters is cancelled (its HTTP stream closes).
- Streaming: while a call runs, its chunks go through an ``EventRelay`` (``events``) and
  each waiter that passed ``on_event`` gets the actions once their list closes and the
  reply pieces as they complete (a waiter that joins late first gets what was said).
  A waiter that left gets nothing more.
"""
import asyncio
import copy
import logging
import time
from collections import deque
from typing import Any, Callable, List, Optional

from claudia_llm.core.errors import LLMError, RequestCancelled, RequestExpired, SchedulerBusy

from .events import EventRelay, OnEvent
from .request import LLMRequest, key_for, priority_rank
from .slots import SlotLimiter

log = logging.getLogger(__name__)


class _Waiter:
    __slots__ = ('request', 'future', 'on_event')

    def __init__(self, request: LLMRequest, future: 'asyncio.Future',
                 on_event: Optional[OnEvent] = None):
        self.request, self.future, self.on_event = request, future, on_event


class _Job:
    """One LLM call shared by every waiter with the same coalescing key."""

    __slots__ = ('key', 'text', 'rank', 'waiters', 'task', 'relay')

    def __init__(self, key: str, text: str, rank: int):
        self.key, self.text, self.rank = key, text, rank
        self.waiters = []  # type: List[_Waiter]
        self.task = None  # type: Optional[asyncio.Task]
        self.relay = None  # type: Optional[EventRelay]

    def listeners(self) -> List[OnEvent]:
        return [w.on_event for w in self.waiters
                if w.on_event is not None and not w.future.done()]


class InProcessScheduler:
    """Priority queue in front of one LLM client; see the module docstring.

    Args:
        llm: an object with ``async chat(text, on_chunk=None) -> LLMResult``
            (``core.llm.OllamaChat``); its ``model``, ``profile.version`` and ``options``
            enter the coalescing key, its ``profile`` parses the streamed chunks.
        max_in_flight: most LLM calls at once (ignored when ``slots`` is given).
        queue_size: most queued jobs (distinct LLM calls waiting); 0 means none may wait.
        slots: a ``SlotLimiter`` shared with other users of the same Ollama host.
        clock: wall clock in s since the epoch (``LLMRequest.created`` is on it).

    Raises:
        ValueError: ``max_in_flight`` < 1 or ``queue_size`` < 0.
    """

    def __init__(self, llm: Any, max_in_flight: int = 1, queue_size: int = 16,
                 slots: Optional[SlotLimiter] = None,
                 clock: Callable[[], float] = time.time):
        if queue_size < 0:
            raise ValueError('queue_size must be >= 0, got %r' % queue_size)
        self.llm = llm
        self.queue_size = queue_size
        self.slots = slots if slots is not None else SlotLimiter(max_in_flight)
        self._clock = clock
        self._queues = [deque() for _ in range(3)]  # type: List[Deque[_Job]]
        self._jobs = {}  # type: Dict[str, _Job]
        self._running = set()  # type: set
        self._closed = False
        self.slots.add_listener(self._pump)

    async def start(self) -> None:
        """Nothing to connect; present for the ``Scheduler`` protocol."""
        self._closed = False

    def depth(self) -> int:
        """Queued jobs (distinct LLM calls not yet started)."""
        return sum(len(q) for q in self._queues)

    def in_flight(self) -> int:
        """LLM calls of this scheduler running now."""
        return len(self._running)

    async def submit(self, request: LLMRequest, on_event: Optional[OnEvent] = None) -> Any:
        """Queue ``request`` (or join an identical one) and wait for its ``LLMResult``.

        Args:
            request: the request.
            on_event: called on the event loop with each ``StreamEvents`` of the answer
                while it streams (actions once, reply pieces), before the result.

        Raises:
            SchedulerBusy: the queue already holds ``queue_size`` jobs.
            RequestExpired: the deadline passed before the answer came.
            RequestCancelled: ``cancel_before`` or ``aclose`` cancelled it.
            LLMError: the LLM call failed (the real error, for every waiter).
        """
        if self._closed:
            raise RequestCancelled('the scheduler is closed')
        request.key = key_for(request, self.llm)
        if request.expired(self._clock()):
            raise RequestExpired('request %s is past its deadline' % request.request_id)
        job = self._join_or_queue(request)
        waiter = _Waiter(request, asyncio.get_running_loop().create_future(), on_event)
        job.waiters.append(waiter)
        if job.relay is not None:
            job.relay.replay(on_event)
        self._pump()
        try:
            await asyncio.wait({waiter.future}, timeout=max(request.remaining_s(self._clock()),
                                                            0.0))
        except asyncio.CancelledError:
            self._leave(job, waiter)
            raise
        if not waiter.future.done():
            self._leave(job, waiter)
            raise RequestExpired('request %s waited past its deadline of %.1f s'
                                 % (request.request_id, request.deadline_s))
        return waiter.future.result()

    def cancel_before(self, stamp: float) -> int:
        """Answer every waiter created before ``stamp`` (wall clock s) with RequestCancelled.

        Returns:
            The number of waiters cancelled.
        """
        count = 0
        for job in list(self._jobs.values()):
            for waiter in [w for w in job.waiters if w.request.created < stamp]:
                _settle(waiter, error=RequestCancelled('cancelled by an emergency stop'))
                self._leave(job, waiter)
                count += 1
        return count

    async def aclose(self) -> None:
        """Cancel running calls and answer every waiter with RequestCancelled."""
        self._closed = True
        self.slots.remove_listener(self._pump)
        for job in list(self._jobs.values()):
            for waiter in list(job.waiters):
                _settle(waiter, error=RequestCancelled('the scheduler is closed'))
            job.waiters.clear()
            if job.task is not None:
                job.task.cancel()
        tasks = [job.task for job in self._jobs.values() if job.task is not None]
        for queue in self._queues:
            queue.clear()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._jobs.clear()

    def _join_or_queue(self, request: LLMRequest) -> _Job:
        rank = priority_rank(request.priority)
        job = self._jobs.get(request.key)
        if job is not None:
            if job.task is None and rank < job.rank:  # promote the queued job
                self._queues[job.rank].remove(job)
                job.rank = rank
                self._queues[rank].append(job)
            return job
        if self.depth() >= self.queue_size:
            raise SchedulerBusy('%d LLM requests already queued (scheduler.queue_size)'
                                % self.depth())
        job = _Job(request.key, request.text, rank)
        self._jobs[job.key] = job
        self._queues[rank].append(job)
        return job

    def _leave(self, job: _Job, waiter: _Waiter) -> None:
        """Remove a waiter; drop its job (or cancel its LLM call) when none are left."""
        if waiter in job.waiters:
            job.waiters.remove(waiter)
        if job.waiters or self._jobs.get(job.key) is not job:
            return
        if job.task is None:
            self._queues[job.rank].remove(job)
            del self._jobs[job.key]
        else:
            job.task.cancel()

    def _pump(self) -> None:
        """Start queued jobs while slots are free (called on submit and when a slot frees)."""
        while not self._closed and self.depth() and self.slots.try_acquire():
            job = self._next_job()
            if job is None:
                self.slots.release()
                return
            job.task = asyncio.ensure_future(self._run(job))
            self._running.add(job.task)

    def _next_job(self) -> Optional[_Job]:
        now = self._clock()
        for queue in self._queues:
            while queue:
                job = queue.popleft()
                for waiter in [w for w in job.waiters if w.request.expired(now)]:
                    _settle(waiter, error=RequestExpired(
                        'request %s expired in the queue' % waiter.request.request_id))
                    job.waiters.remove(waiter)
                if job.waiters:
                    return job
                del self._jobs[job.key]
        return None

    async def _run(self, job: _Job) -> None:
        result, error = None, None
        job.relay = EventRelay(self.llm, job.listeners)
        try:
            result = await self.llm.chat(job.text, on_chunk=job.relay.on_chunk)
        except asyncio.CancelledError:
            error = RequestCancelled('the LLM call was cancelled')
        except LLMError as exc:
            error = exc
        except Exception as exc:  # noqa: BLE001 - a bug in the client must not strand waiters
            log.exception('LLM call failed unexpectedly')
            error = LLMError('unexpected %s: %s' % (type(exc).__name__, exc))
            error.__cause__ = exc
        finally:
            self._running.discard(job.task)
            if self._jobs.get(job.key) is job:
                del self._jobs[job.key]
            self.slots.release()
        _fan_out(job.waiters, result, error, self._clock())
        job.waiters.clear()


def _fan_out(waiters: List[_Waiter], result: Any, error: Optional[BaseException],
             now: float) -> None:
    """Give each waiter the result, its own copy of the error, or RequestExpired."""
    for index, waiter in enumerate(waiters):
        if waiter.request.expired(now):
            _settle(waiter, error=RequestExpired('request %s finished after its deadline'
                                                 % waiter.request.request_id))
        elif error is not None:
            _settle(waiter, error=error if index == 0 else _copy_error(error))
        else:
            _settle(waiter, result=result)


def _copy_error(error: BaseException) -> BaseException:
    twin = copy.copy(error)
    twin.__cause__ = error.__cause__
    return twin


def _settle(waiter: _Waiter, result: Any = None,
            error: Optional[BaseException] = None) -> None:
    if waiter.future.done():
        return
    if error is not None:
        waiter.future.set_exception(error)
    else:
        waiter.future.set_result(result)
