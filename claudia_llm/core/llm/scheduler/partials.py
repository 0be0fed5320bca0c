"""Partial entries of the Redis results streams: a worker's call while it streams.

Worker side, ``CallStream`` runs one LLM call and, beside it, a loop that

- appends each ``StreamEvents`` of the answer (the actions once, reply pieces; parsed by an
  ``EventRelay``) to the results stream of every request waiting on the call that asked
  for events (``LLMRequest.events``): the leader and the coalesced followers that joined
  so far (a late follower first gets what was already said). An entry has the fields
  ``ticket``, ``request_id`` and ``partial`` (``events.events_to_json``) and no
  ``outcome``, so it is never mistaken for a result. Bounded: at most ``MAX_EVENTS``
  events per call, results streams capped at ``RESULTS_MAXLEN`` as for results;
- every ``watch_s`` (and at each event) checks whether anybody still wants the answer
  (an in-node worker is also told directly by its node's emergency stop, ``cancel_before``):
  when every request waiting on the call is cancelled (its origin's emergency stamp is
  newer than the request, or its submitter dropped it) or expired, the call is cancelled,
  which closes the HTTP stream (Ollama stops at the next token), and the slot is free.

The events still queued are sent before the worker publishes the outcome, so on each
results stream the partial entries come before the result.

Reader side, ``dispatch`` hands a partial entry to the local waiter's ``on_event``; one
for a request nobody waits for here (answered, handed over, an orphan) is dropped.
"""
import asyncio
import logging
from typing import Any, Callable, Dict, List, Optional

from redis.exceptions import RedisError

from claudia_llm.core.errors import RequestCancelled
from claudia_llm.core.redis_conn import REDIS_DOWN_ERRORS

from . import keys as K
from .events import MAX_EVENTS, EventRelay, deliver, events_from_json, events_to_json
from .request import LLMRequest, as_text

log = logging.getLogger(__name__)

PARTIAL_FIELD = 'partial'
WATCH_S = 0.05
"""How often a streaming call checks that somebody still wants it, s."""

Verdicts = Callable[[List[LLMRequest]], Any]  # async: [None | LLMError] per request


def is_partial(fields: Dict[str, Any]) -> bool:
    """True for a partial entry (``fields`` with str keys)."""
    return PARTIAL_FIELD in fields


