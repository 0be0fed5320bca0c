"""Optional Prometheus text endpoint of the response statistics (``prometheus_client``).

Metrics (own ``CollectorRegistry``, so several exporters can live in one process):

- ``claudia_llm_response_latency_seconds{source}``: histogram of ``latency_ms.total``.
- ``claudia_llm_responses_total{source, error_code}``: counter; ``error_code`` is
  ``none`` for a response without error.
- ``claudia_llm_latency_window_ms{source, quantile}``: gauge of the sliding-window
  p50/p95/p99/max (quantile ``0.5``, ``0.95``, ``0.99``, ``1``), as on ``/diagnostics``.
- ``claudia_llm_dependency_up{dependency}``: gauge, 1 reachable, 0 not, -1 unknown.

The server binds to ``127.0.0.1`` by default: a robot should not expose an
unauthenticated port to every network it joins; pass ``addr='0.0.0.0'`` to allow
scraping from another machine. It is a ``wsgiref`` server on a daemon thread that
``stop()`` shuts down, so it works the same on every prometheus_client >= 0.16.
"""
import threading
from typing import Dict, Optional
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

from .latency import SourceStats

BUCKETS_S = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0,
             8.0, 10.0)
"""Histogram buckets, seconds: cache answers take ms, an LLM answer 1.5-2.5 s (DESIGN.md)."""


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        pass


class PrometheusExporter:
    """Prometheus metrics of ``/claudia/response`` records, served over HTTP.

    Args:
        port: TCP port to listen on (> 0); call ``start()`` to listen.
        addr: address to bind, ``127.0.0.1`` by default.
    """

    def __init__(self, port: int, addr: str = '127.0.0.1'):
        self.port = port
        self.addr = addr
        self.registry = CollectorRegistry()
        self._latency = Histogram('claudia_llm_response_latency_seconds',
                                  'Total latency of answered utterances.', ['source'],
                                  buckets=BUCKETS_S, registry=self.registry)
        self._responses = Counter('claudia_llm_responses', 'Response records seen.',
                                  ['source', 'error_code'], registry=self.registry)
        self._window = Gauge('claudia_llm_latency_window_ms',
                             'Sliding-window latency quantiles, ms.', ['source', 'quantile'],
                             registry=self.registry)
        self._up = Gauge('claudia_llm_dependency_up', 'Dependency reachable (1), not (0), '
                         'unknown (-1).', ['dependency'], registry=self.registry)
        self._server: Optional[WSGIServer] = None
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        """Listen on ``addr:port`` in a daemon thread.

        Raises:
            OSError: the port cannot be bound (in use, no permission).
        """
        self._server = make_server(self.addr, self.port, make_wsgi_app(self.registry),
                                   handler_class=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name='prometheus-exporter', daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket (safe to call when not started)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None

    def observe(self, source: str, total_ms: float, error_code: Optional[str]) -> None:
        """Count one response and add its latency (ms) to the histogram."""
        self._latency.labels(source=source).observe(total_ms / 1000.0)
        self._responses.labels(source=source, error_code=error_code or 'none').inc()

    def set_window(self, stats: Dict[str, SourceStats]) -> None:
        """Publish the window quantiles (NaN when a source has no samples)."""
        for source, s in stats.items():
            for quantile, value in (('0.5', s.p50_ms), ('0.95', s.p95_ms),
                                    ('0.99', s.p99_ms), ('1', s.max_ms)):
                self._window.labels(source=source, quantile=quantile).set(value)

    def set_up(self, dependency: str, ok: Optional[bool]) -> None:
        """Set a dependency's reachability: True, False or None (unknown)."""
        self._up.labels(dependency=dependency).set(-1 if ok is None else int(ok))
