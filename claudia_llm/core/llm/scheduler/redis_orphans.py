"""Orphans of the Redis LLM queue: requests queued before this submitter restarted.

Every request sits in the hash ``P:llm:inflight:<origin>`` until answered. At start the
scheduler loads the entries it has no waiter for; each goes to ``on_orphan(request, result,
error)`` exactly once: with its outcome when a worker's result arrives, or with
``RequestExpired`` once its deadline passes. HDEL on that hash is the claim that makes
"exactly once" hold when a result and a local expiry race. Mixed into ``RedisScheduler``.
"""
import inspect
import logging
import time
from typing import Any, Awaitable, Callable, Optional

from claudia_llm.core.errors import LLMError, RequestExpired

from .request import LLMRequest, as_text

log = logging.getLogger('claudia_llm.core.llm.scheduler.redis_streams')

OnOrphan = Callable[[LLMRequest, Any, Optional[LLMError]], Optional[Awaitable[None]]]


class OrphanBook:
    """The orphan bookkeeping of ``RedisScheduler`` (see the module docstring)."""

    async def _load_orphans(self) -> None:
        raw = await self.redis.hgetall(self.keys.inflight(self.origin))
        for key, value in raw.items():
            ticket = as_text(key)
            if ticket in self._waiters or ticket in self._orphans:
                continue
            if ticket in self._answered:
                await self.redis.hdel(self.keys.inflight(self.origin), ticket)
                continue
            try:
                self._orphans[ticket] = LLMRequest.from_json(value)
            except (KeyError, ValueError) as exc:
                log.warning('dropping unreadable in-flight request %s: %s', ticket, exc)
                await self.redis.hdel(self.keys.inflight(self.origin), ticket)
        if self._orphans:
            log.info('%d LLM requests from before a restart are still open; they will be '
                     'answered or expired', len(self._orphans))

    async def _settle_orphan(self, ticket: str, result: Any,
                             error: Optional[LLMError]) -> None:
        """Pass an orphan's outcome to ``on_orphan`` if this call wins the HDEL claim."""
        request = self._orphans.pop(ticket, None)
        if request is None:  # queued by this origin but not loaded as an orphan yet
            raw = await self.redis.hget(self.keys.inflight(self.origin), ticket)
            if raw is None:
                self._remember_answered(ticket)
                return  # not ours, or answered before
            request = LLMRequest.from_json(raw)
        self._remember_answered(ticket)
        if not await self.redis.hdel(self.keys.inflight(self.origin), ticket):
            return  # answered before (by a previous life of this node, or another path)
        request_id = request.request_id
        log.info('orphan request %s answered: %s', request_id,
                 'ok' if error is None else error.code)
        if self.on_orphan is None:
            return
        try:
            outcome = self.on_orphan(request, result, error)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:  # noqa: BLE001 - a failing callback must not stop the reader
            log.exception('on_orphan failed for request %s', request_id)

    async def _expire_orphans(self) -> None:
        now = time.time()
        for ticket, request in list(self._orphans.items()):
            if request.expired(now):
                await self._settle_orphan(ticket, None, RequestExpired(
                    'request %s (from before a restart) expired unanswered'
                    % request.request_id))
