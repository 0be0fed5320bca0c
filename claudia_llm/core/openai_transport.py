"""The one place that makes ``openai.AsyncOpenAI`` objects and translates their failures.

The counterpart of ``core.ollama_transport`` for OpenAI-compatible servers (llama.cpp
``llama-server``, vLLM, TensorRT-LLM ``trtllm-serve``, MLC, LM Studio). ``OpenAIChat``
(``core.llm.openai_chat``) and the health probe (``core.health``) get their client from
``new_client`` and await every call through ``call``, so a timeout, a refused connection or
an HTTP error becomes the same ``core.errors`` type as with Ollama (cause chained).

The client never retries (``max_retries=0``; the SDK's default is 2 with back-off): a
retry would overrun the request's deadline, and the schedulers decide what happens next.
Error classes: the openai-python README ("Handling errors"); ``APITimeoutError`` is a
subclass of ``APIConnectionError``, an ``error`` object inside a stream raises the plain
``APIError``, and failures while a stream is read can come out of httpx unwrapped.
"""
import asyncio
from typing import Any, Awaitable, Optional, TypeVar

import httpx
import openai

from claudia_llm.core.errors import (
    LLMError,
    LLMHTTPError,
    LLMMalformedOutput,
    LLMTimeout,
    LLMUnavailable,
)
from claudia_llm.core.ollama_transport import tls_context

T = TypeVar('T')


def new_client(base_url: str, api_key: str, timeout_s: float,
               connect_timeout_s: Optional[float] = None,
               transport: Optional[httpx.AsyncBaseTransport] = None) -> openai.AsyncOpenAI:
    """An ``openai.AsyncOpenAI`` for ``base_url`` whose httpx waits are bounded.

    Args:
        base_url: the server's API root, e.g. ``http://127.0.0.1:8080/v1``.
        api_key: sent as ``Authorization: Bearer``; local servers ignore it.
        timeout_s: read/write/pool bound of one HTTP exchange, seconds.
        connect_timeout_s: TCP connect bound, seconds (default ``timeout_s``; never more).
        transport: an httpx transport in place of the network (unit tests).
    """
    connect = timeout_s if connect_timeout_s is None else min(connect_timeout_s, timeout_s)
    timeout = httpx.Timeout(timeout_s, connect=connect)
    http_client = openai.DefaultAsyncHttpxClient(timeout=timeout, verify=tls_context(),
                                                 transport=transport)
    return openai.AsyncOpenAI(base_url=base_url, api_key=api_key, timeout=timeout,
                              max_retries=0, http_client=http_client)


async def call(awaitable: Awaitable[T], base_url: str, timeout_s: float) -> T:
    """Await ``awaitable`` within ``timeout_s`` seconds; every failure becomes an LLMError.

    ``asyncio.CancelledError`` passes through untouched.

    Raises:
        LLMTimeout: no complete answer in time (asyncio, httpx or SDK timeout).
        LLMHTTPError: the server answered an HTTP error (``status_code`` kept), or sent an
            ``error`` object inside the stream (``status_code`` -1).
        LLMUnavailable: the server cannot be reached (refused, reset, DNS).
        LLMMalformedOutput: an unreadable response (bad SSE data, response model).
        LLMError: anything else.
    """
    try:
        return await asyncio.wait_for(awaitable, timeout_s)
    except LLMError:
        raise
    except (asyncio.TimeoutError, httpx.TimeoutException, openai.APITimeoutError) as exc:
        raise LLMTimeout('OpenAI-compatible server %s gave no complete answer within %.1f s '
                         '(%s)' % (base_url, timeout_s, type(exc).__name__)) from exc
    except openai.APIStatusError as exc:
        raise LLMHTTPError('OpenAI-compatible server HTTP %s: %s'
                           % (exc.status_code, error_message(exc)),
                           status_code=exc.status_code) from exc
    except (openai.APIConnectionError, ConnectionError, httpx.TransportError) as exc:
        raise LLMUnavailable('OpenAI-compatible server %s unreachable: %s: %s'
                             % (base_url, type(exc).__name__, _cause_text(exc))) from exc
    except (openai.APIResponseValidationError, ValueError) as exc:
        raise LLMMalformedOutput('OpenAI-compatible server sent an unreadable response: %s'
                                 % exc) from exc
    except openai.APIError as exc:  # an error object inside the stream
        raise LLMHTTPError('OpenAI-compatible server error in the stream: %s'
                           % error_message(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - anything else still becomes an LLMError
        raise LLMError('OpenAI-compatible request failed: %s: %s'
                       % (type(exc).__name__, exc)) from exc


def error_message(exc: openai.APIError) -> str:
    """The server's own error text: ``error.message`` of the body, else the SDK's text."""
    body: Any = exc.body
    if isinstance(body, dict) and isinstance(body.get('message'), str):
        return body['message']
    return exc.message


def _cause_text(exc: BaseException) -> str:
    """``APIConnectionError`` says only "Connection error."; its httpx cause says more."""
    cause = exc.__cause__
    return '%s (%s)' % (exc, cause) if isinstance(exc, openai.APIError) and cause else str(exc)
