"""``claudia_llm.http``: the bridge state and the bind/token guard, without ROS or sockets."""
import asyncio
import json

import pytest

from claudia_llm.core.errors import ConfigError
from claudia_llm.http.guard import check_bind, is_loopback
from claudia_llm.http.state import BridgeState


def record(request_id='r1', source='exact', total=2.5, error=None, depth=0):
    return json.dumps({'request_id': request_id, 'source': source, 'utterance': 'x',
                       'latency_ms': {'total': total}, 'error': error, 'queue_depth': depth,
                       'actions': []})


@pytest.mark.parametrize('host, loopback', [('127.0.0.1', True), ('127.0.0.2', True),
                                            ('::1', True), ('localhost', True),
                                            ('0.0.0.0', False), ('192.168.1.5', False),
                                            ('robot.local', False)])
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


def test_beyond_loopback_needs_a_token():
    check_bind('127.0.0.1', '')
    check_bind('0.0.0.0', 'secret')
    with pytest.raises(ConfigError, match='http.token'):
        check_bind('0.0.0.0', '')


def test_records_feed_the_window_the_table_and_the_metrics():
    state = BridgeState(recent_records=2)
    for i, total in enumerate((1.0, 2.0, 3.0)):
        state.on_record(record('r%d' % i, total=total, depth=i))
    assert [r['request_id'] for r in state.recent()] == ['r1', 'r2']
    stats = state.stats()
    assert stats['latency']['exact']['samples'] == 3
    assert stats['latency']['exact']['p50_ms'] == 2.0
    assert stats['latency']['llm']['p50_ms'] is None
    assert stats['queue_depth'] == 2 and stats['cache_hit_rate'] == 1.0
    assert b'claudia_llm_responses_total{error_code="none",source="exact"} 3.0' in (
        state.metrics_text())


def test_a_malformed_record_is_counted_not_kept():
    state = BridgeState()
    state.on_record('not json')
    state.on_record('{"source": "exact"}')
    assert state.ignored_messages == 2 and state.recent() == []


def test_diagnostics_keep_the_dependency_statuses():
    state = BridgeState()
    assert state.health()['ollama'] is None
    state.on_diagnostics([
        {'name': 'diagnostics_node: ollama', 'level': 'ERROR', 'message': 'refused',
         'values': {'reachable': 'false', 'target': 'http://orin:11434'}},
        {'name': 'diagnostics_node: latency exact', 'level': 'OK', 'message': '', 'values': {}}])
    health = state.health()
    assert health['ollama']['reachable'] is False and health['ollama']['level'] == 'ERROR'
    assert health['redis'] is None and health['diagnostics_age_s'] >= 0
    assert b'claudia_llm_dependency_up{dependency="ollama"} 0.0' in state.metrics_text()


def test_a_waiter_gets_its_record_and_subscribers_get_events():
    async def scenario():
        state = BridgeState()
        answer = state.expect('r7')
        with pytest.raises(KeyError):
            state.expect('r7')
        sub = state.subscribe()
        state.on_action(json.dumps({'request_id': 'r7', 'actions': []}))
        state.on_record(record('r7'))
        got = await asyncio.wait_for(answer, 1.0)
        events = [await asyncio.wait_for(sub.queue.get(), 1.0) for _ in range(2)]
        state.unsubscribe(sub)
        return got, events, state.subscriber_count()

    got, events, left = asyncio.run(scenario())
    assert got['request_id'] == 'r7'
    assert [kind for kind, _ in events] == ['action', 'record']
    assert left == 0


def test_a_subscriber_that_falls_behind_is_marked_overflowed():
    async def scenario():
        state = BridgeState(event_queue_size=1)
        sub = state.subscribe()
        state.emit('stats', {})
        state.emit('stats', {})
        await asyncio.sleep(0)
        return sub.overflowed

    assert asyncio.run(scenario()) is True


def test_tick_adds_a_chart_point_to_the_bounded_history():
    state = BridgeState(history_s=2.0, stats_period_s=1.0)
    for _ in range(3):
        state.tick()
    assert len(state.history()) == 2
