"""Ollama protocol pieces of the test server: FIFO slots, keep_alive, response objects.

``OllamaWire`` is how the server reads a request body and frames its answers (NDJSON);
``openai_protocol.OpenAIWire`` does the same for ``/v1/chat/completions``, so one engine
(slots, scripts, timing, faults) serves both protocols.
"""
import asyncio
import collections
import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Deque, Dict, List

from aiohttp import web

DEFAULT_KEEP_ALIVE_S = 300.0  # Ollama's default (OLLAMA_KEEP_ALIVE=5m)
_GO_DURATION = re.compile(r'(-?\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)')
# Details reported by /api/tags and /api/ps (a Qwen2.5-7B Q4_K_M, as on the robot).
MODEL_INFO = {'format': 'gguf', 'family': 'qwen2', 'families': ['qwen2'],
              'parameter_size': '7.6B', 'quantization_level': 'Q4_K_M', 'parent_model': ''}
_UNIT_S = {'ns': 1e-9, 'us': 1e-6, 'µs': 1e-6, 'ms': 1e-3, 's': 1.0, 'm': 60.0, 'h': 3600.0}


class Slots:
    """``n`` slots; waiters are served strictly in arrival order (``OLLAMA_NUM_PARALLEL``).

    ``asyncio.Semaphore`` is not used: before Python 3.12 a new arrival could take a slot
    that was just released ahead of the waiters.
    """

    def __init__(self, n: int):
        self.n = n
        self.busy = 0
        self.max_busy = 0
        self._waiters: Deque[asyncio.Future] = collections.deque()

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot."""
        return sum(1 for w in self._waiters if not w.done())

    async def acquire(self) -> None:
        """Take a slot, waiting FIFO behind earlier requests; cancellable."""
        if self.busy < self.n and not self.waiting:
            self._take()
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over just before the cancel
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def release(self) -> None:
        """Give the slot to the oldest waiter, or free it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # handed over: busy stays the same
                return
        self.busy -= 1

    def _take(self) -> None:
        self.busy += 1
        self.max_busy = max(self.max_busy, self.busy)


def keep_alive_s(value: Any) -> float:
    """Ollama ``keep_alive`` in seconds.

    A number is seconds, a string a Go duration ("30m", "1h30m", "10s") or a number; negative
    means forever; None the 5 min default.

    Raises:
        ValueError: a string that is neither.
    """
    if value is None:
        return DEFAULT_KEEP_ALIVE_S
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _GO_DURATION.findall(text)
    if not parts or ''.join(n + u for n, u in parts) != text:
        raise ValueError('bad keep_alive %r' % value)
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def now_iso(offset_s: float = 0.0) -> str:
    """UTC time ``offset_s`` from now in RFC 3339, as Ollama's ``created_at``."""
    if offset_s == float('inf'):
        offset_s = 10 * 365 * 86400.0
    moment = datetime.now(timezone.utc) + timedelta(seconds=offset_s)
    return moment.strftime('%Y-%m-%dT%H:%M:%S.%fZ')


def messages_of(endpoint: str, body: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Chat messages of a chat body, or those a ``/api/generate`` body implies."""
    if endpoint != '/api/generate':
        return [dict(m) for m in body.get('messages') or [] if isinstance(m, dict)]
    messages = []
    if body.get('system'):
        messages.append({'role': 'system', 'content': body['system']})
    if body.get('prompt'):
        messages.append({'role': 'user', 'content': body['prompt']})
    return messages


def chunk(endpoint: str, model: str, content: str, done: bool) -> Dict[str, Any]:
    """One response object: ``message`` for /api/chat, ``response`` for /api/generate."""
    data = {'model': model, 'created_at': now_iso(), 'done': done}
    if endpoint == '/api/chat':
        data['message'] = {'role': 'assistant', 'content': content}
    else:
        data['response'] = content
    return data


def ndjson_line(data: Dict[str, Any]) -> bytes:
    """One NDJSON line of a streamed response (UTF-8)."""
    return (json.dumps(data, ensure_ascii=False) + '\n').encode('utf-8')


class OllamaWire:
    """Reads an ``/api/chat`` or ``/api/generate`` body and frames the answer as NDJSON.

    The interface the server uses for every protocol: ``read``, ``piece``, ``last``,
    ``whole``, ``error``, ``content_type``, ``endpoint``.
    """

    content_type = 'application/x-ndjson'

    def __init__(self, endpoint: str):
        self.endpoint = endpoint

    def read(self, text: str) -> Dict[str, Any]:
        """The request body as an Ollama body. Raises ValueError: not a JSON object."""
        body = json.loads(text)
        if not isinstance(body, dict):
            raise ValueError('body is not a JSON object')
        return body

    def piece(self, model: str, content: str) -> bytes:
        """One streamed content piece."""
        return ndjson_line(chunk(self.endpoint, model, content, done=False))

    def last(self, model: str, stats: Dict[str, Any]) -> bytes:
        """The final line: ``done`` with the counts and durations of ``stats``."""
        return ndjson_line(dict(chunk(self.endpoint, model, '', True), **stats))

    def whole(self, model: str, content: str, stats: Dict[str, Any]) -> web.Response:
        """A non-streamed answer."""
        return web.json_response(dict(chunk(self.endpoint, model, content, True), **stats))

    def error(self, status: int, message: str) -> web.Response:
        """An error answer as Ollama sends it: ``{"error": message}``."""
        return web.json_response({'error': message}, status=status)
