"""The executor's ROS side: the one path from llm_node to ``/api/sport/request``.

``core.execution.Executor`` runs on its own event loop thread (so resending a Move at
``execution.resend_hz`` never waits behind LLM or cache work); this module hands it the
policy's actions, feeds it SportModeState and sport Responses from ``UnitreeBridge``
(rclpy executor thread -> ``call_soon_threadsafe``) and publishes its events on
``topics.execution`` (``std_msgs/String`` JSON, reliable, depth 50).

Without a Request publisher (``robot.publish_sport_request`` false, or no unitree_api) no
executor runs and ``submit`` answers ``{"state": "off"}``: nothing is claimed as done.
"""
from typing import Any, Dict, List

from std_msgs.msg import String

from claudia_llm.core.execution.executor import Executor
from claudia_llm.core.loop_thread import LoopThread
from claudia_llm.core.record import Action, dumps
from claudia_llm.core.safety.actions import ActionRegistry
from claudia_llm.ros import qos
from claudia_llm.ros.compat import log_warning
from claudia_llm.ros.unitree_bridge import UnitreeBridge

START_TIMEOUT_S = 10.0
SUBMIT_TIMEOUT_S = 0.5  # submit returns at once on its loop; this only bounds a stuck loop
CLOSE_TIMEOUT_S = 2.0


class ExecutionBridge:
    """Owns the executor and its loop thread.

    Args:
        node: the rclpy node (publisher of ``topics.execution``, logger).
        unitree: the bridge that sends Requests and reads the robot's topics.
        registry: the action table.
        settings: llm_node's ``{parameter: value}`` (``execution.*``, ``topics.execution``).

    Raises:
        ConfigError: a bad ``execution.*`` value (from ``Executor``).
    """

    def __init__(self, node, unitree: UnitreeBridge, registry: ActionRegistry,
                 settings: Dict[str, Any]):
        self._node = node
        self.publisher = node.create_publisher(String, settings['topics.execution'],
                                               qos.reliable(50))
        self.executor = None
        self.loop = None
        if not unitree.publishing:
            return
        self.loop = LoopThread('execution-loop')

        async def build() -> Executor:  # on its loop: asyncio objects bind to it on 3.8
            return Executor(registry, unitree.send, self._publish_event,
                            mode=settings['execution.mode'],
                            resend_hz=settings['execution.resend_hz'],
                            timeout_margin_s=settings['execution.timeout_margin_s'])
        try:
            self.executor = self.loop.run(build(), START_TIMEOUT_S)
        except Exception:
            self.loop.stop()
            raise
        unitree.sport_listeners.append(self._sport_state)
        unitree.response_listeners.append(self._response)

    def submit(self, request_id: str, actions: List[Action]) -> Dict[str, Any]:
        """Run ``actions`` for ``request_id`` (any thread); returns the executor's answer.

        ``{"state": "off"}`` when no executor runs; ``{"state": "unknown"}`` when its loop
        did not answer within ``SUBMIT_TIMEOUT_S`` (logged).
        """
        if self.executor is None:
            return {'state': 'off', 'preempted': [],
                    'reason': 'no unitree_api/Request publisher (robot.publish_sport_request)'}

        async def run() -> Dict[str, Any]:
            return self.executor.submit(request_id, actions)
        try:
            return self.loop.run(run(), SUBMIT_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - a stuck loop must not block the answer
            log_warning(self._node.get_logger(), 'execution of %s not confirmed: %r'
                        % (request_id[:8], exc))
            return {'state': 'unknown', 'preempted': [], 'reason': repr(exc)}

    def close(self) -> None:
        """Stop a held motion (StopMove), cancel the rest and stop the loop thread."""
        if self.executor is None:
            return
        try:
            self.loop.run(self.executor.aclose(), CLOSE_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - shutting down: report and go on
            log_warning(self._node.get_logger(), 'executor close: %r' % (exc,))
        self.loop.stop()

    def _sport_state(self, mode: int, progress: float) -> None:
        self.loop.loop.call_soon_threadsafe(self.executor.sport_state, mode, progress)

    def _response(self, identity_id: int, api_id: int, code: int) -> None:
        self.loop.loop.call_soon_threadsafe(self.executor.response, identity_id, api_id, code)

    def _publish_event(self, event: Dict[str, Any]) -> None:
        if not self._node.context.ok():
            return
        self.publisher.publish(String(data=dumps(event)))
        if event['state'] in ('failed', 'timeout'):
            log_warning(self._node.get_logger(), 'execution %s: %s %s%s' % (
                event['state'], (event.get('request_id') or '-')[:8], event['action'],
                ' (code %s)' % event['code'] if event.get('code') is not None else ''))
