r"""An Ollama-protocol test server on loopback (aiohttp), for tests and benchmarks.

It models what matters to a client of Ollama: ``N`` parallel slots (requests beyond ``N``
wait FIFO, as with ``OLLAMA_NUM_PARALLEL``; beyond ``max_queue`` waiting it answers 503 as
``OLLAMA_MAX_QUEUE`` does), a per-request service time, model load on first use or when
``num_ctx`` changes, ``keep_alive`` expiry, streaming NDJSON, and real Qwen2.5 token counts
(``qwen_tokens``). Replies come from a script (``ollama_script``). Every request is logged
(model, messages, format, options, keep_alive, arrival/start/end times) so tests can check
what the client sent. API source: Ollama's ``docs/api.md`` (``/api/chat``, ``/api/generate``,
``/api/tags``, ``/api/ps``, ``/api/version``); durations are in nanoseconds.

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

from . import ollama_script, qwen_tokens
from .ollama_protocol import (
    MODEL_INFO,
    Slots,
    chunk,
    keep_alive_s,
    messages_of,
    ndjson_line,
    now_iso,
)

DEFAULT_NUM_CTX = 2048
VERSION = '0.0.0-claudia-test'


class OllamaTestServer:
    """The server; every public method may be called from any thread.

    Args:
        slots: parallel requests in service (``OLLAMA_NUM_PARALLEL``).
        service_time_s: time one request spends in its slot, seconds (a script or rule
            ``delay_s`` replaces it); split into prompt eval and eval by token counts.
        script: a ``ollama_script.Script``, or its JSON form (list or dict), or None.
        models: model names the server has; others get 404 "not found".
        load_time_s: model load time on first use, after expiry or a ``num_ctx`` change.
        max_queue: requests allowed to wait for a slot; beyond it 503.
        prompt_tps, eval_tps: token rates, tokens/s, used only to split the service time.
    """

    def __init__(self, slots: int = 1, service_time_s: float = 0.0, script: Any = None,
                 host: str = '127.0.0.1', port: int = 0, models: Sequence[str] = ('qwen2.5:7b',),
                 load_time_s: float = 0.0, max_queue: int = 512, prompt_tps: float = 400.0,
                 eval_tps: float = 20.0):
        if slots < 1:
            raise ValueError('slots must be >= 1, got %r' % slots)
        if service_time_s < 0:
            raise ValueError('service_time_s must be >= 0, got %r' % service_time_s)
        self.slots, self.service_time_s = slots, float(service_time_s)
        self.host, self.port, self.models = host, port, list(models)
        self.load_time_s, self.max_queue = float(load_time_s), max_queue
        self.prompt_tps, self.eval_tps = prompt_tps, eval_tps
        self.url = ''
        self._lock = threading.Lock()
        self._script = self._as_script(script)
        self._log: List[Dict[str, Any]] = []
        self._loaded: Dict[str, Dict[str, Any]] = {}
        self._loads = 0
        self._t0 = time.monotonic()
        self._slots: Optional[Slots] = None
        self._runner: Optional[web.AppRunner] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
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

    async def __aenter__(self) -> 'OllamaTestServer':
        await self.astart()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.astop()

    def start(self, timeout_s: float = 10.0) -> str:
        """Start in a daemon thread with its own event loop; return the base URL."""
        started = threading.Event()
        failure: List[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.astart())
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                failure.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name='ollama-test-server', daemon=True)
        self._thread.start()
        if not started.wait(timeout_s):
            raise TimeoutError('test server did not start within %.1f s' % timeout_s)
        if failure:
            raise failure[0]
        return self.url

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop a server started with ``start()``."""
        if self._thread is None:
            return
        loop = self._loop
        asyncio.run_coroutine_threadsafe(self.astop(), loop).result(timeout_s)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout_s)
        self._thread = None

    def __enter__(self) -> 'OllamaTestServer':
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- test API -----------------------------------------------------------------------
    def requests(self) -> List[Dict[str, Any]]:
        """Copy of the request log, in arrival order (see ``_entry`` for the fields)."""
        with self._lock:
            return [{k: v for k, v in e.items() if not k.startswith('_')} for e in self._log]

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

    async def _ps(self, request: web.Request) -> web.Response:
        with self._lock:
            self._expire()
            models = [dict(name=m, model=m, size=5400000000, size_vram=5400000000,
                           digest='0' * 64, details=dict(MODEL_INFO),
                           expires_at=now_iso(s['expires_at'] - time.monotonic()),
                           context_length=s['num_ctx']) for m, s in self._loaded.items()]
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

    async def _complete(self, request: web.Request, endpoint: str) -> web.StreamResponse:
        arrival = time.monotonic()
        try:
            body = json.loads(await request.text())
            if not isinstance(body, dict):
                raise ValueError('body is not a JSON object')
        except ValueError as exc:
            return _error(400, 'invalid request: %s' % exc)
        messages = messages_of(endpoint, body)
        entry = self._entry(endpoint, body, messages, arrival)
        try:
            keep_alive_s(body.get('keep_alive'))
        except ValueError as exc:
            return self._finish(entry, 'error', _error(400, str(exc)))
        text = ollama_script.last_user_text(messages)
        with self._lock:
            index, rule = self._script.find(text)
            service_s = self._script.service_time_s
        entry['rule'] = index
        model = str(body.get('model') or '')
        if not model:
            return self._finish(entry, 'error', _error(400, 'model is required'))
        if (rule is not None and rule.model_not_found) or model not in self.models:
            return self._finish(entry, 'error', _error(
                404, 'model "%s" not found, try pulling it first' % model))
        if rule is not None and rule.status is not None:
            await asyncio.sleep(rule.delay_s or 0.0)
            message = rule.error or 'scripted error %d' % rule.status
            return self._finish(entry, 'error', _error(rule.status, message))
        if not messages:
            return await self._load_only(endpoint, body, entry)
        if rule is not None and rule.delay_s is not None:
            service_s = rule.delay_s
        return await self._serve(request, endpoint, body, entry, rule,
                                 self.service_time_s if service_s is None else service_s)

    async def _serve(self, request, endpoint, body, entry, rule, service_s):
        if self._slots.waiting >= self.max_queue:
            return self._finish(entry, 'busy', _error(
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
                return await self._endless(request, endpoint, body, entry)
            if rule is not None and (rule.hang or rule.endless):
                self._mark(entry, 'hang', ended=False)
                await self._stopping.wait()
                return self._finish(entry, 'hang', _error(503, 'server stopped'))
            return await self._answer(request, endpoint, body, entry, rule, service_s, load_ns)
        except asyncio.CancelledError:
            self._mark(entry, 'cancelled')
            raise
        finally:
            self._slots.release()
            self._keep_alive(body)

    async def _answer(self, request, endpoint, body, entry, rule, service_s, load_ns):
        messages = entry['messages']
        content, done_reason = ollama_script.answer_for(
            rule, body.get('format'), ollama_script.last_user_text(messages))
        p_tokens = qwen_tokens.prompt_tokens(messages)
        c_tokens = qwen_tokens.count_tokens(content)
        p_cost, c_cost = p_tokens / self.prompt_tps, c_tokens / self.eval_tps
        prompt_s = service_s * p_cost / (p_cost + c_cost) if p_cost + c_cost else 0.0
        stats = dict(done=True, done_reason=done_reason, load_duration=load_ns,
                     prompt_eval_count=p_tokens, prompt_eval_duration=int(prompt_s * 1e9),
                     eval_count=c_tokens, eval_duration=int((service_s - prompt_s) * 1e9))
        entry.update(prompt_eval_count=p_tokens, eval_count=c_tokens, content=content)
        model = body['model']
        if body.get('stream', True):
            response = web.StreamResponse(headers={'Content-Type': 'application/x-ndjson'})
            await asyncio.sleep(prompt_s)
            await response.prepare(request)
            pieces = qwen_tokens.token_pieces(content) or ['']
            for piece in pieces:
                await response.write(ndjson_line(chunk(endpoint, model, piece, done=False)))
                await asyncio.sleep((service_s - prompt_s) / len(pieces))
            stats['total_duration'] = int((time.monotonic() - entry['_arrival']) * 1e9)
            await response.write(ndjson_line(dict(chunk(endpoint, model, '', True), **stats)))
            await response.write_eof()
            return self._finish(entry, 'ok', response)
        await asyncio.sleep(service_s)
        stats['total_duration'] = int((time.monotonic() - entry['_arrival']) * 1e9)
        return self._finish(entry, 'ok', web.json_response(
            dict(chunk(endpoint, model, content, True), **stats)))

    async def _endless(self, request, endpoint, body, entry) -> web.StreamResponse:
        """Stream whitespace chunks until the client goes away or the server stops."""
        self._mark(entry, 'endless', ended=False)
        response = web.StreamResponse(headers={'Content-Type': 'application/x-ndjson'})
        await response.prepare(request)
        try:
            while not self._stopping.is_set():
                await response.write(ndjson_line(chunk(endpoint, body['model'], ' \n',
                                                       done=False)))
                await asyncio.sleep(0.01)
        except (ConnectionError, RuntimeError):  # the client closed the stream
            pass
        return self._finish(entry, 'endless', response)

    async def _load_only(self, endpoint, body, entry) -> web.Response:
        """Empty prompt / no messages: load (or with keep_alive 0, unload) the model."""
        model = body['model']
        if keep_alive_s(body.get('keep_alive')) == 0:
            with self._lock:
                self._loaded.pop(model, None)
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

    # ---- request log --------------------------------------------------------------------
    def _now(self) -> float:
        return time.monotonic() - self._t0

    def _entry(self, endpoint, body, messages, arrival) -> Dict[str, Any]:
        """Log entry of a request.

        Fields: endpoint, model, messages, format, options, keep_alive, stream, arrival_s /
        start_s / end_s (seconds since server start), outcome, status, rule, prompt_eval_count,
        eval_count, content.
        """
        entry = dict(endpoint=endpoint, model=body.get('model'), messages=messages,
                     prompt=body.get('prompt'), format=body.get('format'),
                     options=body.get('options'), keep_alive=body.get('keep_alive'),
                     stream=body.get('stream', True), arrival_s=arrival - self._t0,
                     start_s=None, end_s=None, outcome='pending', status=None, rule=None,
                     prompt_eval_count=None, eval_count=None, content=None)
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

    def _finish(self, entry: Dict[str, Any], outcome: str,
                response: web.StreamResponse) -> web.StreamResponse:
        with self._lock:
            entry.update(outcome=outcome, status=response.status, end_s=self._now())
        return response


def _error(status: int, message: str) -> web.Response:
    return web.json_response({'error': message}, status=status)


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
    args = parser.parse_args(argv)
    server = OllamaTestServer(
        slots=args.slots, service_time_s=args.service_time_s, host=args.host, port=args.port,
        script=ollama_script.Script.load(args.script) if args.script else None,
        models=args.model or ('qwen2.5:7b',), load_time_s=args.load_time_s,
        max_queue=args.max_queue)
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
