"""The executor end to end over real DDS: llm_node -> /api/sport/request -> go2_simulator.

llm_node (with ``robot.publish_sport_request``), the simulator node and a listener run as
separate nodes, each on its own executor (as ``claudia-llm run`` spins them); every Request
crosses DDS. Durations are measured on the simulator's own clock (``Go2Sim.events``: when
each Request arrived), with the tolerance the issue gives (±0.2 s); the test machine's
scheduling only shows up within that tolerance. Once per ``llm.backend`` (the LLM's
action lists come through either protocol).
"""
import json
import threading
import time

import pytest
import rclpy
from backends import node_overrides
from std_msgs.msg import String

from claudia_llm.core.record import Action
from claudia_llm.core.safety.robot_state import RobotState
from claudia_llm.ros import qos
from claudia_llm.ros.client import UtteranceClient
from claudia_llm.ros.compat import try_shutdown
from claudia_llm.ros.go2_simulator import Go2Simulator
from claudia_llm.ros.llm_node import LlmNode
from claudia_llm.ros.spinning import NodeThreads
from claudia_llm.ros.unitree_bridge import UnitreeBridge

pytestmark = pytest.mark.ros

WAIT_S = 20.0
PERIOD_S = 0.1  # execution.resend_hz 10
# the simulator ends a walk not resent for this long; 1 s, not 0.5 s: a loaded CI machine
# can hold a thread for ~0.5 s, and a 3 s walk still has to be resent to outlive 1 s
MOVE_TIMEOUT_S = 1.0
SCRIPT = {'rules': [
    {'match': 'take a 3 second walk', 'content': {
        'reply': 'Walking.', 'kind': 'command',
        'actions': [{'name': 'Move', 'parameter': {'x': 0.3, 'duration_s': 3}}]}},
    {'match': 'take a 5 second walk', 'content': {
        'reply': 'Walking.', 'kind': 'command',
        'actions': [{'name': 'Move', 'parameter': {'x': 0.3, 'duration_s': 5}}]}},
    {'match': 'stand up, wave, then sit', 'content': {
        'reply': 'OK.', 'kind': 'command',
        'actions': [{'name': 'StandUp'}, {'name': 'Hello'}, {'name': 'Sit'}]}},
    {'match': 'do three tricks', 'content': {
        'reply': 'OK.', 'kind': 'command',
        'actions': [{'name': 'Hello'}, {'name': 'Stretch'}, {'name': 'WiggleHips'}]}},
]}


class ExecStack:
    """llm_node + go2_simulator + client + a listener of /claudia/execution."""

    def __init__(self, redis_url, ollama_url, sim_overrides, backend='ollama'):
        rclpy.init()
        self.sim_node = Go2Simulator(parameter_overrides=dict(
            {'sim.transition_s': 0.8, 'sim.trick_s': 1.0, 'sim.move_timeout_s': MOVE_TIMEOUT_S},
            **sim_overrides))
        self.sim = self.sim_node.sim
        self.node = LlmNode(parameter_overrides=dict({
            'redis.url': redis_url, 'redis.key_prefix': 'exec-' + backend,
            'ollama.warmup': False, 'scheduler.backend': 'memory',
            'cache.semantic_enabled': False, 'safety.cooldown_s': 0.0,
            'robot.publish_sport_request': True}, **node_overrides(backend, ollama_url)))
        self.client = UtteranceClient()
        self.events = []
        self._lock = threading.Lock()
        self.client.create_subscription(String, '/claudia/execution', self._event,
                                        qos.reliable(50))
        # one executor per node, as `claudia-llm run` spins them (ros/spinning.py): a shared
        # MultiThreadedExecutor adds 100s of ms on a loaded machine, which the walk timings see
        self.spinning = NodeThreads([self.sim_node, self.node, self.client], 'exec-test')
        assert self.client.wait_for_node(10.0), 'llm_node never subscribed'
        assert wait(lambda: self.node.unitree._publisher.get_subscription_count() >= 1)
        assert wait(lambda: self.node.engine.robot_state.sport_mode is not None), 'no state'

    def _event(self, msg):
        with self._lock:
            self.events.append(json.loads(msg.data))

    def states(self, request_id):
        with self._lock:
            return [(e['action'], e['state']) for e in self.events
                    if e['request_id'] == request_id]

    def finished(self, request_id, count):
        """True once ``count`` actions of ``request_id`` reached a final state."""
        return len([s for _, s in self.states(request_id) if s != 'started']) >= count

    def requests(self, name=None):
        return [e for e in list(self.sim.events) if e['kind'] == 'request'
                and (name is None or e['name'] == name)]

    def close(self):
        self.spinning.shutdown(5.0)
        for node in (self.client, self.node, self.sim_node):
            node.destroy_node()
        try_shutdown()


