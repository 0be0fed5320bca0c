"""Negative caching for ``FailoverStore``: remember the keys Redis said it does not have.

Why: a cache hit looks up several keys (``commands._lookup_steps``: the strict key, then the
folded key and spelling variants), and the first ones are usually absent. The in-process
mirror answers the hit in microseconds, but each absent key costs a Redis round trip
(0.5-1 ms on loopback, as much as the rest of the pipeline). Remembering "absent" is
safe only while nothing was written, so every ``FailoverStore`` write also increments a
*change token* in Redis (in the same pipeline), and the memo is dropped when the token
differs from the one it was built under. The token is read in the background at most
every ``check_s`` (and with every lookup that goes to Redis anyway), so a key another node
writes is seen here within about ``check_s``. Entries also expire after ``ttl_s`` as a
backstop for changes made around the store (``redis-cli``, a restart that loads a dump).

The term is DNS's (RFC 2308, negative caching): a cached "no such entry" with its own TTL.
"""
import time
from collections import OrderedDict
from typing import Callable, Optional

DEFAULT_CHECK_S = 0.5  # how stale another node's new entry may look here, s
DEFAULT_MAX_KEYS = 10000


class NegativeCache:
    """Keys known to be absent from Redis under one change token.

    Args:
        ttl_s: longest time one "absent" is trusted, seconds; 0 turns the memo off.
        max_keys: bound on remembered keys (least recently noted dropped first), > 0.
        check_s: how often the owner should re-read the change token, seconds.
        clock: monotonic seconds.

    Raises:
        ValueError: negative ``ttl_s`` or ``check_s``, or ``max_keys`` <= 0.
    """

    def __init__(self, ttl_s: float, max_keys: int = DEFAULT_MAX_KEYS,
                 check_s: float = DEFAULT_CHECK_S,
                 clock: Callable[[], float] = time.monotonic):
        if ttl_s < 0 or check_s < 0:
            raise ValueError('ttl_s and check_s must be >= 0 s, got %r, %r' % (ttl_s, check_s))
        if max_keys <= 0:
            raise ValueError('max_keys must be > 0, got %r' % max_keys)
        self.ttl_s = float(ttl_s)
        self.check_s = float(check_s)
        self._max = max_keys
        self._clock = clock
        self._absent = OrderedDict()  # type: OrderedDict[str, float]  key -> noted at
        self.token = None  # type: Optional[bytes]  change token the memo was built under
        self.last_check = float('-inf')
        self.skipped = 0  # lookups answered "absent" without Redis since start

    @property
    def enabled(self) -> bool:
        """False when ``ttl_s`` is 0."""
        return self.ttl_s > 0

    def knows_absent(self, key: str) -> bool:
        """True when Redis said ``key`` is absent, within ``ttl_s``, under the same token."""
        noted = self._absent.get(key)
        if noted is None:
            return False
        if self._clock() - noted >= self.ttl_s:
            del self._absent[key]
            return False
        self.skipped += 1
        return True

    def note_absent(self, key: str, token: Optional[bytes]) -> None:
        """Record that Redis had no ``key`` when the change token read ``token``."""
        if not self.enabled:
            return
        self.saw_token(token)
        self._absent[key] = self._clock()
        self._absent.move_to_end(key)
        while len(self._absent) > self._max:
            self._absent.popitem(last=False)

    def saw_token(self, token: Optional[bytes]) -> None:
        """Take the change token just read from Redis; a new one drops the memo."""
        self.last_check = self._clock()
        if token != self.token:
            self._absent.clear()
            self.token = token

    def check_due(self) -> bool:
        """True when the token should be read again (memo in use and ``check_s`` passed)."""
        return bool(self._absent) and self._clock() - self.last_check >= self.check_s

    def forget(self, key: str) -> None:
        """Drop ``key`` (this process just wrote it)."""
        self._absent.pop(key, None)

    def clear(self) -> None:
        """Drop everything (Redis went away or came back: its data may have changed)."""
        self._absent.clear()
        self.token = None

    def __len__(self) -> int:
        return len(self._absent)
