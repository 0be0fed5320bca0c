"""llm_node starts and answers with no LLM server (either backend), and with no Redis, at
start-up; and it warns when another llm_node answers on the same topics."""
import time

import pytest
import rclpy
from backends import node_overrides
from rclpy.executors import SingleThreadedExecutor
from stack import Stack

from claudia_llm.ros.compat import try_shutdown
from claudia_llm.ros.llm_node import LlmNode


@pytest.fixture
def no_ollama_stack(redis_server, closed_port, llm_backend):
    s = Stack(dict({'redis.url': redis_server.url},
                   **node_overrides(llm_backend, 'http://127.0.0.1:%d' % closed_port)))
    yield s
    s.close()


def test_without_ollama_commands_work_and_the_rest_says_it_cannot_think(no_ollama_stack):
    assert no_ollama_stack.ask('おすわり')['intent'] == ['Sit']
    assert no_ollama_stack.ask('止まって')['source'] == 'emergency'
    record = no_ollama_stack.ask('tell me a story about the moon')
    assert record['source'] == 'fallback'
    assert record['error']['code'] == 'llm_unavailable'
    assert record['reply'] == "Sorry, I can't think right now."


def test_without_redis_at_start_the_node_answers_from_memory(ollama_server, closed_port,
                                                             llm_backend):
    s = Stack(dict({'redis.url': 'redis://127.0.0.1:%d/0' % closed_port,
                    'redis.connect_timeout_s': 0.2},
                   **node_overrides(llm_backend, ollama_server.url)))
    try:
        assert s.ask('立って')['intent'] == ['StandUp']
        record = s.ask('what is your favourite toy')
        assert record['source'] == 'llm' and record['error'] is None
        assert s.ask('what is your favourite toy')['source'] == 'exact'
    finally:
        s.close()


def peer_overrides(closed_port: int, prefix: str) -> dict:
    """A quick-starting llm_node (no Redis, no Ollama, no embedder) on ``prefix`` topics."""
    down = '127.0.0.1:%d' % closed_port
    overrides = {'redis.url': 'redis://%s/0' % down, 'redis.connect_timeout_s': 0.2,
                 'ollama.host': 'http://' + down, 'ollama.warmup': False,
                 'cache.semantic_enabled': False, 'scheduler.backend': 'memory'}
    overrides.update({'topics.' + t: '%s/%s' % (prefix, t)
                      for t in ('utterance', 'response', 'reply', 'action')})
    return overrides


@pytest.fixture
def ros_context():
    rclpy.init()
    nodes = []
    try:
        yield nodes
    finally:
        for node in nodes:
            node.destroy_node()
        try_shutdown()


def spin_until(nodes, done, timeout_s: float = 20.0) -> bool:
    executor = SingleThreadedExecutor()
    for node in nodes:
        executor.add_node(node)
    try:
        deadline = time.monotonic() + timeout_s
        while not done() and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
        return done()
    finally:
        executor.shutdown(timeout_sec=1.0)


def test_two_llm_nodes_on_the_same_topics_warn_once_each(ros_context, closed_port, capfd):
    overrides = peer_overrides(closed_port, '/peer_pair')
    first = LlmNode(parameter_overrides=overrides, node_name='llm_node_a')
    ros_context.append(first)
    second = LlmNode(parameter_overrides=overrides, node_name='llm_node_b')
    ros_context.append(second)
    # The start-up check (a timer) runs on its own once the nodes spin.
    assert spin_until([first, second], lambda: first.peer_checks and second.peer_checks)
    assert (first.peers_seen, second.peers_seen) == (2, 2)
    assert first.check_peers() == 2  # unchanged: no second warning
    err = capfd.readouterr().err
    warnings = [line for line in err.splitlines() if '2 nodes publish on /peer_pair/response'
                in line]
    assert len(warnings) == 2, err
    assert all('WARN' in line and 'each sends its actions' in line for line in warnings)
    assert [any(name in line for line in warnings) for name in ('llm_node_a', 'llm_node_b')] \
        == [True, True]
    ros_context.remove(second)
    second.destroy_node()
    assert spin_until([first], lambda: first.peer_count() == 1)
    assert first.check_peers() == 1
    assert 'only publisher again' in capfd.readouterr().err


def test_a_single_llm_node_does_not_warn(ros_context, closed_port, capfd):
    node = LlmNode(parameter_overrides=peer_overrides(closed_port, '/peer_solo'),
                   node_name='llm_node_solo')
    ros_context.append(node)
    assert spin_until([node], lambda: node.peer_checks)
    assert node.peers_seen == 1 and node.check_peers() == 1
    assert 'nodes publish on' not in capfd.readouterr().err


def test_an_answer_finished_after_shutdown_is_logged_not_raised(closed_port, capfd):
    from claudia_llm.core.record import ResponseRecord
    rclpy.init()
    node = LlmNode(parameter_overrides=peer_overrides(closed_port, '/late'),
                   node_name='llm_node_late')
    try:
        try_shutdown()  # what Ctrl-C does while an answer is still in flight
        node.publish_record(ResponseRecord(request_id='late-1', utterance='座って'))
        assert 'late-1'[:8] + ' not published, shutting down' in capfd.readouterr().err
    finally:
        node.destroy_node()
        try_shutdown()
