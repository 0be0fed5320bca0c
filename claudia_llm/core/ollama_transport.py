"""The one place that makes ``ollama.AsyncClient`` objects and translates their failures.

``OllamaChat`` (``core.llm.ollama``) and the health probe (``core.health``) both talk to
Ollama through the official client; both get it from ``new_client`` and await every call
through ``call``, so a timeout, a refused connection or an HTTP error always becomes the
same ``core.errors`` type (cause chained). It sits with the shared core modules because the
probe, below ``core.llm``, needs it too.
"""
import asyncio
import functools
import ssl
from typing import Awaitable, Optional, TypeVar

import httpx
import ollama

from claudia_llm.core.errors import (
    LLMError,
    LLMHTTPError,
    LLMMalformedOutput,
    LLMTimeout,
    LLMUnavailable,
)

T = TypeVar('T')


def new_client(host: str, timeout_s: float,
               connect_timeout_s: Optional[float] = None) -> ollama.AsyncClient:
    """An ``ollama.AsyncClient`` for ``host`` whose httpx waits are bounded.

    Args:
        host: Ollama base URL or ``host:port`` (ollama-python parses both).
        timeout_s: read/write/pool bound of one HTTP exchange, seconds.
        connect_timeout_s: TCP connect bound, seconds (default ``timeout_s``; never more).
    """
    connect = timeout_s if connect_timeout_s is None else min(connect_timeout_s, timeout_s)
    return ollama.AsyncClient(host=host, timeout=httpx.Timeout(timeout_s, connect=connect),
                              verify=tls_context())


@functools.lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """One TLS context for every client: httpx builds a new one per client otherwise.

    Building it (loading the CA bundle) takes about 27 ms of CPU holding the GIL on the
    dev machine; diagnostics_node's Ollama probe makes a client every period, which in
    ``claudia-llm run`` stalled llm_node's answers in the same process (issue 13). Same
    trust store as httpx's default: certifi's bundle.
    """
    import certifi
    return ssl.create_default_context(cafile=certifi.where())


async def call(awaitable: Awaitable[T], host: str, timeout_s: float) -> T:
    """Await ``awaitable`` within ``timeout_s`` seconds; every failure becomes an LLMError.

    ``asyncio.CancelledError`` passes through untouched.

    Raises:
        LLMTimeout: no complete answer in time (asyncio or httpx timeout).
        LLMHTTPError: Ollama answered an HTTP error (``status_code`` kept).
        LLMUnavailable: Ollama cannot be reached (refused, reset, DNS).
        LLMMalformedOutput: an unreadable response (bad JSON line, response model).
        LLMError: anything else.
    """
    try:
        return await asyncio.wait_for(awaitable, timeout_s)
    except LLMError:
        raise
    except (asyncio.TimeoutError, httpx.TimeoutException) as exc:
        raise LLMTimeout('Ollama %s gave no complete answer within %.1f s (%s)'
                         % (host, timeout_s, type(exc).__name__)) from exc
    except ollama.ResponseError as exc:
        raise LLMHTTPError('Ollama HTTP %s: %s' % (exc.status_code, exc.error),
                           status_code=exc.status_code) from exc
    except (ConnectionError, httpx.TransportError) as exc:
        raise LLMUnavailable('Ollama %s unreachable: %s: %s'
                             % (host, type(exc).__name__, exc)) from exc
    except ValueError as exc:  # bad JSON line or response model (pydantic)
        raise LLMMalformedOutput('Ollama sent an unreadable response: %s' % exc) from exc
    except Exception as exc:  # noqa: BLE001 - anything else still becomes an LLMError
        raise LLMError('Ollama request failed: %s: %s' % (type(exc).__name__, exc)) from exc
