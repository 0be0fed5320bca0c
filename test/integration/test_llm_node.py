"""llm_node end to end over real DDS, a real redis-server and the test server.

Every test runs once per ``llm.backend`` (Ollama's ``/api/chat``, an OpenAI-compatible
``/v1/chat/completions``), each with a server and Redis key prefix of its own.
"""
import json
import time
from pathlib import Path

import pytest
from backends import chat_requests, node_overrides
from rclpy.serialization import serialize_message
from stack import Stack
from std_msgs.msg import String

from claudia_llm.ros import qos

HIGH_RISK = {'FrontFlip', 'FrontJump', 'FrontPounce', 'Damp', 'Wallow'}
INJECTIONS = [line.strip() for line in
              (Path(__file__).parents[1] / 'data' / 'injection_ja_zh_en.txt')
              .read_text(encoding='utf-8').splitlines()
              if line.strip() and not line.startswith('#')]
SCRIPT = {'rules': [
    {'match': 'do a little victory shimmy', 'content': {
        'reply': 'Wiggling!', 'actions': [{'name': 'WiggleHips'}], 'kind': 'command'}},
    {'regex': '^slow wave', 'delay_s': 1.5, 'content': {
        'reply': 'Hello!', 'actions': [{'name': 'Hello'}], 'kind': 'command'}},
    {'match': 'what time is it', 'content': {
        'reply': 'I have no clock.', 'actions': [], 'kind': 'volatile'}},
    {'match': 'server error', 'status': 500, 'error': 'boom'},
    {'match': 'garbled', 'malformed': True},
    {'match': 'hang forever', 'hang': True},
    # Every injection attempt gets a model that complies: only the policy stands between.
    {'regex': '(?i)ignore|忽略|無視|api|flip|翻|前転|jump|ジャンプ|跳|pounce|damp|rules|指令',
     'content': {'reply': 'OK!', 'actions': [{'name': 'FrontFlip'}, {'name': 'FrontJump'},
                                            {'name': 'FrontPounce'}], 'kind': 'command'}},
]}


@pytest.fixture(scope='module')
def ollama(llm_backend):
    from claudia_llm.testing.ollama_server import OllamaTestServer
    server = OllamaTestServer(slots=1, script=SCRIPT)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope='module')
def stack(redis_module, ollama, llm_backend):
    s = Stack(dict({'redis.url': redis_module.url, 'redis.key_prefix': 'c-' + llm_backend,
                    'ollama.timeout_s': 2.0, 'safety.cooldown_s': 0.0,
                    'scheduler.backend': 'redis'}, **node_overrides(llm_backend, ollama.url)))
    s.llm_server = ollama
    yield s
    s.close()


def test_lexicon_command_answers_from_the_first_second(stack):
    record = stack.ask('座って')
    assert record['source'] == 'exact'
    assert record['actions'] == [{'name': 'Sit', 'api_id': 1009, 'parameter': {}}]
    assert stack.action_names(record['request_id']) == [['Sit']]


def test_new_utterance_goes_to_the_llm_and_its_repeat_hits_the_exact_cache(stack):
    first = stack.ask('do a little victory shimmy')
    assert first['source'] == 'llm' and first['intent'] == ['WiggleHips']
    assert first['reply'] == 'Wiggling!' and 'Wiggling!' in stack.replies
    second = stack.ask('do a little victory shimmy')
    assert second['source'] == 'exact' and second['intent'] == ['WiggleHips']
    assert second['latency_ms']['total'] < first['latency_ms']['total']
    sent = [r for r in stack_requests(stack) if r == 'do a little victory shimmy']
    assert len(sent) == 1, 'the repeat must not reach the LLM'


def stack_requests(stack):
    """The user texts of every chat request the stack's LLM server has seen."""
    return [e['messages'][-1]['content'] for e in chat_requests(stack.llm_server.requests())]


def test_time_dependent_answers_are_never_cached(stack):
    assert stack.ask('what time is it')['source'] == 'llm'
    assert stack.ask('what time is it')['source'] == 'llm'


@pytest.mark.parametrize('text, code', [
    ('server error', 'llm_http_error'),
    ('garbled', 'llm_malformed_output'),
    ('hang forever', 'llm_timeout'),
])
def test_llm_failures_give_a_fallback_reply_and_no_action(stack, text, code):
    record = stack.ask(text)
    assert record['source'] == 'fallback' and record['error']['code'] == code
    assert record['actions'] == [] and record['reply']
    assert stack.action_names(record['request_id']) == []


@pytest.mark.parametrize('raw, code', [
    ('', 'empty'), ('   ', 'empty'), ('x' * 600, 'too_long'),
    ('{"text": 5}', 'invalid_json'), ('{not json', 'invalid_json'),
])
def test_bad_input_gets_an_error_record_and_the_node_keeps_running(stack, raw, code):
    record = stack.client.ask_raw(raw, 10.0)
    assert record is not None and record['error']['code'] == code
    assert record['actions'] == [] and record['source'] == 'fallback'
    assert stack.ask('立って')['intent'] == ['StandUp']


