"""Which request entry an ``LLMWorker`` takes next.

For each free slot it reads, in this order:

1. entries pending longer than ``claim_idle_s`` on any consumer (XAUTOCLAIM; a worker that
   died mid-request), high stream first;
2. the high, then normal, then low stream, without blocking;
3. all three at once with XREADGROUP BLOCK on its own blocking connection; if that returns
   entries of several streams, the extra ones are kept (they are ours in Redis' pending
   list) and served first next time, still by priority.

At start the worker takes back what its consumer name held before a restart. Mixed into
``LLMWorker``, whose attributes (``redis``, ``blocking``, ``keys``, ``name``, ``_buffer``,
``_running``, ...) it uses.
"""
import logging
import time
from typing import Any, Dict, List, Optional, Tuple

from redis.exceptions import ResponseError

from claudia_llm.core.redis_conn import REDIS_DOWN_ERRORS

from . import keys as K
from .request import as_text

log = logging.getLogger('claudia_llm.core.llm.scheduler.worker')

Entry = Tuple[int, str, str, Dict[Any, Any]]  # (rank, stream, entry id, fields)


class StreamIntake:
    """The reading side of ``LLMWorker`` (see the module docstring)."""

    async def _ensure_groups(self) -> None:
        for stream in self.keys.streams:
            try:
                await self.redis.xgroup_create(stream, K.GROUP, id='0', mkstream=True)
            except ResponseError as exc:
                if 'BUSYGROUP' not in str(exc):
                    raise

    async def _resume_own_pending(self) -> None:
        """Take back what this consumer name held before a restart."""
        while True:
            try:
                await self._ensure_groups()
                for rank, stream in enumerate(self.keys.streams):
                    reply = await self.redis.xreadgroup(K.GROUP, self.name, {stream: '0'},
                                                        count=1000)
                    for entry_id, fields in (reply[0][1] if reply else []):
                        if fields:
                            self._buffer.append((rank, stream, as_text(entry_id), fields))
                if self._buffer:
                    log.info('worker %s resumes %d requests it held before a restart',
                             self.name, len(self._buffer))
                return
            except REDIS_DOWN_ERRORS as exc:
                await self._on_loop_error(exc)

    async def _next_entry(self) -> Optional[Entry]:
        entry = await self._autoclaim()
        if entry is not None:
            return entry
        for rank, stream in enumerate(self.keys.streams):
            buffered = await self._take_buffered(rank)
            if buffered is not None:
                return buffered
            reply = await self.redis.xreadgroup(K.GROUP, self.name, {stream: '>'}, count=1)
            entries = _entries(reply, self.keys.streams)
            if entries:
                self._up()
                return entries[0]
        reply = await self.blocking.xreadgroup(
            K.GROUP, self.name, {s: '>' for s in self.keys.streams}, count=1,
            block=int(self.block_s * 1000))
        self._up()
        entries = _entries(reply, self.keys.streams)
        if not entries:
            return None
        entries.sort(key=lambda e: (e[0], _id_tuple(e[2])))
        self._buffer.extend(entries[1:])
        return entries[0]

    async def _take_buffered(self, rank: int) -> Optional[Entry]:
        """The oldest buffered entry of ``rank`` that no other worker has taken over."""
        for entry in sorted((e for e in self._buffer if e[0] == rank),
                            key=lambda e: _id_tuple(e[2])):
            self._buffer.remove(entry)
            owner = await self.redis.xpending_range(entry[1], K.GROUP, min=entry[2],
                                                    max=entry[2], count=1)
            if owner and as_text(owner[0]['consumer']) == self.name:
                return entry
        return None

    async def _autoclaim(self) -> Optional[Entry]:
        now = time.monotonic()
        if now - self._claim_at < min(self.claim_idle_s / 2.0, 5.0):
            return None
        self._claim_at = now
        for rank, stream in enumerate(self.keys.streams):
            reply = await self.redis.xautoclaim(stream, K.GROUP, self.name,
                                                int(self.claim_idle_s * 1000), count=1)
            running = {entry_id for _s, entry_id in self._running.values()}
            claimed = [(as_text(i), f) for i, f in (reply[1] if len(reply) > 1 else [])
                       if f and as_text(i) not in running]
            if claimed:
                entry_id, fields = claimed[0]
                self._buffer = [e for e in self._buffer if e[2] != entry_id]
                log.warning('worker %s took over request entry %s of %s (idle > %.1f s)',
                            self.name, as_text(entry_id), stream, self.claim_idle_s)
                self._claim_at = 0.0  # look for more at the next free slot
                return (rank, stream, entry_id, fields)
        return None


def _entries(reply: Any, streams: List[str]) -> List[Entry]:
    found = []
    for stream, items in reply or []:
        name = as_text(stream)
        rank = streams.index(name)
        found.extend((rank, name, as_text(i), f) for i, f in items if f)
    return found


def _id_tuple(entry_id: str) -> Tuple[int, int]:
    millis, _, seq = entry_id.partition('-')
    return int(millis), int(seq or 0)
