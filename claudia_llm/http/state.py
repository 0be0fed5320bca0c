"""What the HTTP bridge knows, fed from the ROS side's callbacks, read by the FastAPI app.

``BridgeState`` is thread-safe: the rclpy executor thread calls ``on_record``,
``on_action``, ``on_reply_partial`` and ``on_diagnostics``; the uvicorn event loop awaits
records (``expect``), follows events (``subscribe``) and reads statistics. Events reach each
loop with ``call_soon_threadsafe``, so no callback ever waits for an HTTP client.
"""
import asyncio
import collections
import json
import math
import threading
import time
from typing import Any, Deque, Dict, List, Optional, Tuple

from prometheus_client import generate_latest

from claudia_llm.core.latency import LatencyWindow, sample_from_record
from claudia_llm.core.metrics import PrometheusExporter

DEPENDENCIES = ('ollama', 'redis')
"""Task names of diagnostics_node's dependency statuses (``"<node>: ollama"``)."""


class Subscription:
    """One SSE client: a bounded queue on its event loop; ``overflowed`` once it fell behind."""

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int):
        self.loop = loop
        self.queue = asyncio.Queue(size)  # of (kind, data)
        self.overflowed = False

    def put(self, event: Tuple[str, Any]) -> None:
        """Queue ``event``; on the loop's thread only (see ``BridgeState.emit``)."""
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True  # the stream ends; the client reconnects and re-reads


