"""Redis side of the semantic cache's mirror: change token, epoch, SCAN and batched reads.

Per namespace (embedder model id + prompt version) two small keys:

- the *change token* ``<prefix>:semtok:<model_id>:<prompt_version>``, set to a new random
  value after every write or delete, so a reader learns with one round trip whether anything
  changed since it last looked;
- the *epoch* ``<prefix>:semepoch:<model_id>:<prompt_version>``, set once (SET NX) and never
  changed while Redis keeps its data: a missing or different epoch tells a reader that Redis
  lost its data (a restart without persistence, FLUSHDB), so the reader writes its mirror back
  instead of dropping every entry that is no longer there.

All reads go to Redis directly (not through ``FailoverStore``'s memory, which may still hold
entries another process deleted). Every call is a no-op or returns None while Redis is down.
"""
import logging
import os
from typing import Dict, Iterable, List, Optional, Set, Tuple

from claudia_llm.core.redis_conn import REDIS_DOWN_ERRORS

from .store import FailoverStore

log = logging.getLogger(__name__)

Marks = Tuple[Optional[bytes], Optional[bytes]]
"""(change token, epoch) as read from Redis."""


class NamespaceSync:
    """Token, epoch, SCAN and pipelined HGETALL for one semantic-cache namespace.

    Args:
        store: the cache's store; only its Redis client and health flag are used here.
        prefix: first part of every key (``redis.key_prefix``).
        namespace_id: ``'<model_id>:<prompt_version>'``.
    """

    def __init__(self, store: FailoverStore, prefix: str, namespace_id: str):
        self.store = store
        self.entry_prefix = '%s:sem:%s:' % (prefix, namespace_id)
        self.token_key = '%s:semtok:%s' % (prefix, namespace_id)
        self.epoch_key = '%s:semepoch:%s' % (prefix, namespace_id)
        self.bump_pending = False  # a change could not be announced (Redis down)

    async def usable(self, probe: bool = False) -> bool:
        """True when Redis is configured and believed up (``probe``: ask it now if down)."""
        if self.store.redis is None:
            return False
        return self.store.redis_up or (probe and await self.store.ping())

    async def marks(self) -> Optional[Marks]:
        """(token, epoch) from Redis in one round trip, or None when Redis is unreachable."""
        if not await self.usable():
            return None
        try:
            token, epoch = await self.store.call(
                self.store.redis.mget(self.token_key, self.epoch_key))
        except REDIS_DOWN_ERRORS:
            return None
        return token, epoch

    async def ensure_epoch(self) -> Optional[bytes]:
        """Create the epoch if missing (SET NX) and return the value in force, or None."""
        if not await self.usable():
            return None
        try:
            await self.store.redis.set(self.epoch_key, os.urandom(8).hex().encode(), nx=True)
            return await self.store.redis.get(self.epoch_key)
        except REDIS_DOWN_ERRORS:
            return None

    async def bump(self) -> None:
        """Announce a change with a new random token (later, if Redis is down now)."""
        self.bump_pending = True
        if not await self.usable():
            return
        try:
            await self.store.call(
                self.store.redis.set(self.token_key, os.urandom(8).hex().encode()))
        except REDIS_DOWN_ERRORS:
            return
        self.bump_pending = False

    async def scan(self) -> Optional[Set[str]]:
        """Keys of every entry in Redis now (SCAN MATCH), or None when Redis is unreachable."""
        if not await self.usable():
            return None
        pattern = _glob_escape(self.entry_prefix) + '*'
        try:
            return {_text(k) async for k in self.store.redis.scan_iter(match=pattern,
                                                                       count=1000)}
        except REDIS_DOWN_ERRORS as exc:
            log.info('semantic refresh: SCAN failed, Redis unreachable: %s', exc)
            return None

    async def fetch(self, keys: Iterable[str]) -> Dict[str, Dict[str, bytes]]:
        """HGETALL of ``keys`` in pipelines of 256.

        From Redis when it is up, else from the store's memory; absent keys are left out.
        """
        keys, found = list(keys), {}
        if keys and await self.usable():
            try:
                for start in range(0, len(keys), 256):
                    chunk = keys[start:start + 256]
                    async with self.store.redis.pipeline(transaction=False) as pipe:
                        for key in chunk:
                            pipe.hgetall(key)
                        replies: List[Dict[bytes, bytes]] = await pipe.execute()
                    for key, raw in zip(chunk, replies):
                        if raw:
                            found[key] = {_text(k): v for k, v in raw.items()}
                return found
            except REDIS_DOWN_ERRORS as exc:
                log.info('semantic fetch from Redis failed (%s); reading memory', exc)
        for key in keys:
            value = self.store.memory.get(key)
            if isinstance(value, dict):
                found[key] = value
        return found


def _text(value) -> str:
    return value.decode('utf-8') if isinstance(value, bytes) else str(value)


def _glob_escape(text: str) -> str:
    return ''.join('\\' + c if c in '*?[]\\' else c for c in text)