def wait(condition, timeout_s=WAIT_S):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())


@pytest.fixture(scope='module')
def ollama():
    from claudia_llm.testing.ollama_server import OllamaTestServer
    server = OllamaTestServer(slots=1, script=SCRIPT)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_stack(redis_module, ollama, unitree_msgs, llm_backend):
    stacks = []

    def make(**sim_overrides):
        stacks.append(ExecStack(redis_module.url, ollama.url, sim_overrides, llm_backend))
        return stacks[-1]
    yield make
    for stack in stacks:
        stack.close()


def test_a_three_action_sequence_completes_in_order(make_stack):
    stack = make_stack(**{'sim.posture_mode': 5})  # lying
    record = stack.client.ask('stand up, wave, then sit', WAIT_S)
    assert [a['name'] for a in record['actions']] == ['StandUp', 'Hello', 'Sit']
    assert record['execution']['state'] == 'started'
    rid = record['request_id']
    assert wait(lambda: stack.finished(rid, 3))
    assert stack.states(rid) == [('StandUp', 'started'), ('StandUp', 'done'),
                                 ('Hello', 'started'), ('Hello', 'done'),
                                 ('Sit', 'started'), ('Sit', 'done')]
    sent = [(e['name'], e['outcome']) for e in stack.requests()]
    assert sent == [('StandUp', 'accepted'), ('Hello', 'accepted'), ('Sit', 'accepted')]
    assert wait(lambda: stack.sim.tick(time.monotonic()).mode == 10)  # sitting


def test_walk_forward_for_3_s_walks_3_s_and_stops(make_stack):
    stack = make_stack(**{'sim.posture_mode': 1})
    record = stack.client.ask('take a 3 second walk', WAIT_S)
    assert record['actions'][0]['parameter']['duration_s'] == 3.0
    assert wait(lambda: stack.sim.walks())
    walk = stack.sim.walks()[0]
    assert walk['ended_by'] == 'StopMove'
    assert abs(walk['duration_s'] - 3.0) <= 0.2, walk
    # A walk outlives the simulator's Move timeout for 3 s only if it was resent at least
    # that often: ended_by 'StopMove' (not 'timeout') proves the gaps; the count (30 at
    # 10 Hz) sinks with the machine's load, so it is only checked to be a resend.
    assert walk['refreshes'] >= 3.0 / MOVE_TIMEOUT_S, walk
    assert wait(lambda: stack.finished(record['request_id'], 1))
    assert stack.states(record['request_id'])[-1] == ('Move', 'done')


def test_a_stop_word_during_a_walk_stops_it_within_one_resend_period(make_stack):
    stack = make_stack(**{'sim.posture_mode': 1})
    walk_record = stack.client.ask('take a 5 second walk', WAIT_S)
    assert wait(lambda: len(stack.requests('Move')) >= 5)
    stop = stack.client.ask('止まって', WAIT_S)
    assert stop['source'] == 'emergency' and stop['execution']['state'] == 'stopped'
    assert stop['execution']['preempted'] == [walk_record['request_id']]
    assert wait(lambda: stack.sim.walks())
    time.sleep(3 * PERIOD_S)  # anything the pre-empted walk would still send arrives now
    walk, requests = stack.sim.walks()[0], stack.requests()
    stop_at = [i for i, e in enumerate(requests) if e['name'] == 'StopMove'][0]
    assert walk['ended_by'] == 'StopMove' and walk['duration_s'] < 4.5
    last_move = requests[stop_at - 1]
    assert last_move['name'] == 'Move'
    assert requests[stop_at]['t'] - last_move['t'] <= PERIOD_S + 0.1
    assert [e['name'] for e in requests[stop_at + 1:]] == []  # nothing after the StopMove
    assert stack.states(walk_record['request_id']) == [('Move', 'started'),
                                                       ('Move', 'preempted')]


