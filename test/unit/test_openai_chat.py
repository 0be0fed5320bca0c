"""core.llm.openai_chat.OpenAIChat with the real openai client over an httpx MockTransport.

No network: the transport checks the request the SDK built and answers with SSE bytes
written here in the chat-completions stream format. The same client against the test
server on loopback (and what that server saw) is in test/integration/test_llm_ollama.py.
"""
import asyncio
import json

import httpx
import pytest

from claudia_llm.core.errors import (
    LLMHTTPError,
    LLMMalformedOutput,
    LLMTimeout,
    LLMUnavailable,
)
from claudia_llm.core.llm.openai_chat import DUMMY_API_KEY, OpenAIChat
from claudia_llm.core.llm.prompt import PromptProfile
from claudia_llm.core.safety.actions import ActionRegistry

BASE_URL = 'http://llm.test/v1'
ANSWER = {'actions': [{'name': 'Sit'}], 'reply': 'はい、座ります。', 'kind': 'command'}


@pytest.fixture(scope='module')
def profile():
    return PromptProfile(ActionRegistry.load(), max_actions=4)


def chunk(content=None, finish=None, role=False, usage=None, choices=True):
    delta = {} if content is None else {'content': content}
    if role:
        delta['role'] = 'assistant'
    data = {'id': 'chatcmpl-1', 'object': 'chat.completion.chunk', 'created': 1,
            'model': 'qwen2.5:7b', 'choices': [
                {'index': 0, 'delta': delta, 'logprobs': None, 'finish_reason': finish}]
            if choices else [], 'usage': usage}
    return 'data: %s\n\n' % json.dumps(data, ensure_ascii=False)


def sse(content, finish='stop', usage=None, done=True):
    """A whole stream: role chunk, one chunk per 4 characters, finish, usage, [DONE]."""
    events = [chunk('', role=True)]
    events += [chunk(content[i:i + 4]) for i in range(0, len(content), 4)]
    if finish:
        events.append(chunk(finish=finish))
    if usage:
        events.append(chunk(usage=usage, choices=False))
    if done:
        events.append('data: [DONE]\n\n')
    return ''.join(events).encode('utf-8')


class Server:
    """An httpx MockTransport handler: records requests, answers with ``respond``."""

    def __init__(self, respond):
        self.respond = respond
        self.requests = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.respond(request)


def stream_of(body: bytes, status=200):
    return lambda request: httpx.Response(
        status, headers={'content-type': 'text/event-stream'}, content=body)


def make_llm(profile, respond, **kwargs):
    server = Server(respond)
    kwargs.setdefault('timeout_s', 5.0)
    return OpenAIChat(BASE_URL, 'qwen2.5:7b', profile,
                      transport=httpx.MockTransport(server), **kwargs), server


@pytest.mark.asyncio
async def test_the_request_carries_prompt_schema_sampling_and_stream_options(profile):
    content = json.dumps(ANSWER, ensure_ascii=False)
    llm, server = make_llm(profile, stream_of(sse(content)), api_key='sk-local',
                           options={'temperature': 0.0, 'seed': 7, 'max_tokens': 99})
    try:
        await llm.chat('座って')
    finally:
        await llm.aclose()
    request = server.requests[0]
    assert request.method == 'POST' and str(request.url) == BASE_URL + '/chat/completions'
    assert request.headers['authorization'] == 'Bearer sk-local'
    body = json.loads(request.content)
    assert body['model'] == 'qwen2.5:7b' and body['messages'] == profile.messages('座って')
    assert body['response_format'] == {'type': 'json_schema', 'json_schema': {
        'name': 'claudia_answer', 'schema': profile.schema, 'strict': True}}
    assert body['stream'] is True and body['stream_options'] == {'include_usage': True}
    assert (body['temperature'], body['seed'], body['max_tokens']) == (0.0, 7, 99)
    assert llm.options == {'temperature': 0.0, 'seed': 7, 'max_tokens': 99}


@pytest.mark.asyncio
async def test_streamed_answer_pieces_usage_and_timing(profile):
    content = json.dumps(ANSWER, ensure_ascii=False)
    usage = {'prompt_tokens': 600, 'completion_tokens': 21, 'total_tokens': 621,
             'prompt_tokens_details': {'cached_tokens': 590}}
    llm, _ = make_llm(profile, stream_of(sse(content, usage=usage)))
    pieces = []
    try:
        result = await llm.chat('座って', on_chunk=pieces.append)
    finally:
        await llm.aclose()
    assert [(a.name, a.api_id) for a in result.answer.intent] == [('Sit', 1009)]
    assert result.answer.reply == 'はい、座ります。' and result.content == content
    assert ''.join(pieces) == content and '' not in pieces and len(pieces) > 1
    assert (result.prompt_tokens, result.completion_tokens) == (10, 21)  # 600 - 590 cached
    assert result.done_reason == 'stop' and result.model == 'qwen2.5:7b'
    assert result.ttft_ms is not None and result.total_ms >= result.ttft_ms


