r"""An Ollama-protocol test server on loopback (aiohttp), for tests and benchmarks.

It models what matters to a client of Ollama: ``N`` parallel slots (requests beyond ``N``
wait FIFO, as with ``OLLAMA_NUM_PARALLEL``; beyond ``max_queue`` waiting it answers 503 as
``OLLAMA_MAX_QUEUE`` does), a per-request service time, model load on first use or when
``num_ctx`` changes, ``keep_alive`` expiry, streaming NDJSON, and real Qwen2.5 token counts
(``qwen_tokens``). Replies come from a script (``ollama_script``). Every request is logged
(model, messages, format, options, keep_alive, arrival/start/end times) so tests can check
what the client sent. API source: Ollama's ``docs/api.md`` (``/api/chat``, ``/api/generate``,
``/api/tags``, ``/api/ps``, ``/api/version``); durations are in nanoseconds. The same engine
also speaks the OpenAI protocol (``/v1/chat/completions``, ``/v1/models``: ``openai_protocol``)
with the same scripts, timing and faults.

Test-only endpoints: ``GET /_test/requests``, ``GET /_test/stats``, ``POST /_test/reset``
(optional body: a new script), ``POST /_test/script`` (body: the script).

Standalone::

    python -m claudia_llm.testing.ollama_server --port 0 --slots 2 --service-time-s 1.5 \
        --script rules.json        # first line on stdout: "listening http://127.0.0.1:PORT"

In-process: ``url = server.start()`` ... ``server.stop()`` (own thread and loop), or
``async with OllamaTestServer(...) as server:`` (on the running loop).
"""
import argparse
import asyncio
import json
import signal
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Sequence

from aiohttp import web

from . import ollama_script, ollama_timing, qwen_tokens
from .loop_thread import LoopThreadServer
from .ollama_log import RequestLog
from .ollama_models import ModelStore
from .ollama_protocol import MODEL_INFO, OllamaWire, Slots, keep_alive_s, messages_of, now_iso
from .openai_protocol import OpenAIRoutes

VERSION = '0.0.0-claudia-test'


