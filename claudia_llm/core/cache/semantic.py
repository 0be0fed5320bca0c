"""Semantic cache: answers of utterances that *mean* the same as one seen before.

Entries are lexicon phrasings and admitted LLM answers (``core.admission``). Each entry is
one Redis hash ``<prefix>:sem:<model_id>:<prompt_version>:<sha1(normalized)[:16]>`` (fields:
``core.semantic_entry``). The model id and the prompt version are part of the key, so vectors
of another embedder and answers of another prompt are never compared or served.

A lookup never touches Redis: ``check`` embeds the utterance once (on the embedder's own
thread, through the vector LRU of ``core.cache.semantic_vectors``) and takes the top-1
cosine over an in-process matrix mirror (``core.vector_index``) among the entries whose
guards (negation, direction, numbers, stop, question: ``core.guards``) equal the query's.
A hit needs ``score >= threshold``; an entry whose answer holds a high-risk or unknown
action is never served, nor is any time-dependent question.

The mirror is kept up to date in the background (``core.cache.semantic_mirror``: change
token, SCAN after a change, write-back after a Redis reset). Limitation: an entry rewritten
under the same key by another process is seen at the next ``load``.
"""
import asyncio
import dataclasses
import hashlib
import logging
import time
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

import numpy as np

from claudia_llm.core.errors import ConfigError
from claudia_llm.core.record import Answer
from claudia_llm.core.safety.actions import ActionRegistry
from claudia_llm.core.understanding import normalize as _normalize
from claudia_llm.core.understanding.guards import extract_guards

from .admission import is_time_dependent
from .embedder import Embedder
from .semantic_entry import Entry
from .semantic_mirror import MirrorRefresh
from .semantic_sync import NamespaceSync
from .semantic_text import embedding_text, guards_key  # noqa: F401 (re-exported)
from .semantic_vectors import VectorLRU
from .store import FailoverStore
from .vector_index import VectorIndex

log = logging.getLogger(__name__)

SOURCES = ('lexicon', 'llm')


@dataclasses.dataclass(frozen=True)
class SemanticHit:
    """A served match.

    The cached answer, its entry key, cosine score, the entry's text and source ('lexicon' or
    'llm').
    """

    answer: Answer
    key: str
    score: float
    matched_text: str
    source: str


