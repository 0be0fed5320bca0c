"""One semantic-cache entry and its Redis hash form.

Hash fields (all bytes): ``vector`` (little-endian float32, ``dim`` values), ``text``,
``normalized``, ``answer`` (JSON of ``Answer.to_dict``), ``guards`` (JSON, see
``core.semantic_text.guards_key``), ``source`` ('lexicon' | 'llm'), ``created`` and
``expires`` (epoch seconds; ``expires`` empty = never).
"""
import json
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np

from claudia_llm.core.record import Answer, dumps

FIELDS = ('vector', 'text', 'normalized', 'answer', 'guards', 'source', 'created', 'expires')


@dataclass(frozen=True)
class Entry:
    """What the mirror keeps per entry besides its vector.

    ``refused`` is set by the cache from the action table: the answer holds a high-risk or
    unknown action, so the entry is never served (it is not stored in Redis).
    """

    text: str
    normalized: str
    answer: Answer
    guards: str
    source: str
    created: float
    expires: Optional[float]
    refused: bool = False

    def ttl_left(self, now: float) -> Optional[float]:
        """Seconds until expiry at ``now`` (may be <= 0), or None for no expiry."""
        return None if self.expires is None else self.expires - now

    def to_mapping(self, vector: np.ndarray) -> Dict[str, bytes]:
        """The Redis hash of this entry with ``vector`` (shape ``(dim,)``)."""
        return {
            'vector': np.asarray(vector, dtype='<f4').tobytes(),
            'text': self.text.encode('utf-8'),
            'normalized': self.normalized.encode('utf-8'),
            'answer': dumps(self.answer.to_dict()).encode('utf-8'),
            'guards': self.guards.encode('utf-8'),
            'source': self.source.encode('utf-8'),
            'created': repr(self.created).encode(),
            'expires': (repr(self.expires) if self.expires is not None else '').encode(),
        }

    @classmethod
    def from_mapping(cls, fields: Dict[str, bytes], dim: int) -> Tuple['Entry', np.ndarray]:
        """Parse a Redis hash; return the entry and its vector.

        Raises:
            ValueError: a field is missing or malformed, or the vector is not ``dim`` long.
        """
        try:
            vector = np.frombuffer(fields['vector'], dtype='<f4')
            expires = fields.get('expires') or b''
            entry = cls(text=fields['text'].decode('utf-8'),
                        normalized=fields['normalized'].decode('utf-8'),
                        answer=Answer.from_dict(json.loads(fields['answer'])),
                        guards=fields['guards'].decode('utf-8'),
                        source=fields['source'].decode('utf-8'),
                        created=float(fields['created']),
                        expires=float(expires) if expires else None)
        except (KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
            raise ValueError('malformed semantic entry: %r' % (exc,)) from exc
        if vector.shape[0] != dim:
            raise ValueError('vector has %d values, expected %d' % (vector.shape[0], dim))
        return entry, vector
