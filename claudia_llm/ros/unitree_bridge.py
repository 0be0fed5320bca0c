"""Optional link to a Unitree Go2: sport requests out, posture and battery in.

Only where the Unitree interface packages import (built from unitree_ros2 on the robot):

- ``unitree_api/msg/Request`` on ``topics.sport_request`` (``/api/sport/request``), one per
  ``send`` (the executor, ``ros.execution``, is the only caller in the node), when
  ``robot.publish_sport_request`` is true;
- ``unitree_api/msg/Response`` from ``topics.sport_response`` (``/api/sport/response``):
  ``header.identity`` and ``header.status.code`` go to ``response_listeners``;
- ``unitree_go/msg/SportModeState`` (``mode`` -> posture) and ``unitree_go/msg/LowState``
  (``bms_state.soc`` -> battery percent) into the shared ``RobotState``, which the safety
  policy reads when it checks actions; ``mode`` and ``progress`` also go to
  ``sport_listeners`` (the executor's completion checks).

Without those packages the bridge logs that once at INFO and does nothing: posture and
battery then come from the ``safety.*`` parameters and from the actions published. The message
types are imported lazily, so this module imports anywhere rclpy does.
"""
import importlib
import json
import threading
import time
from typing import Any, Callable, List, Optional

from claudia_llm.core.record import Action
from claudia_llm.core.safety.robot_state import RobotState
from claudia_llm.ros import qos
from claudia_llm.ros.compat import log_warning

# Go2 sport API parameter text, as SportClient builds it (unitree_ros2,
# example/src/common/ros2_sport_client.cpp): Move(vx, vy, vyaw) and Euler(roll, pitch, yaw)
# send {"x", "y", "z"}; Pose(flag) sends {"data": flag}; calls without arguments send "".
_XYZ = ('Move', 'Euler')


def sport_parameter(action: Action) -> str:
    """The ``Request.parameter`` JSON text for ``action`` ('' when it takes no argument).

    ``action.parameter`` is the policy's output: complete, clamped, with the table's names
    (``x``, ``y``, ``z`` in m/s, rad/s or rad; Pose ``flag``).
    """
    if action.name in _XYZ:
        return json.dumps({k: float(action.parameter.get(k, 0.0)) for k in ('x', 'y', 'z')})
    if action.name == 'Pose':
        return json.dumps({'data': bool(action.parameter.get('flag', True))})
    return json.dumps(action.parameter) if action.parameter else ''


class UnitreeBridge:
    """Publishes sport requests and feeds ``robot_state`` from the Go2's state topics.

    Args:
        node: the rclpy node to create the publisher and subscriptions on.
        robot_state: updated from SportModeState and LowState callbacks (executor thread).
        publish_requests: create the ``unitree_api/Request`` publisher (parameter
            ``robot.publish_sport_request``).
        request_topic: topic of the requests (``topics.sport_request``).
        sport_state_topic: SportModeState topic; '' = do not subscribe.
        low_state_topic: LowState topic; '' = do not subscribe.
        response_topic: Response topic of the sport service; '' = do not subscribe.

    All topics use reliable, volatile, keep-last 10, like unitree_ros2's own examples.
    """

    def __init__(self, node, robot_state: RobotState, publish_requests: bool,
                 request_topic: str = '/api/sport/request',
                 sport_state_topic: str = '/sportmodestate', low_state_topic: str = '/lowstate',
                 response_topic: str = ''):
        self._node = node
        self._state = robot_state
        self._publisher = None
        self._request_type = None
        self._id_lock = threading.Lock()
        self._last_id = 0
        self.subscriptions: List[Any] = []
        self.sport_listeners: List[Callable[[int, float], None]] = []
        self.response_listeners: List[Callable[[int, int, int], None]] = []
        missing = []
        if publish_requests:
            self._request_type = _import('unitree_api.msg', 'Request')
            if self._request_type is None:
                missing.append('unitree_api (no %s)' % request_topic)
            else:
                self._publisher = node.create_publisher(self._request_type, request_topic,
                                                        qos.action())
        topics = [(sport_state_topic, 'unitree_go', 'SportModeState', self.sport_state_callback),
                  (low_state_topic, 'unitree_go', 'LowState', self.low_state_callback),
                  (response_topic if self._publisher else '', 'unitree_api', 'Response',
                   self.response_callback)]
        for topic, package, type_name, callback in topics:
            if not topic:
                continue
            msg_type = _import(package + '.msg', type_name)
            if msg_type is None:
                missing.append('%s (no %s)' % (package, topic))
                continue
            self.subscriptions.append(node.create_subscription(msg_type, topic, callback,
                                                               qos.reliable(10)))
        if missing:
            node.get_logger().info('Unitree messages not available: %s; posture and battery '
                                   'come from the safety.* parameters' % ', '.join(missing))

    @property
    def publishing(self) -> bool:
        """True when ``publish`` sends ``unitree_api/Request`` messages."""
        return self._publisher is not None

    def send(self, action: Action) -> Optional[int]:
        """Publish one Request for ``action``; returns its ``header.identity.id`` or None.

        ``header.identity.id`` is unique and increasing (nanoseconds since the epoch, bumped
        on collision), ``header.identity.api_id`` the action's sport API id, ``parameter``
        the JSON text of ``sport_parameter``. Any thread may call it.
        """
        if self._publisher is None:
            return None
        msg = self._request_type()
        msg.header.identity.id = ident = self._next_id()
        msg.header.identity.api_id = int(action.api_id)
        msg.parameter = sport_parameter(action)
        self._publisher.publish(msg)
        return ident

    def publish(self, actions: List[Action]) -> int:
        """Publish one Request per action back to back, unpaced; returns how many.

        Only for tests that show what unpaced sending does to a robot in a transition; the
        node sends through the executor.
        """
        return len([a for a in actions if self.send(a) is not None])

    def sport_state_callback(self, msg) -> None:
        """Update the posture from SportModeState; pass mode and progress on."""
        self._state.update_from_sport_mode(msg.mode)
        for listener in self.sport_listeners:
            listener(int(msg.mode), float(msg.progress))

    def response_callback(self, msg) -> None:
        """Pass ``(identity id, api_id, status code)`` of a sport Response on."""
        identity = msg.header.identity
        for listener in self.response_listeners:
            listener(int(identity.id), int(identity.api_id), int(msg.header.status.code))

    def low_state_callback(self, msg) -> None:
        """Update the battery percent from LowState; an impossible soc is logged and ignored."""
        try:
            self._state.update_battery(msg.bms_state.soc)
        except ValueError as exc:
            log_warning(self._node.get_logger(), 'LowState ignored: %s' % exc,
                        throttle_duration_sec=10.0)

    def _next_id(self) -> int:
        with self._id_lock:
            self._last_id = max(self._last_id + 1, time.time_ns())
            return self._last_id


def _import(module: str, name: str) -> Optional[type]:
    """``module.name``, or None when the package is not installed."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None
