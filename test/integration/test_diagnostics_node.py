"""diagnostics_node over real DDS: records in on a topic, DiagnosticArray out on /diagnostics.

Runs with ROS_PYTHON_CHECK_FIELDS=1 (set by conftest), so a field of the wrong type
(an int level, a float value) fails here.
"""
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np
import pytest
import rclpy
from backends import base_url, node_overrides
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import String

from claudia_llm.core.record import SOURCES, ResponseRecord
from claudia_llm.ros import qos
from claudia_llm.ros.diagnostics_node import HARDWARE_ID, DiagnosticsNode
from claudia_llm.testing.ollama_server import OllamaTestServer

pytestmark = pytest.mark.ros
LEVELS = {DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR,
          DiagnosticStatus.STALE}


class Harness(Node):
    """Publishes response records and keeps every /diagnostics array it receives."""

    def __init__(self, topic):
        super().__init__('diagnostics_test_harness')
        self.records = self.create_publisher(String, topic, qos.response())
        self.arrays = []
        self._lock = threading.Lock()
        self.create_subscription(DiagnosticArray, '/diagnostics', self._keep, qos.diagnostics())

    def _keep(self, msg):
        with self._lock:
            self.arrays.append(msg)

    def statuses(self, node_name):
        """``{name: DiagnosticStatus}`` of the newest array from ``node_name``, or {}."""
        with self._lock:
            arrays = list(self.arrays)
        for array in reversed(arrays):
            found = {s.name: s for s in array.status if s.name.startswith(node_name + ': ')}
            if found:
                return found
        return {}


@pytest.fixture
def ros():
    """An executor spinning in a thread on the default context; yields ``add(node)``."""
    rclpy.init()
    executor = SingleThreadedExecutor()
    nodes = []
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()

    def add(node):
        nodes.append(node)
        executor.add_node(node)
        return node

    yield add
    executor.shutdown(timeout_sec=5.0)
    for node in nodes:
        node.destroy_node()
    rclpy.try_shutdown()
    thread.join(5.0)


