"""The LLM tier's client: Ollama ``/api/chat`` through the official ``ollama.AsyncClient``.

Every request carries the profile's JSON schema as ``format``, the same pinned
``options`` (temperature, num_predict, num_ctx, seed: a different ``num_ctx`` makes
Ollama reload the model) and ``keep_alive``. Answers are streamed so the time to the
first token is measured. Every wait is bounded: httpx connect/read timeouts from the
parameters and an overall ``asyncio.wait_for`` per request. Transport failures are
translated once, in ``core.ollama_transport``, into ``core.errors`` types (cause chained).
Built by ``core.build.make_llm`` from the configuration.

Response fields (Ollama ``docs/api.md``): ``prompt_eval_count`` and ``eval_count`` are
tokens; ``total_duration``, ``load_duration``, ``prompt_eval_duration`` and
``eval_duration`` are nanoseconds; ``done_reason`` is "stop", or "length" when the answer
was cut at ``num_predict``.
"""
import logging
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, Mapping, Optional, Tuple, TypeVar, Union

import ollama

from claudia_llm.core import ollama_transport
from claudia_llm.core.errors import (
    LLMMalformedOutput,
)
from claudia_llm.core.record import Answer

from .prompt import PromptProfile

log = logging.getLogger(__name__)
T = TypeVar('T')
OnChunk = Callable[[str], None]
"""Called with each non-empty content piece of a streamed answer, on the event loop."""

# Defaults of the ollama.* parameters (core.settings); callers normally pass their own.
DEFAULT_OPTIONS = {'temperature': 0.0, 'num_predict': 160, 'num_ctx': 2048, 'seed': 42}
WARMUP_TEXT = 'こんにちは'


@dataclass
class LLMResult:
    """One answered LLM request.

    ``total_ms`` is the wall time seen by this client (queueing in Ollama included);
    ``server_total_ms``, ``load_ms``, ``prompt_eval_ms`` and ``eval_ms`` are Ollama's own
    durations; ``ttft_ms`` is the time to the first content chunk, None if none came.
    Token counts are Ollama's ``prompt_eval_count`` and ``eval_count``.
    """

    answer: Answer
    model: str
    prompt_tokens: int
    completion_tokens: int
    total_ms: float
    load_ms: float
    prompt_eval_ms: float
    eval_ms: float
    ttft_ms: Optional[float]
    server_total_ms: float = 0.0
    done_reason: str = ''
    content: str = ''


