"""The Ollama-protocol test server's token-rate timing, prompt prefix reuse, schema-ordered
scripted content and client disconnects (real ``ollama`` client and httpx on loopback)."""
import json
import time

import httpx
import ollama
import pytest

from claudia_llm.testing import qwen_tokens
from claudia_llm.testing.ollama_timing import PrefixCache

MODEL = 'qwen2.5:7b'
SYSTEM = {'role': 'system', 'content': 'You are Claudia, a robot dog. ' * 20}
SCHEMA = {'type': 'object', 'required': ['actions', 'reply'],
          'properties': {'actions': {'type': 'array'}, 'reply': {'type': 'string'}}}
pytestmark = pytest.mark.timeout(60)


def _messages(text):
    return [SYSTEM, {'role': 'user', 'content': text}]


def test_prefix_cache_counts_only_the_new_tokens():
    cache = PrefixCache(slots=1)
    assert cache.evaluate('m', [1, 2, 3, 4]) == 4
    assert cache.evaluate('m', [1, 2, 3, 5, 6]) == 2
    assert cache.evaluate('m', [1, 2, 3, 5, 6]) == 1  # identical prompt: the last token
    assert cache.evaluate('other', [1, 2]) == 2
    cache.clear('m')
    assert cache.evaluate('m', [1, 2, 3]) == 3
    two = PrefixCache(slots=2)
    two.evaluate('m', [1, 2]), two.evaluate('m', [7, 8])
    assert two.evaluate('m', [1, 2, 9]) == 1 and two.evaluate('m', [7, 8, 9]) == 1


@pytest.mark.asyncio
async def test_rates_stream_one_chunk_per_token_and_reuse_the_system_prompt(
        ollama_server_factory):
    content = {'reply': 'はい、座ります。', 'actions': [{'name': 'Sit'}]}
    server = ollama_server_factory(timing='rates', prompt_tps=4000.0, eval_tps=500.0,
                                   script=[{'regex': '座', 'content': content}])
    client = ollama.AsyncClient(host=server.url, timeout=10.0)
    try:
        first = [p async for p in await client.chat(
            model=MODEL, messages=_messages('座って'), format=SCHEMA, stream=True)]
        second = [p async for p in await client.chat(
            model=MODEL, messages=_messages('お座り'), format=SCHEMA, stream=True)]
    finally:
        await client.close()
    text = ''.join(p.message.content for p in first)
    # keys in schema order, as a grammar from the schema emits them
    assert list(json.loads(text)) == ['actions', 'reply']
    assert [p.message.content for p in first[:-1]] == qwen_tokens.token_pieces(text)
    assert first[-1].done and first[-1].eval_count == qwen_tokens.count_tokens(text)
    full = qwen_tokens.prompt_tokens(_messages('座って'))
    assert first[-1].prompt_eval_count == full
    # the second prompt shares the system prompt: only the tail is evaluated again
    again = second[-1].prompt_eval_count
    assert 0 < again < full - qwen_tokens.count_tokens(SYSTEM['content']) + 5
    assert [e['prompt_eval_count'] for e in server.requests()] == [full, again]


def test_a_client_that_leaves_mid_answer_is_logged_as_cancelled(ollama_server_factory):
    long_reply = {'actions': [], 'reply': 'la ' * 400}
    server = ollama_server_factory(timing='rates', eval_tps=50.0,
                                   script=[{'match': 'sing', 'content': long_reply}])
    body = {'model': MODEL, 'messages': [{'role': 'user', 'content': 'sing'}],
            'format': SCHEMA}
    with httpx.stream('POST', server.url + '/api/chat', json=body, timeout=5.0) as reply:
        for count, _line in enumerate(reply.iter_lines()):
            if count == 3:
                break
    deadline = time.monotonic() + 5.0
    while server.requests()[-1]['outcome'] == 'pending' and time.monotonic() < deadline:
        time.sleep(0.02)
    entry = server.requests()[-1]
    assert entry['outcome'] in ('cancelled', 'disconnected') and entry['end_s'] is not None
