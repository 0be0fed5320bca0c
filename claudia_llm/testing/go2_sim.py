"""A Go2 sport-mode stand-in for tests and the demo: what the robot does with Requests.

Its own model, deliberately not read from ``go2_actions.yaml`` (a test against the table's
own numbers would prove nothing). Behaviour modelled on public reports of the real robot:

- ``Move`` (1008) and ``Euler`` (1007) last only while refreshed: a Move not refreshed
  within ``move_timeout_s`` stops (unitree_webrtc_connect #30, go2_ros2_sdk #55,
  unitree_sdk2_python #112). Move needs a standing posture.
- Posture changes (StandUp 1004, StandDown 1005, Sit 1009, RiseSit 1010, RecoveryStand 1006,
  BalanceStand 1002) take ``transition_s``; the mode (unitree_ros2 README mode list) changes
  when the transition ends. Tricks (Hello 1016, Stretch 1017, Dance1/2 1022/1023, Scrape
  1029, WiggleHips 1033, Heart 1036) set ``progress`` to 1 for ``trick_s``.
- During a transition or a trick every request except StopMove (1003) and Damp (1001) is
  ignored, though answered with code 0: the "agent claims success" case the executor
  must not fall for.
- Api ids it does not know, and those in ``fail_api_ids``, are answered with 3203
  (not supported, the code current firmware gives Wallow).

Every method takes ``now`` (seconds on the simulator's own monotonic clock) so tests can
drive it directly; ``events`` records each request and each finished walk with those times.
Thread-safe (one lock): the ROS node calls it from callbacks and timers.
"""
import json
import threading
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional

NOT_SUPPORTED = 3203
STOP_MOVE, DAMP, EULER, MOVE = 1003, 1001, 1007, 1008
STANDING_MODES = (0, 1, 2, 3)
# api id -> (name, mode at the end); the mode holds during the transition
POSTURE = {1002: ('BalanceStand', 1), 1004: ('StandUp', 1), 1005: ('StandDown', 5),
           1006: ('RecoveryStand', 1), 1009: ('Sit', 10), 1010: ('RiseSit', 1)}
TRICKS = {1016: 'Hello', 1017: 'Stretch', 1022: 'Dance1', 1023: 'Dance2', 1029: 'Scrape',
          1033: 'WiggleHips', 1036: 'Heart'}
OTHER = {1001: 'Damp', 1003: 'StopMove', 1007: 'Euler', 1008: 'Move', 1028: 'Pose'}


def api_name(api_id: int) -> str:
    """Return the SportClient name of ``api_id`` as the simulator knows it, or 'api <id>'."""
    if api_id in POSTURE:
        return POSTURE[api_id][0]
    return TRICKS.get(api_id) or OTHER.get(api_id) or 'api %d' % api_id


