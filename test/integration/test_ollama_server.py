"""The Ollama-protocol test server itself: endpoints, script, slots, load model, CLI."""
import asyncio
import json
import os
import subprocess
import sys

import httpx
import ollama
import pytest

from claudia_llm.testing import qwen_tokens
from claudia_llm.testing.ollama_protocol import keep_alive_s
from claudia_llm.testing.ollama_script import Script

MODEL = 'qwen2.5:7b'
SCHEMA = {'type': 'object', 'required': ['reply', 'actions', 'kind'],
          'properties': {'reply': {'type': 'string'}, 'actions': {'type': 'array'},
                         'kind': {'type': 'string', 'enum': ['command', 'chat']}}}
pytestmark = pytest.mark.timeout(60)


def user(text):
    return [{'role': 'user', 'content': text}]


@pytest.mark.asyncio
async def test_chat_plain_and_streamed_agree(ollama_server):
    ollama_server.set_script([{'regex': '^say ', 'content': '{"reply": "はい", "n": 1}'}])
    client = ollama.AsyncClient(host=ollama_server.url, timeout=5.0)
    try:
        plain = await client.chat(model=MODEL, messages=user('say it'), stream=False)
        parts = [p async for p in await client.chat(model=MODEL, messages=user('say it'),
                                                    stream=True)]
    finally:
        await client.close()
    assert plain.message.content == '{"reply": "はい", "n": 1}'
    assert ''.join(p.message.content for p in parts) == plain.message.content
    assert [p.done for p in parts] == [False] * (len(parts) - 1) + [True]
    final = parts[-1]
    for response in (plain, final):
        assert response.done_reason == 'stop'
        assert response.eval_count == qwen_tokens.count_tokens(plain.message.content)
        assert response.prompt_eval_count == qwen_tokens.prompt_tokens(user('say it'))
        assert response.total_duration >= response.eval_duration >= 0


@pytest.mark.asyncio
async def test_default_answer_fits_the_requested_schema(ollama_server):
    client = ollama.AsyncClient(host=ollama_server.url, timeout=5.0)
    try:
        answers = [json.loads((await client.chat(model=MODEL, messages=user(t), format=SCHEMA,
                                                 stream=False)).message.content)
                   for t in ('こんにちは', '你好', 'hello')]
        text = (await client.chat(model=MODEL, messages=user('hi'), stream=False))
    finally:
        await client.close()
    assert [a['kind'] for a in answers] == ['chat'] * 3
    assert [a['actions'] for a in answers] == [[]] * 3
    assert len({a['reply'] for a in answers}) == 3  # one per language
    assert text.message.content and not text.message.content.startswith('{')


@pytest.mark.asyncio
async def test_generate_loads_and_unloads_and_ps_follows(ollama_server):
    client = ollama.AsyncClient(host=ollama_server.url, timeout=5.0)
    try:
        assert (await client.ps()).models == []
        loaded = await client.generate(model=MODEL, prompt='', keep_alive='10m',
                                       options={'num_ctx': 4096})
        running = (await client.ps()).models
        unloaded = await client.generate(model=MODEL, prompt='', keep_alive=0)
        after = (await client.ps()).models
        listed = [m.model for m in (await client.list()).models]
    finally:
        await client.close()
    assert loaded.done_reason == 'load' and unloaded.done_reason == 'unload'
    assert [(m.model, m.context_length) for m in running] == [(MODEL, 4096)]
    assert after == [] and listed == [MODEL]


@pytest.mark.asyncio
async def test_a_different_num_ctx_reloads_the_model(ollama_server_factory):
    server = ollama_server_factory(load_time_s=0.05)
    client = ollama.AsyncClient(host=server.url, timeout=5.0)
    try:
        first = await client.chat(model=MODEL, messages=user('a'), options={'num_ctx': 2048})
        same = await client.chat(model=MODEL, messages=user('b'), options={'num_ctx': 2048})
        assert server.stats()['loads'] == 1
        await client.chat(model=MODEL, messages=user('c'), options={'num_ctx': 4096})
    finally:
        await client.close()
    assert server.stats()['loads'] == 2
    assert first.load_duration > same.load_duration


