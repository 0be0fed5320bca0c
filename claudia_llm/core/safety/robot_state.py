"""What the node knows about the robot's body: posture and battery level.

``RobotState`` is written from ROS callbacks (``unitree_go/SportModeState``,
``unitree_go/LowState``, in the executor's thread) or from parameters and published
actions, and read from the pipeline's asyncio loop in another thread: every access holds
one lock. The safety policy reads it *when it checks the actions* (``snapshot()`` at check
time, or ``SafetyPolicy.check`` given the ``RobotState`` itself), never from a snapshot
taken when the utterance arrived: an LLM call can take seconds, and a snapshot taken before
it describes a robot that no longer exists.
"""
import math
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, Optional

from claudia_llm.core.record import Action

from .actions import ActionRegistry

POSTURES = ('standing', 'sitting', 'lying', 'unknown')

# Go2 ``SportModeState.mode`` -> posture. Mode values from the unitree_ros2 README
# ("Sportmode state", field ``mode``): 0 idle/default stand, 1 balanceStand, 2 pose,
# 3 locomotion, 4 reserve, 5 lieDown, 6 jointLock, 7 damping, 8 recoveryStand, 9 reserve,
# 10 sit, 11 frontFlip, 12 frontJump, 13 frontPounce.
# recoveryStand and the flips/jumps end standing, so they count as standing. damping lets the
# legs fold: lying. Values that say nothing about the posture (4 and 9 reserved, 6 jointLock:
# the joints hold whatever pose they had) and values newer firmware may add are 'unknown',
# never the last posture: 'unknown' makes the policy insert StandUp before an action that
# needs standing, which is harmless when the robot already stands.
SPORT_MODE_POSTURES: Dict[int, str] = {
    0: 'standing', 1: 'standing', 2: 'standing', 3: 'standing',
    5: 'lying', 7: 'lying',
    8: 'standing',
    10: 'sitting',
    11: 'standing', 12: 'standing', 13: 'standing',
}


@dataclass(frozen=True)
class RobotStateSnapshot:
    """The robot's state at one instant.

    Attributes:
        posture: 'standing', 'sitting', 'lying' or 'unknown'.
        battery_percent: state of charge in percent (0-100), None when unknown.
        stamp: when the snapshot was taken, seconds (the state's clock, default ``time.time``).
        posture_source: where the posture came from: 'initial' (start-up parameter),
            'robot' (SportModeState) or 'assumed' (set after actions were published).
    """

    posture: str
    battery_percent: Optional[float]
    stamp: float
    posture_source: str = 'initial'


class RobotState:
    """Thread-safe holder of posture and battery level.

    Args:
        initial_posture: posture until the robot or the node says otherwise, one of
            ``POSTURES`` (parameter ``safety.initial_posture``).
        battery_percent: initial battery level in percent, None when unknown.
        clock: time source of ``RobotStateSnapshot.stamp``, seconds.

    Raises:
        ValueError: ``initial_posture`` is not one of ``POSTURES``, or ``battery_percent``
            is outside 0-100 or not finite.
    """

    def __init__(self, initial_posture: str = 'unknown',
                 battery_percent: Optional[float] = None,
                 clock: Callable[[], float] = time.time):
        self._lock = threading.Lock()
        self._clock = clock
        self._posture = _checked_posture(initial_posture)
        self._posture_source = 'initial'
        self._battery = _checked_battery(battery_percent)
        self._sport_mode: Optional[int] = None

    def update_from_sport_mode(self, mode: int) -> str:
        """Set the posture from a Go2 ``SportModeState.mode`` value (see ``SPORT_MODE_POSTURES``).

        Unlisted values give 'unknown'. Returns the posture now held.
        """
        posture = SPORT_MODE_POSTURES.get(int(mode), 'unknown')
        with self._lock:
            self._sport_mode = int(mode)
            self._posture = posture
            self._posture_source = 'robot'
        return posture

    def update_battery(self, soc: Optional[float]) -> None:
        """Set the battery level, percent (``LowState.bms_state.soc``); None means unknown.

        Raises:
            ValueError: ``soc`` is not finite or outside 0-100 (the level is left as it was).
        """
        value = _checked_battery(soc)
        with self._lock:
            self._battery = value

    def assume_posture(self, posture: str) -> None:
        """Set the posture the robot should now have (after publishing actions, no live topic).

        A later SportModeState message overrides it.

        Raises:
            ValueError: ``posture`` is not one of ``POSTURES``.
        """
        posture = _checked_posture(posture)
        with self._lock:
            self._posture = posture
            self._posture_source = 'assumed'

    def assume_after(self, actions: Iterable[Action], registry: ActionRegistry) -> str:
        """Assume the posture ``actions`` (just published, in order) leave the robot in.

        Each action's ``posture`` in the table ('unchanged' keeps the previous one); unknown
        names are skipped. Nothing changes when no action sets a posture. Returns the
        posture now held.
        """
        posture = None
        for action in actions:
            spec = registry.get(action.name)
            if spec is not None and spec.posture != 'unchanged':
                posture = spec.posture
        if posture is not None:
            self.assume_posture(posture)
        return self.snapshot().posture

    @property
    def sport_mode(self) -> Optional[int]:
        """The last SportModeState.mode received, None before the first."""
        with self._lock:
            return self._sport_mode

    def snapshot(self) -> RobotStateSnapshot:
        """Return the state now, as an immutable snapshot. Call it when checking actions."""
        with self._lock:
            return RobotStateSnapshot(posture=self._posture, battery_percent=self._battery,
                                      stamp=self._clock(), posture_source=self._posture_source)


def _checked_posture(posture: str) -> str:
    if posture not in POSTURES:
        raise ValueError('posture must be one of %s, got %r' % (POSTURES, posture))
    return posture


def _checked_battery(value: Optional[float]) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError('battery level must be a number of percent, got %r' % (value,))
    value = float(value)
    if not math.isfinite(value) or not 0.0 <= value <= 100.0:
        raise ValueError('battery level must be within 0-100 percent, got %r' % value)
    return value
