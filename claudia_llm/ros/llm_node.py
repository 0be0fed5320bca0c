"""llm_node: /claudia/utterance in; reply, reply_partial, action and response out.

The node only translates: callbacks hand each message to the engine's event loop and
return at once; the engine (``core.app.Engine``) answers and calls ``publish_record``.
Actions reach ``/api/sport/request`` only through the executor (``ros.execution``), which
publishes how each one went on ``/claudia/execution``.
"""
import gc
import logging
import sys
import time

import rclpy
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from std_msgs.msg import String

from claudia_llm.core import settings
from claudia_llm.core.app import Engine
from claudia_llm.core.config import config_from
from claudia_llm.core.errors import ConfigError
from claudia_llm.core.health import safe_url
from claudia_llm.core.loop_thread import LoopThread
from claudia_llm.core.record import ResponseRecord
from claudia_llm.core.safety.robot_state import RobotState
from claudia_llm.ros import qos
from claudia_llm.ros.compat import (
    ExternalShutdownException,
    full_topic_name,
    log_warning,
    try_shutdown,
)
from claudia_llm.ros.execution import ExecutionBridge
from claudia_llm.ros.intake_watch import IntakeWatch
from claudia_llm.ros.log_bridge import forward_python_logging
from claudia_llm.ros.params import declare_all, validate_change
from claudia_llm.ros.stop_signals import StopSignals, spin_until_stopped
from claudia_llm.ros.unitree_bridge import UnitreeBridge

START_TIMEOUT_S = 120.0
APPLY_TIMEOUT_S = 5.0  # applying a live parameter change on the engine's loop, s
# Peer check: publishers of the response topic, counted once discovery has had time to
# settle after start-up, then again at this period (a node started later is noticed).
PEER_CHECK_FIRST_S = 3.0
PEER_CHECK_PERIOD_S = 30.0
# A graceful stop waits for the grace period plus the hand-over's settling (core.shutdown)
# and the workers' last Redis calls; this bounds the rest.
STOP_MARGIN_S = 5.0