def test_no_action_of_a_preempted_sequence_follows_the_stopmove(make_stack):
    stack = make_stack(**{'sim.posture_mode': 1})
    tricks = stack.client.ask('do three tricks', WAIT_S)
    assert wait(lambda: stack.requests('Hello'))
    stack.client.ask('ストップ', WAIT_S)
    assert wait(lambda: stack.finished(tricks['request_id'], 3))
    time.sleep(1.5)  # longer than a trick: a paced sender would have sent the next one
    names = [e['name'] for e in stack.requests()]
    assert names == ['Hello', 'StopMove']
    assert stack.states(tricks['request_id']) == [
        ('Hello', 'started'), ('Hello', 'preempted'), ('Stretch', 'preempted'),
        ('WiggleHips', 'preempted')]


def test_an_action_during_a_transition_is_not_lost(make_stack, unitree_msgs):
    stack = make_stack(**{'sim.posture_mode': 5})
    # Unpaced, as the node sent them before: Hello arrives during StandUp and is lost.
    raw = UnitreeBridge(stack.client, RobotState('lying'), publish_requests=True,
                        sport_state_topic='', low_state_topic='')
    assert wait(lambda: raw._publisher.get_subscription_count() >= 1)
    raw.publish([Action('StandUp', 1004), Action('Hello', 1016)])
    assert wait(lambda: len(stack.requests()) >= 2)
    assert [(e['name'], e['outcome']) for e in stack.requests()][:2] == [
        ('StandUp', 'accepted'), ('Hello', 'ignored')]
    assert wait(lambda: stack.node.engine.robot_state.sport_mode == 1)  # StandUp over
    raw.publish([Action('StandDown', 1005)])
    assert wait(lambda: stack.node.engine.robot_state.sport_mode == 5)
    count = len(stack.requests())
    # Through the executor: a second utterance arrives while StandUp is in its transition.
    first = stack.client.ask('立って', WAIT_S)
    second = stack.client.ask('挨拶して', WAIT_S)
    assert second['execution']['state'] == 'queued'
    # (the policy may put a second StandUp before Hello: the state still said lying; so wait
    # for every action of the second request, not just the first)
    assert wait(lambda: stack.finished(second['request_id'], len(second['actions'])))
    paced = [(e['name'], e['outcome']) for e in stack.requests()[count:]]
    assert paced[0] == ('StandUp', 'accepted') and paced[-1] == ('Hello', 'accepted')
    assert {outcome for _, outcome in paced} == {'accepted'}
    assert stack.states(first['request_id']) == [('StandUp', 'started'), ('StandUp', 'done')]
    assert stack.states(second['request_id'])[-2:] == [('Hello', 'started'), ('Hello', 'done')]


def test_a_failing_response_is_reported(make_stack):
    stack = make_stack(**{'sim.posture_mode': 1, 'sim.fail_api_ids': '1036'})
    record = stack.client.ask('ハート', WAIT_S)
    assert [a['name'] for a in record['actions']] == ['Heart']
    assert wait(lambda: stack.finished(record['request_id'], 1))
    assert stack.states(record['request_id']) == [('Heart', 'started'), ('Heart', 'failed')]
    failed = [e for e in stack.events if e['state'] == 'failed'][0]
    assert failed['code'] == 3203


def test_a_distance_phrasing_walks_its_distance_without_the_llm(make_stack, ollama):
    """「三歩前へ」: 3 steps of 0.2 m at 0.3 m/s = a 2 s walk, from the exact tier's rule."""
    stack = make_stack(**{'sim.posture_mode': 1})
    asked = ollama.stats()['requests']
    record = stack.client.ask('三歩前へ', WAIT_S)
    assert record['source'] == 'exact' and record['error'] is None
    [move] = record['actions']
    assert move['name'] == 'Move' and move['parameter']['x'] == 0.3
    assert move['parameter']['duration_s'] == 2.0
    assert wait(lambda: stack.sim.walks())
    walk = stack.sim.walks()[0]
    assert walk['ended_by'] == 'StopMove' and abs(walk['duration_s'] - 2.0) <= 0.2, walk
    assert ollama.stats()['requests'] == asked  # no LLM call for it