class OllamaChat:
    """Chat with one Ollama model under one prompt profile.

    Args:
        host: Ollama base URL, e.g. 'http://127.0.0.1:11434' (explicit: ``OLLAMA_HOST`` is
            resolved before, by ``core.settings.ollama_host``).
        model: model tag, e.g. 'qwen2.5:7b'.
        profile: system prompt, schema and parser.
        keep_alive: how long Ollama keeps the model loaded ('30m', seconds, -1 = forever).
        timeout_s: bound of one request (connect, send, wait, read), seconds.
        connect_timeout_s: TCP connect bound, seconds.
        options: Ollama options over ``DEFAULT_OPTIONS``; sent unchanged on every call.

    Raises:
        ValueError: a timeout that is not > 0.
    """

    def __init__(self, host: str, model: str, profile: PromptProfile,
                 keep_alive: Union[str, float] = '30m', timeout_s: float = 8.0,
                 connect_timeout_s: float = 2.0, options: Optional[Mapping[str, Any]] = None):
        if not timeout_s > 0 or not connect_timeout_s > 0:
            raise ValueError('timeouts must be > 0, got timeout_s=%r connect_timeout_s=%r'
                             % (timeout_s, connect_timeout_s))
        self.host, self.model, self.profile = host, model, profile
        self.keep_alive, self.timeout_s = keep_alive, float(timeout_s)
        self.connect_timeout_s = float(connect_timeout_s)
        self.options: Dict[str, Any] = dict(DEFAULT_OPTIONS)
        self.options.update(options or {})
        self._client = self._new_client(self.timeout_s)

    def _new_client(self, timeout_s: float) -> ollama.AsyncClient:
        return ollama_transport.new_client(self.host, timeout_s, self.connect_timeout_s)

    async def chat(self, text: str, on_chunk: Optional[OnChunk] = None) -> LLMResult:
        """Ask the model about ``text``; return its parsed answer and measurements.

        Args:
            text: the user's words.
            on_chunk: called synchronously, on the event loop, with every non-empty
                content piece as it arrives (before the answer is parsed). Cancelling the
                awaiting task closes the HTTP stream at once (Ollama stops generating).

        Raises:
            LLMUnavailable: Ollama cannot be reached.
            LLMTimeout: no complete answer within ``timeout_s``.
            LLMHTTPError: Ollama answered with an HTTP error (``status_code``: 404 for an
                unknown model, 500, 503 ...) or an error line in the stream (-1).
            LLMMalformedOutput: the content is not JSON of the profile's schema.
        """
        return await self._chat(self._client, text, self.timeout_s, parse=True,
                                on_chunk=on_chunk)

    async def warmup(self, timeout_s: float = 120.0) -> None:
        """Load the model (``keep_alive``, the same options) and fill its prompt cache.

        Sends one chat with the real system prompt, so the first utterance finds the
        model loaded and the system prompt already evaluated. Its content is not parsed.
        Uses its own client whose bound, ``timeout_s`` seconds, allows for a model load.

        Raises:
            LLMUnavailable, LLMTimeout, LLMHTTPError: as for ``chat``.
        """
        client = self._new_client(timeout_s)
        try:
            result = await self._chat(client, WARMUP_TEXT, timeout_s, parse=False)
        finally:
            await client.close()
        log.info('Ollama %s warm: load %.0f ms, prompt %d tokens in %.0f ms, total %.0f ms',
                 self.model, result.load_ms, result.prompt_tokens, result.prompt_eval_ms,
                 result.total_ms)

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._client.close()

    async def _chat(self, client: ollama.AsyncClient, text: str, timeout_s: float,
                    parse: bool, on_chunk: Optional[OnChunk] = None) -> LLMResult:
        started = time.monotonic()
        content, final, ttft_ms = await self._request(
            self._stream(client, self.profile.messages(text), started, on_chunk), timeout_s)
        total_ms = (time.monotonic() - started) * 1000.0
        answer = self._parse(content, final) if parse else Answer(reply='')
        return LLMResult(
            answer=answer, model=final.model or self.model,
            prompt_tokens=final.prompt_eval_count or 0, completion_tokens=final.eval_count or 0,
            total_ms=total_ms, load_ms=_ms(final.load_duration),
            prompt_eval_ms=_ms(final.prompt_eval_duration), eval_ms=_ms(final.eval_duration),
            ttft_ms=ttft_ms, server_total_ms=_ms(final.total_duration),
            done_reason=final.done_reason or '', content=content)

    async def _stream(self, client: ollama.AsyncClient, messages, started: float,
                      on_chunk: Optional[OnChunk] = None
                      ) -> Tuple[str, ollama.ChatResponse, Optional[float]]:
        parts = await client.chat(model=self.model, messages=messages,
                                  format=self.profile.schema, options=self.options,
                                  keep_alive=self.keep_alive, stream=True)
        pieces, final, ttft_ms = [], None, None
        try:
            async for part in parts:
                piece = part.message.content if part.message is not None else ''
                if piece and ttft_ms is None:
                    ttft_ms = (time.monotonic() - started) * 1000.0
                pieces.append(piece or '')
                if piece and on_chunk is not None:
                    on_chunk(piece)
                if part.done:
                    final = part
        finally:
            await parts.aclose()  # closes the HTTP response, also when cancelled
        if final is None:
            raise LLMMalformedOutput('Ollama stream ended before its final "done" line')
        return ''.join(pieces), final, ttft_ms

    def _parse(self, content: str, final: ollama.ChatResponse) -> Answer:
        try:
            return self.profile.parse(content)
        except LLMMalformedOutput as exc:
            if final.done_reason == 'length':
                raise LLMMalformedOutput('%s (answer cut at num_predict=%s tokens)'
                                         % (exc, self.options.get('num_predict'))) from exc
            raise

    async def _request(self, call: Awaitable[T], timeout_s: float) -> T:
        """Await ``call`` within ``timeout_s``; failures translated by ``ollama_transport``."""
        return await ollama_transport.call(call, self.host, timeout_s)


def _ms(nanoseconds: Optional[int]) -> float:
    return (nanoseconds or 0) / 1e6
