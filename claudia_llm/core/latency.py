"""Sliding-window latency statistics per answer source, for ``/diagnostics``.

Samples come from ``/claudia/response`` records (``source``, ``latency_ms.total``,
``error.code``; DESIGN.md). Percentiles are numpy's default ``numpy.percentile``
(linear interpolation between the closest ranks, numpy's ``method='linear'``,
Hyndman & Fan type 7), the same definition numpy, pandas and Prometheus-style
summaries use. Memory is bounded twice: samples older than ``window_s`` are evicted
on every ``add``/``stats`` call, and each source keeps at most ``max_samples``
(oldest dropped first) however fast records arrive.
"""
import json
import threading
import time
from collections import Counter, deque
from typing import Callable, Deque, Dict, NamedTuple, Optional, Tuple

import numpy as np

from .record import SOURCES


class SourceStats(NamedTuple):
    """Latency of one source over the window; ms values are NaN when ``samples == 0``."""

    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    samples: int
    errors: int


class WindowSummary(NamedTuple):
    """Totals over the window.

    ``counts`` has every source in ``record.SOURCES`` (0 when unseen) plus any other
    source seen; ``hit_rates[source] = counts[source] / total`` (0.0 when ``total``
    is 0); ``cache_hit_rate`` is the share answered by the exact or semantic cache;
    ``error_codes`` counts ``error.code`` values.
    """

    window_s: float
    total: int
    errors: int
    error_rate: float
    counts: Dict[str, int]
    hit_rates: Dict[str, float]
    cache_hit_rate: float
    error_codes: Dict[str, int]


_Sample = Tuple[float, float, Optional[str]]  # (clock time s, total ms, error code)


class LatencyWindow:
    """Per-source sliding window of response latencies, safe to use from several threads.

    Args:
        window_s: length of the window, seconds (> 0).
        clock: monotonic clock in seconds; injectable for tests.
        max_samples: most samples kept per source (> 0).

    Raises:
        ValueError: ``window_s`` or ``max_samples`` not positive.
    """

    def __init__(self, window_s: float, clock: Callable[[], float] = time.monotonic,
                 max_samples: int = 10000):
        if not window_s > 0:
            raise ValueError('window_s must be > 0, got %r' % (window_s,))
        if max_samples <= 0:
            raise ValueError('max_samples must be > 0, got %r' % (max_samples,))
        self.window_s = float(window_s)
        self._clock = clock
        self._max_samples = max_samples
        self._samples: Dict[str, Deque[_Sample]] = {}
        self._lock = threading.Lock()

    def add(self, source: str, total_ms: float, error_code: Optional[str] = None) -> None:
        """Record one response: its source, total latency in ms and error code (or None).

        Raises:
            ValueError: ``total_ms`` is negative or not finite.
        """
        total_ms = float(total_ms)
        if not (total_ms >= 0 and np.isfinite(total_ms)):
            raise ValueError('total_ms must be a finite number >= 0, got %r' % (total_ms,))
        now = self._clock()
        with self._lock:
            queue = self._samples.get(source)
            if queue is None:
                queue = self._samples[source] = deque(maxlen=self._max_samples)
            queue.append((now, total_ms, error_code or None))
            self._evict(now)

    def stats(self) -> Dict[str, SourceStats]:
        """Return ``{source: SourceStats}`` for every source in ``record.SOURCES`` and seen."""
        with self._lock:
            self._evict(self._clock())
            snapshot = {source: list(queue) for source, queue in self._samples.items()}
        result = {}
        for source in _ordered(snapshot):
            result[source] = _source_stats(snapshot.get(source, []))
        return result

    def summary(self) -> WindowSummary:
        """Return totals, error rate, per-source counts and hit rates over the window."""
        with self._lock:
            self._evict(self._clock())
            snapshot = {source: list(queue) for source, queue in self._samples.items()}
        counts = {source: len(snapshot.get(source, [])) for source in _ordered(snapshot)}
        total = sum(counts.values())
        codes = Counter(code for queue in snapshot.values() for _, _, code in queue if code)
        errors = sum(codes.values())
        return WindowSummary(
            window_s=self.window_s, total=total, errors=errors,
            error_rate=_share(errors, total), counts=counts,
            hit_rates={source: _share(n, total) for source, n in counts.items()},
            cache_hit_rate=_share(counts.get('exact', 0) + counts.get('semantic', 0), total),
            error_codes=dict(codes))

    def _evict(self, now: float) -> None:
        oldest = now - self.window_s
        for source, queue in list(self._samples.items()):
            while queue and queue[0][0] < oldest:
                queue.popleft()
            if not queue and source not in SOURCES:
                del self._samples[source]


def _ordered(snapshot: Dict[str, list]):
    return list(SOURCES) + sorted(s for s in snapshot if s not in SOURCES)


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _source_stats(samples: list) -> SourceStats:
    errors = sum(1 for _, _, code in samples if code)
    if not samples:
        nan = float('nan')
        return SourceStats(nan, nan, nan, nan, 0, errors)
    values = np.fromiter((ms for _, ms, _ in samples), dtype=float, count=len(samples))
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return SourceStats(float(p50), float(p95), float(p99), float(values.max()),
                       len(samples), errors)


def sample_from_record(text: str) -> Tuple[str, float, Optional[str]]:
    """Read ``(source, latency_ms.total, error.code or None)`` from a response record.

    ``text`` is the JSON of ``/claudia/response`` (DESIGN.md).

    Raises:
        ValueError: not JSON (or nested too deeply), not an object, or no string
            ``source`` / no numeric ``latency_ms.total`` (``json.JSONDecodeError`` is a
            ValueError).
    """
    try:
        record = json.loads(text)
    except RecursionError as exc:  # absurdly nested JSON
        raise ValueError('response record nested too deeply') from exc
    if not isinstance(record, dict):
        raise ValueError('response record is not a JSON object')
    source = record.get('source')
    latency = record.get('latency_ms')
    total = latency.get('total') if isinstance(latency, dict) else None
    if not isinstance(source, str) or not source:
        raise ValueError('response record has no source')
    if isinstance(total, bool) or not isinstance(total, (int, float)):
        raise ValueError('response record has no numeric latency_ms.total')
    error = record.get('error')
    code = error.get('code') if isinstance(error, dict) else None
    return source, float(total), (str(code) if code else None)


def queue_depth_of(text: str, default: int = 0) -> int:
    """``queue_depth`` of a response record (JSON text), or ``default`` without one."""
    try:
        value = json.loads(text).get('queue_depth')
    except (ValueError, AttributeError, RecursionError):
        return default
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def redis_status_of(text: str, default: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """``redis`` of a response record as text values (``breaker``, ``budget_misses``).

    ``default`` (or ``{}``) when the record has none or it is not of that shape.
    """
    try:
        value = json.loads(text).get('redis')
    except (ValueError, AttributeError, RecursionError):
        value = None
    states = ('closed', 'open', 'half_open')
    if not isinstance(value, dict) or value.get('breaker') not in states:
        return dict(default or {})
    return {'breaker': value['breaker'], 'budget_misses': str(value.get('budget_misses', 0))}
