"""diagnostics_node: /claudia/response in; /diagnostics (DiagnosticArray) out every period.

Statuses are named ``"<node name>: <task>"``: ``latency <source>`` per answer source,
``ollama``, ``redis`` and ``summary`` (DESIGN.md). The statistics live in
``core.latency``, the probes in ``core.health`` (on their own thread, so the timer
never waits for the network), the report contents in ``core.diagnostics``; this node
only translates them to and from messages.

Ollama and Redis are probed every ``diagnostics.period_s``, each bounded by
``diagnostics.health_timeout_s``. With ``diagnostics.prometheus_port`` > 0 the metrics of
``core.metrics`` are served on ``http://127.0.0.1:<port>/metrics`` (loopback only).
Only ``diagnostics.p95_warn_ms`` can be changed while running; the other parameters are
read at start-up and a change to them is refused with that reason.
"""
import functools
import sys
from typing import Any, Dict, Optional

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from std_msgs.msg import String

from claudia_llm.core import diagnostics as report
from claudia_llm.core import settings as settings_table
from claudia_llm.core.config import config_from
from claudia_llm.core.errors import ConfigError
from claudia_llm.core.health import HealthMonitor, llm_probe, redis_healthy, safe_url
from claudia_llm.core.latency import (
    LatencyWindow,
    queue_depth_of,
    redis_status_of,
    sample_from_record,
)
from claudia_llm.core.metrics import PrometheusExporter
from claudia_llm.ros import qos
from claudia_llm.ros.compat import ExternalShutdownException, log_warning, try_shutdown
from claudia_llm.ros.params import declare_all, validate_change

HARDWARE_ID = 'claudia_llm'
# Class constants, not literals: the level is a one-byte ``bytes`` (b'\x00') in the
# generated Python message on Foxy and on newer releases alike.
LEVELS = {report.OK: DiagnosticStatus.OK, report.WARN: DiagnosticStatus.WARN,
          report.ERROR: DiagnosticStatus.ERROR, report.STALE: DiagnosticStatus.STALE}


class DiagnosticsNode(Node):
    """Latency, error and dependency diagnostics of claudia_llm.

    Build it after ``rclpy.init()``; ``parameter_overrides`` ({name: value}) beat YAML
    and defaults. ``destroy_node()`` stops the prober thread and the metrics server.

    Raises:
        ConfigError: a parameter has an unknown name or a wrong type.
        OSError: ``diagnostics.prometheus_port`` cannot be bound.
    """

    def __init__(self, parameter_overrides: Optional[Dict[str, Any]] = None,
                 node_name: str = 'diagnostics_node', namespace: Optional[str] = None):
        super().__init__(node_name, namespace=namespace)
        s = self.settings = declare_all(self, 'diagnostics_node', parameter_overrides)
        self.config = config_from(s, 'diagnostics_node')
        self.get_logger().info('probing the %s server at %s (from %s)' % (
            (self.config.llm.backend,) + self.config.llm_server()))
        self.add_on_set_parameters_callback(self.parameters_callback)
        self.window = LatencyWindow(s['diagnostics.window_s'])
        self.ignored_messages = 0
        self.queue_depth = 0
        self.redis_status = {}  # llm_node's breaker, from the newest record
        timeout_s = s['diagnostics.health_timeout_s']
        self.health = HealthMonitor({
            'ollama': llm_probe(self.config, timeout_s),  # task name kept for any backend
            'redis': functools.partial(redis_healthy, s['redis.url'], timeout_s),
        }, period_s=s['diagnostics.period_s'])
        self.metrics = None
        if s['diagnostics.prometheus_port'] > 0:
            self.metrics = PrometheusExporter(s['diagnostics.prometheus_port'])
            self.metrics.start()
        self.publisher = self.create_publisher(DiagnosticArray, '/diagnostics',
                                               qos.diagnostics())
        self.create_subscription(String, s['topics.response'], self.response_callback,
                                 qos.response(s['qos.response_depth']))
        self.create_timer(s['diagnostics.period_s'], self.timer_callback)
        self.health.start()

    def response_callback(self, msg: String) -> None:
        """Add one response record to the window; WARN (throttled) on a malformed one."""
        try:
            source, total_ms, code = sample_from_record(msg.data)
            self.window.add(source, total_ms, code)
            self.queue_depth = queue_depth_of(msg.data, self.queue_depth)
            self.redis_status = redis_status_of(msg.data, self.redis_status)
        except ValueError as exc:
            self.ignored_messages += 1
            log_warning(self.get_logger(), 'ignored a message on %s: %s'
                        % (self.settings['topics.response'], exc), throttle_duration_sec=10.0)
            return
        if self.metrics is not None:
            self.metrics.observe(source, total_ms, code)

    def timer_callback(self) -> None:
        """Publish the current statuses; reads cached probe results, never blocks."""
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        array.status = [self.status(r) for r in self.reports()]
        self.publisher.publish(array)

    def reports(self):
        """Return the ``core.diagnostics.Report`` list for this instant."""
        stats = self.window.stats()
        warn_ms = self.settings['diagnostics.p95_warn_ms']
        found = [report.latency_report(source, st, self.window.window_s, warn_ms)
                 for source, st in stats.items()]
        health = self.health.results()
        now = self.health.clock()
        found.append(report.health_report('ollama', self.config.llm_server()[0],
                                          health['ollama'], now))
        redis = report.health_report('redis', safe_url(self.settings['redis.url']),
                                     health['redis'], now)
        redis.values.update(self.redis_status)  # breaker state, budget_misses
        found.append(redis)
        found.append(report.summary_report(self.window.summary(), found,
                                           self.ignored_messages, self.queue_depth))
        if self.metrics is not None:
            self.metrics.set_window(stats)
            for name, result in health.items():
                self.metrics.set_up(name, result.ok)
        return found

    def status(self, rep: report.Report) -> DiagnosticStatus:
        """Translate one report into a ``DiagnosticStatus``."""
        return DiagnosticStatus(
            level=LEVELS[rep.level], name='%s: %s' % (self.get_name(), rep.task),
            message=rep.message, hardware_id=HARDWARE_ID,
            values=[KeyValue(key=k, value=v) for k, v in rep.values.items()])

    def parameters_callback(self, params):
        """Check a change (``validate_change``), then apply the accepted one."""
        result = validate_change('diagnostics_node', params,
                                 live=settings_table.live_names('diagnostics_node'))
        if result.successful:
            for param in params:
                self.settings[param.name] = settings_table.check(
                    'diagnostics_node', param.name, param.value)
        return result

    def destroy_node(self):
        """Stop the prober thread and the metrics server, then destroy the node."""
        self.health.stop()
        if self.metrics is not None:
            self.metrics.stop()
        return super().destroy_node()


def main(args=None):
    """Entry point of the ``diagnostics_node`` executable."""
    rclpy.init(args=args)
    node = None
    try:
        node = DiagnosticsNode()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except ConfigError as exc:  # a bad parameter: one line, not a traceback
        print('diagnostics_node: configuration error: %s' % exc, file=sys.stderr)
        return 2
    finally:
        if node is not None:
            node.destroy_node()
        try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
