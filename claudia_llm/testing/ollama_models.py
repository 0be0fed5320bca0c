"""Loaded models of the Ollama-protocol test server (a mixin).

Load on first use or when ``num_ctx`` changes (Ollama reloads then), ``keep_alive``
expiry, unload with ``keep_alive: 0``, and ``GET /api/ps``. A load or an unload also
empties the model's prompt prefix cache. Source: Ollama ``docs/api.md`` (``/api/ps``,
"Load a model", "Unload a model").
"""
import asyncio
import threading
import time
from typing import Any, Dict

from aiohttp import web

from .ollama_protocol import MODEL_INFO, chunk, keep_alive_s, now_iso

DEFAULT_NUM_CTX = 2048


class ModelStore:
    """Loaded models and their load times; a mixin of the test server.

    The server sets ``_lock``, ``_loaded``, ``_loads``, ``_load_lock``, ``_prefix`` and
    ``load_time_s``, and provides ``_finish``.
    """

    _lock: threading.Lock
    _loaded: Dict[str, Dict[str, Any]]
    _load_lock: asyncio.Lock
    load_time_s: float

    async def _ps(self, request: web.Request) -> web.Response:
        with self._lock:
            self._expire()
            models = [dict(name=m, model=m, size=5400000000, size_vram=5400000000,
                           digest='0' * 64, details=dict(MODEL_INFO),
                           expires_at=now_iso(s['expires_at'] - time.monotonic()),
                           context_length=s['num_ctx']) for m, s in self._loaded.items()]
        return web.json_response({'models': models})

    async def _load_only(self, endpoint, body, entry) -> web.Response:
        """Empty prompt / no messages: load (or with keep_alive 0, unload) the model."""
        model = body['model']
        if keep_alive_s(body.get('keep_alive')) == 0:
            with self._lock:
                self._loaded.pop(model, None)
                self._prefix.clear(model)
            reason = 'unload'
        else:
            load_ns = await self._ensure_loaded(body)
            self._keep_alive(body)
            entry['load_duration'] = load_ns
            reason = 'load'
        reply = dict(chunk(endpoint, model, '', True), done_reason=reason)
        return self._finish(entry, reason, web.json_response(reply))

    async def _ensure_loaded(self, body: Dict[str, Any]) -> int:
        """Load the model if it is not loaded or has another num_ctx; return the time, ns."""
        started = time.monotonic()
        num_ctx = int((body.get('options') or {}).get('num_ctx') or DEFAULT_NUM_CTX)
        async with self._load_lock:  # requests wait for a load in progress, as in Ollama
            with self._lock:
                self._expire()
                state = self._loaded.get(body['model'])
                fresh = state is None or state['num_ctx'] != num_ctx
                if fresh:
                    self._loads += 1
                    self._prefix.clear(body['model'])
            if fresh:
                await asyncio.sleep(self.load_time_s)
                with self._lock:
                    self._loaded[body['model']] = {'num_ctx': num_ctx,
                                                   'expires_at': float('inf')}
        return int((time.monotonic() - started) * 1e9)

    def _keep_alive(self, body: Dict[str, Any]) -> None:
        seconds = keep_alive_s(body.get('keep_alive'))
        with self._lock:
            state = self._loaded.get(body.get('model'))
            if state is not None:
                state['expires_at'] = (float('inf') if seconds < 0
                                       else time.monotonic() + seconds)

    def _expire(self) -> None:
        current = time.monotonic()
        for model in [m for m, s in self._loaded.items() if s['expires_at'] <= current]:
            del self._loaded[model]
