"""The LLM clients against the test server on loopback, each test once per backend.

``OllamaChat`` (the real ollama client, ``/api/chat``) and ``OpenAIChat`` (the real openai
client, ``/v1/chat/completions``): what the client sent is checked on the server side (its
request log); what it returned is checked against the script and against real Qwen2.5
token counts.
"""
import asyncio
import json
import time

import httpx
import openai
import pytest
from backends import ENDPOINTS, logged_options, make_chat

from claudia_llm.core.errors import (
    LLMHTTPError,
    LLMMalformedOutput,
    LLMTimeout,
    LLMUnavailable,
)
from claudia_llm.core.llm.prompt import PromptProfile
from claudia_llm.core.safety.actions import ActionRegistry
from claudia_llm.testing import qwen_tokens

MODEL = 'qwen2.5:7b'
OPTIONS = {'temperature': 0.0, 'num_predict': 160, 'num_ctx': 2048, 'seed': 42}
pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope='module')
def registry():
    return ActionRegistry.load()


@pytest.fixture(scope='module')
def profile(registry):
    return PromptProfile(registry, max_actions=4)


def make_llm(url, profile, backend='ollama', model=MODEL, **kwargs):
    """The ``backend``'s client on the test server at ``url`` (``backends.make_chat``)."""
    kwargs.setdefault('options', OPTIONS)
    kwargs.setdefault('timeout_s', 5.0)
    return make_chat(backend, url, model, profile, **kwargs)


def command(reply, *names):
    return {'reply': reply, 'actions': [{'name': n} for n in names], 'kind': 'command'}


