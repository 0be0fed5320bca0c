"""llm_node's utterance intake over real DDS: QoS mismatch and sequence gaps in /diagnostics.

A best-effort publisher cannot reach the default reliable subscription: the node logs it
once (``incompatible_qos`` event) and its ``input`` status is WARN with topic and policy;
with ``qos.utterance_reliability: best_effort`` the same publisher is answered. Numbered
envelopes with a gap are counted as lost.
"""
import json
import threading
import time

import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.qos import QoSReliabilityPolicy
from stack import Stack
from std_msgs.msg import String

from claudia_llm.ros import qos


class Watcher:
    """Keeps the newest ``llm_node: input`` status and the records (on the client node)."""

    def __init__(self, stack):
        self.lock = threading.Lock()
        self.status = None
        stack.client.create_subscription(DiagnosticArray, '/diagnostics', self.callback,
                                         qos.diagnostics())

    def callback(self, msg):
        for status in msg.status:
            if status.name == 'llm_node: input':
                with self.lock:
                    self.status = status

    def wait(self, predicate, timeout_s=15.0):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                status = self.status
            if status is not None and predicate(status):
                return status
            time.sleep(0.1)
        return status


def values(status):
    return {kv.key: kv.value for kv in status.values}


def best_effort_publisher(stack):
    profile = qos.reliable(10)
    profile.reliability = QoSReliabilityPolicy.BEST_EFFORT
    return stack.client.create_publisher(String, '/claudia/utterance', profile)


@pytest.fixture
def make_stack(redis_server, ollama_server):
    stacks = []

    def build(**overrides):
        settings = {'redis.url': redis_server.url, 'ollama.host': ollama_server.url,
                    'safety.cooldown_s': 0.0, 'diagnostics.period_s': 0.2}
        settings.update(overrides)
        stacks.append(Stack(settings))
        return stacks[-1]

    yield build
    for stack in stacks:
        stack.close()


def test_best_effort_publisher_is_a_warning_with_topic_and_policy(make_stack, capfd):
    stack = make_stack()
    watcher = Watcher(stack)
    status = watcher.wait(lambda s: True)
    assert status is not None and status.level == DiagnosticStatus.OK
    publisher = best_effort_publisher(stack)
    status = watcher.wait(lambda s: s.level == DiagnosticStatus.WARN)
    assert status.level == DiagnosticStatus.WARN
    assert '/claudia/utterance' in status.message and 'RELIABILITY' in status.message
    assert values(status)['incompatible_publishers'] == '1'
    status = watcher.wait(lambda s: values(s)['incompatible_qos_events'] != '0', 5.0)
    assert values(status)['last_incompatible_policy'] == 'RELIABILITY'
    seen = len(stack.client._arrivals)
    publisher.publish(String(data='座って'))
    time.sleep(1.0)
    assert len(stack.client._arrivals) == seen, 'an incompatible publisher reached the node'
    log = capfd.readouterr().err
    assert log.count('offers incompatible QoS (policy RELIABILITY)') == 1
    stack.client.destroy_publisher(publisher)
    status = watcher.wait(lambda s: s.level == DiagnosticStatus.OK)
    assert status.level == DiagnosticStatus.OK


def test_best_effort_subscription_answers_a_best_effort_publisher(make_stack):
    stack = make_stack(**{'qos.utterance_reliability': 'best_effort'})
    watcher = Watcher(stack)
    publisher = best_effort_publisher(stack)
    deadline = time.monotonic() + 10.0
    while publisher.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    publisher.publish(String(data=json.dumps({'text': '座って', 'id': 'be-1'})))
    record = stack.client.wait_for('be-1', 10.0)
    assert record is not None and record['intent'] == ['Sit']
    status = watcher.wait(lambda s: values(s)['published'] != '0')
    assert values(status)['reliability'] == 'best_effort'
    assert status.level == DiagnosticStatus.OK


def test_sequence_gap_is_counted_and_warned(make_stack, capfd):
    stack = make_stack()
    watcher = Watcher(stack)
    for seq in (1, 2, 6):
        request_id = 'seq-%d' % seq
        stack.client._pub.publish(String(data=json.dumps(
            {'text': 'stand up', 'id': request_id, 'source': 'asr', 'seq': seq})))
        assert stack.client.wait_for(request_id, 10.0) is not None
    status = watcher.wait(lambda s: values(s)['dropped'] != '0')
    assert status.level == DiagnosticStatus.WARN
    found = values(status)
    assert found['dropped'] == '3' and found['seq_gaps'] == '3'
    assert found['received'] == '3' and found['published'] == '3'
    assert '3 utterances lost' in status.message
    assert capfd.readouterr().err.count('utterances lost before reaching this node') == 1