class SemanticCache(MirrorRefresh):
    """Guarded semantic cache over a ``FailoverStore``; see the module docstring.

    Args:
        store: the shared store; the cache never closes it or its Redis client.
        embedder: see ``core.embedder``; its ``model_id`` is part of every key.
        prompt_version: version of the LLM prompt profile; part of every key.
        threshold: lowest cosine similarity served, in (0, 1].
        ttl_s: lifetime of LLM entries, seconds, absolute from the write (hits never extend
            it); None or 0 = no expiry. Lexicon entries never expire.
        key_prefix: first part of every Redis key.
        registry: the action table used to refuse high-risk answers; None loads the packaged
            ``go2_actions.yaml``.
        refresh_interval_s: least time between two background mirror refreshes, seconds.
        clock: wall-clock time in seconds (``created``/``expires`` are epoch seconds,
            comparable between processes).

    Raises:
        ConfigError: ``threshold`` outside (0, 1], negative ``ttl_s`` or
            ``refresh_interval_s``.
    """

    def __init__(self, store: FailoverStore, embedder: Embedder, prompt_version: str,
                 threshold: float, ttl_s: Optional[float], key_prefix: str = 'claudia', *,
                 registry: Optional[ActionRegistry] = None, refresh_interval_s: float = 1.0,
                 clock: Callable[[], float] = time.time, chat_threshold: Optional[float] = None):
        chat_threshold = threshold if chat_threshold is None else chat_threshold
        if not (0.0 < threshold <= 1.0 and 0.0 < chat_threshold <= 1.0):
            raise ConfigError('semantic threshold must be in (0, 1], got %r (chat %r)'
                              % (threshold, chat_threshold))
        if ttl_s is not None and ttl_s < 0:
            raise ConfigError('semantic ttl_s must be >= 0 (0 = no expiry), got %r' % (ttl_s,))
        if refresh_interval_s < 0:
            raise ConfigError('refresh_interval_s must be >= 0, got %r' % (refresh_interval_s,))
        self._kv = store
        self.embedder = embedder
        self.threshold = float(threshold)
        self.chat_threshold = float(chat_threshold)
        self.ttl_s = ttl_s
        self.registry = registry if registry is not None else ActionRegistry.load()
        self._sync = NamespaceSync(store, key_prefix, '%s:%s' % (embedder.model_id,
                                                                 prompt_version))
        self.namespace = self._sync.entry_prefix
        self.index = VectorIndex(embedder.dim)
        self._refresh_interval_s = refresh_interval_s
        self._clock = clock
        self._token: Optional[bytes] = None
        self._epoch: Optional[bytes] = None
        self._local_only: Set[str] = set()  # written while Redis was down
        self._last_refresh = 0.0
        self._refresh_task: Optional[asyncio.Future] = None
        self._vectors = VectorLRU(embedder)  # embedded forms of recent utterances

    def key_for(self, text: str) -> str:
        """Redis key of the entry for ``text`` (deterministic: sha1 of its normalised form)."""
        digest = hashlib.sha1(_normalize.normalize(text).encode('utf-8')).hexdigest()
        return self.namespace + digest[:16]

    async def check(self, text: str) -> Optional[SemanticHit]:
        """Return the cached answer of the most similar entry, or None.

        A hit needs equal guards, ``score >= threshold_for(answer)`` and no high-risk or
        unknown action in the answer; a time-dependent question (``core.admission``) never
        hits. Costs one embedding and one matrix-vector product; never waits for Redis.
        """
        self._schedule_refresh()
        if is_time_dependent(text):
            return None
        group = guards_key(extract_guards(text))
        if not self.index.has_group(group):
            return None
        vector = await self._embed([text])
        match = self.index.best(vector[0], group, now=self._clock())
        if match is None or match.score < self.threshold_for(match.payload.answer):
            return None
        entry: Entry = match.payload
        if entry.refused:
            log.info('semantic match %r for %r refused: high-risk or unknown action',
                     entry.text, text)
            return None
        return SemanticHit(entry.answer, match.key, match.score, entry.text, entry.source)

    def threshold_for(self, answer: Answer) -> float:
        """Return the cosine an entry with ``answer`` needs to be served.

        ``threshold`` when it has actions, else ``chat_threshold`` (chat answers to template
        questions sit closer together).
        """
        return self.threshold if answer.intent else self.chat_threshold

    def forget_vectors(self) -> int:
        """Drop the in-memory vectors of recent utterances; return how many were dropped.

        The next ``check`` of any wording embeds again, as for wording never heard (used by
        ``bench/e2e_latency.py`` to time that case repeatedly).
        """
        return self._vectors.clear()

    async def store(self, text: str, answer: Answer, ttl_s: Optional[float] = None,
                    source: str = 'llm') -> str:
        """Store ``answer`` for ``text``; return the entry key (an existing one is replaced).

        Args:
            ttl_s: None = the cache's ``ttl_s``; 0 = no expiry; lexicon entries never expire.
            source: 'lexicon' or 'llm'.

        Raises:
            ValueError: negative ``ttl_s`` or unknown ``source``.
        """
        return (await self.store_many([(text, answer)], ttl_s=ttl_s, source=source))[0]

    async def store_many(self, items: Sequence[Tuple[str, Answer]], ttl_s: Optional[float] = None,
                         source: str = 'llm') -> List[str]:
        """Store several ``(text, answer)`` with one batched embedding; see ``store``.

        Raises:
            ValueError: negative ``ttl_s`` or unknown ``source``.
        """
        if source not in SOURCES:
            raise ValueError('source must be one of %s, got %r' % (SOURCES, source))
        ttl = self._ttl_for(ttl_s, source)
        if not items:
            return []
        vectors = await self._embed([text for text, _ in items])
        keys = []
        for (text, answer), vector in zip(items, vectors):
            created = self._clock()
            entry = self._checked(Entry(
                text=text, normalized=_normalize.normalize(text), answer=answer,
                guards=guards_key(extract_guards(text)), source=source, created=created,
                expires=created + ttl if ttl is not None else None))
            keys.append(await self._write(self.key_for(text), entry, vector))
        await self._sync.bump()
        return keys

    async def seed_lexicon(self, lexicon) -> int:
        """Store every lexicon phrasing not already cached as such; drop stale lexicon rows.

        Args:
            lexicon: a ``core.lexicon.Lexicon``; ``answers()`` yields
                ``(key, Answer, LexiconEntry)`` with ``entry.phrase`` the text.

        Returns:
            the number of entries written (0 when all were already in the mirror).
        """
        wanted: Dict[str, Tuple[str, Answer]] = {}
        for _key, answer, item in lexicon.answers():
            key = self.key_for(item.phrase)
            if key not in wanted or self._refused(answer):  # a high-risk phrasing wins
                wanted[key] = (item.phrase, answer)
        for key in self.index.keys():
            if self.index.payload(key).source == 'lexicon' and key not in wanted:
                await self.drop(key)
        todo = [(text, answer) for key, (text, answer) in wanted.items()
                if not _same_lexicon_entry(self.index.payload(key), text, answer)]
        return len(await self.store_many(todo, source='lexicon'))

    async def drop(self, key: str) -> None:
        """Delete one entry (Redis, store memory and mirror).

        Raises:
            ValueError: ``key`` is not a key of this cache's namespace.
        """
        if not key.startswith(self.namespace):
            raise ValueError('%r is not a key of semantic namespace %r' % (key, self.namespace))
        await self._kv.delete(key)
        self.index.remove(key)
        self._local_only.discard(key)
        await self._sync.bump()

    async def clear(self) -> int:
        """Delete every entry of this namespace; return how many keys were deleted."""
        keys = set(self.index.keys()) | set(await self._kv.keys(self.namespace))
        for key in keys:
            await self._kv.delete(key)
        self.index.clear()
        self._local_only.clear()
        await self._sync.bump()
        return len(keys)

    # -- internals ---------------------------------------------------------------------

    def _ttl_for(self, ttl_s: Optional[float], source: str) -> Optional[float]:
        if ttl_s is not None and ttl_s < 0:
            raise ValueError('ttl_s must be >= 0 (0 = no expiry), got %r' % (ttl_s,))
        if source == 'lexicon':
            return None
        ttl = self.ttl_s if ttl_s is None else ttl_s
        if ttl is None or ttl == 0:
            return None
        return float(ttl)

    async def _embed(self, texts: List[str]) -> np.ndarray:
        """Vectors of ``texts``, shape ``(n, dim)``, through the vector LRU."""
        return await self._vectors.embed(texts)

    async def _write(self, key: str, entry: Entry, vector: np.ndarray) -> str:
        ttl = entry.ttl_left(self._clock())
        await self._kv.hset(key, entry.to_mapping(vector), ttl_s=ttl)
        if not self._kv.redis_up:
            self._local_only.add(key)
        self.index.put(key, vector, entry.guards, entry, entry.expires)
        return key

    def _refused(self, answer: Answer) -> bool:
        specs = [self.registry.get(action.name) for action in answer.intent]
        return any(spec is None or spec.risk == 'high' for spec in specs)

    def _checked(self, entry: Entry) -> Entry:
        return dataclasses.replace(entry, refused=self._refused(entry.answer))


def _same_lexicon_entry(entry: Optional[Entry], text: str, answer: Answer) -> bool:
    """True when ``entry`` is this lexicon row as stored now (guards rules may change)."""
    return (entry is not None and entry.source == 'lexicon' and entry.text == text
            and entry.answer.to_dict() == answer.to_dict()
            and entry.guards == guards_key(extract_guards(text)))
