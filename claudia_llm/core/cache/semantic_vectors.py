"""The semantic cache's vector LRU: embedded forms of recent utterances, embedded once.

A miss followed by ``store`` of the LLM's answer embeds the utterance once, and a repeated
wording skips the embedder. Embedding runs on the embedder's own thread
(``Embedder.executor()``), never on the event loop.
"""
import asyncio
from collections import OrderedDict
from typing import Dict, List

import numpy as np

from .embedder import Embedder
from .semantic_text import embedding_text

VECTOR_LRU_SIZE = 1024
"""Embedded forms kept in memory (about 1.5 KiB each at dim 384)."""


class VectorLRU:
    """Vectors of the ``embedding_text`` forms of recent texts, least recently used dropped.

    Args:
        embedder: what makes the vectors.
        size: how many forms to keep (>= 1).

    Raises:
        ValueError: ``size`` < 1.
    """

    def __init__(self, embedder: Embedder, size: int = VECTOR_LRU_SIZE):
        if size < 1:
            raise ValueError('vector LRU size must be >= 1, got %r' % (size,))
        self.embedder = embedder
        self.size = size
        self._vectors: Dict[str, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        """Number of forms held."""
        return len(self._vectors)

    async def embed(self, texts: List[str]) -> np.ndarray:
        """Vectors of ``texts``, shape ``(n, dim)``; forms not held are embedded in one batch."""
        forms = [embedding_text(t) for t in texts]
        todo = sorted({f for f in forms if f not in self._vectors})
        if todo:
            loop = asyncio.get_running_loop()
            fresh = await loop.run_in_executor(self.embedder.executor(), self.embedder.embed,
                                               todo)
            for form, vector in zip(todo, fresh):
                self._vectors[form] = vector
        out = np.stack([self._vectors[f] for f in forms])
        for form in forms:
            self._vectors.move_to_end(form)
        while len(self._vectors) > self.size:
            self._vectors.popitem(last=False)
        return out

    def clear(self) -> int:
        """Drop every vector; return how many were dropped."""
        count = len(self._vectors)
        self._vectors.clear()
        return count