@pytest.mark.asyncio
async def test_no_usage_chunk_counts_zero_tokens(profile):
    llm, _ = make_llm(profile, stream_of(sse(json.dumps(ANSWER))))
    try:
        result = await llm.chat('sit')
    finally:
        await llm.aclose()
    assert (result.prompt_tokens, result.completion_tokens) == (0, 0)
    assert result.answer.kind == 'command'


def error_response(status, message):
    return lambda request: httpx.Response(status, json={'error': {
        'message': message, 'type': 'server_error', 'param': None, 'code': None}})


@pytest.mark.asyncio
@pytest.mark.parametrize('status', [404, 500, 503])
async def test_http_errors_keep_status_and_the_servers_message(profile, status):
    llm, server = make_llm(profile, error_response(status, 'scripted %d' % status))
    try:
        with pytest.raises(LLMHTTPError) as info:
            await llm.chat('x')
    finally:
        await llm.aclose()
    assert info.value.status_code == status and 'scripted %d' % status in str(info.value)
    assert info.value.__cause__ is not None
    assert len(server.requests) == 1, 'the client must not retry'


def raising(exc_type):
    def respond(request):
        raise exc_type('scripted', request=request)
    return respond


@pytest.mark.asyncio
@pytest.mark.parametrize('exc_type, error', [
    (httpx.ConnectError, LLMUnavailable), (httpx.ReadError, LLMUnavailable),
    (httpx.ConnectTimeout, LLMTimeout), (httpx.ReadTimeout, LLMTimeout)])
async def test_transport_failures_are_translated(profile, exc_type, error):
    llm, server = make_llm(profile, raising(exc_type))
    try:
        with pytest.raises(error) as info:
            await llm.chat('x')
    finally:
        await llm.aclose()
    assert info.value.__cause__ is not None and len(server.requests) == 1


@pytest.mark.asyncio
@pytest.mark.parametrize('body, error, text', [
    (sse('{"actions": [', finish='length'), LLMMalformedOutput, 'max_tokens=160'),
    (sse('Sure, I will sit!'), LLMMalformedOutput, 'not JSON'),
    (sse(json.dumps(ANSWER), finish=None), LLMMalformedOutput, 'without a finish_reason'),
    (b'data: {not json\n\n', LLMMalformedOutput, 'unreadable'),
    (chunk('{"a') + 'data: {"error": {"message": "slot crashed"}}\n\n', LLMHTTPError,
     'slot crashed'),
])
async def test_bad_streams(profile, body, error, text):
    llm, _ = make_llm(profile, stream_of(body if isinstance(body, bytes) else body.encode()))
    try:
        with pytest.raises(error, match=text) as info:
            await llm.chat('x')
    finally:
        await llm.aclose()
    if error is LLMHTTPError:
        assert info.value.status_code == -1


class SlowStream(httpx.AsyncByteStream):
    """One chunk, then nothing for an hour; records whether it was closed."""

    def __init__(self):
        self.closed = False

    async def __aiter__(self):
        yield chunk('{"', role=True).encode()
        await asyncio.sleep(3600)

    async def aclose(self):
        self.closed = True


@pytest.mark.asyncio
async def test_the_overall_bound_ends_a_stalled_stream_and_closes_it(profile):
    stream = SlowStream()
    llm, _ = make_llm(profile, lambda request: httpx.Response(
        200, headers={'content-type': 'text/event-stream'}, stream=stream), timeout_s=0.3)
    try:
        with pytest.raises(LLMTimeout, match='within 0.3 s'):
            await llm.chat('x')
    finally:
        await llm.aclose()
    assert stream.closed


@pytest.mark.asyncio
async def test_cancelling_the_task_closes_the_stream(profile):
    stream = SlowStream()
    pieces = []
    llm, _ = make_llm(profile, lambda request: httpx.Response(
        200, headers={'content-type': 'text/event-stream'}, stream=stream))
    try:
        task = asyncio.ensure_future(llm.chat('x', on_chunk=pieces.append))
        for _ in range(100):
            if pieces:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        await llm.aclose()
    assert pieces == ['{"'] and stream.closed


@pytest.mark.asyncio
async def test_warmup_sends_the_real_system_prompt_and_ignores_the_content(profile):
    llm, server = make_llm(profile, stream_of(sse('not json at all')))
    try:
        await llm.warmup(timeout_s=2.0)
    finally:
        await llm.aclose()
    body = json.loads(server.requests[0].content)
    assert body['messages'][0] == {'role': 'system', 'content': profile.system_prompt}


def test_bad_timeouts_are_refused_and_an_empty_key_is_the_dummy(profile):
    with pytest.raises(ValueError):
        OpenAIChat(BASE_URL, 'm', profile, timeout_s=0)
    with pytest.raises(ValueError):
        OpenAIChat(BASE_URL, 'm', profile, connect_timeout_s=-1)
    assert OpenAIChat(BASE_URL, 'm', profile, api_key='').api_key == DUMMY_API_KEY
