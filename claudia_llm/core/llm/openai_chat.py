"""The LLM tier's second backend: an OpenAI-compatible ``/v1/chat/completions`` server.

For llama.cpp ``llama-server``, vLLM, TensorRT-LLM ``trtllm-serve``, MLC and LM Studio,
through the official ``openai.AsyncOpenAI`` client. The same job as ``OllamaChat``: the
profile's system prompt and JSON schema (sent as ``response_format`` ``json_schema``),
pinned sampling (temperature, seed, max_tokens), a streamed answer whose time to the
first token is measured, every wait bounded (httpx timeouts and an overall
``asyncio.wait_for``), failures translated once by ``core.openai_transport`` into the
``core.errors`` types OllamaChat raises, and the same ``LLMResult``. Built by
``core.build.make_llm`` when ``llm.backend`` is ``openai``.

Stream format (OpenAI API reference, "The chat completion chunk object" and
``stream_options``): SSE ``data:`` lines of ``chat.completion.chunk`` objects, content in
``choices[0].delta.content``, ``finish_reason`` ("stop", "length") on the last choice
chunk; with ``include_usage`` one more chunk with empty ``choices`` and the ``usage`` of
the whole request; then ``data: [DONE]``. ``usage.prompt_tokens`` counts the whole prompt;
servers that reuse a cached prefix say how much in
``usage.prompt_tokens_details.cached_tokens``, which is subtracted so that
``LLMResult.prompt_tokens`` means what Ollama's ``prompt_eval_count`` means: the prompt
tokens evaluated for this call. The server's own durations are not part of the protocol
(``load_ms``, ``prompt_eval_ms``, ``eval_ms``, ``server_total_ms`` stay 0).
"""
import logging
import time
from typing import Any, Dict, Mapping, Optional, Tuple

import openai

from claudia_llm.core import openai_transport
from claudia_llm.core.errors import LLMMalformedOutput
from claudia_llm.core.record import Answer

from .ollama import WARMUP_TEXT, LLMResult, OnChunk
from .prompt import PromptProfile

log = logging.getLogger(__name__)

DUMMY_API_KEY = 'sk-no-key-required'
"""Sent when no key is configured: local servers ignore it, the SDK refuses an empty one."""
DEFAULT_OPTIONS = {'temperature': 0.0, 'seed': 42, 'max_tokens': 160}
"""Sampling fields of every request; ``core.build`` fills them from ``ollama.*``."""
SCHEMA_NAME = 'claudia_answer'


