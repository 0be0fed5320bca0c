"""ros.unitree_bridge over real DDS, with the test copies of unitree_api / unitree_go.

The session fixture ``unitree_msgs`` (conftest) builds the message packages into the venv
(``scripts/build_unitree_test_msgs.sh``); a failed build fails these tests, it does not skip
them. Another node receives the Requests; published SportModeState / LowState messages must
change the shared RobotState.
"""
import json
import sys
import time

import pytest
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

from claudia_llm.core.record import Action
from claudia_llm.core.safety.actions import ActionRegistry
from claudia_llm.core.safety.policy import SafetyPolicy
from claudia_llm.core.safety.robot_state import RobotState
from claudia_llm.ros import qos
from claudia_llm.ros.unitree_bridge import UnitreeBridge, sport_parameter

pytestmark = pytest.mark.ros

REGISTRY = ActionRegistry.load()
WAIT_S = 15.0


class Ros:
    """Nodes on a private context, spun by one executor in the test's thread."""

    def __init__(self):
        self.context = Context()
        rclpy.init(args=['test'], context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.nodes = []

    def node(self, name):
        node = Node(name, context=self.context)
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def spin_until(self, condition, timeout_s=WAIT_S):
        """Spin until ``condition()`` is true; returns its last value."""
        deadline = time.monotonic() + timeout_s
        while not condition() and time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)
        return condition()

    def close(self):
        for node in self.nodes:
            self.executor.remove_node(node)
            node.destroy_node()
        self.executor.shutdown()
        rclpy.try_shutdown(context=self.context)


@pytest.fixture
def ros():
    env = Ros()
    yield env
    env.close()


@pytest.fixture
def topics(request):
    base = '/t%d_%s' % (id(request) % 100000, request.node.name.replace('[', '_')[:30])
    base = ''.join(c if c.isalnum() or c in '/_' else '_' for c in base)
    return {'request': base + '/api/sport/request', 'sport': base + '/sportmodestate',
            'low': base + '/lowstate'}


def make_bridge(ros, topics, state, publish=True):
    node = ros.node('llm_node')
    return UnitreeBridge(node, state, publish_requests=publish,
                         request_topic=topics['request'], sport_state_topic=topics['sport'],
                         low_state_topic=topics['low'])


def test_requests_reach_another_node_with_ids_and_parameters(ros, topics, unitree_msgs):
    request_type = unitree_msgs[0]
    bridge = make_bridge(ros, topics, RobotState('lying'))
    received = []
    listener = ros.node('sport_service')
    listener.create_subscription(request_type, topics['request'], received.append,
                                 qos.reliable(10))
    assert ros.spin_until(lambda: bridge._publisher.get_subscription_count() >= 1)
    # What the policy lets through for "stand up, walk forward turning left, pose, wave".
    policy = SafetyPolicy(REGISTRY)
    intent = [Action('Move', 1008, {'x': 0.3, 'z': -0.5}), Action('Pose', 1028, {'flag': 0}),
              Action('Hello', 1016)]
    actions = policy.check(intent, 'llm', RobotState('lying')).actions
    assert [a.name for a in actions] == ['StandUp', 'Move', 'Pose', 'Hello']
    assert bridge.publish(actions) == 4
    assert ros.spin_until(lambda: len(received) >= 4)
    assert [m.header.identity.api_id for m in received] == [1004, 1008, 1028, 1016]
    assert received[0].parameter == ''
    assert json.loads(received[1].parameter) == {'x': 0.3, 'y': 0.0, 'z': -0.5}
    assert json.loads(received[2].parameter) == {'data': False}
    assert received[3].parameter == ''
    ids = [m.header.identity.id for m in received]
    assert len(set(ids)) == 4 and ids == sorted(ids) and ids[0] > 0
    # A second publish of the same list gets new ids.
    bridge.publish(actions[:1])
    assert ros.spin_until(lambda: len(received) >= 5)
    assert received[4].header.identity.id > ids[-1]