class BridgeState:
    """Records, events, latency window, chart history and dependency health.

    Args:
        window_s: latency window of the p50/p95/p99 figures, seconds (> 0).
        history_s: how far back ``history()`` reaches, seconds.
        stats_period_s: period of ``tick()`` (the caller's timer), seconds; sizes the history.
        recent_records: records kept for ``recent()``.
        event_queue_size: events buffered per subscriber before it is dropped.
    """

    def __init__(self, window_s: float = 60.0, history_s: float = 600.0,
                 stats_period_s: float = 2.0, recent_records: int = 50,
                 event_queue_size: int = 1000):
        self.window = LatencyWindow(window_s)
        self.metrics = PrometheusExporter(port=0)  # its registry only: the app serves it
        self.event_queue_size = event_queue_size
        self._lock = threading.Lock()
        self._recent: Deque[Dict[str, Any]] = collections.deque(maxlen=recent_records)
        self._history: Deque[Dict[str, Any]] = collections.deque(
            maxlen=max(1, int(math.ceil(history_s / stats_period_s))))
        self._waiters: Dict[str, Tuple[asyncio.AbstractEventLoop, asyncio.Future]] = {}
        self._subscribers: List[Subscription] = []
        self._health: Dict[str, Dict[str, Any]] = {}
        self._diagnostics_at: Optional[float] = None
        self.queue_depth = 0
        self.ignored_messages = 0

    # -- fed by the ROS side (any thread) ----------------------------------------------
    def on_record(self, text: str) -> None:
        """One ``/claudia/response`` record (JSON text); a malformed one is counted, not kept."""
        try:
            source, total_ms, code = sample_from_record(text)
            record = json.loads(text)
            self.window.add(source, total_ms, code)
        except ValueError:
            self.ignored_messages += 1
            return
        self.metrics.observe(source, total_ms, code)
        depth = record.get('queue_depth')
        if isinstance(depth, int) and not isinstance(depth, bool):
            self.queue_depth = depth
        with self._lock:
            self._recent.append(record)
            waiter = self._waiters.pop(str(record.get('request_id')), None)
        if waiter is not None:
            loop, future = waiter
            loop.call_soon_threadsafe(_resolve, future, record)
        self.emit('record', record)

    def on_action(self, text: str) -> None:
        """One ``/claudia/action`` message (JSON text), passed on as an ``action`` event."""
        self._emit_json('action', text)

    def on_reply_partial(self, text: str) -> None:
        """One ``/claudia/reply_partial`` piece (JSON text), passed on as ``reply_partial``."""
        self._emit_json('reply_partial', text)

    def on_diagnostics(self, statuses: List[Dict[str, Any]]) -> None:
        """Statuses of one ``/diagnostics`` array as ``{name, level, message, values}`` dicts.

        ``level`` is a name (``OK``, ``WARN``, ``ERROR``, ``STALE``); ``values`` a dict of
        strings. Only the dependency statuses (``DEPENDENCIES``) are kept.
        """
        now = time.time()
        with self._lock:
            for status in statuses:
                task = status['name'].rpartition(': ')[2]
                if task in DEPENDENCIES:
                    values = status.get('values', {})
                    reachable = {'true': True, 'false': False}.get(values.get('reachable'))
                    self._health[task] = {'level': status['level'], 'reachable': reachable,
                                          'message': status.get('message', ''),
                                          'target': values.get('target', ''), 'at': now}
                    self.metrics.set_up(task, reachable)
            self._diagnostics_at = now

    def _emit_json(self, kind: str, text: str) -> None:
        try:
            data = json.loads(text)
        except ValueError:
            self.ignored_messages += 1
            return
        self.emit(kind, data)

    def emit(self, kind: str, data: Any) -> None:
        """Hand ``(kind, data)`` to every subscriber, on its own loop; never blocks."""
        with self._lock:
            subscribers = list(self._subscribers)
        for sub in subscribers:
            try:
                sub.loop.call_soon_threadsafe(sub.put, (kind, data))
            except RuntimeError:  # its loop is closed: the server stopped
                self.unsubscribe(sub)

    # -- read by the app (its event loop) ----------------------------------------------
    def expect(self, request_id: str) -> 'asyncio.Future':
        """A future for the record of ``request_id``; call before publishing the utterance.

        Raises:
            KeyError: a request with this id is already awaited.
        """
        loop = asyncio.get_running_loop()
        with self._lock:
            if request_id in self._waiters:
                raise KeyError(request_id)
            future = loop.create_future()
            self._waiters[request_id] = (loop, future)
        return future

    def forget(self, request_id: str) -> None:
        """Stop waiting for ``request_id`` (timed out, or the client went away)."""
        with self._lock:
            self._waiters.pop(request_id, None)

    def subscribe(self) -> Subscription:
        """A new event subscription on the running loop; ``unsubscribe`` it at the end."""
        sub = Subscription(asyncio.get_running_loop(), self.event_queue_size)
        with self._lock:
            self._subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Remove ``sub`` (no error when it is already gone)."""
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)

    def subscriber_count(self) -> int:
        """How many event streams are open."""
        with self._lock:
            return len(self._subscribers)

    def recent(self) -> List[Dict[str, Any]]:
        """The last records, oldest first."""
        with self._lock:
            return list(self._recent)

    def health(self) -> Dict[str, Any]:
        """``{'ollama': {...} | None, 'redis': ..., 'diagnostics_age_s': s | None}``."""
        now = time.time()
        with self._lock:
            result = {name: dict(self._health[name]) if name in self._health else None
                      for name in DEPENDENCIES}
            at = self._diagnostics_at
        result['diagnostics_age_s'] = None if at is None else round(now - at, 3)
        return result

    def stats(self) -> Dict[str, Any]:
        """Window figures now: ``{t, latency: {source: {p50_ms, ...}}, hit_rates, ...}``.

        Latencies are ms, ``None`` where a source has no samples; ``t`` is Unix time, s.
        """
        summary = self.window.summary()
        latency = {source: {'p50_ms': _num(s.p50_ms), 'p95_ms': _num(s.p95_ms),
                            'p99_ms': _num(s.p99_ms), 'max_ms': _num(s.max_ms),
                            'samples': s.samples, 'errors': s.errors}
                   for source, s in self.window.stats().items()}
        return {'t': time.time(), 'window_s': summary.window_s, 'total': summary.total,
                'latency': latency, 'hit_rates': summary.hit_rates,
                'cache_hit_rate': summary.cache_hit_rate, 'error_rate': summary.error_rate,
                'queue_depth': self.queue_depth, 'health': self.health()}

    def tick(self) -> Dict[str, Any]:
        """Take one chart point: add ``stats()`` to the history and emit it as ``stats``."""
        point = self.stats()
        with self._lock:
            self._history.append(point)
        self.emit('stats', point)
        return point

    def history(self) -> List[Dict[str, Any]]:
        """Chart points of the last ``history_s``, oldest first."""
        with self._lock:
            return list(self._history)

    def metrics_text(self) -> bytes:
        """Prometheus text of the exporter's figures (``core.metrics``), window refreshed."""
        self.metrics.set_window(self.window.stats())
        return generate_latest(self.metrics.registry)


def _resolve(future: 'asyncio.Future', record: Dict[str, Any]) -> None:
    if not future.done():
        future.set_result(record)


def _num(value: float) -> Optional[float]:
    return None if value is None or math.isnan(value) else round(float(value), 3)
