"""Exact cache: answers keyed by normalised text, sentence type, model and prompt version.

Key: ``<prefix>:exact:<model>:<prompt_version>:<sentence type>:<sha1(normalized)[:20]>``;
value: JSON ``{"normalized", "answer", "source", "created"}``. A new model or prompt version
so never serves an answer made for another, and a question never gets the answer of the
statement with the same words (``core.understanding.sentence_type``: 「疲れた？」 is not
「疲れた」, though both normalise to the same text). Lexicon entries are commands: they are
written at start with no expiry under the statement and the request type (お座り, 座って,
座ってくれる？), never under the question type. LLM answers get the TTL parameter, absolute
from the write, under the type of the utterance they answer.
"""
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Optional

from claudia_llm.core.record import Answer
from claudia_llm.core.understanding.sentence_type import REQUEST, STATEMENT, TYPES

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

    def key(self, normalized: str, sentence: str = STATEMENT) -> str:
        """Return the store key of ``normalized`` text said as a ``sentence`` type.

        Raises:
            ValueError: ``sentence`` is not one of ``sentence_type.TYPES``.
        """
        if sentence not in TYPES:
            raise ValueError('sentence type must be one of %s, got %r' % (TYPES, sentence))
        digest = hashlib.sha1(normalized.encode('utf-8')).hexdigest()[:20]
        return '%s%s:%s' % (self._namespace, sentence, digest)

    async def check(self, normalized: str, sentence: str = STATEMENT) -> Optional[CacheHit]:
        """Return the cached answer for ``normalized`` said as ``sentence``, or None.

        None on a miss or a corrupt entry (which is deleted).

        Raises:
            ValueError: unknown ``sentence`` type.
        """
        if not normalized:
            return None
        key = self.key(normalized, sentence)
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
                           ttl_s: Optional[float] = None, sentence: str = STATEMENT) -> str:
        """Store ``answer`` under ``normalized`` said as ``sentence``; returns the key.

        ``ttl_s`` None means the cache's TTL; 0 means no expiry. Lexicon entries
        (``source='lexicon'``) never expire and are stored under the statement and the
        request type whatever ``sentence`` says (the statement key is returned).

        Raises:
            ValueError: negative ``ttl_s`` or unknown ``sentence`` type.
        """
        if ttl_s is None:
            ttl_s = self.ttl_s
        if ttl_s is not None and ttl_s < 0:
            raise ValueError('ttl_s must be >= 0 seconds, got %r' % ttl_s)
        types = (sentence,)
        if source == 'lexicon':
            ttl_s, types = 0, (STATEMENT, REQUEST)
        keys = [self.key(normalized, kind) for kind in types]
        value = json.dumps({'normalized': normalized, 'answer': answer.to_dict(),
                            'source': source, 'created': time.time()}, ensure_ascii=False)
        for key in keys:
            await self.store.set(key, value.encode('utf-8'), ttl_s or None)
        return keys[0]

    async def drop(self, normalized: str) -> None:
        """Remove the entries for ``normalized`` (every sentence type) if any."""
        for kind in TYPES:
            await self.store.delete(self.key(normalized, kind))