def test_sport_mode_and_battery_topics_change_the_robot_state(ros, topics, unitree_msgs):
    _, sport_type, low_type = unitree_msgs
    state = RobotState('standing', battery_percent=None)
    bridge = make_bridge(ros, topics, state, publish=False)
    assert len(bridge.subscriptions) == 2
    robot = ros.node('go2')
    sport_pub = robot.create_publisher(sport_type, topics['sport'], qos.reliable(10))
    low_pub = robot.create_publisher(low_type, topics['low'], qos.reliable(10))
    assert ros.spin_until(lambda: sport_pub.get_subscription_count() >= 1
                          and low_pub.get_subscription_count() >= 1)

    def send(mode=None, soc=None):
        if mode is not None:
            msg = sport_type()
            msg.mode = mode
            sport_pub.publish(msg)
        if soc is not None:
            msg = low_type()
            msg.bms_state.soc = soc
            low_pub.publish(msg)

    send(mode=5, soc=8)
    assert ros.spin_until(lambda: state.snapshot().posture == 'lying'
                          and state.snapshot().battery_percent == 8.0)
    # The policy sees it at check time: posture actions only, StandUp first.
    result = SafetyPolicy(REGISTRY).check([Action('Hello', 1016), Action('Sit', 1009)],
                                          'llm', state)
    assert [a.name for a in result.actions] == ['StandUp', 'Sit']
    send(mode=10, soc=64)
    assert ros.spin_until(lambda: state.snapshot().posture == 'sitting'
                          and state.snapshot().battery_percent == 64.0)
    send(mode=1)
    assert ros.spin_until(lambda: state.snapshot().posture == 'standing')
    assert state.snapshot().posture_source == 'robot' and state.sport_mode == 1
    send(soc=200)  # impossible: logged and ignored
    send(mode=6)  # jointLock says nothing about the posture
    assert ros.spin_until(lambda: state.snapshot().posture == 'unknown')
    assert state.snapshot().battery_percent == 64.0


def test_publishing_off_creates_no_publisher(ros, topics, unitree_msgs):
    bridge = make_bridge(ros, topics, RobotState('standing'), publish=False)
    assert not bridge.publishing
    assert bridge.publish([Action('StandUp', 1004)]) == 0
    assert topics['request'] not in [p.topic_name for p in ros.nodes[0].publishers]
    assert len(bridge.subscriptions) == 2  # the state topics are still read


def test_without_unitree_packages_it_logs_once_and_does_nothing(ros, topics, monkeypatch,
                                                                capfd):
    for name in ('unitree_api', 'unitree_api.msg', 'unitree_go', 'unitree_go.msg'):
        monkeypatch.setitem(sys.modules, name, None)  # import of it raises ImportError
    state = RobotState('sitting', battery_percent=50.0)
    bridge = make_bridge(ros, topics, state)
    assert not bridge.publishing and bridge.subscriptions == []
    assert bridge.publish([Action('StandUp', 1004), Action('Hello', 1016)]) == 0
    ros.spin_until(lambda: False, timeout_s=0.2)
    assert state.snapshot().posture == 'sitting'
    err = capfd.readouterr().err
    assert err.count('Unitree messages not available') == 1
    assert 'unitree_api' in err and 'unitree_go' in err


@pytest.mark.parametrize('action, text', [
    (Action('Move', 1008, {'x': 0.25, 'y': -0.1, 'z': 0.0}), {'x': 0.25, 'y': -0.1, 'z': 0.0}),
    (Action('Euler', 1007, {'x': 0.1, 'y': 0.0, 'z': -0.2}), {'x': 0.1, 'y': 0.0, 'z': -0.2}),
    (Action('Pose', 1028, {'flag': True}), {'data': True}),
    (Action('StandUp', 1004, {}), None),
])
def test_sport_parameter_follows_sportclient_conventions(action, text):
    parameter = sport_parameter(action)
    assert (json.loads(parameter) if parameter else None) == text