async def wait_for_log(server, predicate, timeout_s=5.0):
    """Poll the server log until ``predicate(entries)`` holds; a bounded wait."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        entries = server.requests()
        if predicate(entries):
            return entries
        await asyncio.sleep(0.02)
    raise AssertionError('server log never matched: %r' % server.requests())


@pytest.mark.asyncio
async def test_every_call_sends_schema_pinned_options_and_keep_alive(ollama_server, profile,
                                                                     llm_backend):
    llm = make_llm(ollama_server.url, profile, llm_backend, keep_alive='45m')
    try:
        await llm.warmup()
        await llm.chat('座ってくれる?')
        await llm.chat('what can you do?')
    finally:
        await llm.aclose()
    entries = ollama_server.requests()
    assert [e['endpoint'] for e in entries] == [ENDPOINTS[llm_backend]] * 3
    for entry, text in zip(entries[1:], ['座ってくれる?', 'what can you do?']):
        assert entry['messages'] == profile.messages(text)
    for entry in entries:
        assert entry['model'] == MODEL
        assert entry['format'] == profile.schema
        assert entry['options'] == logged_options(llm_backend, OPTIONS)
        assert entry['keep_alive'] == ('45m' if llm_backend == 'ollama' else None)
        assert entry['stream'] is True
        assert entry['outcome'] == 'ok'
        if llm_backend == 'openai':  # response_format json_schema, usage asked for
            assert entry['openai']['response_format']['type'] == 'json_schema'
            assert entry['openai']['stream_options'] == {'include_usage': True}
    stats = ollama_server.stats()
    assert stats['loads'] == 1 and stats['loaded'] == [MODEL]


@pytest.mark.asyncio
async def test_answer_ids_and_real_token_counts(ollama_server, profile, registry, llm_backend):
    content = json.dumps({'reply': 'はい、前に歩きます。', 'kind': 'command', 'actions': [
        {'name': 'StandUp'}, {'name': 'Move', 'parameter': {'x': 0.3, 'y': 0, 'z': 0}}]},
        ensure_ascii=False)
    ollama_server.set_script([{'match': '前に歩いてみて', 'content': content}])
    llm = make_llm(ollama_server.url, profile, llm_backend)
    try:
        result = await llm.chat('前に歩いてみて')
    finally:
        await llm.aclose()
    assert result.answer.reply == 'はい、前に歩きます。'
    assert [(a.name, a.api_id, a.parameter) for a in result.answer.intent] == [
        ('StandUp', registry.get('StandUp').api_id, {}),
        ('Move', registry.get('Move').api_id, {'x': 0.3, 'y': 0, 'z': 0})]
    assert result.content == content and result.model == MODEL
    assert result.prompt_tokens == qwen_tokens.prompt_tokens(profile.messages('前に歩いてみて'))
    assert result.completion_tokens == qwen_tokens.count_tokens(content)
    assert result.prompt_tokens > 0 and result.completion_tokens > 0
    assert result.ttft_ms is not None and result.done_reason == 'stop'
    assert result.total_ms > 0
    # server durations are Ollama's; the OpenAI protocol has none
    assert (result.server_total_ms > 0) is (llm_backend == 'ollama')


@pytest.mark.asyncio
async def test_unscripted_text_gets_a_generic_chat_answer(ollama_server, profile, llm_backend):
    llm = make_llm(ollama_server.url, profile, llm_backend)
    try:
        result = await llm.chat('who are you?')
    finally:
        await llm.aclose()
    assert result.answer.intent == [] and result.answer.kind == 'chat'
    assert result.answer.reply


@pytest.mark.asyncio
@pytest.mark.parametrize('status', [500, 503])
async def test_http_errors(ollama_server, profile, status, llm_backend):
    ollama_server.set_script([{'match': 'x', 'status': status, 'error': 'scripted %d' % status}])
    llm = make_llm(ollama_server.url, profile, llm_backend)
    try:
        with pytest.raises(LLMHTTPError) as info:
            await llm.chat('x')
    finally:
        await llm.aclose()
    assert info.value.status_code == status and info.value.code == 'llm_http_error'
    assert 'scripted %d' % status in str(info.value)
    assert info.value.__cause__ is not None


@pytest.mark.asyncio
async def test_model_not_found_is_http_404(ollama_server, profile, llm_backend):
    ollama_server.set_script([{'match': 'gone', 'model_not_found': True}])
    llm = make_llm(ollama_server.url, profile, llm_backend)
    other = make_llm(ollama_server.url, profile, llm_backend, model='llama3:8b')
    try:
        with pytest.raises(LLMHTTPError) as scripted:
            await llm.chat('gone')
        with pytest.raises(LLMHTTPError) as unknown:
            await other.warmup()
    finally:
        await llm.aclose()
        await other.aclose()
    assert scripted.value.status_code == 404 and unknown.value.status_code == 404
    assert 'llama3:8b' in str(unknown.value)


@pytest.mark.asyncio
async def test_malformed_content(ollama_server, profile, llm_backend):
    ollama_server.set_script([
        {'match': 'cut', 'malformed': True},
        {'match': 'prose', 'content': 'Sure, I will sit down now!'},
        {'match': 'fly', 'content': command('ok', 'Fly')}])
    llm = make_llm(ollama_server.url, profile, llm_backend)
    try:
        with pytest.raises(LLMMalformedOutput) as cut:
            await llm.chat('cut')
        with pytest.raises(LLMMalformedOutput) as prose:
            await llm.chat('prose')
        with pytest.raises(LLMMalformedOutput, match='not in the action table'):
            await llm.chat('fly')
    finally:
        await llm.aclose()
    limit = 'num_predict' if llm_backend == 'ollama' else 'max_tokens'
    assert '%s=160' % limit in str(cut.value)
    assert isinstance(prose.value.__cause__, ValueError)


@pytest.mark.asyncio
async def test_hang_times_out_and_the_server_sees_the_client_leave(ollama_server, profile,
                                                                   llm_backend):
    ollama_server.set_script([{'match': 'wait', 'hang': True}])
    llm = make_llm(ollama_server.url, profile, llm_backend, timeout_s=0.5)
    try:
        with pytest.raises(LLMTimeout) as info:
            await llm.chat('wait')
        assert isinstance(info.value.__cause__, (asyncio.TimeoutError, httpx.TimeoutException,
                                                 openai.APITimeoutError))
        await wait_for_log(ollama_server, lambda es: es[-1]['outcome'] == 'cancelled')
        ollama_server.set_script([])
        assert (await llm.chat('wait')).answer.reply  # the client still works
    finally:
        await llm.aclose()


@pytest.mark.asyncio
async def test_cancelled_call_propagates_and_closes_its_connection(ollama_server, profile,
                                                                    llm_backend):
    ollama_server.set_script([{'match': 'wait', 'hang': True}])
    llm = make_llm(ollama_server.url, profile, llm_backend)
    try:
        task = asyncio.ensure_future(llm.chat('wait'))
        await wait_for_log(ollama_server, lambda es: es and es[-1]['outcome'] == 'hang')
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        entries = await wait_for_log(ollama_server,
                                     lambda es: es[-1]['outcome'] == 'cancelled')
        assert ollama_server.stats()['in_service'] == 0, entries
        ollama_server.set_script([])
        assert (await llm.chat('wait')).answer.kind == 'chat'
    finally:
        await llm.aclose()


@pytest.mark.asyncio
async def test_on_chunk_gets_every_token_piece_as_it_arrives(ollama_server_factory, profile,
                                                              llm_backend):
    answer = command('Hello there. Nice to meet you!', 'Hello')
    server = ollama_server_factory(script=[{'match': 'hi', 'content': answer}],
                                   timing='rates', prompt_tps=4000.0, eval_tps=200.0)
    llm = make_llm(server.url, profile, llm_backend)
    texts = []
    try:
        result = await llm.chat('hi', on_chunk=texts.append)
    finally:
        await llm.aclose()
    assert ''.join(texts) == result.content and all(texts)
    assert texts == [p for p in qwen_tokens.token_pieces(result.content) if p]
    assert [a.name for a in result.answer.intent] == ['Hello']


@pytest.mark.asyncio
async def test_server_down_is_unavailable(ollama_server_factory, profile, closed_port,
                                         llm_backend):
    refused = make_llm('http://127.0.0.1:%d' % closed_port, profile, llm_backend)
    server = ollama_server_factory()
    llm = make_llm(server.url, profile, llm_backend)
    try:
        with pytest.raises(LLMUnavailable) as info:
            await refused.chat('hello')
        assert info.value.code == 'llm_unavailable' and info.value.__cause__ is not None
        with pytest.raises(LLMUnavailable):
            await refused.warmup(timeout_s=2.0)
        await llm.warmup(timeout_s=5.0)  # the same client works while the server is up
        server.stop()
        with pytest.raises(LLMUnavailable):
            await llm.chat('hello')
    finally:
        await refused.aclose()
        await llm.aclose()


@pytest.mark.asyncio
async def test_parallel_slots_bound_requests_in_service(ollama_server_factory, profile,
                                                        llm_backend):
    server = ollama_server_factory(slots=2, service_time_s=0.3)
    llm = make_llm(server.url, profile, llm_backend)
    texts = ['one', 'two', 'three', 'four']
    try:
        results = await asyncio.gather(*(llm.chat(t) for t in texts))
    finally:
        await llm.aclose()
    assert all(r.answer.kind == 'chat' for r in results)
    entries = server.requests()
    deadline = time.monotonic() + 5.0
    while any(e['end_s'] is None for e in entries) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)  # the client may have its last chunk before the server's
        entries = server.requests()  # handler has logged the end ([DONE] is sent first)
    assert sorted(e['messages'][-1]['content'] for e in entries) == sorted(texts)
    events = sorted([(e['start_s'], 1) for e in entries] + [(e['end_s'], -1) for e in entries])
    in_service, peak = 0, 0
    for _, step in events:
        in_service += step
        peak = max(peak, in_service)
    assert peak == 2 and server.stats()['max_in_service'] == 2
    by_start = sorted(entries, key=lambda e: e['start_s'])
    assert [e['id'] for e in by_start] == sorted(e['id'] for e in entries)  # FIFO


def test_bad_timeouts_are_refused(profile, llm_backend):
    with pytest.raises(ValueError):
        make_llm('http://127.0.0.1:1', profile, llm_backend, timeout_s=0)
    with pytest.raises(ValueError):
        make_llm('http://127.0.0.1:1', profile, llm_backend, connect_timeout_s=-1)
