"""llm_node's utterance subscription, watched: QoS events, counters, an ``input`` status.

The subscription's depth and reliability are parameters (``qos.utterance_depth``,
``qos.utterance_reliability``). What can go wrong on the way in is made visible:

- a publisher whose QoS does not match (a best-effort speech node against the reliable
  default): the ``incompatible_qos`` event (Foxy has it) logs one WARNING per such
  publisher, and every status period the graph (``get_publishers_info_by_topic``) is
  checked for publishers that offer less than this subscription requests, so the
  ``input`` status stays WARN (with topic and policy) while one exists;
- utterances lost before the node took them: sequence gaps of numbered envelopes
  (``core.intake``) and, where rclpy and the RMW report it, the ``message_lost`` event
  (Galactic+; Foxy cannot report it);
- counts of utterances received and records published.

The status ``"<node name>: input"`` is published on ``/diagnostics`` every
``diagnostics.period_s``, next to diagnostics_node's statuses.
"""
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.qos import QoSReliabilityPolicy
from std_msgs.msg import String

from claudia_llm.core import diagnostics as report
from claudia_llm.core.intake import IntakeMonitor
from claudia_llm.ros import qos
from claudia_llm.ros.compat import log_warning

HARDWARE_ID = 'claudia_llm'
LEVELS = {report.OK: DiagnosticStatus.OK, report.WARN: DiagnosticStatus.WARN,
          report.ERROR: DiagnosticStatus.ERROR, report.STALE: DiagnosticStatus.STALE}


class IntakeWatch:
    """Creates the utterance subscription on ``node`` and reports on it.

    Args:
        node: the llm_node (an ``rclpy.node.Node``).
        settings: its settings (``topics.utterance``, ``qos.*``, ``diagnostics.period_s``).
        callback: called with each ``std_msgs/String`` after it was counted.
    """

    def __init__(self, node, settings, callback):
        self.node, self.callback = node, callback
        self.topic = settings['topics.utterance']
        self.reliability = settings['qos.utterance_reliability']
        self.depth = settings['qos.utterance_depth']
        self.monitor = IntakeMonitor(warn=lambda text: log_warning(node.get_logger(), text))
        self.incompatible_events = 0
        self.last_policy = ''
        self.events = []
        self.subscription = self._subscribe()
        self.topic_name = self.subscription.topic_name  # absolute, remapped
        self.publisher = node.create_publisher(DiagnosticArray, '/diagnostics',
                                               qos.diagnostics())
        node.create_timer(settings['diagnostics.period_s'], self.publish_status)

    def _subscribe(self):
        profile = qos.utterance_in(self.depth, self.reliability)
        callbacks, self.events = qos.subscription_events(
            incompatible_qos=self.incompatible_qos_callback,
            message_lost=self.message_lost_callback)
        try:
            return self.node.create_subscription(String, self.topic, self.utterance_callback,
                                                 profile, event_callbacks=callbacks)
        except qos.unsupported_event_errors():  # the RMW has no message_lost event
            callbacks, self.events = qos.subscription_events(
                incompatible_qos=self.incompatible_qos_callback)
            return self.node.create_subscription(String, self.topic, self.utterance_callback,
                                                 profile, event_callbacks=callbacks)

    def close(self) -> None:
        """Take no more utterances: destroy the subscription (publishers see it go).

        Call with no executor spinning the node (a graceful stop, ``LlmNode.stop``).
        """
        if self.subscription is not None:
            self.node.destroy_subscription(self.subscription)
            self.subscription = None

    def utterance_callback(self, msg: String) -> None:
        """Count the message (and check its ``seq``), then hand it on."""
        self.monitor.on_received(msg.data)
        self.callback(msg)

    def incompatible_qos_callback(self, info) -> None:
        """One WARNING per publisher found offering QoS this subscription cannot take."""
        self.incompatible_events += max(int(info.total_count_change), 1)
        self.last_policy = qos.policy_name(info.last_policy_kind)
        log_warning(self.node.get_logger(), (
            'a publisher on %s offers incompatible QoS (policy %s): none of its utterances '
            'reach this node. This subscription is %s; a best-effort publisher needs '
            'qos.utterance_reliability: best_effort') % (self.topic, self.last_policy,
                                                         self.reliability))

    def message_lost_callback(self, info) -> None:
        """Count what the middleware reports lost (rclpy >= Galactic, some RMWs only)."""
        self.monitor.on_lost(int(info.total_count_change), self.topic)

    def incompatible_publishers(self) -> int:
        """Publishers on the topic now whose reliability is below what we request."""
        if self.reliability != 'reliable':
            return 0  # best effort takes reliable and best-effort publishers alike
        infos = getattr(self.node, 'get_publishers_info_by_topic', None)
        if infos is None:
            return 0
        return sum(1 for info in infos(self.topic_name)
                   if info.qos_profile.reliability == QoSReliabilityPolicy.BEST_EFFORT)

    def report(self) -> report.Report:
        """The ``input`` report of this instant."""
        bad = self.incompatible_publishers()
        problems = []
        if bad:
            problems.append('%d publisher(s) on %s offer incompatible QoS (policy RELIABILITY: '
                            'best_effort, this subscription is reliable)' % (bad, self.topic))
        extra = {'reliability': self.reliability, 'depth': self.depth,
                 'incompatible_publishers': bad,
                 'incompatible_qos_events': self.incompatible_events,
                 'last_incompatible_policy': self.last_policy or '-',
                 'qos_events': ','.join(self.events) or '-'}
        return self.monitor.report(self.topic_name, extra, problems)

    def publish_status(self) -> None:
        """Publish the ``input`` status on ``/diagnostics``."""
        rep = self.report()
        array = DiagnosticArray()
        array.header.stamp = self.node.get_clock().now().to_msg()
        array.status = [DiagnosticStatus(
            level=LEVELS[rep.level], name='%s: %s' % (self.node.get_name(), rep.task),
            message=rep.message, hardware_id=HARDWARE_ID,
            values=[KeyValue(key=k, value=v) for k, v in rep.values.items()])]
        self.publisher.publish(array)