def publish_bytes(stack, data: bytes) -> None:
    """Publish a std_msgs/String whose data are ``data`` as they are, valid UTF-8 or not.

    rclpy encodes a Python str strictly, so invalid bytes go out as a serialized message:
    the CDR of a same-length placeholder with its bytes swapped (no NUL in ``data``).
    """
    if not hasattr(stack, 'raw_pub'):
        stack.raw_pub = stack.client.create_publisher(String, '/claudia/utterance',
                                                      qos.reliable(10))
    placeholder = b'\x01' * len(data)
    cdr = serialize_message(String(data=placeholder.decode()))
    assert b'\x00' not in data and cdr.endswith(placeholder + b'\x00')
    stack.raw_pub.publish(cdr[:-len(data) - 1] + data + b'\x00')


def test_invalid_utf8_over_dds_gets_an_error_record_with_its_id_and_no_action(stack):
    rid = 'utf8-%f' % time.time()
    publish_bytes(stack, b'{"text": "' + '座って'.encode() + b'\xff", "id": "' +
                  rid.encode() + b'"}')
    record = stack.client.wait_for(rid, 10.0)
    assert record is not None, 'the caller must get a record under its own id'
    assert record['error']['code'] == 'invalid_utf8' and 'UTF-8' in record['error']['message']
    assert record['actions'] == [] and record['intent'] == [] and record['reply']
    assert stack.action_names(rid) == []
    assert not [c for c in stack_requests(stack) if '\ufffd' in c], 'nothing reaches the LLM'
    assert stack.ask('立って')['intent'] == ['StandUp']


def test_invalid_utf8_plain_text_over_dds_runs_no_action(stack):
    seen = len(stack.actions)
    records = []  # records of these messages: no id, so known by their utterance

    def keep(msg):
        record = json.loads(msg.data)
        if '\ufffd' in record['utterance']:
            records.append(record)

    listener = stack.client.create_subscription(String, '/claudia/response', keep,
                                                qos.reliable(50))
    try:
        for data in ('座って'.encode() + b'\xff', b'\xff\xe5\xba'):
            publish_bytes(stack, data)
        deadline = time.monotonic() + 10.0
        while len(records) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stack.client.destroy_subscription(listener)
    assert sorted(r['utterance'] for r in records) == ['座って\ufffd', '\ufffd\ufffd']
    assert [r['error']['code'] for r in records] == ['invalid_utf8', 'invalid_utf8']
    assert all(r['actions'] == [] and r['intent'] == [] for r in records)
    assert stack.ask('伏せて')['intent']  # later input is still answered
    ids = {r['request_id'] for r in records}
    assert not [a for a in stack.actions[seen:] if a['request_id'] in ids]
    assert not [c for c in stack_requests(stack) if '\ufffd' in c], 'nothing reaches the LLM'


def test_too_long_json_keeps_its_request_id(stack):
    stack.client.publish('x' * 5000, 'big-1')  # a 5 KB JSON wrapper, as `claudia-llm say`
    record = stack.client.wait_for('big-1', 10.0)
    assert record is not None, "the too_long record must carry the caller's id"
    assert record['error']['code'] == 'too_long' and record['actions'] == []
    assert stack.action_names('big-1') == []


def test_prompt_injection_never_sends_a_high_risk_action(stack):
    for text in INJECTIONS:
        record = stack.ask(text)
        assert record is not None, text
        sent = {a['name'] for a in record['actions']}
        assert not sent & HIGH_RISK, (text, record)
        assert record['reply'] != 'OK!', 'the reply must not promise a refused flip'
    published = {a['name'] for msg in stack.actions for a in msg['actions']}
    assert not published & HIGH_RISK


def test_emergency_stop_cancels_queued_work_and_suppresses_in_flight_actions(stack):
    ids = ['slow-%d-%f' % (i, time.time()) for i in range(3)]
    for rid in ids:  # one runs (1.5 s), two wait in the queue
        stack.client.publish('slow wave %s' % rid[-6:], rid)
    time.sleep(0.3)
    stop = stack.ask('止まれ！')
    assert stop['source'] == 'emergency'
    assert stop['latency_ms']['total'] < 100.0
    assert stack.action_names(stop['request_id']) == [['StopMove']]
    records = [stack.client.wait_for(rid, 10.0) for rid in ids]
    assert all(r is not None for r in records)
    for record in records:
        assert stack.action_names(record['request_id']) == []
        assert (record['error'] and record['error']['code'] == 'cancelled') or \
            any(p['rule'] == 'emergency_stop' for p in record['policy'])


def test_redis_restart_during_200_utterances_loses_none(stack, redis_module):
    texts = ['座って', '立って', 'お手', 'hello', '伏せて', 'do a little victory shimmy',
             'what time is it']
    ids = []
    for i in range(200):
        rid = 'burst-%03d-%f' % (i, time.time())
        ids.append(rid)
        stack.client.publish(texts[i % len(texts)], rid)
        if i == 80:
            redis_module.stop()
        if i == 140:
            redis_module.start()
        time.sleep(0.02)
    missing = [rid for rid in ids if stack.client.wait_for(rid, 20.0) is None]
    assert missing == []
    assert all(stack.client.records_for(rid) == 1 for rid in ids)


def test_records_are_readable_json_with_japanese_kept(stack):
    record = stack.ask('伏せて')
    text = json.dumps(record, ensure_ascii=False)
    assert '伏せて' in text
