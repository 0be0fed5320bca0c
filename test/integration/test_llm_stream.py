"""Streamed LLM answers over real DDS: actions and reply pieces before the record.

The Ollama-protocol test server runs at Orin-like rates (prefill 400 tokens/s, decode 25
tokens/s, one chunk per Qwen2.5 token), so the action list closes about a second before
the answer ends. Both scheduler paths: in process (``memory``) and the Redis streams with
the in-node worker (``redis``); each with both ``llm.backend`` values (``/api/chat`` and
``/v1/chat/completions`` on the same server).
"""
import time

import pytest
from backends import node_overrides
from stack import Stack

from claudia_llm.testing.ollama_server import OllamaTestServer

SCRIPT = {'rules': [
    {'regex': '^show the guests', 'content': {
        'actions': [{'name': 'Hello'}, {'name': 'Stretch'}],
        'reply': 'Hello, dear guests. Let me stretch a little for you. Welcome to our home!',
        'kind': 'command'}},
    {'regex': '^tell a long story', 'content': {
        'actions': [{'name': 'Hello'}],
        'reply': 'Once upon a time. ' * 24, 'kind': 'command'}},
]}


@pytest.fixture(scope='module')
def ollama():
    server = OllamaTestServer(slots=1, script=SCRIPT, timing='rates', prompt_tps=400.0,
                              eval_tps=25.0)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope='module', params=['memory', 'redis'])
def stack(request, redis_module, ollama, llm_backend):
    s = Stack(dict({'redis.url': redis_module.url, 'ollama.timeout_s': 20.0,
                    'redis.key_prefix': 'c-%s-%s' % (request.param, llm_backend),
                    'scheduler.deadline_s': 30.0, 'safety.cooldown_s': 0.0,
                    'safety.stale_after_s': 0.0, 'scheduler.backend': request.param},
                   **node_overrides(llm_backend, ollama.url)))
    s.backend = request.param
    yield s
    s.close()


def wait_for(predicate, what, bound_s=20.0):
    end = time.monotonic() + bound_s
    while not predicate():
        assert time.monotonic() < end, 'gave up waiting for ' + what
        time.sleep(0.005)


def test_actions_and_reply_pieces_arrive_before_the_record(stack):
    record = stack.ask('show the guests your manners %s' % id(stack), timeout_s=30.0)
    assert record['source'] == 'llm' and record['error'] is None
    assert stack.node.engine.scheduler.__class__.__name__ == (
        'InProcessScheduler' if stack.backend == 'memory' else 'FailoverScheduler')
    if stack.backend == 'redis':
        assert stack.node.engine.scheduler.mode == 'redis'
    arrivals = stack.arrivals_for(record['request_id'])
    kinds = [kind for _t, kind, _d in arrivals]
    assert kinds[0] == 'action' and kinds[-1] == 'response'
    assert kinds.count('action') == 1 and kinds.count('response') == 1
    action = arrivals[0][2]
    assert [a['name'] for a in action['actions']] == ['Hello', 'Stretch']
    assert action['actions'] == record['actions']
    pieces = [d for _t, kind, d in arrivals if kind == 'piece']
    assert [p['seq'] for p in pieces] == list(range(len(pieces)))
    assert [p['final'] for p in pieces] == [False] * (len(pieces) - 1) + [True]
    assert pieces[0]['text'] == 'Hello, dear guests.'
    assert ''.join(p['text'] for p in pieces).replace(' ', '') == \
        record['reply'].replace(' ', '')
    # the first piece came while the answer was still being generated
    first_piece = next(t for t, kind, _d in arrivals if kind == 'piece')
    assert arrivals[0][0] < first_piece < arrivals[-1][0]
    latency = record['latency_ms']
    assert latency['first_action'] < latency['first_reply'] < latency['total']


def test_cached_answers_publish_one_final_piece(stack):
    record = stack.ask('座って')
    assert record['source'] == 'exact'
    pieces = [d for _t, kind, d in stack.arrivals_for(record['request_id']) if kind == 'piece']
    assert pieces == [{'request_id': record['request_id'], 'seq': 0, 'text': record['reply'],
                       'final': True}]


def test_a_stop_word_aborts_the_streaming_answer_and_the_server_sees_the_disconnect(
        stack, ollama):
    rid = 'story-%s-%d' % (stack.backend, time.time() * 1000)
    stack.client.publish('tell a long story %s' % rid, rid)  # ~5 s of decoding
    wait_for(lambda: any(k == 'action' for _t, k, _d in stack.arrivals_for(rid)),
             "the story's actions")
    stopped_at = time.monotonic()
    stop = stack.ask('止まれ！')
    assert stop['source'] == 'emergency'
    record = stack.client.wait_for(rid, 20.0)
    assert record['error']['code'] == 'cancelled' and record['reply'] == ''
    assert 'Hello' in [a['name'] for a in record['actions']]  # published before the stop
    # nothing of the aborted answer after the StopMove (its record aside; DDS does not
    # order messages of different topics, so the stop's record, published after the
    # StopMove, is the mark)
    stop_seen = next(t for t, k, _d in stack.arrivals_for(stop['request_id'])
                     if k == 'response')
    assert [k for t, k, _d in stack.arrivals_for(rid)
            if t > stop_seen and k != 'response'] == []
    assert [k for _t, k, _d in stack.arrivals_for(rid)].count('action') == 1
    assert not any(d.get('final') for _t, k, d in stack.arrivals_for(rid) if k == 'piece')

    def story():
        return [e for e in ollama.requests() if e['messages'] and rid in
                e['messages'][-1]['content']][-1]

    wait_for(lambda: story()['outcome'] != 'pending', 'the server to see the story end', 5.0)
    entry = story()
    assert entry['outcome'] in ('cancelled', 'disconnected'), entry['outcome']
    seen_after_s = ollama.monotonic_of(entry['disconnect_s']) - stopped_at
    assert seen_after_s < 0.1, 'the server saw the disconnect %.0f ms after the stop word' % (
        seen_after_s * 1000)
    assert ollama.stats()['in_service'] == 0  # the slot is free
