"""http_bridge over real HTTP against real nodes: llm_node, diagnostics_node, Redis, the
Ollama-protocol test server, all over real DDS (issue 13, item 3)."""
import json
import threading
import time

import httpx
import pytest
import rclpy
from http_stack import HttpStack
from rclpy.node import Node
from std_msgs.msg import String

from claudia_llm.core.errors import ConfigError
from claudia_llm.ros.http_bridge import HttpBridge

pytestmark = pytest.mark.ros


@pytest.fixture
def stack(redis_server, ollama_server):
    s = HttpStack(redis_server.url, ollama_server.url)
    try:
        s.wait_until_bridged()
        yield s
    finally:
        s.close()


def test_a_command_returns_its_record_with_the_action(stack):
    reply = stack.client.post('/v1/utterances', content='{"text":"座って"}'.encode())
    assert reply.status_code == 200, reply.text
    record = reply.json()
    assert [a['name'] for a in record['actions']] == ['Sit'], record
    assert record['utterance'] == '座って'
    assert record['error'] is None


def test_the_callers_id_and_priority_travel_to_the_node(stack):
    record = stack.say('stand up', id='caller-7', priority='high').json()
    assert record['request_id'] == 'caller-7'
    assert record['priority'] == 'high'


def test_bad_input_is_422_with_a_message_and_the_node_keeps_answering(stack):
    for body, needle in (('{"text": 5}', 'text'), ('not json', 'JSON'), ('[]', 'body'),
                         ('{"text": "  "}', 'empty'),
                         ('{"text": "sit", "priority": "urgent"}', 'priority')):
        reply = stack.client.post('/v1/utterances', content=body)
        assert reply.status_code == 422, (body, reply.text)
        assert needle in reply.json()['detail'], (body, reply.json())
    assert stack.say('座って').json()['actions'][0]['name'] == 'Sit'


def test_input_above_the_limits_is_413(stack):
    reply = stack.say('あ' * 501)
    assert reply.status_code == 413
    assert 'limit 500' in reply.json()['detail']
    huge = stack.client.post('/v1/utterances', content=b'{"text": "' + b'a' * 40000 + b'"}')
    assert huge.status_code == 413
    assert stack.say('座って').status_code == 200


def test_events_stream_the_action_and_the_record(stack):
    seen = []
    opened = threading.Event()

    def follow():
        with httpx.stream('GET', stack.url + '/v1/events', timeout=10.0) as stream:
            opened.set()
            kind = None
            for line in stream.iter_lines():
                if line.startswith('event: '):
                    kind = line[7:]
                elif line.startswith('data: ') and kind in ('action', 'record'):
                    seen.append((kind, json.loads(line[6:])))
                    if {k for k, d in seen if d['request_id'] == 'sse-1'} == {'action', 'record'}:
                        return

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    assert opened.wait(10.0)
    time.sleep(0.2)  # the subscription is registered once the first frame is sent
    record = stack.say('座って', id='sse-1').json()
    reader.join(10.0)
    mine = {kind: data for kind, data in seen if data['request_id'] == 'sse-1'}
    assert set(mine) == {'action', 'record'}  # two topics: their order may differ
    assert mine['record'] == record
    assert [a['name'] for a in mine['action']['actions']] == ['Sit']


def test_healthz_reports_the_node_and_both_dependencies(stack):
    deadline = time.monotonic() + 10.0
    while True:
        health = stack.client.get('/healthz')
        body = health.json()
        if body['ollama'] and body['redis'] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert health.status_code == 200
    assert body['llm_node'] is True
    assert body['ollama']['reachable'] is True and body['ollama']['level'] == 'OK'
    assert body['redis']['reachable'] is True and body['redis']['level'] == 'OK'


def test_metrics_are_the_exporters_figures(stack):
    stack.say('座って')
    text = stack.client.get('/metrics').text
    assert 'claudia_llm_responses_total{error_code="none",source="exact"} 1.0' in text
    assert 'claudia_llm_response_latency_seconds_bucket{le="0.005",source="exact"}' in text
    assert 'claudia_llm_latency_window_ms{quantile="0.5",source="exact"}' in text


def test_docs_load_their_assets_from_this_server(stack):
    page = stack.client.get('/docs')
    assert page.status_code == 200
    assert 'cdn' not in page.text.lower()
    for asset in ('/static/swagger/swagger-ui-bundle.js', '/static/swagger/swagger-ui.css'):
        assert asset in page.text
        assert stack.client.get(asset).status_code == 200
    schema = stack.client.get('/openapi.json').json()
    assert 'text' in schema['paths']['/v1/utterances']['post']['requestBody']['content'][
        'application/json']['schema']['properties']


def test_no_record_in_time_is_504_with_the_request_id(redis_server, ollama_server):
    """A subscriber that never answers stands in for a hung node."""
    stack = HttpStack(redis_server.url, ollama_server.url, bridge={
        'topics.utterance': '/claudia_test/silent', 'http.request_timeout_s': 0.5})
    silent = Node('silent_listener')
    silent.create_subscription(String, '/claudia_test/silent', lambda m: None, 10)
    stack.spinning.add(silent)
    try:
        stack.wait_until_bridged()
        reply = stack.say('座って', id='late-1')
        assert reply.status_code == 504
        assert reply.json()['request_id'] == 'late-1'
        assert stack.say('座って', id='late-2').json()['request_id'] == 'late-2'
    finally:
        stack.close()
        silent.destroy_node()


def test_a_token_is_required_once_set(redis_server, ollama_server):
    stack = HttpStack(redis_server.url, ollama_server.url, bridge={'http.token': 's3cret'})
    try:
        stack.wait_until_bridged()
        assert stack.client.get('/healthz').status_code == 401
        assert stack.say('座って').status_code == 401
        auth = {'Authorization': 'Bearer s3cret'}
        assert stack.client.get('/healthz', headers=auth).status_code == 200
        assert stack.client.get('/v1/stats?access_token=s3cret').status_code == 200
        wrong = {'Authorization': 'Bearer s3cre'}
        assert stack.client.get('/metrics', headers=wrong).status_code == 401
    finally:
        stack.close()


def test_beyond_loopback_without_a_token_the_node_refuses_to_start():
    rclpy.init()
    try:
        with pytest.raises(ConfigError, match='http.token'):
            HttpBridge(parameter_overrides={'http.host': '0.0.0.0'})
    finally:
        rclpy.try_shutdown() if hasattr(rclpy, 'try_shutdown') else rclpy.shutdown()
