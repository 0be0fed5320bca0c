"""Semantic cache: answers of utterances that *mean* the same as one seen before.

Entries are lexicon phrasings and admitted LLM answers (``core.admission``). Each entry is
one Redis hash ``<prefix>:sem:<model_id>:<prompt_version>:<sha1(normalized)[:16]>`` with the
fields ``vector`` (float32 bytes), ``text``, ``normalized``, ``answer`` (JSON), ``guards``
(JSON), ``source`` ('lexicon' | 'llm'), ``created`` and ``expires`` (epoch seconds, '' = never).
The model id and the prompt version are part of the key, so vectors of another embedder and
answers of another prompt are never compared or served.

A lookup never touches Redis: ``check`` embeds the utterance once (on the embedder's own
thread) and takes the top-1 cosine over an in-process matrix mirror (``core.vector_index``)
among the entries whose guards (negation, direction, numbers: ``core.guards``) equal the
query's. A hit needs ``score >= threshold``; an entry whose answer holds a high-risk or
unknown action is never served (the query then goes to the LLM and the safety policy).

Mirror refresh, and why this way: writes are rare (one per new LLM answer) and lookups
constant, so every write also sets a per-namespace change token
(``<prefix>:semtok:<model_id>:<prompt_version>``). A refresh, at most every
``refresh_interval_s`` and in the background (never awaited by ``check``), costs one GET when
nothing changed; after a change it SCANs the namespace and fetches only the new hashes, and
drops entries deleted elsewhere. SCAN keeps Redis the single truth: entries written while
Redis was down and replayed later by ``FailoverStore`` are found too, with no second index to
keep consistent. Expired entries leave the mirror by their own ``expires`` field. Limitation:
an entry rewritten under the same key by another process is seen on the next ``load``.
"""
import asyncio
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple

import numpy as np

from . import normalize as _normalize
from .actions import ActionRegistry
from .admission import is_time_dependent
from .embedder import Embedder
from .errors import ConfigError
from .guards import extract_guards
from .record import Answer, dumps
from .redis_conn import REDIS_DOWN_ERRORS
from .semantic_text import embedding_text, guards_key
from .store import FailoverStore
from .vector_index import VectorIndex

log = logging.getLogger(__name__)

SOURCES = ('lexicon', 'llm')


@dataclass(frozen=True)
class SemanticHit:
    """A served semantic match: the cached answer, its entry key, cosine score, entry text."""

    answer: Answer
    key: str
    score: float
    matched_text: str
    source: str


@dataclass(frozen=True)
class _Entry:
    text: str
    answer: Answer
    source: str
    refused: bool  # holds a high-risk or unknown action: never served


