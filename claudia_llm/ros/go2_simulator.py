"""go2_simulator: a stand-in Go2 sport service over DDS, for tests and the demo.

Subscribes ``unitree_api/Request`` on ``topics.sport_request``, answers each with a
``unitree_api/Response`` on ``topics.sport_response`` (unless ``policy.noreply``), and
publishes ``unitree_go/SportModeState`` (``sim.state_hz``) and ``unitree_go/LowState``
(``sim.low_state_hz``, ``bms_state.soc``). What it does with each request is
``claudia_llm.testing.go2_sim.Go2Sim``; every request and every finished walk is also
published as JSON on ``topics.sim_events`` with times on the simulator's clock, which is
how the tests measure how long the robot walked. Needs the Unitree message packages (the
test copies: ``scripts/build_unitree_test_msgs.sh``). Never run it next to a real robot.
"""
import json
import time

import rclpy
from rclpy.node import Node
from std_msgs.msg import String

from claudia_llm.core.record import dumps
from claudia_llm.ros import qos
from claudia_llm.ros.compat import ExternalShutdownException, try_shutdown
from claudia_llm.ros.params import declare_all
from claudia_llm.testing.go2_sim import Go2Sim


class Go2Simulator(Node):
    """The simulator node; ``parameter_overrides`` beat YAML and defaults."""

    def __init__(self, parameter_overrides=None, node_name='go2_simulator'):
        super().__init__(node_name)
        from unitree_api.msg import Request, Response
        from unitree_go.msg import LowState, SportModeState
        s = self.settings = declare_all(self, 'go2_simulator', parameter_overrides)
        fail = [int(i) for i in s['sim.fail_api_ids'].replace(',', ' ').split()]
        self.sim = Go2Sim(transition_s=s['sim.transition_s'], trick_s=s['sim.trick_s'],
                          move_timeout_s=s['sim.move_timeout_s'], fail_api_ids=fail,
                          posture_mode=s['sim.posture_mode'],
                          battery_percent=s['sim.battery_percent'])
        self._types = (Response, SportModeState, LowState)
        self._walks_sent = 0
        self.response_pub = self.create_publisher(Response, s['topics.sport_response'],
                                                  qos.reliable(10))
        self.state_pub = self.create_publisher(SportModeState, s['robot.sport_state_topic'],
                                               qos.reliable(10))
        self.low_pub = self.create_publisher(LowState, s['robot.low_state_topic'],
                                             qos.reliable(10))
        self.event_pub = self.create_publisher(String, s['topics.sim_events'],
                                               qos.reliable(100))
        self.create_subscription(Request, s['topics.sport_request'], self.request_callback,
                                 qos.reliable(10))
        self.create_timer(1.0 / s['sim.state_hz'], self.state_timer)
        self.create_timer(1.0 / s['sim.low_state_hz'], self.low_state_timer)
        self.get_logger().info('simulating a Go2 on %s (mode %d)' % (
            s['topics.sport_request'], s['sim.posture_mode']))

    def request_callback(self, msg) -> None:
        """Apply one Request; answer it; publish what happened."""
        identity = msg.header.identity
        code = self.sim.request(time.monotonic(), identity.id, identity.api_id, msg.parameter)
        if not msg.header.policy.noreply:
            response = self._types[0]()
            response.header.identity.id = identity.id
            response.header.identity.api_id = identity.api_id
            response.header.status.code = code
            self.response_pub.publish(response)
        self.event_pub.publish(String(data=dumps(self.sim.events[-1])))
        self._publish_walks()

    def state_timer(self) -> None:
        """Publish SportModeState (and any walk that just timed out)."""
        state = self.sim.tick(time.monotonic())
        msg = self._types[1]()
        msg.mode, msg.progress, msg.gait_type = state.mode, state.progress, state.gait_type
        msg.velocity = [float(v) for v in state.velocity]
        msg.yaw_speed, msg.body_height = float(state.yaw_speed), float(state.body_height)
        self.state_pub.publish(msg)
        self._publish_walks()

    def low_state_timer(self) -> None:
        """Publish LowState with the battery level."""
        msg = self._types[2]()
        msg.bms_state.soc = self.sim.state.battery_percent
        self.low_pub.publish(msg)

    def _publish_walks(self) -> None:
        walks = self.sim.walks()
        for walk in walks[self._walks_sent:]:
            self.event_pub.publish(String(data=json.dumps(walk)))
        self._walks_sent = len(walks)


def main(args=None):
    """Entry point of ``ros2 run claudia_llm go2_simulator``."""
    rclpy.init(args=args)
    node = None
    try:
        node = Go2Simulator()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        try_shutdown()


if __name__ == '__main__':
    main()