class LlmNode(Node):
    """The language brain node; ``parameter_overrides`` beat YAML and defaults.

    Relative topic names (the defaults) resolve in ``namespace`` (or the one given with
    ``-r __ns:=...`` / a launch ``namespace=``). After start-up, ``ros2 param set`` of a
    parameter marked ``LIVE`` in ``core.settings`` is applied to the running engine; any
    other is refused with a reason (``parameters_callback``).
    """

    def __init__(self, parameter_overrides=None, node_name='llm_node', namespace=None):
        super().__init__(node_name, namespace=namespace)
        forward_python_logging(self.get_logger())
        s = self.settings = declare_all(self, 'llm_node', parameter_overrides)
        self.config = config_from(s, 'llm_node')  # checked once; typed groups
        self.reply_pub = self.create_publisher(String, s['topics.reply'], qos.reliable(10))
        self.action_pub = self.create_publisher(String, s['topics.action'], qos.reliable(10))
        self.piece_pub = self.create_publisher(String, s['topics.reply_partial'],
                                               qos.reliable(10))
        self.response_pub = self.create_publisher(String, s['topics.response'],
                                                  qos.response(s['qos.response_depth']))
        robot_state = RobotState(initial_posture=s['safety.initial_posture'],
                                 battery_percent=(s['safety.battery_percent']
                                                  if s['safety.battery_percent'] >= 0 else None))
        self.unitree = UnitreeBridge(self, robot_state,
                                     publish_requests=s['robot.publish_sport_request'],
                                     request_topic=s['topics.sport_request'],
                                     sport_state_topic=s['robot.sport_state_topic'],
                                     low_state_topic=s['robot.low_state_topic'],
                                     response_topic=s['topics.sport_response'])
        self.loop = LoopThread('llm_node-loop')
        self.engine = self.loop.run(self._build_engine(self.config, robot_state),
                                    START_TIMEOUT_S)
        self.execution = ExecutionBridge(self, self.unitree, self.engine.registry, s)
        self.loop.run(self.engine.start(), START_TIMEOUT_S)
        # Counts what arrives and what is answered; reports losses and QoS mismatches.
        utterance_topic = full_topic_name(self, s['topics.utterance'])
        self.intake = IntakeWatch(self, dict(s, **{'topics.utterance': utterance_topic}),
                                  self.utterance_callback)
        # Registered after declare_all: its own overrides are start-up values, not changes.
        self.add_on_set_parameters_callback(self.parameters_callback)
        self.get_logger().info('ready: listening on %s (model %s at %s from %s, redis %s)' % (
            (utterance_topic, s['ollama.model']) + self.config.llm_server()
            + (safe_url(s['redis.url']),)))
        self._stopped = False
        self.peers_seen = 1  # publishers of the response topic at the last check, us included
        self.peer_checks = 0  # checks done so far
        self._first_peer_check = self.create_timer(PEER_CHECK_FIRST_S, self._peer_check_once)
        self.create_timer(PEER_CHECK_PERIOD_S, self.check_peers)

    async def _build_engine(self, config, robot_state) -> Engine:
        # Built on the loop that runs it: on Python 3.8 (Foxy) asyncio objects such as
        # redis-py's pool lock bind to the loop current at creation.
        return Engine(config, self.publish_record, robot_state, origin=self.get_name(),
                      publish_actions=self.publish_actions, publish_piece=self.publish_piece)

    def parameters_callback(self, params) -> SetParametersResult:
        """Refuse start-up-only parameters with a reason; apply live ones to the engine.

        Foxy's rclpy calls this before it stores the values and has no post-set callback,
        so an accepted change is applied here, on the engine's loop, before returning
        (bounded by ``APPLY_TIMEOUT_S``).
        """
        result = validate_change('llm_node', params, live=settings.live_names('llm_node'))
        if not result.successful:
            return result
        changes = {p.name: settings.check('llm_node', p.name, p.value) for p in params}
        config = self.config.with_changes(changes)
        self.loop.run(self._apply(config), APPLY_TIMEOUT_S)
        self.config = config
        self.settings.update(changes)
        self.get_logger().info('parameters changed: %s' % ', '.join(
            '%s=%r' % item for item in sorted(changes.items())))
        return result

    async def _apply(self, config) -> None:
        self.engine.apply(config)

    def utterance_callback(self, msg: String) -> None:
        """Hand the utterance to the engine; never blocks."""
        answer = self.loop.submit(self.engine.pipeline.handle(msg.data, time.perf_counter(),
                                                              time.time()))
        answer.add_done_callback(self._answer_done)

    def _answer_done(self, answer) -> None:
        # The pipeline turns every failure into an error record; what can still fail here
        # is publishing, when the context is shut down between the check and the call.
        if not answer.cancelled() and answer.exception() is not None:
            if self.context.ok():
                log_warning(self.get_logger(), 'answer failed: %r' % (answer.exception(),))

    def peer_count(self) -> int:
        """Publishers of the response topic in this ROS domain, this node included."""
        return self.count_publishers(self.response_pub.topic_name)  # remapped, absolute

    def check_peers(self) -> int:
        """Count ``peer_count()``; log when it changed since the last check; return it.

        More than one means another llm_node (or anything else) publishes records on our
        topics: each node answers every utterance and each sends the actions. One WARNING
        per change, not per check.
        """
        count, before = self.peer_count(), self.peers_seen
        self.peers_seen = count
        self.peer_checks += 1
        topic = self.response_pub.topic_name
        if count > 1 and count != before:
            log_warning(self.get_logger(), (
                '%d nodes publish on %s: another llm_node runs on the same topics, so every '
                'utterance is answered by each of them and each sends its actions to the '
                'robot; give each node its own topics or namespace, or stop the extra one')
                % (count, topic))
        elif count <= 1 < before:
            self.get_logger().info('%s: this node is its only publisher again' % topic)
        return count

    def _peer_check_once(self) -> None:
        self._first_peer_check.cancel()
        self.check_peers()

    def publish_actions(self, record: ResponseRecord) -> None:
        """Hand the actions to the executor (the robot acts at once), then ``/claudia/action``.

        Called by the pipeline as soon as the policy let them through, for a streamed
        LLM answer while the reply is still being generated; the executor's answer goes
        to the record's ``execution``. Nothing after shutdown began.
        """
        action = record.action_message()
        if action is None or not self.context.ok():
            return
        record.execution = self.execution.submit(record.request_id, record.actions)
        self.action_pub.publish(String(data=action))

    def publish_piece(self, piece) -> None:
        """Publish one ``ReplyPiece`` on ``/claudia/reply_partial`` (not after shutdown)."""
        if self.context.ok():
            self.piece_pub.publish(String(data=piece.to_json()))

    def publish_record(self, record: ResponseRecord) -> None:
        """Publish the actions unless ``publish_actions`` already did, then reply and record.

        Actions go to the executor first (the robot acts at once), then ``/claudia/action``,
        reply and record (the executor's answer in ``execution``).

        After shutdown began (Ctrl-C shuts the context down while answers may still be in
        flight) the record is only logged: its publishers are gone.
        """
        if not self.context.ok():
            self.get_logger().info('%s not published, shutting down: %s -> %s' % (
                record.request_id[:8], record.utterance[:40], [a.name for a in record.actions]))
            return
        action = record.action_message()
        if action is not None and not record.actions_published:
            record.execution = self.execution.submit(record.request_id, record.actions)
            self.action_pub.publish(String(data=action))
        if record.reply:
            self.reply_pub.publish(String(data=record.reply))
        self.response_pub.publish(String(data=record.to_json()))
        self.intake.monitor.on_published()
        self.get_logger().info('%s %-9s %7.1f ms  %s -> %s %s' % (
            record.request_id[:8], record.source, record.latency_ms.get('total', 0.0),
            record.utterance[:40], [a.name for a in record.actions] or '-',
            record.error['code'] if record.error else ''))

    def stop(self, grace_s=None):
        """Graceful stop: take no more utterances, let answers in flight publish.

        Answers in flight get ``grace_s`` (default ``scheduler.shutdown_grace_s``) to
        publish; what is still open is handed back to the Redis queue for the next node or
        answered ``shutting_down`` (``Engine.drain``). Call with no executor spinning this
        node and before ``destroy_node``; the context must still be valid. Idempotent.

        Returns:
            the engine's ``DrainReport``, or None (already stopped, or the drain failed).
        """
        if getattr(self, '_stopped', True) or not hasattr(self, 'engine'):
            return None
        self._stopped = True
        self.intake.close()
        grace = self.config.scheduler.shutdown_grace_s if grace_s is None else grace_s
        try:
            report = self.loop.run(self.engine.drain(grace), grace + STOP_MARGIN_S)
        except Exception as exc:  # noqa: BLE001 - stopping: report and go on
            log_warning(self.get_logger(), 'graceful stop: %r' % (exc,))
            return None
        self.get_logger().info('stopped taking utterances; %s' % report)
        return report

    def destroy_node(self):
        """Close the engine's clients and stop its loop, then destroy the node (idempotent).

        rclpy (Iron and later) also destroys the nodes of a context it shuts down, so this
        can be called twice; the second call does nothing.
        """
        if getattr(self, '_destroyed', False):
            return None
        self._destroyed = True
        if hasattr(self, 'execution'):
            self.execution.close()
        if not hasattr(self, 'engine'):  # __init__ failed part way
            if hasattr(self, 'loop'):
                self.loop.stop()
            return super().destroy_node()
        if self.loop.loop.is_running():
            try:
                self.loop.run(self.engine.aclose(), 10.0)
            except Exception as exc:  # noqa: BLE001 - shutting down: report and go on
                log_warning(self.get_logger(), 'engine close: %r' % (exc,))
        self.loop.stop()
        core_log = logging.getLogger('claudia_llm')
        core_log.handlers = [h for h in core_log.handlers if not getattr(h, 'claudia_ros', 0)]
        return super().destroy_node()


def main(args=None):
    """Entry point of ``ros2 run claudia_llm llm_node``.

    SIGINT and SIGTERM stop it gracefully (``LlmNode.stop``): the context is shut down
    only after the answers in flight were published or handed over (``ros.stop_signals``).
    """
    rclpy.init(args=args)
    node = None
    try:
        node = LlmNode()
        # What start-up built (lexicon, tokenizer, embedder, ...) lives as long as the node:
        # out of the collector's reach, a full collection takes well under 1 ms instead of
        # ~100 ms, which otherwise lands on an utterance now and then (bench/faults.py).
        gc.freeze()
        spin_until_stopped(node, StopSignals(), taken=lambda: node.intake.monitor.received)
    except (KeyboardInterrupt, ExternalShutdownException):  # a signal during start-up
        pass
    except ConfigError as exc:  # a bad parameter: one line, not a traceback
        print('llm_node: configuration error: %s' % exc, file=sys.stderr)
        return 2
    finally:
        if node is not None:
            node.stop()
            node.destroy_node()
        try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
