"""What the robot tells the executor: SportModeState fields and sport API responses.

``SportFeedback`` is loop-bound (every method runs on the executor's event loop; the ROS
layer hops there with ``call_soon_threadsafe``). Waiters call ``changed()`` for an event
that is set at the next update.

Fields used, from the unitree_ros2 README ("Sportmode state"): ``mode`` (0 idle/default
stand, 1 balanceStand, 2 pose, 3 locomotion, 5 lieDown, 6 jointLock, 7 damping,
8 recoveryStand, 10 sit, 11-13 flip/jump/pounce) and ``progress`` ("Is the dance action
being executed?: 0 false, 1 true"). Responses: ``unitree_api/Response`` carries the
request's ``header.identity`` and ``header.status.code`` (0 = success; unitree_sdk2's
``sport_error`` / ``ut_errror`` list the other codes, e.g. 3203 not supported).
"""
import asyncio
import time
from collections import OrderedDict
from typing import Callable, Dict, Optional, Tuple

# A SportModeState older than this does not count as live: the executor then paces by
# the table's expected_s (SportModeState arrives at ~20 Hz on /lf/sportmodestate).
STATE_FRESH_S = 1.0
REMEMBERED_RESPONSES = 512


class SportFeedback:
    """The latest SportModeState (mode, progress, when) and the failed responses seen.

    Args:
        clock: monotonic time source, seconds (the executor's clock).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self.mode: Optional[int] = None
        self.progress = 0.0
        self.stamp: Optional[float] = None  # clock() when the last state arrived
        self._failed: Dict[int, int] = OrderedDict()  # identity id -> code
        self._event = asyncio.Event()

    def changed(self) -> asyncio.Event:
        """An event set at the next state or response (a new one after each update)."""
        return self._event

    def _notify(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    def sport_state(self, mode: int, progress: float) -> None:
        """Record one SportModeState (``mode``, ``progress``), received now."""
        self.mode, self.progress, self.stamp = int(mode), float(progress), self._clock()
        self._notify()

    def response(self, identity_id: int, code: int) -> bool:
        """Record the response to request ``identity_id``; returns True when it failed."""
        if int(code) == 0:
            return False
        self._failed[int(identity_id)] = int(code)
        while len(self._failed) > REMEMBERED_RESPONSES:
            self._failed.popitem(last=False)
        self._notify()
        return True

    def failure(self, identity_id: Optional[int]) -> Optional[int]:
        """The failing status code answered to ``identity_id``, or None."""
        return None if identity_id is None else self._failed.get(int(identity_id))

    def live_since(self, since: float) -> bool:
        """True when a state arrived within ``STATE_FRESH_S`` before ``since`` or after it."""
        return self.stamp is not None and self.stamp >= since - STATE_FRESH_S

    def after(self, since: float) -> Tuple[Optional[int], float]:
        """``(mode, progress)`` of a state received after ``since``, else ``(None, 0.0)``."""
        if self.stamp is None or self.stamp <= since:
            return None, 0.0
        return self.mode, self.progress
