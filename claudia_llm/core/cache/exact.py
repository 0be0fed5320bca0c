"""Exact cache: answers keyed by normalised text, model and prompt version.

Key: ``<prefix>:exact:<model>:<prompt_version>:<sha1(normalized)[:20]>``; value: JSON
``{"normalized", "answer", "source", "created"}``. A new model or prompt version so
never serves an answer made for another. Lexicon entries are written at start with
no expiry; LLM answers get the TTL parameter, absolute from the write.
"""
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Optional

from claudia_llm.core.record import Answer

from .store import FailoverStore


@dataclass
class CacheHit:
    """A cache answer: ``key`` is the store key, ``source`` 'lexicon' or 'llm'."""

    answer: Answer
    key: str
    source: str
    normalized: str


class ExactCache:
    """Exact-match tier over a ``FailoverStore``.

    Args:
        store: where entries live (Redis with an in-memory mirror).
        model: Ollama model tag, part of every key.
        prompt_version: ``PromptProfile.version``, part of every key.
        ttl_s: default TTL of LLM answers in seconds; 0 or None = no expiry.
        key_prefix: first part of every key.

    Raises:
        ValueError: negative ``ttl_s``.
    """

    def __init__(self, store: FailoverStore, model: str, prompt_version: str,
                 ttl_s: Optional[float] = 604800, key_prefix: str = 'claudia'):
        if ttl_s is not None and ttl_s < 0:
            raise ValueError('ttl_s must be >= 0 seconds, got %r' % ttl_s)
        self.store = store
        self.ttl_s = ttl_s
        self._namespace = '%s:exact:%s:%s:' % (key_prefix, model, prompt_version)

    def key(self, normalized: str) -> str:
        """Return the store key of ``normalized`` text."""
        digest = hashlib.sha1(normalized.encode('utf-8')).hexdigest()[:20]
        return self._namespace + digest

    async def check(self, normalized: str) -> Optional[CacheHit]:
        """Return the cached answer for ``normalized`` or None (miss, or a corrupt entry)."""
        if not normalized:
            return None
        key = self.key(normalized)
        raw = await self.store.get(key)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            if data.get('normalized') != normalized:  # sha1 prefix collision: treat as miss
                return None
            return CacheHit(Answer.from_dict(data['answer']), key, data.get('source', 'llm'),
                            normalized)
        except (ValueError, KeyError, TypeError):
            await self.store.delete(key)
            return None

    async def store_answer(self, normalized: str, answer: Answer, source: str = 'llm',
                           ttl_s: Optional[float] = None) -> str:
        """Store ``answer`` under ``normalized``; returns the key.

        ``ttl_s`` None means the cache's TTL; 0 means no expiry. Lexicon entries
        (``source='lexicon'``) never expire.
        """
        if ttl_s is None:
            ttl_s = self.ttl_s
        if ttl_s is not None and ttl_s < 0:
            raise ValueError('ttl_s must be >= 0 seconds, got %r' % ttl_s)
        if source == 'lexicon':
            ttl_s = 0
        key = self.key(normalized)
        value = json.dumps({'normalized': normalized, 'answer': answer.to_dict(),
                            'source': source, 'created': time.time()}, ensure_ascii=False)
        await self.store.set(key, value.encode('utf-8'), ttl_s or None)
        return key

    async def drop(self, normalized: str) -> None:
        """Remove the entry for ``normalized`` if any."""
        await self.store.delete(self.key(normalized))