def wait_for(predicate, what, timeout_s=30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail('timed out waiting for %s; last: %r' % (what, predicate.__dict__.get('last')))


def values(status):
    return {kv.key: kv.value for kv in status.values}


def summary_samples(harness, node_name):
    status = harness.statuses(node_name).get(node_name + ': summary')
    return None if status is None else values(status)['samples']


@pytest.fixture
def node_params(unused_tcp_port_factory):
    """``make(topic, **extra)``: parameters of a fast node; Ollama and Redis on closed ports."""
    def make(topic, **extra):
        params = {'topics.response': topic, 'diagnostics.period_s': 0.2,
                  'diagnostics.health_timeout_s': 0.5,
                  'ollama.host': 'http://127.0.0.1:%d' % unused_tcp_port_factory(),
                  'redis.url': 'redis://127.0.0.1:%d/0' % unused_tcp_port_factory()}
        params.update(extra)
        return params
    return make


def publish_records(harness, node, plan, chunk=20):
    """Publish ``[(source, total_ms, error_code)]`` as real ResponseRecord JSON.

    In chunks, waiting until ``node`` has counted each: /claudia/response keeps the last
    50 messages (DESIGN.md QoS), so a faster burst would overwrite unread records.
    """
    wait_for(lambda: harness.records.get_subscription_count() > 0, 'the node to subscribe')
    before = node.window.summary().total
    for start in range(0, len(plan), chunk):
        for i, (source, total_ms, code) in enumerate(plan[start:start + chunk], start):
            record = ResponseRecord(request_id='req-%d' % i, utterance='テスト %d' % i,
                                    source=source, latency_ms={'total': total_ms})
            if code:
                record.set_error(code, 'crafted by the test')
            harness.records.publish(String(data=record.to_json()))
        sent = before + min(start + chunk, len(plan))
        wait_for(lambda n=sent: node.window.summary().total >= n, 'records to arrive')


def test_fields_are_checked_in_this_run():
    assert os.environ.get('ROS_PYTHON_CHECK_FIELDS') == '1'
    with pytest.raises(AssertionError):
        DiagnosticStatus(level=0)


def test_latency_statuses_warn_and_unreachable_dependencies(ros, node_params):
    topic = '/diag_test/response_a'
    rng = np.random.default_rng(3)
    llm = np.round(rng.uniform(700.0, 3400.0, 40), 3)
    exact = np.round(rng.uniform(0.5, 6.0, 25), 3)
    warn_ms = float(np.percentile(llm, 80))  # between llm's p50 and p95: llm warns
    plan = [('llm', v, 'llm_timeout' if i % 10 == 0 else None) for i, v in enumerate(llm)]
    plan += [('exact', v, None) for v in exact]
    node = ros(DiagnosticsNode(node_params(topic, **{'diagnostics.p95_warn_ms': warn_ms})))
    harness = ros(Harness(topic))
    publish_records(harness, node, plan)
    harness.records.publish(String(data='not a record'))
    harness.records.publish(String(data='{"source": "llm"}'))

    def complete():
        st = harness.statuses('diagnostics_node')
        complete.last = {k: (v.level, values(v)) for k, v in st.items()}
        if not st or values(st['diagnostics_node: summary'])['samples'] != str(len(plan)):
            return None
        if values(st['diagnostics_node: summary'])['ignored_messages'] != '2':
            return None
        if values(st['diagnostics_node: redis'])['reachable'] == 'unknown':
            return None
        if values(st['diagnostics_node: ollama'])['reachable'] == 'unknown':
            return None
        return st
    st = wait_for(complete, 'all records counted and both probes run')

    expected_names = {'diagnostics_node: latency ' + s for s in SOURCES} | {
        'diagnostics_node: ollama', 'diagnostics_node: redis', 'diagnostics_node: summary'}
    assert set(st) == expected_names
    assert node.get_name() == 'diagnostics_node'
    for status in st.values():
        assert status.level in LEVELS and status.hardware_id == HARDWARE_ID
        assert all(isinstance(kv.value, str) for kv in status.values)

    for source, data in (('llm', llm), ('exact', exact)):
        got = values(st['diagnostics_node: latency ' + source])
        p50, p95, p99 = np.percentile(data, [50, 95, 99])
        assert got['p50_ms'] == '%.1f' % p50
        assert got['p95_ms'] == '%.1f' % p95
        assert got['p99_ms'] == '%.1f' % p99
        assert got['max_ms'] == '%.1f' % data.max()
        assert got['samples'] == str(len(data))
        assert float(got['window_s']) == node.settings['diagnostics.window_s']
    assert st['diagnostics_node: latency llm'].level == DiagnosticStatus.WARN
    assert st['diagnostics_node: latency exact'].level == DiagnosticStatus.OK
    assert st['diagnostics_node: latency semantic'].level == DiagnosticStatus.OK

    for dependency in ('ollama', 'redis'):
        status = st['diagnostics_node: ' + dependency]
        assert status.level == DiagnosticStatus.ERROR, status.message
        assert values(status)['reachable'] == 'false'
        assert 'ConnectionError' in status.message

    summary = values(st['diagnostics_node: summary'])
    errors = sum(1 for _, _, code in plan if code)
    assert summary['errors'] == str(errors)
    assert summary['error_rate'] == '%.4f' % (errors / len(plan))
    assert summary['count_llm'] == str(len(llm))
    assert summary['hit_rate_exact'] == '%.4f' % (len(exact) / len(plan))
    assert summary['cache_hit_rate'] == '%.4f' % (len(exact) / len(plan))
    assert summary['errors_llm_timeout'] == str(errors)
    assert st['diagnostics_node: summary'].level == DiagnosticStatus.ERROR


def test_reachable_dependencies_are_ok_and_redis_outage_is_seen(ros, node_params, redis_server,
                                                                llm_backend):
    topic = '/diag_test/response_b'
    with OllamaTestServer() as ollama_server:
        ros(DiagnosticsNode(node_params(topic, **dict(
            {'redis.url': redis_server.url}, **node_overrides(llm_backend, ollama_server.url))),
            node_name='diag_deps'))
        harness = ros(Harness(topic))

        def level_of(dependency, level):
            def check():
                status = harness.statuses('diag_deps').get('diag_deps: ' + dependency)
                return status if status is not None and status.level == level else None
            return check
        redis_ok = wait_for(level_of('redis', DiagnosticStatus.OK), 'redis OK')
        assert values(redis_ok)['target'] == redis_server.url
        ollama_ok = wait_for(level_of('ollama', DiagnosticStatus.OK), 'ollama OK')
        assert values(ollama_ok)['reachable'] == 'true'
        assert values(ollama_ok)['target'] == base_url(llm_backend, ollama_server.url)
        assert ('served: qwen2.5:7b' in ollama_ok.message) is (llm_backend == 'openai')
        summary = wait_for(level_of('summary', DiagnosticStatus.OK), 'summary OK')
        assert values(summary)['samples'] == '0'
        redis_server.stop()
        down = wait_for(level_of('redis', DiagnosticStatus.ERROR), 'redis ERROR after stop')
        assert values(down)['reachable'] == 'false'
        redis_server.start()
        wait_for(level_of('redis', DiagnosticStatus.OK), 'redis OK after restart')


def test_p95_threshold_changes_live_other_parameters_are_refused(ros, node_params):
    topic = '/diag_test/response_c'
    node = ros(DiagnosticsNode(node_params(topic, **{'diagnostics.p95_warn_ms': 100.0}),
                               node_name='diag_live'))
    harness = ros(Harness(topic))
    publish_records(harness, node, [('llm', 400.0 + i, None) for i in range(5)])

    def llm_level(level):
        def check():
            status = harness.statuses('diag_live').get('diag_live: latency llm')
            return status if status is not None and status.level == level and \
                values(status)['samples'] == '5' else None
        return check
    wait_for(llm_level(DiagnosticStatus.WARN), 'llm WARN at 100 ms')
    ok, refused = node.set_parameters([
        Parameter('diagnostics.p95_warn_ms', Parameter.Type.DOUBLE, 1000.0),
        Parameter('diagnostics.window_s', Parameter.Type.DOUBLE, 5.0)])
    assert ok.successful
    assert not refused.successful and 'start-up' in refused.reason
    status = wait_for(llm_level(DiagnosticStatus.OK), 'llm OK at 1000 ms')
    assert values(status)['p95_warn_ms'] == '1000.0'
    assert node.get_parameter('diagnostics.window_s').value == node.window.window_s


def test_prometheus_endpoint(ros, node_params, unused_tcp_port_factory):
    topic = '/diag_test/response_d'
    port = unused_tcp_port_factory()
    node = ros(DiagnosticsNode(node_params(topic, **{'diagnostics.prometheus_port': port}),
                               node_name='diag_prom'))
    harness = ros(Harness(topic))
    plan = [('exact', 2.0, None), ('exact', 3.0, None), ('fallback', 8000.0,
                                                        'llm_unavailable')]
    publish_records(harness, node, plan)
    wait_for(lambda: summary_samples(harness, 'diag_prom') == str(len(plan)), 'records counted')

    def scrape():
        with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % port, timeout=5) as reply:
            text = reply.read().decode()
        needed = 'claudia_llm_dependency_up{dependency="redis"} 0.0'
        return text if needed in text else None
    text = wait_for(scrape, 'metrics with the redis probe result')
    assert 'claudia_llm_responses_total{error_code="none",source="exact"} 2.0' in text
    assert ('claudia_llm_responses_total{error_code="llm_unavailable",source="fallback"} 1.0'
            in text)
    assert 'claudia_llm_response_latency_seconds_count{source="exact"} 2.0' in text


def test_executable_publishes_and_stops_cleanly_on_sigint(ros, unused_tcp_port_factory):
    harness = ros(Harness('/diag_test/response_e'))
    args = ['--ros-args', '-r', '__node:=diag_exe', '-p', 'diagnostics.period_s:=0.2',
            '-p', 'topics.response:=/diag_test/response_e',
            '-p', 'ollama.host:=http://127.0.0.1:%d' % unused_tcp_port_factory(),
            '-p', 'redis.url:=redis://127.0.0.1:%d/0' % unused_tcp_port_factory()]
    process = subprocess.Popen([sys.executable, '-m', 'claudia_llm.ros.diagnostics_node']
                               + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        statuses = wait_for(lambda: harness.statuses('diag_exe'), 'the executable to publish')
        assert 'diag_exe: summary' in statuses
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr.decode(errors='replace')
    assert b'Traceback' not in stderr