@dataclass
class SimState:
    """What SportModeState and LowState report (mode list: unitree_ros2 README)."""

    mode: int = 5
    progress: float = 0.0
    gait_type: int = 0
    velocity: List[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    yaw_speed: float = 0.0
    body_height: float = 0.08
    battery_percent: int = 80


class Go2Sim:
    """The simulated robot.

    Args:
        transition_s: duration of a posture change, s.
        trick_s: duration of a trick (Hello, Dance1, ...), s.
        move_timeout_s: a Move or Euler not refreshed within this stops, s.
        fail_api_ids: api ids answered with 3203.
        posture_mode: the mode at start (5 lieDown, 1 balanceStand, ...).
        battery_percent: LowState ``bms_state.soc``.
    """

    def __init__(self, transition_s: float = 0.8, trick_s: float = 1.5,
                 move_timeout_s: float = 0.5, fail_api_ids: Iterable[int] = (),
                 posture_mode: int = 5, battery_percent: int = 80):
        self.transition_s, self.trick_s = transition_s, trick_s
        self.move_timeout_s = move_timeout_s
        self.fail_api_ids = frozenset(int(i) for i in fail_api_ids)
        self.state = SimState(mode=posture_mode, battery_percent=battery_percent,
                              body_height=0.32 if posture_mode in STANDING_MODES else 0.08)
        self.events: List[Dict[str, Any]] = []
        self._lock = threading.Lock()
        self._busy_until = 0.0
        self._busy_target: Optional[int] = None  # mode at the end of a transition
        self._walk: Optional[Dict[str, Any]] = None  # the current Move segment
        self._euler_until = 0.0

    def request(self, now: float, ident: int, api_id: int, parameter: str) -> int:
        """Handle one Request; returns the response status code (0 or 3203)."""
        with self._lock:
            self._advance(now)
            code, outcome, reason = self._handle(now, int(api_id), parameter)
            self.events.append({'t': round(now, 4), 'kind': 'request', 'id': int(ident),
                                'api_id': int(api_id), 'name': api_name(int(api_id)),
                                'outcome': outcome, 'reason': reason, 'code': code,
                                'mode': self.state.mode})
            return code

    def tick(self, now: float) -> SimState:
        """Advance transitions and timeouts to ``now``; returns the state to publish."""
        with self._lock:
            self._advance(now)
            return SimState(**{k: (list(v) if isinstance(v, list) else v)
                               for k, v in self.state.__dict__.items()})

    def walks(self) -> List[Dict[str, Any]]:
        """Return the finished walks, times on the simulator clock.

        Each: ``start``, ``end``, ``duration_s``, ``refreshes``, ``ended_by`` ('StopMove',
        'timeout' or the name of the request that ended it).
        """
        with self._lock:
            return [e for e in self.events if e['kind'] == 'walk']

    # --- model -----------------------------------------------------------------------

    def _handle(self, now: float, api_id: int, parameter: str):
        if api_id in self.fail_api_ids or api_id not in POSTURE and api_id not in TRICKS \
                and api_id not in OTHER:
            return NOT_SUPPORTED, 'failed', 'not supported'
        if api_id in (STOP_MOVE, DAMP):
            self._end_walk(now, api_name(api_id))
            self._busy_until, self._busy_target = 0.0, None
            self.state.progress = 0.0
            if api_id == DAMP:
                self.state.mode, self.state.body_height = 7, 0.08
            return 0, 'accepted', ''
        if now < self._busy_until:
            return 0, 'ignored', 'in a transition'
        standing = self.state.mode in STANDING_MODES
        if api_id == MOVE:
            if not standing:
                return 0, 'ignored', 'not standing'
            return self._move(now, parameter)
        self._end_walk(now, api_name(api_id))
        if api_id in POSTURE:
            self._busy_until, self._busy_target = now + self.transition_s, POSTURE[api_id][1]
            if api_id == 1006:
                self.state.mode = 8  # recoveryStand while it lasts
            return 0, 'accepted', ''
        if not standing:
            return 0, 'ignored', 'not standing'
        if api_id in TRICKS:
            self._busy_until, self._busy_target = now + self.trick_s, self.state.mode
            self.state.progress = 1.0
        elif api_id == EULER:
            self._euler_until = now + self.move_timeout_s
            self.state.mode = 1
        return 0, 'accepted', ''

    def _move(self, now: float, parameter: str):
        try:
            speeds = json.loads(parameter) if parameter else {}
            vx, vy, vz = (float(speeds.get(k, 0.0)) for k in ('x', 'y', 'z'))
        except (ValueError, TypeError, AttributeError):
            return 0, 'ignored', 'bad parameter'
        if self._walk is None:
            self._walk = {'kind': 'walk', 'start': round(now, 4), 'refreshes': 0}
        self._walk['refreshes'] += 1
        self._walk['last'] = now
        self.state.mode, self.state.gait_type = 3, 1
        self.state.velocity, self.state.yaw_speed = [vx, vy, 0.0], vz
        return 0, 'accepted', ''

    def _end_walk(self, now: float, ended_by: str) -> None:
        if self._walk is None:
            return
        walk, self._walk = self._walk, None
        end = walk.pop('last') + self.move_timeout_s if ended_by == 'timeout' else now
        walk.update(end=round(end, 4), ended_by=ended_by,
                    duration_s=round(end - walk['start'], 4))
        self.events.append(walk)
        self.state.mode, self.state.gait_type = 1, 0
        self.state.velocity, self.state.yaw_speed = [0.0, 0.0, 0.0], 0.0

    def _advance(self, now: float) -> None:
        if self._walk is not None and now - self._walk['last'] > self.move_timeout_s:
            self._end_walk(now, 'timeout')
        if self._busy_target is not None and now >= self._busy_until:
            self.state.mode, self._busy_target = self._busy_target, None
            self.state.progress = 0.0
            self.state.body_height = 0.32 if self.state.mode in STANDING_MODES else 0.08
        if self._euler_until and now >= self._euler_until:
            self._euler_until = 0.0