class OllamaTestServer(OpenAIRoutes, ModelStore, RequestLog, LoopThreadServer):
    """The server; every public method may be called from any thread.

    Args:
        slots: parallel requests in service (``OLLAMA_NUM_PARALLEL``).
        service_time_s: time one request spends in its slot, seconds (a script or rule
            ``delay_s`` replaces it); split into prompt eval and eval by token counts.
        script: a ``ollama_script.Script``, or its JSON form (list or dict), or None.
        models: model names the server has; others get 404 "not found".
        load_time_s: model load time on first use, after expiry or a ``num_ctx`` change.
        max_queue: requests allowed to wait for a slot; beyond it 503.
        prompt_tps, eval_tps: token rates, tokens/s (prefill, decode).
        timing: 'service' (the service time, split by token costs) or 'rates' (prefill of
            the new prompt tokens at ``prompt_tps``, one chunk per token at ``eval_tps``; a
            rule's ``delay_s`` still gives that request a service time); see
            ``ollama_timing``.

    Raises:
        ValueError: ``slots`` < 1, a negative service time, an unknown ``timing``.
    """

    thread_name = 'ollama-test-server'

    def __init__(self, slots: int = 1, service_time_s: float = 0.0, script: Any = None,
                 host: str = '127.0.0.1', port: int = 0, models: Sequence[str] = ('qwen2.5:7b',),
                 load_time_s: float = 0.0, max_queue: int = 512, prompt_tps: float = 400.0,
                 eval_tps: float = 20.0, timing: str = 'service'):
        if timing not in ollama_timing.TIMINGS:
            raise ValueError('timing must be one of %s, got %r' % (ollama_timing.TIMINGS, timing))
        if slots < 1:
            raise ValueError('slots must be >= 1, got %r' % slots)
        if service_time_s < 0:
            raise ValueError('service_time_s must be >= 0, got %r' % service_time_s)
        self.slots, self.service_time_s = slots, float(service_time_s)
        self.host, self.port, self.models = host, port, list(models)
        self.load_time_s, self.max_queue = float(load_time_s), max_queue
        self.prompt_tps, self.eval_tps, self.timing = prompt_tps, eval_tps, timing
        self._prefix = ollama_timing.PrefixCache(slots)
        self.url = ''
        self._lock = threading.Lock()
        self._script = self._as_script(script)
        self._log: List[Dict[str, Any]] = []
        self._loaded: Dict[str, Dict[str, Any]] = {}
        self._loads = 0
        self._t0 = time.monotonic()
        self._slots: Optional[Slots] = None
        self._runner: Optional[web.AppRunner] = None
        self._stopping: Optional[asyncio.Event] = None
        self._load_lock: Optional[asyncio.Lock] = None
        qwen_tokens.tokenizer()  # load once up front, not inside the first request

    # ---- lifecycle ----------------------------------------------------------------------
    async def astart(self) -> str:
        """Start serving on the running loop; return the base URL."""
        self._loop = asyncio.get_running_loop()
        self._slots, self._stopping = Slots(self.slots), asyncio.Event()
        self._load_lock = asyncio.Lock()
        self._runner = web.AppRunner(self._app(), handler_cancellation=True,
                                     shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = 'http://%s:%d' % (self.host, port)
        return self.url

    async def astop(self) -> None:
        """Release hanging requests and stop serving."""
        if self._runner is None:
            return
        self._stopping.set()
        await self._runner.cleanup()
        self._runner = None

    # ---- test API -----------------------------------------------------------------------
    def stats(self) -> Dict[str, Any]:
        """``{"requests", "in_service", "waiting", "max_in_service", "loads", "loaded"}``."""
        with self._lock:
            slots = self._slots
            return {'requests': len(self._log), 'loads': self._loads,
                    'loaded': sorted(self._loaded), 'slots': self.slots,
                    'in_service': slots.busy if slots else 0,
                    'waiting': slots.waiting if slots else 0,
                    'max_in_service': slots.max_busy if slots else 0}

    def set_script(self, script: Any) -> None:
        """Replace the script (a ``Script`` or its JSON form); the log is kept."""
        new = self._as_script(script)
        with self._lock:
            self._script = new

    def reset(self, script: Any = None) -> None:
        """Clear the log, counters and loaded models; set ``script`` (None: no rules)."""
        new = self._as_script(script)
        with self._lock:
            self._script, self._log, self._loaded, self._loads = new, [], {}, 0
            self._prefix.clear()
            if self._slots is not None:
                self._slots.max_busy = self._slots.busy

    @staticmethod
    def _as_script(script: Any) -> ollama_script.Script:
        if isinstance(script, ollama_script.Script):
            return script
        return ollama_script.Script.from_data(script)

    # ---- HTTP ---------------------------------------------------------------------------
    def _app(self) -> web.Application:
        app = web.Application()
        app.add_routes([
            web.post('/api/chat', self._chat), web.post('/api/generate', self._generate),
            web.get('/api/tags', self._tags), web.get('/api/ps', self._ps),
            web.get('/api/version', self._version), web.get('/', self._root),
            web.post('/v1/chat/completions', self._openai_chat),
            web.get('/v1/models', self._openai_models),
            web.get('/_test/requests', self._test_requests),
            web.get('/_test/stats', self._test_stats),
            web.post('/_test/reset', self._test_reset),
            web.post('/_test/script', self._test_script)])
        return app

    async def _root(self, request: web.Request) -> web.Response:
        return web.Response(text='Ollama is running')

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response({'version': VERSION})

    async def _tags(self, request: web.Request) -> web.Response:
        models = [dict(name=m, model=m, modified_at=now_iso(), size=4683087332,
                       digest='0' * 64, details=dict(MODEL_INFO)) for m in self.models]
        return web.json_response({'models': models})

    async def _test_requests(self, request: web.Request) -> web.Response:
        return web.json_response({'requests': self.requests()})

    async def _test_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _test_reset(self, request: web.Request) -> web.Response:
        body = await request.text()
        self.reset(json.loads(body) if body.strip() else None)
        return web.json_response({'ok': True})

    async def _test_script(self, request: web.Request) -> web.Response:
        self.set_script(json.loads(await request.text()))
        return web.json_response({'ok': True})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._complete(request, '/api/chat')

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        return await self._complete(request, '/api/generate')

    async def _complete(self, request: web.Request, endpoint: str,
                        wire: Any = None) -> web.StreamResponse:
        """Answer one completion request; ``wire`` reads and frames it (default Ollama's)."""
        arrival, wire = time.monotonic(), wire or OllamaWire(endpoint)
        try:
            body = wire.read(await request.text())
        except ValueError as exc:
            return wire.error(400, 'invalid request: %s' % exc)
        messages = messages_of(endpoint, body)
        entry = self._entry(endpoint, body, messages, arrival)
        try:
            keep_alive_s(body.get('keep_alive'))
        except ValueError as exc:
            return self._finish(entry, 'error', wire.error(400, str(exc)))
        text = ollama_script.last_user_text(messages)
        with self._lock:
            index, rule = self._script.find(text)
            service_s = self._script.service_time_s
        entry['rule'] = index
        model = str(body.get('model') or '')
        if not model:
            return self._finish(entry, 'error', wire.error(400, 'model is required'))
        if (rule is not None and rule.model_not_found) or model not in self.models:
            return self._finish(entry, 'error', wire.error(
                404, 'model "%s" not found, try pulling it first' % model))
        if rule is not None and rule.status is not None:
            await asyncio.sleep(rule.delay_s or 0.0)
            message = rule.error or 'scripted error %d' % rule.status
            return self._finish(entry, 'error', wire.error(rule.status, message))
        if not messages:
            return await self._load_only(endpoint, body, entry)
        if rule is not None and rule.delay_s is not None:
            service_s = rule.delay_s
        elif self.timing == 'rates':
            service_s = None  # from the token counts
        else:
            service_s = self.service_time_s if service_s is None else service_s
        return await self._serve(request, wire, body, entry, rule, service_s)

    async def _serve(self, request, wire, body, entry, rule, service_s):
        if self._slots.waiting >= self.max_queue:
            return self._finish(entry, 'busy', wire.error(
                503, 'server busy, please try again.  maximum pending requests exceeded'))
        try:
            await self._slots.acquire()
        except asyncio.CancelledError:
            self._mark(entry, 'cancelled')
            raise
        entry['start_s'] = self._now()
        try:
            load_ns = await self._ensure_loaded(body)
            if rule is not None and rule.endless and body.get('stream', True):
                return await self._endless(request, wire, body, entry)
            if rule is not None and (rule.hang or rule.endless):
                self._mark(entry, 'hang', ended=False)
                await self._stopping.wait()
                return self._finish(entry, 'hang', wire.error(503, 'server stopped'))
            return await self._answer(request, wire, body, entry, rule, service_s, load_ns)
        except asyncio.CancelledError:
            self._mark(entry, 'cancelled')
            raise
        finally:
            self._slots.release()
            self._keep_alive(body)

    async def _answer(self, request, wire, body, entry, rule, service_s, load_ns):
        """Answer with the script's content; ``service_s`` None: timed by the token rates."""
        messages, model = entry['messages'], body['model']
        content, done_reason = ollama_script.answer_for(
            rule, body.get('format'), ollama_script.last_user_text(messages))
        c_tokens = qwen_tokens.count_tokens(content)
        if service_s is None:
            with self._lock:
                p_tokens = self._prefix.evaluate(model, qwen_tokens.prompt_ids(messages))
            prompt_s = p_tokens / self.prompt_tps
            service_s = prompt_s + c_tokens / self.eval_tps
        else:
            p_tokens = qwen_tokens.prompt_tokens(messages)
            prompt_s = ollama_timing.service_split(service_s, p_tokens, c_tokens,
                                                   self.prompt_tps, self.eval_tps)
        stats = dict(done=True, done_reason=done_reason, load_duration=load_ns,
                     prompt_eval_count=p_tokens, prompt_eval_duration=int(prompt_s * 1e9),
                     eval_count=c_tokens, eval_duration=int((service_s - prompt_s) * 1e9))
        entry.update(prompt_eval_count=p_tokens, eval_count=c_tokens, content=content)
        if not body.get('stream', True):
            await asyncio.sleep(service_s)
            stats['total_duration'] = int((time.monotonic() - entry['_arrival']) * 1e9)
            return self._finish(entry, 'ok', wire.whole(model, content, stats))
        response = web.StreamResponse(headers={'Content-Type': wire.content_type})
        await asyncio.sleep(prompt_s)
        await response.prepare(request)
        pieces = qwen_tokens.token_pieces(content) or ['']
        started, step = time.monotonic(), (service_s - prompt_s) / len(pieces)
        try:
            for index, piece in enumerate(pieces):
                # one token per step on the clock (not sleep after sleep: no drift)
                await asyncio.sleep(max(0.0, started + (index + 1) * step - time.monotonic()))
                await response.write(wire.piece(model, piece))
            stats['total_duration'] = int((time.monotonic() - entry['_arrival']) * 1e9)
            await response.write(wire.last(model, stats))
            await response.write_eof()
        except (ConnectionError, RuntimeError):  # the client closed the stream
            entry['disconnect_s'] = self._now()
            return self._finish(entry, 'disconnected', response)
        return self._finish(entry, 'ok', response)

    async def _endless(self, request, wire, body, entry) -> web.StreamResponse:
        """Stream whitespace chunks until the client goes away or the server stops."""
        self._mark(entry, 'endless', ended=False)
        response = web.StreamResponse(headers={'Content-Type': wire.content_type})
        await response.prepare(request)
        try:
            while not self._stopping.is_set():
                await response.write(wire.piece(body['model'], ' \n'))
                await asyncio.sleep(0.01)
        except (ConnectionError, RuntimeError):  # the client closed the stream
            pass
        return self._finish(entry, 'endless', response)


def main(argv: Optional[List[str]] = None) -> int:
    """Command line: serve until SIGINT/SIGTERM; first stdout line ``listening URL``."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=0, help='0 = a free port')
    parser.add_argument('--slots', type=int, default=1, help='OLLAMA_NUM_PARALLEL')
    parser.add_argument('--service-time-s', type=float, default=0.0)
    parser.add_argument('--load-time-s', type=float, default=0.0)
    parser.add_argument('--max-queue', type=int, default=512, help='OLLAMA_MAX_QUEUE')
    parser.add_argument('--model', action='append', help='served model (repeatable); '
                        'default qwen2.5:7b')
    parser.add_argument('--script', help='JSON script file (see ollama_script)')
    parser.add_argument('--timing', choices=ollama_timing.TIMINGS, default='service',
                        help='rates: prefill at --prompt-tps, one chunk per token at --eval-tps')
    parser.add_argument('--prompt-tps', type=float, default=400.0, help='prefill tokens/s')
    parser.add_argument('--eval-tps', type=float, default=20.0, help='decode tokens/s')
    args = parser.parse_args(argv)
    server = OllamaTestServer(
        slots=args.slots, service_time_s=args.service_time_s, host=args.host, port=args.port,
        script=ollama_script.Script.load(args.script) if args.script else None,
        models=args.model or ('qwen2.5:7b',), load_time_s=args.load_time_s,
        max_queue=args.max_queue, timing=args.timing, prompt_tps=args.prompt_tps,
        eval_tps=args.eval_tps)
    asyncio.run(_serve_forever(server))
    return 0


async def _serve_forever(server: OllamaTestServer) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    url = await server.astart()
    print('listening %s' % url, flush=True)
    await stop.wait()
    await server.astop()


if __name__ == '__main__':
    sys.exit(main())
