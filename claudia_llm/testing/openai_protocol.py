"""The OpenAI chat-completions protocol of the test server (llama-server, vLLM and the like).

``POST /v1/chat/completions`` is read as the Ollama request it means (``ollama_body``:
``response_format`` json_schema -> ``format``, ``max_tokens`` -> ``num_predict``) and served
by the same engine as ``/api/chat``: slots, scripts, load, timing at token rates and every
fault (status, hang, endless, model not found, busy). Answers are framed by
``OpenAIWire``: SSE ``data: {chat.completion.chunk}`` lines, the first delta with the role,
one per Qwen token, a last choice chunk with ``finish_reason``, with
``stream_options.include_usage`` a usage chunk (empty ``choices``), then ``data: [DONE]``;
a non-streamed request gets one ``chat.completion`` object. Errors are
``{"error": {"message", "type", "param", "code"}}`` with the HTTP status.
``GET /v1/models`` lists the served models.

Usage counts: ``prompt_tokens`` is the whole Qwen2.5 ChatML prompt; the part a slot's
cached prefix saved (``timing='rates'``) is ``prompt_tokens_details.cached_tokens``, as vLLM
and llama-server report it. Source: OpenAI API reference, "Create chat completion", "The
chat completion chunk object" and ``stream_options``.
"""
import json
import time
import uuid
from typing import Any, Dict, List, Optional

from aiohttp import web

from . import qwen_tokens

ENDPOINT = '/v1/chat/completions'
FINGERPRINT = 'fp_claudia_test'
# OpenAI request fields -> Ollama options
_OPTIONS = (('temperature', 'temperature'), ('top_p', 'top_p'), ('seed', 'seed'),
            ('max_tokens', 'num_predict'), ('max_completion_tokens', 'num_predict'))


def ollama_body(body: Dict[str, Any]) -> Dict[str, Any]:
    """The Ollama ``/api/chat`` body an OpenAI chat-completions ``body`` means.

    ``openai`` keeps the request's own fields (all but ``messages``) for the request log.
    """
    options = {name: body[key] for key, name in _OPTIONS if body.get(key) is not None}
    return {'model': body.get('model'), 'messages': body['messages'],
            'format': format_of(body.get('response_format')), 'options': options or None,
            'stream': bool(body.get('stream', False)),
            'openai': {k: v for k, v in body.items() if k != 'messages'}}


def format_of(response_format: Any) -> Any:
    """Ollama ``format`` of a ``response_format``: its JSON schema, 'json', or None."""
    if not isinstance(response_format, dict):
        return None
    if response_format.get('type') == 'json_schema':
        return (response_format.get('json_schema') or {}).get('schema')
    if response_format.get('type') == 'json_object':
        return 'json'
    return None


class OpenAIWire:
    """Reads one chat-completions request and frames its answer (see the module docstring).

    Per request: it keeps the completion id, the ``include_usage`` flag and the messages
    (for the usage chunk). Same interface as ``ollama_protocol.OllamaWire``.
    """

    content_type = 'text/event-stream'
    endpoint = ENDPOINT

    def __init__(self):
        self.id = 'chatcmpl-%s' % uuid.uuid4().hex[:24]
        self.created = int(time.time())
        self.include_usage = False
        self.messages: List[Dict[str, Any]] = []
        self._role_sent = False

    def read(self, text: str) -> Dict[str, Any]:
        """The request as an Ollama body.

        Raises:
            ValueError: not a JSON object, or no non-empty ``messages`` list.
        """
        body = json.loads(text)
        if not isinstance(body, dict):
            raise ValueError('body is not a JSON object')
        messages = body.get('messages')
        if not isinstance(messages, list) or not messages:
            raise ValueError('messages must be a non-empty list')
        options = body.get('stream_options') or {}
        self.include_usage = bool(body.get('stream') and options.get('include_usage'))
        self.messages = [dict(m) for m in messages if isinstance(m, dict)]
        return ollama_body(body)

    def piece(self, model: str, content: str) -> bytes:
        """One ``chat.completion.chunk`` with a content delta (the first one with the role)."""
        delta = {'content': content}
        if not self._role_sent:
            delta, self._role_sent = {'role': 'assistant', 'content': content}, True
        return self._event(self._chunk(model, [_choice(delta, None)]))

    def last(self, model: str, stats: Dict[str, Any]) -> bytes:
        """The ``finish_reason`` chunk, the usage chunk when asked for, ``[DONE]``."""
        events = self._event(self._chunk(model, [_choice({}, stats['done_reason'])]))
        if self.include_usage:
            events += self._event(dict(self._chunk(model, []), usage=self.usage(stats)))
        return events + b'data: [DONE]\n\n'

    def whole(self, model: str, content: str, stats: Dict[str, Any]) -> web.Response:
        """A non-streamed ``chat.completion``."""
        choice = {'index': 0, 'message': {'role': 'assistant', 'content': content},
                  'logprobs': None, 'finish_reason': stats['done_reason']}
        return web.json_response({
            'id': self.id, 'object': 'chat.completion', 'created': self.created,
            'model': model, 'system_fingerprint': FINGERPRINT, 'choices': [choice],
            'usage': self.usage(stats)}, dumps=_dumps)

    def error(self, status: int, message: str) -> web.Response:
        """An OpenAI error object with HTTP ``status``."""
        kind = 'server_error' if status >= 500 else 'invalid_request_error'
        code = 'model_not_found' if status == 404 else None
        return web.json_response({'error': {'message': message, 'type': kind, 'param': None,
                                            'code': code}}, status=status, dumps=_dumps)

    def usage(self, stats: Dict[str, Any]) -> Dict[str, Any]:
        """``usage`` of the answer: whole prompt, completion and cached prompt tokens."""
        prompt = qwen_tokens.prompt_tokens(self.messages)
        evaluated = stats['prompt_eval_count']
        return {'prompt_tokens': prompt, 'completion_tokens': stats['eval_count'],
                'total_tokens': prompt + stats['eval_count'],
                'prompt_tokens_details': {'cached_tokens': max(0, prompt - evaluated)}}

    def _chunk(self, model: str, choices: List[Dict[str, Any]]) -> Dict[str, Any]:
        data = {'id': self.id, 'object': 'chat.completion.chunk', 'created': self.created,
                'model': model, 'system_fingerprint': FINGERPRINT, 'choices': choices}
        if self.include_usage:
            data['usage'] = None  # null on every chunk but the usage chunk
        return data

    @staticmethod
    def _event(data: Dict[str, Any]) -> bytes:
        return ('data: %s\n\n' % _dumps(data)).encode('utf-8')


class OpenAIRoutes:
    """Mixin of the test server: the ``/v1`` handlers (the server adds the routes).

    The server provides ``models`` and ``_complete(request, endpoint, wire)``.
    """

    models: List[str]

    async def _openai_chat(self, request: web.Request) -> web.StreamResponse:
        return await self._complete(request, ENDPOINT, OpenAIWire())

    async def _openai_models(self, request: web.Request) -> web.Response:
        created = int(time.time())
        return web.json_response({'object': 'list', 'data': [
            {'id': m, 'object': 'model', 'created': created, 'owned_by': 'claudia-test'}
            for m in self.models]})


def _choice(delta: Dict[str, Any], finish_reason: Optional[str]) -> Dict[str, Any]:
    return {'index': 0, 'delta': delta, 'logprobs': None, 'finish_reason': finish_reason}


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)
