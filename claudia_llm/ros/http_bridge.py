"""http_bridge: the HTTP API and dashboard (``claudia_llm.http``) over llm_node's topics.

Subscribes to /claudia/response, /claudia/action, /claudia/reply_partial and /diagnostics;
publishes POSTed utterances on /claudia/utterance. It talks to llm_node over the topics
only, so it works against the robot's node unchanged. uvicorn runs on its own thread;
callbacks only hand messages to ``BridgeState``.
"""
import sys
from typing import Any, Dict, Optional

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.node import Node
from std_msgs.msg import String

from claudia_llm.core.errors import ConfigError
from claudia_llm.http.app import create_app
from claudia_llm.http.guard import check_bind
from claudia_llm.http.server import ServerThread
from claudia_llm.http.state import BridgeState
from claudia_llm.ros import qos
from claudia_llm.ros.compat import ExternalShutdownException, try_shutdown
from claudia_llm.ros.params import declare_all

LEVEL_NAMES = {DiagnosticStatus.OK: 'OK', DiagnosticStatus.WARN: 'WARN',
               DiagnosticStatus.ERROR: 'ERROR', DiagnosticStatus.STALE: 'STALE'}


class HttpBridge(Node):
    """The HTTP bridge node; ``parameter_overrides`` beat YAML and defaults.

    Raises:
        ConfigError: a bad parameter, or ``http.host`` beyond loopback without ``http.token``.
        OSError: ``http.host:http.port`` cannot be bound.
    """

    def __init__(self, parameter_overrides: Optional[Dict[str, Any]] = None,
                 node_name: str = 'http_bridge'):
        super().__init__(node_name)
        s = self.settings = declare_all(self, 'http_bridge', parameter_overrides)
        check_bind(s['http.host'], s['http.token'])
        self.state = BridgeState(s['diagnostics.window_s'], s['http.history_s'],
                                 s['http.stats_period_s'], s['http.recent_records'],
                                 s['http.event_queue_size'])
        self.utterance_pub = self.create_publisher(String, s['topics.utterance'],
                                                   qos.reliable(10))
        self.create_subscription(String, s['topics.response'], self.response_callback,
                                 qos.response(s['qos.response_depth']))
        self.create_subscription(String, s['topics.action'], self.action_callback, qos.action())
        self.create_subscription(String, s['topics.reply_partial'], self.reply_partial_callback,
                                 qos.reliable(10))
        self.create_subscription(DiagnosticArray, '/diagnostics', self.diagnostics_callback,
                                 qos.diagnostics())
        app = create_app(self.state, self.publish_utterance, self.node_seen, s)
        self.server = ServerThread(app, s['http.host'], s['http.port'])
        self.server.start()
        self.get_logger().info('serving http://%s:%d/ (dashboard), /docs, /v1/utterances%s' % (
            s['http.host'], s['http.port'], ', bearer token required' if s['http.token'] else ''))

    def publish_utterance(self, data: str) -> None:
        """Publish one utterance message (JSON text); called from the server's thread."""
        self.utterance_pub.publish(String(data=data))

    def node_seen(self) -> bool:
        """True while some node (llm_node) subscribes to the utterance topic."""
        return self.utterance_pub.get_subscription_count() > 0

    def response_callback(self, msg: String) -> None:
        """Hand one record to the state (waiters, events, statistics)."""
        self.state.on_record(msg.data)

    def action_callback(self, msg: String) -> None:
        """Pass one action message on as an event."""
        self.state.on_action(msg.data)

    def reply_partial_callback(self, msg: String) -> None:
        """Pass one reply piece on as an event."""
        self.state.on_reply_partial(msg.data)

    def diagnostics_callback(self, msg: DiagnosticArray) -> None:
        """Keep the Ollama and Redis statuses of diagnostics_node."""
        self.state.on_diagnostics([
            {'name': status.name, 'level': LEVEL_NAMES.get(status.level, str(status.level)),
             'message': status.message, 'values': {kv.key: kv.value for kv in status.values}}
            for status in msg.status])

    def destroy_node(self):
        """Stop the HTTP server, then destroy the node."""
        if hasattr(self, 'server'):
            self.server.stop()
        return super().destroy_node()


def main(args=None):
    """Entry point of ``ros2 run claudia_llm http_bridge``."""
    rclpy.init(args=args)
    node = None
    try:
        node = HttpBridge()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except ConfigError as exc:  # a bad parameter: one line, not a traceback
        print('http_bridge: configuration error: %s' % exc, file=sys.stderr)
        return 2
    finally:
        if node is not None:
            node.destroy_node()
        try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
