"""The request log of the Ollama-protocol test server (a mixin).

Tests read it to check what the client sent and how each request ended.

Entry fields: id, endpoint, model, messages, prompt, format, options, keep_alive, stream,
arrival_s / start_s / end_s (seconds since server start), outcome ('ok', 'error', 'busy',
'cancelled' when the client went away mid-request, 'hang', 'endless', 'load', 'unload'),
status, rule (index of the script rule or None), prompt_eval_count, eval_count, content,
openai (a ``/v1/chat/completions`` request's fields but its messages, else None), and
``disconnect_s`` (seconds since server start) when the client went away mid-request
('cancelled' or 'disconnected'): when the server saw the connection close.
"""
import threading
import time
from typing import Any, Dict, List

from aiohttp import web


class RequestLog:
    """Mixin; the server sets ``_lock``, ``_log`` and ``_t0`` in its constructor."""

    _lock: threading.Lock
    _log: List[Dict[str, Any]]
    _t0: float

    def requests(self) -> List[Dict[str, Any]]:
        """Copy of the request log, in arrival order (see ``_entry`` for the fields)."""
        with self._lock:
            return [{k: v for k, v in e.items() if not k.startswith('_')} for e in self._log]

    def _now(self) -> float:
        return time.monotonic() - self._t0

    def _entry(self, endpoint, body, messages, arrival) -> Dict[str, Any]:
        """Log entry of a request.

        Fields: endpoint, model, messages, format, options, keep_alive, stream, arrival_s /
        start_s / end_s (seconds since server start), outcome, status, rule, prompt_eval_count,
        eval_count, content; ``openai``: a ``/v1`` request's own fields (None for Ollama's).
        """
        entry = dict(endpoint=endpoint, model=body.get('model'), messages=messages,
                     prompt=body.get('prompt'), format=body.get('format'),
                     options=body.get('options'), keep_alive=body.get('keep_alive'),
                     stream=body.get('stream', True), arrival_s=arrival - self._t0,
                     start_s=None, end_s=None, outcome='pending', status=None, rule=None,
                     prompt_eval_count=None, eval_count=None, content=None,
                     openai=body.get('openai'))
        with self._lock:
            entry['id'] = len(self._log)
            self._log.append(entry)
        entry['_arrival'] = arrival
        return entry

    def _mark(self, entry: Dict[str, Any], outcome: str, ended: bool = True) -> None:
        with self._lock:
            entry['outcome'] = outcome
            if ended:
                entry['end_s'] = self._now()
            if outcome == 'cancelled':
                entry.setdefault('disconnect_s', self._now())

    def monotonic_of(self, server_s: float) -> float:
        """``time.monotonic()`` of a log time (seconds since server start), same process."""
        return self._t0 + server_s

    def _finish(self, entry: Dict[str, Any], outcome: str,
                response: web.StreamResponse) -> web.StreamResponse:
        with self._lock:
            entry.update(outcome=outcome, status=response.status, end_s=self._now())
        return response
