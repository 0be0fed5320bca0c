"""When SportModeState says a sent action has ended (the executor's completion rule).

Fields (unitree_ros2 README, "Sportmode state"): ``mode`` (the sport mode list) and
``progress`` ("Is the dance action being executed?: 0 false, 1 true").
"""
from typing import Any, Dict, Optional, Tuple

from claudia_llm.core.safety.actions import ActionSpec


def judge(spec: ActionSpec, mode: Optional[int], progress: float, running: bool,
          already: bool, elapsed: float) -> Optional[Tuple[str, Dict[str, Any]]]:
    """Return ``(state, event fields)`` once SportModeState decides the action, else None.

    Args:
        spec: the action's table row (``done_modes``, ``progress``, ``expected_s``, ``min_s``).
        mode: ``SportModeState.mode`` last received after the request (None: none yet).
        progress: ``SportModeState.progress`` of that message.
        running: ``progress`` was seen at 1 since the request.
        already: the mode was in ``done_modes`` when it was sent and has not left them.
        elapsed: seconds since the request was sent.
    """
    if elapsed < spec.min_s or mode is None:
        return None
    if spec.progress:
        if running and progress < 0.5:
            return 'done', {'by': 'state'}
        if not running and elapsed >= spec.expected_s:
            return 'timeout', {'by': 'state', 'reason': 'SportModeState.progress never '
                               'showed it running (ignored by the robot?)'}
        return None
    if mode in spec.done_modes:
        if not already:
            return 'done', {'by': 'state'}
        if elapsed >= spec.expected_s:
            return 'done', {'by': 'duration'}
    return None
