"""The semantic cache's in-process mirror of Redis: load, background refresh, Redis resets.

Why this way: writes are rare (one per new LLM answer) and lookups constant, so every write
or delete sets a per-namespace change token (``core.cache.semantic_sync``). A refresh, at
most every ``refresh_interval_s`` and in the background (``check`` never waits for it),
costs one round trip when nothing changed; after a change it SCANs the namespace, fetches
only the new hashes and drops entries deleted elsewhere. SCAN keeps Redis the single truth:
entries written while Redis was down and replayed later by ``FailoverStore`` are found too,
with no second index to keep consistent. Expired entries leave the mirror by their own
``expires`` time. If Redis lost its data (epoch changed), the mirror is written back rather
than emptied.

``MirrorRefresh`` is a mixin of ``SemanticCache``, which owns the state it uses: ``_kv``
(the store), ``_sync`` (``NamespaceSync``), ``index`` (``VectorIndex``), ``embedder``,
``namespace``, ``_clock``, ``_token``, ``_epoch``, ``_local_only``, ``_last_refresh``,
``_refresh_interval_s``, ``_refresh_task`` and ``_checked(entry)``.
"""
import asyncio
import logging
import time
from typing import Dict, Optional

from .semantic_entry import Entry

log = logging.getLogger('claudia_llm.core.cache.semantic')


class MirrorRefresh:
    """Mirror upkeep of ``SemanticCache`` (see the module docstring)."""

    async def load(self) -> int:
        """Fill the mirror with every live entry of this namespace; return how many.

        Reads Redis when it is reachable, else the store's memory.
        """
        self._last_refresh = time.monotonic()
        marks = await self._sync.marks()
        self._token = marks[0] if marks else None
        self._epoch = await self._sync.ensure_epoch()
        keys = await self._kv.keys(self.namespace)
        self.index.clear()
        self._add_hashes(await self._sync.fetch(keys))
        return len(self.index)

    async def refresh(self, force: bool = False) -> int:
        """Bring the mirror up to date with Redis; return rows added plus rows dropped.

        One round trip when nothing changed (unless ``force``); nothing while Redis is down.
        """
        self._last_refresh = time.monotonic()
        if not await self._sync.usable(probe=True):
            return 0
        if self._sync.bump_pending:
            await self._sync.bump()
        marks = await self._sync.marks()
        if marks is None:
            return 0
        token, epoch = marks
        if epoch is None or epoch != self._epoch:
            force = await self._after_reset(epoch) or force
        if token == self._token and not force:
            return 0
        keys = await self._sync.scan()
        if keys is None:
            return 0
        self._local_only -= keys
        known = set(self.index.keys())
        gone = known - keys - self._local_only
        for key in gone:
            self.index.remove(key)
        added = self._add_hashes(await self._sync.fetch(sorted(keys - known)))
        self._token = token
        return added + len(gone)

    async def aclose(self) -> None:
        """Stop a background refresh in progress (the store is not closed)."""
        task, self._refresh_task = self._refresh_task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    def _add_hashes(self, hashes: Dict[str, Dict[str, bytes]]) -> int:
        """Put fetched entry hashes into the mirror; skip malformed or expired ones."""
        now, added = self._clock(), 0
        for key, fields in hashes.items():
            try:
                entry, vector = Entry.from_mapping(fields, self.embedder.dim)
            except ValueError as exc:
                log.warning('semantic entry %s skipped: %s', key, exc)
                continue
            if entry.expires is None or entry.expires > now:
                self.index.put(key, vector, entry.guards, self._checked(entry), entry.expires)
                added += 1
        return added

    async def _after_reset(self, epoch: Optional[bytes]) -> bool:
        """Adopt the epoch in force; when Redis lost its data, write the mirror back.

        Returns True when the mirror must be compared with Redis again.
        """
        known, self._epoch = self._epoch, await self._sync.ensure_epoch()
        if known is None:
            return True  # first contact (started while Redis was down): compare
        log.warning('Redis lost the semantic cache (epoch changed); writing back %d entries',
                    len(self.index))
        now = self._clock()
        for key in self.index.keys():
            entry: Entry = self.index.payload(key)
            ttl = entry.ttl_left(now)
            if ttl is None or ttl > 0:
                await self._kv.hset(key, entry.to_mapping(self.index.vector(key)), ttl_s=ttl)
        await self._sync.bump()
        return True

    def _schedule_refresh(self) -> None:
        if self._kv.redis is None or (self._refresh_task and not self._refresh_task.done()):
            return
        if time.monotonic() - self._last_refresh < self._refresh_interval_s:
            return
        self._last_refresh = time.monotonic()
        self._refresh_task = asyncio.ensure_future(self._refresh_in_background())

    async def _refresh_in_background(self) -> None:
        try:
            await self.refresh()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - background task: log, retry next time
            log.warning('semantic mirror refresh failed: %s: %s', type(exc).__name__, exc)
