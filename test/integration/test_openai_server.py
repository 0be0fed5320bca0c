"""The test server's OpenAI protocol: ``/v1/chat/completions`` and ``/v1/models``.

The stream is read twice: raw with httpx (the SSE frames themselves) and with the official
``openai`` client (what a real client makes of them). Same scripts, token counts, timing
and faults as ``/api/chat`` (test_ollama_server.py, test_ollama_timing.py).
"""
import asyncio
import json
import time

import httpx
import openai
import pytest

from claudia_llm.testing import qwen_tokens

MODEL = 'qwen2.5:7b'
SCHEMA = {'type': 'object', 'required': ['actions', 'reply'],
          'properties': {'actions': {'type': 'array'}, 'reply': {'type': 'string'}}}
RESPONSE_FORMAT = {'type': 'json_schema', 'json_schema': {'name': 'a', 'schema': SCHEMA}}
SYSTEM = {'role': 'system', 'content': 'You are Claudia, a robot dog. ' * 20}
pytestmark = pytest.mark.timeout(60)


def user(text):
    return [SYSTEM, {'role': 'user', 'content': text}]


def client_for(server, **kwargs):
    return openai.AsyncOpenAI(base_url=server.url + '/v1', api_key='sk-test', max_retries=0,
                              timeout=5.0, **kwargs)


def sse_events(reply: httpx.Response):
    """The ``data:`` payloads of an SSE response, in order (blank lines separate them)."""
    return [line[len('data: '):] for line in reply.iter_lines() if line.startswith('data: ')]


def test_raw_stream_frames_role_tokens_finish_usage_done(ollama_server):
    content = {'reply': 'はい、座ります。', 'actions': [{'name': 'Sit'}]}
    ollama_server.set_script([{'match': '座って', 'content': content}])
    body = {'model': MODEL, 'messages': user('座って'), 'response_format': RESPONSE_FORMAT,
            'stream': True, 'stream_options': {'include_usage': True}}
    with httpx.stream('POST', ollama_server.url + '/v1/chat/completions', json=body,
                      timeout=5.0) as reply:
        assert reply.headers['content-type'].startswith('text/event-stream')
        events = sse_events(reply)
    assert events[-1] == '[DONE]'
    chunks = [json.loads(e) for e in events[:-1]]
    assert {c['object'] for c in chunks} == {'chat.completion.chunk'}
    assert len({c['id'] for c in chunks}) == 1 and chunks[0]['id'].startswith('chatcmpl-')
    *pieces, finish, usage = chunks
    assert pieces[0]['choices'][0]['delta']['role'] == 'assistant'
    text = ''.join(c['choices'][0]['delta']['content'] for c in pieces)
    assert list(json.loads(text)) == ['actions', 'reply']  # schema order, as a grammar
    assert [c['choices'][0]['delta']['content'] for c in pieces] == \
        qwen_tokens.token_pieces(text)
    assert all(c['usage'] is None and c['choices'][0]['finish_reason'] is None
               for c in pieces)
    assert finish['choices'] == [{'index': 0, 'delta': {}, 'logprobs': None,
                                  'finish_reason': 'stop'}]
    prompt = qwen_tokens.prompt_tokens(user('座って'))
    assert usage['choices'] == [] and usage['usage'] == {
        'prompt_tokens': prompt, 'completion_tokens': qwen_tokens.count_tokens(text),
        'total_tokens': prompt + qwen_tokens.count_tokens(text),
        'prompt_tokens_details': {'cached_tokens': 0}}
    entry = ollama_server.requests()[-1]
    assert entry['endpoint'] == '/v1/chat/completions' and entry['format'] == SCHEMA
    assert entry['openai']['stream_options'] == {'include_usage': True}


def test_without_include_usage_there_is_no_usage_chunk(ollama_server):
    body = {'model': MODEL, 'messages': user('hello'), 'stream': True}
    with httpx.stream('POST', ollama_server.url + '/v1/chat/completions', json=body,
                      timeout=5.0) as reply:
        events = sse_events(reply)
    chunks = [json.loads(e) for e in events[:-1]]
    assert events[-1] == '[DONE]' and chunks[-1]['choices'][0]['finish_reason'] == 'stop'
    assert all('usage' not in c for c in chunks)


@pytest.mark.asyncio
async def test_the_openai_client_streamed_and_plain_agree(ollama_server):
    ollama_server.set_script([{'regex': '^say ', 'content': '{"reply": "はい", "n": 1}'}])
    client = client_for(ollama_server)
    try:
        plain = await client.chat.completions.create(model=MODEL, messages=user('say it'))
        stream = await client.chat.completions.create(
            model=MODEL, messages=user('say it'), stream=True,
            stream_options={'include_usage': True}, max_tokens=99, seed=7, temperature=0.0)
        chunks = [c async for c in stream]
        models = await client.models.list()
    finally:
        await client.close()
    assert plain.choices[0].message.content == '{"reply": "はい", "n": 1}'
    assert plain.choices[0].finish_reason == 'stop'
    assert ''.join(c.choices[0].delta.content or '' for c in chunks if c.choices) == \
        plain.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == plain.usage.completion_tokens == \
        qwen_tokens.count_tokens(plain.choices[0].message.content)
    assert plain.usage.prompt_tokens == qwen_tokens.prompt_tokens(user('say it'))
    assert [m.id for m in models.data] == [MODEL]
    sent = ollama_server.requests()[-1]
    assert sent['options'] == {'temperature': 0.0, 'seed': 7, 'num_predict': 99}
    assert sent['stream'] is True and ollama_server.requests()[0]['stream'] is False