class SemanticCache:
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
        clock: wall-clock time in seconds (entries' ``created``/``expires`` are epoch seconds,
            comparable between processes).

    Raises:
        ConfigError: ``threshold`` outside (0, 1], negative ``ttl_s`` or
            ``refresh_interval_s``.
    """

    def __init__(self, store: FailoverStore, embedder: Embedder, prompt_version: str,
                 threshold: float, ttl_s: Optional[float], key_prefix: str = 'claudia', *,
                 registry: Optional[ActionRegistry] = None, refresh_interval_s: float = 1.0,
                 clock: Callable[[], float] = time.time):
        if not 0.0 < threshold <= 1.0:
            raise ConfigError('semantic threshold must be in (0, 1], got %r' % (threshold,))
        if ttl_s is not None and ttl_s < 0:
            raise ConfigError('semantic ttl_s must be >= 0 (0 = no expiry), got %r' % (ttl_s,))
        if refresh_interval_s < 0:
            raise ConfigError('refresh_interval_s must be >= 0, got %r' % (refresh_interval_s,))
        self._kv = store
        self.embedder = embedder
        self.threshold = float(threshold)
        self.ttl_s = ttl_s
        self.namespace = '%s:sem:%s:%s:' % (key_prefix, embedder.model_id, prompt_version)
        self._token_key = '%s:semtok:%s:%s' % (key_prefix, embedder.model_id, prompt_version)
        self.registry = registry if registry is not None else ActionRegistry.load()
        self._refresh_interval_s = refresh_interval_s
        self._clock = clock
        self.index = VectorIndex(embedder.dim)
        self._token: Optional[bytes] = None
        self._token_stale = False  # a write could not bump the token (Redis down)
        self._local_only: Set[str] = set()  # written while Redis was down
        self._last_refresh = 0.0
        self._refresh_task: Optional[asyncio.Future] = None

    def key_for(self, text: str) -> str:
        """Redis key of the entry for ``text`` (deterministic: sha1 of its normalised form)."""
        digest = hashlib.sha1(_normalize.normalize(text).encode('utf-8')).hexdigest()
        return self.namespace + digest[:16]

    async def load(self) -> int:
        """Fill the mirror with every live entry of this namespace; return how many.

        Reads Redis when it is reachable, else the store's memory.
        """
        self._token = await self._read_token()
        keys = await self._kv.keys(self.namespace)
        self.index.clear()
        self._add_hashes(await self._fetch(keys))
        self._last_refresh = time.monotonic()
        return len(self.index)

    async def check(self, text: str) -> Optional[SemanticHit]:
        """Return the cached answer of the most similar entry, or None.

        A hit needs equal guards, ``score >= threshold`` and no high-risk or unknown action
        in the answer; a time-dependent question (``core.admission``) never hits. Costs one
        embedding and one matrix-vector product; never waits for Redis (a due mirror
        refresh is started in the background).
        """
        self._schedule_refresh()
        if is_time_dependent(text):
            return None
        group = guards_key(extract_guards(text))
        if not self.index.has_group(group):
            return None
        vector = await self._embed([text])
        match = self.index.best(vector[0], group, now=self._clock())
        if match is None or match.score < self.threshold:
            return None
        entry: _Entry = match.payload
        if entry.refused:
            log.info('semantic match %r for %r refused: high-risk or unknown action',
                     entry.text, text)
            return None
        return SemanticHit(entry.answer, match.key, match.score, entry.text, entry.source)

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
        vectors = await self._embed([text for text, _ in items]) if items else None
        keys = []
        for (text, answer), vector in zip(items, vectors if vectors is not None else []):
            keys.append(await self._write(text, answer, vector, ttl, source))
        if keys:
            await self._bump_token()
        return keys

    async def seed_lexicon(self, lexicon) -> int:
        """Store every lexicon phrasing not already cached as such; drop stale lexicon rows.

        Args:
            lexicon: a ``core.lexicon.Lexicon``; ``answers()`` yields
                ``(normalized_key, Answer, LexiconEntry)`` with ``entry.phrase`` the text.

        Returns:
            the number of entries written (0 when all were already in Redis or the mirror).
        """
        wanted: Dict[str, Tuple[str, Answer]] = {}
        for _key, answer, entry in lexicon.answers():
            wanted[self.key_for(entry.phrase)] = (entry.phrase, answer)
        for key in self.index.keys():
            entry = self.index.payload(key)
            if entry.source == 'lexicon' and key not in wanted:
                await self.drop(key)
        todo = [(text, answer) for key, (text, answer) in wanted.items()
                if not _same_entry(self.index.payload(key), text, answer)]
        return len(await self.store_many(todo, source='lexicon'))

    async def drop(self, key: str) -> None:
        """Delete one entry (Redis, store memory and mirror)."""
        await self._kv.delete(key)
        self.index.remove(key)
        self._local_only.discard(key)
        await self._bump_token()

    async def clear(self) -> int:
        """Delete every entry of this namespace; return how many keys were deleted."""
        keys = set(self.index.keys()) | set(await self._kv.keys(self.namespace))
        for key in keys:
            await self._kv.delete(key)
        self.index.clear()
        self._local_only.clear()
        await self._bump_token()
        return len(keys)

    async def refresh(self, force: bool = False) -> int:
        """Bring the mirror up to date with Redis; return rows added plus rows dropped.

        Costs one GET when the change token is unchanged (unless ``force``). Does nothing
        while Redis is unreachable.
        """
        self._last_refresh = time.monotonic()
        if self._kv.redis is None or not (self._kv.redis_up or await self._kv.ping()):
            return 0
        if self._token_stale:
            await self._bump_token()
        token = await self._read_token()
        if token == self._token and not force:
            return 0
        try:
            keys = set(await self._scan())
        except REDIS_DOWN_ERRORS as exc:
            log.info('semantic refresh skipped, Redis unreachable: %s', exc)
            return 0
        self._local_only -= keys
        known = set(self.index.keys())
        gone = known - keys - self._local_only
        for key in gone:
            self.index.remove(key)
        added = self._add_hashes(await self._fetch(sorted(keys - known)))
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
        forms = [embedding_text(t) for t in texts]
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.embedder.executor(), self.embedder.embed, forms)

    async def _write(self, text: str, answer: Answer, vector: np.ndarray, ttl: Optional[float],
                     source: str) -> str:
        key = self.key_for(text)
        created = self._clock()
        expires = created + ttl if ttl is not None else None
        guards = guards_key(extract_guards(text))
        mapping = {
            'vector': np.asarray(vector, dtype='<f4').tobytes(),
            'text': text.encode('utf-8'),
            'normalized': _normalize.normalize(text).encode('utf-8'),
            'answer': dumps(answer.to_dict()).encode('utf-8'),
            'guards': guards.encode('utf-8'),
            'source': source.encode('utf-8'),
            'created': repr(created).encode(),
            'expires': (repr(expires) if expires is not None else '').encode(),
        }
        await self._kv.hset(key, mapping, ttl_s=ttl)
        if not self._kv.redis_up:
            self._local_only.add(key)
        self.index.put(key, vector, guards, self._entry(text, answer, source), expires)
        return key

    def _entry(self, text: str, answer: Answer, source: str) -> _Entry:
        specs = [self.registry.get(action.name) for action in answer.intent]
        refused = any(spec is None or spec.risk == 'high' for spec in specs)
        return _Entry(text, answer, source, refused)

    def _add_hashes(self, hashes: Dict[str, Dict[str, bytes]]) -> int:
        """Put fetched entry hashes into the mirror; skip malformed or expired ones."""
        now, added = self._clock(), 0
        for key, fields in hashes.items():
            try:
                vector = np.frombuffer(fields['vector'], dtype='<f4')
                expires = float(fields['expires']) if fields.get('expires') else None
                answer = Answer.from_dict(json.loads(fields['answer']))
                entry = self._entry(fields['text'].decode('utf-8'), answer,
                                    fields['source'].decode('utf-8'))
                if expires is not None and expires <= now:
                    continue
                self.index.put(key, vector, fields['guards'].decode('utf-8'), entry, expires)
                added += 1
            except (KeyError, TypeError, ValueError, UnicodeDecodeError) as exc:
                log.warning('semantic entry %s skipped, malformed: %r', key, exc)
        return added

    async def _fetch(self, keys: Iterable[str]) -> Dict[str, Dict[str, bytes]]:
        """HGETALL of ``keys``: pipelined from Redis when up, else from the store's memory."""
        keys, found = list(keys), {}
        if keys and self._kv.redis is not None and self._kv.redis_up:
            try:
                for start in range(0, len(keys), 256):
                    chunk = keys[start:start + 256]
                    async with self._kv.redis.pipeline(transaction=False) as pipe:
                        for key in chunk:
                            pipe.hgetall(key)
                        for key, raw in zip(chunk, await pipe.execute()):
                            if raw:
                                found[key] = {_text(k): v for k, v in raw.items()}
                return found
            except REDIS_DOWN_ERRORS as exc:
                log.info('semantic fetch from Redis failed (%s); using memory', exc)
        for key in keys:
            value = self._kv.memory.get(key)
            if isinstance(value, dict):
                found[key] = value
        return found

    async def _scan(self) -> List[str]:
        pattern = _glob_escape(self.namespace) + '*'
        return [_text(k) async for k in self._kv.redis.scan_iter(match=pattern, count=1000)]

    async def _read_token(self) -> Optional[bytes]:
        if self._kv.redis is None or not self._kv.redis_up:
            return None
        try:
            return await self._kv.redis.get(self._token_key)
        except REDIS_DOWN_ERRORS:
            return None

    async def _bump_token(self) -> None:
        """Tell other processes this namespace changed (random token, no counter to replay)."""
        self._token_stale = True
        if self._kv.redis is None or not self._kv.redis_up:
            return
        token = hashlib.sha1(repr((time.time(), id(self), len(self.index))).encode())
        try:
            await self._kv.redis.set(self._token_key, token.hexdigest().encode())
        except REDIS_DOWN_ERRORS:
            return
        self._token_stale = False

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


def _same_entry(entry: Optional[_Entry], text: str, answer: Answer) -> bool:
    return (entry is not None and entry.source == 'lexicon' and entry.text == text
            and entry.answer.to_dict() == answer.to_dict())


def _text(value: Any) -> str:
    return value.decode('utf-8') if isinstance(value, bytes) else str(value)


def _glob_escape(text: str) -> str:
    return ''.join('\\' + c if c in '*?[]\\' else c for c in text)
