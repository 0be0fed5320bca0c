"""In-process matrix of unit vectors with top-1 cosine search, per-row group and expiry.

The semantic cache's mirror of its Redis entries: one float32 row per entry in one
contiguous ``(capacity, dim)`` matrix, so a lookup is one matrix-vector product plus a mask
(under 1 ms for 10k rows of 384 floats, about 5 ms for 50k; see ``bench/semantic_lookup.py``).
Rows carry a *group* (the cache uses the canonical JSON of the entry's guards): a lookup only
considers rows of the query's group. Rows may carry an absolute expiry time; expired rows are
dropped before the next lookup. Not thread-safe: use it from one thread (the event loop).
"""
import math
from typing import Any, Dict, List, NamedTuple, Optional

import numpy as np


class Match(NamedTuple):
    """Best row of a lookup: its key, cosine ``score`` in [-1, 1] and stored payload."""

    key: str
    score: float
    payload: Any


class VectorIndex:
    """Rows of unit vectors keyed by str; top-1 cosine within a group.

    Args:
        dim: vector length.
        capacity: rows allocated up front; the matrix doubles when full.

    Raises:
        ValueError: ``dim`` or ``capacity`` not positive.
    """

    def __init__(self, dim: int, capacity: int = 256):
        if dim <= 0 or capacity <= 0:
            raise ValueError('dim and capacity must be > 0, got %r, %r' % (dim, capacity))
        self.dim = dim
        self._matrix = np.zeros((capacity, dim), dtype=np.float32)
        self._groups = np.zeros(capacity, dtype=np.int32)
        self._expires = np.full(capacity, math.inf)
        self._keys: List[str] = []
        self._payloads: List[Any] = []
        self._rows: Dict[str, int] = {}
        self._group_ids: Dict[str, int] = {}
        self._next_expiry = math.inf

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def keys(self) -> List[str]:
        """Keys of all rows (including rows expired but not yet dropped)."""
        return list(self._keys)

    def payload(self, key: str) -> Optional[Any]:
        """The payload stored with ``key``, or None."""
        row = self._rows.get(key)
        return None if row is None else self._payloads[row]

    def vector(self, key: str) -> Optional[np.ndarray]:
        """A copy of the vector stored with ``key``, or None."""
        row = self._rows.get(key)
        return None if row is None else self._matrix[row].copy()

    def has_group(self, group: str) -> bool:
        """True when some row was ever added with ``group`` (a lookup could match)."""
        return group in self._group_ids

    def put(self, key: str, vector: np.ndarray, group: str, payload: Any = None,
            expires_at: Optional[float] = None) -> None:
        """Add the row ``key`` or replace it.

        Args:
            vector: shape ``(dim,)``, unit L2 norm (not re-normalised here).
            group: lookups only match rows of their own group.
            expires_at: absolute time (the clock passed to ``best``/``expire``), None = never.

        Raises:
            ValueError: ``vector`` has the wrong shape.
        """
        vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        if vector.shape[0] != self.dim:
            raise ValueError('vector of %s has %d values, index dim is %d'
                             % (key, vector.shape[0], self.dim))
        row = self._rows.get(key)
        if row is None:
            row = len(self._keys)
            if row == self._matrix.shape[0]:
                self._grow()
            self._keys.append(key)
            self._payloads.append(payload)
            self._rows[key] = row
        else:
            self._payloads[row] = payload
        self._matrix[row] = vector
        self._groups[row] = self._group_ids.setdefault(group, len(self._group_ids))
        expiry = math.inf if expires_at is None else float(expires_at)
        self._expires[row] = expiry
        self._next_expiry = min(self._next_expiry, expiry)

    def remove(self, key: str) -> bool:
        """Drop row ``key`` (the last row moves into its place); False when absent."""
        row = self._rows.pop(key, None)
        if row is None:
            return False
        last = len(self._keys) - 1
        if row != last:
            moved = self._keys[last]
            self._matrix[row] = self._matrix[last]
            self._groups[row] = self._groups[last]
            self._expires[row] = self._expires[last]
            self._keys[row] = moved
            self._payloads[row] = self._payloads[last]
            self._rows[moved] = row
        self._keys.pop()
        self._payloads.pop()
        self._expires[last] = math.inf
        return True

    def clear(self) -> None:
        """Drop every row."""
        self._keys, self._payloads, self._rows = [], [], {}
        self._expires[:] = math.inf
        self._next_expiry = math.inf

    def expire(self, now: float) -> List[str]:
        """Drop rows whose expiry is at or before ``now``; return their keys.

        Costs one comparison when nothing is due (the earliest expiry is remembered).
        """
        if now < self._next_expiry:
            return []
        count = len(self._keys)
        gone = [self._keys[i] for i in np.flatnonzero(self._expires[:count] <= now)]
        for key in gone:
            self.remove(key)
        count = len(self._keys)
        self._next_expiry = float(self._expires[:count].min()) if count else math.inf
        return gone

    def best(self, vector: np.ndarray, group: str, now: Optional[float] = None
             ) -> Optional[Match]:
        """Top-1 row by cosine among the rows of ``group``, or None when it has none.

        Args:
            vector: unit query vector, shape ``(dim,)``.
            group: only rows put with this group are candidates.
            now: when given, expired rows are dropped first (see ``expire``).
        """
        if now is not None:
            self.expire(now)
        group_id = self._group_ids.get(group)
        count = len(self._keys)
        if group_id is None or count == 0:
            return None
        # einsum, not BLAS: OpenBLAS's worker threads would compete with the embedder's
        # OpenMP team on a small machine (measured: check() p50 24 ms instead of 10 ms).
        scores = np.einsum('ij,j->i', self._matrix[:count],
                           np.asarray(vector, dtype=np.float32).reshape(-1))
        scores = np.where(self._groups[:count] == group_id, scores, -np.inf)
        row = int(np.argmax(scores))
        if not np.isfinite(scores[row]):
            return None
        return Match(self._keys[row], float(scores[row]), self._payloads[row])

    def _grow(self) -> None:
        capacity = self._matrix.shape[0] * 2
        matrix = np.zeros((capacity, self.dim), dtype=np.float32)
        matrix[:len(self._keys)] = self._matrix[:len(self._keys)]
        groups = np.zeros(capacity, dtype=np.int32)
        groups[:len(self._keys)] = self._groups[:len(self._keys)]
        expires = np.full(capacity, math.inf)
        expires[:len(self._keys)] = self._expires[:len(self._keys)]
        self._matrix, self._groups, self._expires = matrix, groups, expires