@pytest.mark.asyncio
async def test_queue_limit_answers_503(ollama_server_factory):
    server = ollama_server_factory(slots=1, max_queue=1, script=[{'match': 'h', 'hang': True}])
    client = ollama.AsyncClient(host=server.url, timeout=5.0)
    try:
        hung = [asyncio.ensure_future(client.chat(model=MODEL, messages=user('h')))
                for _ in range(2)]
        while server.stats()['waiting'] < 1:
            await asyncio.sleep(0.02)
        with pytest.raises(ollama.ResponseError) as info:
            await client.chat(model=MODEL, messages=user('x'))
        assert info.value.status_code == 503
        for task in hung:
            task.cancel()
        await asyncio.gather(*hung, return_exceptions=True)
    finally:
        await client.close()
    assert [e['outcome'] for e in server.requests()][-1] == 'busy'


def test_bad_requests_are_400(ollama_server):
    with httpx.Client(base_url=ollama_server.url, timeout=5.0) as http:
        assert http.post('/api/chat', content=b'{not json').status_code == 400
        assert http.post('/api/chat', json={'messages': user('x')}).status_code == 400
        bad = http.post('/api/chat', json={'model': MODEL, 'messages': user('x'),
                                           'keep_alive': 'soon'})
        assert bad.status_code == 400 and 'keep_alive' in bad.json()['error']


def test_test_endpoints_read_the_log_and_change_the_script(ollama_server):
    with httpx.Client(base_url=ollama_server.url, timeout=5.0) as http:
        http.post('/_test/script', json=[{'match': 'boom', 'status': 500}]).raise_for_status()
        chat = {'model': MODEL, 'messages': user('boom'), 'stream': False,
                'options': {'seed': 7}, 'keep_alive': '5m'}
        assert http.post('/api/chat', json=chat).status_code == 500
        log = http.get('/_test/requests').json()['requests']
        assert [(e['options'], e['keep_alive'], e['status'], e['rule']) for e in log] == [
            ({'seed': 7}, '5m', 500, 0)]
        http.post('/_test/reset').raise_for_status()
        assert http.post('/api/chat', json=chat).status_code == 200
        assert http.get('/_test/stats').json()['requests'] == 1
        assert http.get('/api/version').json()['version']


def test_script_and_keep_alive_parsing():
    script = Script.from_data({'service_time_s': 0.5, 'rules': [
        {'match': 'a', 'content': {'k': 1}}, {'regex': 'b+', 'delay_s': 1}]})
    assert script.service_time_s == 0.5
    assert script.find('a')[1].content == '{"k": 1}'
    assert script.find('xbbx')[0] == 1 and script.find('c') == (None, None)
    for bad in ([{'match': 'a', 'regex': 'a'}], [{'content': 'x'}], [{'match': 'a', 'x': 1}]):
        with pytest.raises(ValueError):
            Script.from_data(bad)
    assert [keep_alive_s(v) for v in ('30m', '1h30m', 90, '-1', None, '0')] == [
        1800.0, 5400.0, 90.0, -1.0, 300.0, 0.0]
    with pytest.raises(ValueError):
        keep_alive_s('soon')


def test_command_line_server(tmp_path):
    script = tmp_path / 'script.json'
    script.write_text(json.dumps([{'match': 'ping', 'content': 'pong'}]), encoding='utf-8')
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    proc = subprocess.Popen(
        [sys.executable, '-m', 'claudia_llm.testing.ollama_server', '--port', '0',
         '--slots', '2', '--service-time-s', '0.01', '--script', str(script)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        first = proc.stdout.readline().decode().split()
        assert first[0] == 'listening', first
        url = first[1]
        reply = httpx.post(url + '/api/chat', json={'model': MODEL, 'messages': user('ping'),
                                                    'stream': False}, timeout=5.0)
        assert reply.json()['message']['content'] == 'pong'
        assert httpx.get(url + '/_test/stats', timeout=5.0).json()['slots'] == 2
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == 0


def test_endless_rule_streams_whitespace_until_the_client_leaves(ollama_server_factory):
    server = ollama_server_factory(script=[{'match': 'spin', 'endless': True}])
    body = {'model': 'qwen2.5:7b', 'messages': [{'role': 'user', 'content': 'spin'}]}
    chunks = []
    with httpx.stream('POST', server.url + '/api/chat', json=body, timeout=5.0) as reply:
        for line in reply.iter_lines():
            chunks.append(json.loads(line))
            if len(chunks) == 20:
                break
    assert all(c['done'] is False and not c['message']['content'].strip() for c in chunks)
    entry = server.requests()[-1]
    assert entry['rule'] == 0 and entry['outcome'] in ('endless', 'cancelled')
