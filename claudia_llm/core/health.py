"""Health probes of the services claudia_llm depends on (LLM server, Redis) and a prober thread.

The LLM server is Ollama or, with ``llm.backend`` openai, an OpenAI-compatible server
(``llm_probe`` picks the probe).

Probes never raise: each returns ``(ok, message)`` where the message names the cause
of a failure (exception type and text), so ``/diagnostics`` can show it. Every wait
has a bound: the probe's ``timeout_s``.
"""
import asyncio
import functools
import threading
import time
from typing import Awaitable, Callable, Dict, List, NamedTuple, Optional, Tuple

import ollama

from claudia_llm.core import ollama_transport
from claudia_llm.core.config import Config
from claudia_llm.core.errors import LLMError
from claudia_llm.core.redis_conn import make_redis
from claudia_llm.core.settings import DEFAULT_OPENAI_API_KEY

Probe = Callable[[], Awaitable[Tuple[bool, str]]]


async def ollama_healthy(host: str, timeout_s: float,
                         model: Optional[str] = None) -> Tuple[bool, str]:
    """Ask Ollama at ``host`` which models it has loaded (``GET /api/ps``).

    Uses the official client (``ps()``, built and its failures translated by
    ``core.ollama_transport``; ollama-python 0.4-0.6 has no ``version()``). When the
    server answers 404 to ``/api/ps`` (Ollama older than 0.1.38), ``GET /api/tags``
    (``list()``) is tried.

    Args:
        host: Ollama base URL, e.g. ``http://127.0.0.1:11434``.
        timeout_s: bound of the whole probe, seconds.
        model: when given, the message says whether this model is loaded.

    Returns:
        ``(True, 'ok; loaded: ...')`` when Ollama answered, else ``(False, cause)``.
    """
    client = ollama_transport.new_client(host, timeout_s)
    try:
        try:
            models = await ollama_transport.call(_loaded_models(client), host, timeout_s)
        finally:
            await client.close()
    except LLMError as exc:  # translated once, as for the LLM tier's own calls
        return False, str(exc)
    except Exception as exc:  # noqa: BLE001 - e.g. closing the client; a probe never raises
        return False, '%s from %s: %s' % (type(exc).__name__, host, exc)
    message = 'ok; loaded: %s' % (', '.join(models) or 'none')
    if model:
        message += '; %s %s' % (model, 'loaded' if model in models else 'not loaded')
    return True, message


async def _loaded_models(client: 'ollama.AsyncClient'):
    try:
        response = await client.ps()
    except ollama.ResponseError as exc:
        if exc.status_code != 404:
            raise
        await client.list()
        return []
    return [m.model or m.name or '?' for m in response.models]


async def openai_healthy(base_url: str, timeout_s: float, model: Optional[str] = None,
                         api_key: str = DEFAULT_OPENAI_API_KEY) -> Tuple[bool, str]:
    """Ask an OpenAI-compatible server which models it serves (``GET /v1/models``).

    Through the official client, built and its failures translated by
    ``core.openai_transport`` (no retries; imported here: the SDK adds ~0.25 s to a start).

    Args:
        base_url: the API root, e.g. ``http://127.0.0.1:8080/v1``.
        timeout_s: bound of the whole probe, seconds.
        model: when given, the message says whether the server lists this model id
            (llama-server and MLC answer any name with their one model).
        api_key: bearer key (vLLM ``--api-key`` guards ``/v1/models`` too).

    Returns:
        ``(True, 'ok; served: ...')`` when the server answered, else ``(False, cause)``.
    """
    from claudia_llm.core import openai_transport
    client = openai_transport.new_client(base_url, api_key, timeout_s)
    try:
        try:
            models = await openai_transport.call(_served_models(client), base_url, timeout_s)
        finally:
            await client.close()
    except LLMError as exc:
        return False, str(exc)
    except Exception as exc:  # noqa: BLE001 - e.g. closing the client; a probe never raises
        return False, '%s from %s: %s' % (type(exc).__name__, base_url, exc)
    message = 'ok; served: %s' % (', '.join(models) or 'none')
    if model:
        message += '; %s %s' % (model, 'served' if model in models else 'not listed')
    return True, message


async def _served_models(client) -> List[str]:
    page = await client.models.list()
    return [m.id for m in page.data]


def llm_probe(config: Config, timeout_s: float) -> Probe:
    """The probe of the LLM server ``llm.backend`` names, for a ``HealthMonitor``.

    'ollama': ``ollama_healthy`` on ``ollama.host``; 'openai': ``openai_healthy`` on
    ``llm.base_url`` with ``llm.api_key``; both report on ``ollama.model``.
    """
    if config.llm.backend == 'openai':
        return functools.partial(openai_healthy, config.llm.base_url, timeout_s,
                                 config.ollama.model, config.llm.api_key)
    return functools.partial(ollama_healthy, config.ollama.host, timeout_s,
                             config.ollama.model)