class CallStream:
    """One worker LLM call for ``leader`` (and its followers); see the module docstring.

    Args:
        redis: the worker's commands client.
        keys: the ``keys.Keys`` of the prefix.
        llm: the LLM client (``chat(text, on_chunk=...)``, ``profile``).
        leader: the request whose entry the worker serves.
        verdicts: the worker's ``_verdicts`` (None per request still wanted).
        watch_s: period of the cancellation check, s.
        stall_s: bound of each Redis call made here, s.
    """

    def __init__(self, redis, keys: 'K.Keys', llm: Any, leader: LLMRequest,
                 verdicts: Verdicts, watch_s: float = WATCH_S, stall_s: float = 1.0):
        self.redis, self.keys, self.llm, self.leader = redis, keys, llm, leader
        self.verdicts, self.watch_s, self.stall_s = verdicts, watch_s, stall_s
        self.events = []  # type: List[Any]
        self.sent = {}  # type: Dict[str, int]  ticket -> events sent to it
        self.aborted = False
        self._followers = []  # type: List[LLMRequest]
        self._wake = asyncio.Event()
        self._call = None  # type: Optional[asyncio.Future]
        self.relay = EventRelay(llm, lambda: [self._queue], MAX_EVENTS)

    async def run(self) -> Any:
        """The call's ``LLMResult``.

        Raises:
            RequestCancelled: nobody wanted the answer any more; the call was cancelled.
            LLMError: the call failed.
        """
        call = self._call = asyncio.ensure_future(self.llm.chat(
            self.leader.text, on_chunk=self.relay.on_chunk))
        side = asyncio.ensure_future(self._side(call))
        try:
            await asyncio.wait({call})
        except asyncio.CancelledError:  # the worker stops: the entry stays pending
            call.cancel()
            side.cancel()
            raise
        side.cancel()
        await asyncio.gather(side, return_exceptions=True)
        if self.aborted:
            raise RequestCancelled('cancelled while streaming: nobody waits for the answer '
                                   'any more (emergency stop)')
        if self.events:
            await self._send_bounded()  # what is queued goes before the outcome
        return call.result()

    def cancel_before(self, origin: str, stamp: float) -> bool:
        """Stop the call if every request known on it is ``origin``'s, older than ``stamp``.

        Returns:
            True when the call was stopped now.
        """
        targets = [self.leader] + self._followers
        if self._call is None or self._call.done() or self.aborted or not all(
                t.origin == origin and t.created < stamp for t in targets):
            return False
        self.aborted = True
        log.info('request %s: cancelled by an emergency stop; its LLM call stops',
                 self.leader.request_id)
        self._call.cancel()
        return True

    def _queue(self, events: Any) -> None:
        self.events.append(events)
        self._wake.set()

    async def _side(self, call: 'asyncio.Future') -> None:
        while not call.done():
            try:
                await asyncio.wait_for(self._wake.wait(), self.watch_s)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            try:
                targets = await asyncio.wait_for(self._targets(), self.stall_s)
                verdicts = await asyncio.wait_for(self.verdicts(targets), self.stall_s)
            except (asyncio.TimeoutError, RedisError) + REDIS_DOWN_ERRORS as exc:
                log.debug('stream watch of %s: %s', self.leader.request_id, exc)
                continue
            if all(v is not None for v in verdicts):
                self.aborted = True
                log.info('request %s: nobody waits for it any more; its LLM call stops',
                         self.leader.request_id)
                call.cancel()
                return
            await self._send_bounded([t for t, v in zip(targets, verdicts) if v is None])

    async def _targets(self) -> List[LLMRequest]:
        """The leader and the followers that joined so far."""
        raw = await self.redis.lrange(self.keys.followers_prefix() + self.leader.ticket,
                                      len(self._followers), -1)
        for item in raw or []:
            try:
                self._followers.append(LLMRequest.from_json(item))
            except (KeyError, ValueError) as exc:
                log.debug('malformed follower of %s: %s', self.leader.request_id, exc)
        return [self.leader] + self._followers

    async def _send_bounded(self, targets: Optional[List[LLMRequest]] = None) -> None:
        try:
            if targets is None:
                targets = await asyncio.wait_for(self._targets(), self.stall_s)
            await asyncio.wait_for(self._send(targets), self.stall_s)
        except (asyncio.TimeoutError, RedisError) + REDIS_DOWN_ERRORS as exc:
            # Only events are lost (the outcome still comes): Redis down, OOM, a bad key...
            log.debug('partial entries of %s not sent: %s', self.leader.request_id, exc)

    async def _send(self, targets: List[LLMRequest]) -> None:
        pending = []
        for target in targets:
            ticket = target.ticket or target.request_id
            done = self.sent.get(ticket, 0)
            if target.events and done < len(self.events):
                pending.append((target, ticket, self.events[done:]))
        if not pending:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for target, ticket, events in pending:
                for item in events:
                    pipe.xadd(self.keys.results(target.origin),
                              {'ticket': ticket, 'request_id': target.request_id,
                               PARTIAL_FIELD: events_to_json(item)},
                              maxlen=K.RESULTS_MAXLEN, approximate=True)
            await pipe.execute()
        for _target, ticket, events in pending:
            self.sent[ticket] = self.sent.get(ticket, 0) + len(events)


def dispatch(scheduler: Any, ticket: str, fields: Dict[str, Any]) -> None:
    """Hand a partial entry to the waiter of ``ticket`` on ``scheduler`` (a RedisScheduler).

    Nothing when nobody here waits for it, its answer is in, or it has no ``on_event``.
    """
    waiter = scheduler._waiters.get(ticket)
    listener = scheduler._listeners.get(ticket)
    if waiter is None or listener is None or waiter[1].done() or ticket in scheduler._answered:
        return
    try:
        events = events_from_json(as_text(fields[PARTIAL_FIELD]))
    except (KeyError, ValueError, TypeError) as exc:
        log.warning('unreadable partial entry for %s: %s', ticket, exc)
        return
    deliver(listener, events)