@pytest.mark.asyncio
async def test_errors_are_openai_error_objects_with_the_status(ollama_server):
    ollama_server.set_script([{'match': 'boom', 'status': 500, 'error': 'scripted 500'},
                              {'match': 'gone', 'model_not_found': True}])
    client = client_for(ollama_server)
    try:
        with pytest.raises(openai.InternalServerError, match='scripted 500') as boom:
            await client.chat.completions.create(model=MODEL, messages=user('boom'))
        with pytest.raises(openai.NotFoundError) as gone:
            await client.chat.completions.create(model=MODEL, messages=user('gone'))
        with pytest.raises(openai.NotFoundError, match='llama3:8b'):
            await client.chat.completions.create(model='llama3:8b', messages=user('x'))
    finally:
        await client.close()
    assert boom.value.status_code == 500 and boom.value.body['type'] == 'server_error'
    assert gone.value.body['code'] == 'model_not_found'
    with httpx.Client(base_url=ollama_server.url, timeout=5.0) as http:
        bad = http.post('/v1/chat/completions', content=b'{not json')
        assert bad.status_code == 400 and bad.json()['error']['message']
        empty = http.post('/v1/chat/completions', json={'model': MODEL, 'messages': []})
        assert empty.status_code == 400 and 'messages' in empty.json()['error']['message']


@pytest.mark.asyncio
async def test_queue_limit_answers_503(ollama_server_factory):
    server = ollama_server_factory(slots=1, max_queue=1, script=[{'match': 'h', 'hang': True}])
    client = client_for(server)
    try:
        hung = [asyncio.ensure_future(client.chat.completions.create(
            model=MODEL, messages=user('h'), stream=True)) for _ in range(2)]
        while server.stats()['waiting'] < 1:
            await asyncio.sleep(0.02)
        with pytest.raises(openai.APIStatusError) as info:
            await client.chat.completions.create(model=MODEL, messages=user('x'))
        for task in hung:
            task.cancel()
        await asyncio.gather(*hung, return_exceptions=True)
    finally:
        await client.close()
    assert info.value.status_code == 503
    assert [e['outcome'] for e in server.requests()][-1] == 'busy'


def test_endless_rule_streams_whitespace_until_the_client_leaves(ollama_server_factory):
    server = ollama_server_factory(script=[{'match': 'spin', 'endless': True}])
    body = {'model': MODEL, 'messages': user('spin'), 'stream': True}
    events = []
    with httpx.stream('POST', server.url + '/v1/chat/completions', json=body,
                      timeout=5.0) as reply:
        for line in reply.iter_lines():
            if line.startswith('data: '):
                events.append(json.loads(line[6:]))
            if len(events) == 20:
                break
    assert all(not e['choices'][0]['delta']['content'].strip() for e in events)
    _wait_for_end(server)
    assert server.requests()[-1]['outcome'] in ('endless', 'cancelled')


@pytest.mark.asyncio
async def test_rates_time_the_stream_and_a_client_that_leaves_is_logged(ollama_server_factory):
    long_reply = {'actions': [], 'reply': 'la ' * 400}
    server = ollama_server_factory(timing='rates', prompt_tps=4000.0, eval_tps=50.0,
                                   script=[{'match': 'sing', 'content': long_reply}])
    client = client_for(server)
    try:
        started = time.monotonic()
        stream = await client.chat.completions.create(
            model=MODEL, messages=user('sing'), response_format=RESPONSE_FORMAT, stream=True)
        count = 0
        async for _chunk in stream:
            count += 1
            if count == 5:
                break
        await stream.close()
        elapsed = time.monotonic() - started
        _wait_for_end(server)
        again = await client.chat.completions.create(
            model=MODEL, messages=user('hello'), stream=True,
            stream_options={'include_usage': True})
        usage = [c async for c in again][-1].usage
    finally:
        await client.close()
    entry = server.requests()[0]
    assert entry['outcome'] in ('cancelled', 'disconnected') and entry['end_s'] is not None
    prompt = qwen_tokens.prompt_tokens(user('sing'))
    assert entry['prompt_eval_count'] == prompt
    assert elapsed >= prompt / 4000.0 + 4 / 50.0  # prefill, then one token per 20 ms
    # the next prompt shares the system prompt with the slot's cached one
    assert usage.prompt_tokens == qwen_tokens.prompt_tokens(user('hello'))
    cached = usage.prompt_tokens_details.cached_tokens
    assert cached >= qwen_tokens.count_tokens(SYSTEM['content'])
    assert server.requests()[-1]['prompt_eval_count'] == usage.prompt_tokens - cached


def _wait_for_end(server, timeout_s=5.0):
    deadline = time.monotonic() + timeout_s
    while server.requests()[-1]['end_s'] is None and time.monotonic() < deadline:
        time.sleep(0.02)