async def redis_healthy(url: str, timeout_s: float) -> Tuple[bool, str]:
    """Send ``PING`` to Redis at ``url`` over a fresh connection, without retries.

    Args:
        url: ``redis://host:port/db``.
        timeout_s: connect timeout, socket timeout and bound of the whole probe, seconds.

    Returns:
        ``(True, 'ok; PING x.x ms')`` or ``(False, cause)``.
    """
    client = make_redis(url, socket_timeout_s=timeout_s, connect_timeout_s=timeout_s,
                        max_connections=1, retries=0)
    start = time.monotonic()
    try:
        try:
            await asyncio.wait_for(client.ping(), timeout_s)
        finally:
            await _close_redis(client)
    except asyncio.TimeoutError:
        return False, 'no answer within %.2f s from %s' % (timeout_s, safe_url(url))
    except Exception as exc:  # noqa: BLE001 - a probe reports every failure, never raises
        return False, '%s from %s: %s' % (type(exc).__name__, safe_url(url), exc)
    return True, 'ok; PING %.1f ms' % ((time.monotonic() - start) * 1000.0)


async def _close_redis(client) -> None:
    closer = getattr(client, 'aclose', None) or client.close  # aclose: redis-py >= 5.0.1
    await closer()


def safe_url(url: str) -> str:
    """Return ``url`` with any ``user:password@`` part shown as ``***@`` (for logs)."""
    scheme, sep, rest = url.partition('://')
    if '@' in rest:
        rest = '***@' + rest.split('@', 1)[1]
    return scheme + sep + rest


class HealthResult(NamedTuple):
    """Latest outcome of one probe; ``ok`` is None until it has run once."""

    ok: Optional[bool]
    message: str
    checked_at: Optional[float]  # clock time of the last probe, seconds


class HealthMonitor:
    """Runs probes every ``period_s`` on an asyncio loop in a daemon thread; caches results.

    ``results()`` never blocks on a probe, so a ROS timer callback can read it.

    Args:
        probes: ``{name: coroutine function returning (ok, message)}``; each probe must
            bound its own waits (``ollama_healthy``/``redis_healthy`` do).
        period_s: time between the starts of two probe rounds, seconds (> 0).
        clock: monotonic clock for ``checked_at``, seconds; kept as ``self.clock``.

    Raises:
        ValueError: ``period_s`` not positive.
    """

    def __init__(self, probes: Dict[str, Probe], period_s: float,
                 clock: Callable[[], float] = time.monotonic):
        if not period_s > 0:
            raise ValueError('period_s must be > 0, got %r' % (period_s,))
        self._probes = dict(probes)
        self._period_s = float(period_s)
        self.clock = clock
        self._lock = threading.Lock()
        self._results = {name: HealthResult(None, 'not probed yet', None) for name in probes}
        self._stopping = threading.Event()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._wake: Optional[asyncio.Event] = None
        self._thread: Optional[threading.Thread] = None
        self.rounds = 0

    def results(self) -> Dict[str, HealthResult]:
        """Return the latest ``{name: HealthResult}`` (a copy)."""
        with self._lock:
            return dict(self._results)

    async def probe_once(self) -> Dict[str, HealthResult]:
        """Run every probe concurrently once, store and return the results."""
        names = list(self._probes)
        outcomes = await asyncio.gather(*(self._probes[n]() for n in names),
                                        return_exceptions=True)
        now = self.clock()
        with self._lock:
            for name, outcome in zip(names, outcomes):
                if isinstance(outcome, BaseException):  # a probe broke its no-raise promise
                    outcome = (False, 'probe failed: %s: %s' % (type(outcome).__name__,
                                                                outcome))
                self._results[name] = HealthResult(bool(outcome[0]), str(outcome[1]), now)
            self.rounds += 1
            return dict(self._results)

    def start(self) -> None:
        """Start the prober thread (once).

        Raises:
            RuntimeError: already started.
        """
        if self._thread is not None:
            raise RuntimeError('HealthMonitor already started')
        self._thread = threading.Thread(target=self._run, name='health-monitor', daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Stop the prober thread; return True when it ended within ``timeout_s`` seconds."""
        self._stopping.set()
        with self._lock:
            loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # the loop has already closed
                pass
        if self._thread is None:
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._main(loop))
        finally:
            loop.close()

    async def _main(self, loop: asyncio.AbstractEventLoop) -> None:
        wake = asyncio.Event()
        with self._lock:
            self._loop, self._wake = loop, wake
        while not self._stopping.is_set():
            started = loop.time()
            round_task = asyncio.ensure_future(self.probe_once())
            waiter = asyncio.ensure_future(wake.wait())
            await asyncio.wait([round_task, waiter], return_when=asyncio.FIRST_COMPLETED)
            if self._stopping.is_set():
                round_task.cancel()
                waiter.cancel()
                await asyncio.gather(round_task, waiter, return_exceptions=True)
                return
            remaining = self._period_s - (loop.time() - started)
            try:
                await asyncio.wait_for(waiter, max(remaining, 0.0))
            except asyncio.TimeoutError:
                pass