class OpenAIChat:
    """Chat with one model of an OpenAI-compatible server under one prompt profile.

    Args:
        base_url: the API root, e.g. 'http://127.0.0.1:8080/v1' (explicit: the parameter
            or ``OPENAI_BASE_URL`` is resolved before, by ``core.settings.openai_base_url``).
        model: the server's model id (vLLM's ``--served-model-name``; llama-server and
            MLC serve one model whatever the name).
        profile: system prompt, schema and parser.
        api_key: bearer token; local servers ignore it.
        timeout_s: bound of one request (connect, send, wait, read), seconds.
        connect_timeout_s: TCP connect bound, seconds.
        options: request fields over ``DEFAULT_OPTIONS`` (temperature, seed, max_tokens);
            sent unchanged on every call and part of the coalescing key.
        transport: an httpx transport in place of the network (unit tests).

    Raises:
        ValueError: a timeout that is not > 0.
    """

    def __init__(self, base_url: str, model: str, profile: PromptProfile,
                 api_key: str = DUMMY_API_KEY, timeout_s: float = 8.0,
                 connect_timeout_s: float = 2.0, options: Optional[Mapping[str, Any]] = None,
                 transport: Any = None):
        if not timeout_s > 0 or not connect_timeout_s > 0:
            raise ValueError('timeouts must be > 0, got timeout_s=%r connect_timeout_s=%r'
                             % (timeout_s, connect_timeout_s))
        self.base_url, self.model, self.profile = base_url, model, profile
        self.api_key = api_key or DUMMY_API_KEY
        self.timeout_s, self.connect_timeout_s = float(timeout_s), float(connect_timeout_s)
        self.options: Dict[str, Any] = dict(DEFAULT_OPTIONS)
        self.options.update(options or {})
        self._transport = transport
        self.response_format = {'type': 'json_schema', 'json_schema': {
            'name': SCHEMA_NAME, 'schema': profile.schema, 'strict': True}}
        self._client = self._new_client(self.timeout_s)

    def _new_client(self, timeout_s: float) -> openai.AsyncOpenAI:
        return openai_transport.new_client(self.base_url, self.api_key, timeout_s,
                                           self.connect_timeout_s, transport=self._transport)

    async def chat(self, text: str, on_chunk: Optional[OnChunk] = None) -> LLMResult:
        """Ask the model about ``text``; return its parsed answer and measurements.

        Args:
            text: the user's utterance.
            on_chunk: called synchronously with every non-empty content piece as it
                arrives (before ``chat`` returns). Cancelling the awaiting task closes
                the HTTP stream, which stops the server's generation.

        Raises:
            LLMUnavailable: the server cannot be reached.
            LLMTimeout: no complete answer within ``timeout_s``.
            LLMHTTPError: an HTTP error (``status_code``: 404 for an unknown model, 500,
                503 ...) or an error object in the stream (-1).
            LLMMalformedOutput: the content is not JSON of the profile's schema, or the
                stream ended without a ``finish_reason``.
        """
        return await self._chat(self._client, text, self.timeout_s, True, on_chunk)

    async def warmup(self, timeout_s: float = 120.0) -> None:
        """Send one chat with the real system prompt, so the server caches its prefix.

        Its content is not parsed. Uses its own client whose bound, ``timeout_s`` seconds,
        allows for a first request that loads or compiles the model.

        Raises:
            LLMUnavailable, LLMTimeout, LLMHTTPError: as for ``chat``.
        """
        client = self._new_client(timeout_s)
        try:
            result = await self._chat(client, WARMUP_TEXT, timeout_s, False, None)
        finally:
            await client.close()
        log.info('OpenAI-compatible %s warm: prompt %d tokens evaluated, total %.0f ms',
                 self.model, result.prompt_tokens, result.total_ms)

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._client.close()

    async def _chat(self, client: openai.AsyncOpenAI, text: str, timeout_s: float,
                    parse: bool, on_chunk: Optional[OnChunk]) -> LLMResult:
        started = time.monotonic()
        content, finish, usage, ttft_ms = await openai_transport.call(
            self._stream(client, text, started, on_chunk), self.base_url, timeout_s)
        total_ms = (time.monotonic() - started) * 1000.0
        answer = self._parse(content, finish) if parse else Answer(reply='')
        prompt_tokens, completion_tokens = _token_counts(usage)
        return LLMResult(
            answer=answer, model=self.model, prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens, total_ms=total_ms, load_ms=0.0,
            prompt_eval_ms=0.0, eval_ms=0.0, ttft_ms=ttft_ms, done_reason=finish,
            content=content)

    async def _stream(self, client: openai.AsyncOpenAI, text: str, started: float,
                      on_chunk: Optional[OnChunk]) -> Tuple[str, str, Any, Optional[float]]:
        stream = await client.chat.completions.create(
            model=self.model, messages=self.profile.messages(text),
            response_format=self.response_format, stream=True,
            stream_options={'include_usage': True}, **self.options)
        pieces, finish, usage, ttft_ms = [], '', None, None
        try:
            async for chunk in stream:
                usage = chunk.usage or usage
                for choice in chunk.choices or ():
                    piece = choice.delta.content if choice.delta is not None else None
                    if piece:
                        if ttft_ms is None:
                            ttft_ms = (time.monotonic() - started) * 1000.0
                        pieces.append(piece)
                        if on_chunk is not None:
                            on_chunk(piece)
                    finish = choice.finish_reason or finish
        finally:
            await stream.close()  # closes the HTTP response, also when cancelled
        if not finish:
            raise LLMMalformedOutput('the OpenAI-compatible stream ended without a '
                                     'finish_reason')
        return ''.join(pieces), finish, usage, ttft_ms

    def _parse(self, content: str, finish: str) -> Answer:
        try:
            return self.profile.parse(content)
        except LLMMalformedOutput as exc:
            if finish == 'length':
                raise LLMMalformedOutput('%s (answer cut at max_tokens=%s tokens)'
                                         % (exc, self.options.get('max_tokens'))) from exc
            raise


def _token_counts(usage: Any) -> Tuple[int, int]:
    """``(prompt tokens evaluated, completion tokens)`` of a ``usage`` object (0 if none)."""
    if usage is None:
        return 0, 0
    details = getattr(usage, 'prompt_tokens_details', None)
    cached = (getattr(details, 'cached_tokens', None) or 0) if details is not None else 0
    return max(0, (usage.prompt_tokens or 0) - cached), usage.completion_tokens or 0
