"""llm_node: /claudia/utterance in; /claudia/reply, /claudia/action, /claudia/response out.

The node only translates: callbacks hand each message to the engine's event loop and
return at once; the engine (``core.app.Engine``) answers and calls ``publish_record``.
"""
import logging
import time

import rclpy
from rclpy.node import Node
from std_msgs.msg import String

from claudia_llm.core.app import Engine
from claudia_llm.core.loop_thread import LoopThread
from claudia_llm.core.record import ResponseRecord
from claudia_llm.core.robot_state import RobotState
from claudia_llm.ros import qos
from claudia_llm.ros.compat import ExternalShutdownException, log_warning, try_shutdown
from claudia_llm.ros.log_bridge import forward_python_logging
from claudia_llm.ros.params import declare_all
from claudia_llm.ros.unitree_bridge import UnitreeBridge

START_TIMEOUT_S = 120.0


class LlmNode(Node):
    """The language brain node; ``parameter_overrides`` beat YAML and defaults."""

    def __init__(self, parameter_overrides=None, node_name='llm_node'):
        super().__init__(node_name)
        forward_python_logging(self.get_logger())
        s = self.settings = declare_all(self, 'llm_node', parameter_overrides)
        self.reply_pub = self.create_publisher(String, s['topics.reply'], qos.reliable(10))
        self.action_pub = self.create_publisher(String, s['topics.action'], qos.reliable(10))
        self.response_pub = self.create_publisher(String, s['topics.response'],
                                                  qos.reliable(50))
        robot_state = RobotState(initial_posture=s['safety.initial_posture'],
                                 battery_percent=(s['safety.battery_percent']
                                                  if s['safety.battery_percent'] >= 0 else None))
        self.unitree = UnitreeBridge(self, robot_state,
                                     publish_requests=s['robot.publish_sport_request'],
                                     request_topic=s['topics.sport_request'],
                                     sport_state_topic=s['robot.sport_state_topic'],
                                     low_state_topic=s['robot.low_state_topic'])
        self.loop = LoopThread('llm_node-loop')
        self.engine = Engine(s, self.publish_record, robot_state, origin=self.get_name())
        self.loop.run(self.engine.start(), START_TIMEOUT_S)
        self.create_subscription(String, s['topics.utterance'], self.utterance_callback,
                                 qos.reliable(10))
        self.get_logger().info('ready: listening on %s (model %s at %s, redis %s)' % (
            s['topics.utterance'], s['ollama.model'], s['ollama.host'], s['redis.url']))

    def utterance_callback(self, msg: String) -> None:
        """Hand the utterance to the engine; never blocks."""
        self.loop.submit(self.engine.pipeline.handle(msg.data, time.perf_counter(),
                                                     time.time()))

    def publish_record(self, record: ResponseRecord) -> None:
        """Publish actions first (the robot acts at once), then reply and record."""
        action = record.action_message()
        if action is not None:
            self.action_pub.publish(String(data=action))
            self.unitree.publish(record.actions)
        if record.reply:
            self.reply_pub.publish(String(data=record.reply))
        self.response_pub.publish(String(data=record.to_json()))
        self.get_logger().info('%s %-9s %7.1f ms  %s -> %s %s' % (
            record.request_id[:8], record.source, record.latency_ms.get('total', 0.0),
            record.utterance[:40], [a.name for a in record.actions] or '-',
            record.error['code'] if record.error else ''))

    def destroy_node(self):
        """Close the engine's clients and stop its loop, then destroy the node."""
        if not hasattr(self, 'engine'):  # __init__ failed part way
            if hasattr(self, 'loop'):
                self.loop.stop()
            return super().destroy_node()
        try:
            self.loop.run(self.engine.aclose(), 10.0)
        except Exception as exc:  # noqa: BLE001 - shutting down: report and go on
            log_warning(self.get_logger(), 'engine close: %s' % exc)
        self.loop.stop()
        core_log = logging.getLogger('claudia_llm')
        core_log.handlers = [h for h in core_log.handlers if not getattr(h, 'claudia_ros', 0)]
        return super().destroy_node()


def main(args=None):
    """Entry point of ``ros2 run claudia_llm llm_node``."""
    rclpy.init(args=args)
    node = None
    try:
        node = LlmNode()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        try_shutdown()


if __name__ == '__main__':
    main()
