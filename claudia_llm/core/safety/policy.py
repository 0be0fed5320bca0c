"""The safety policy: the last gate before any Go2 command leaves the node.

Every action list passes ``SafetyPolicy.check`` whatever tier produced it (emergency, exact
cache, semantic cache, LLM). The policy only removes actions, fixes their ids and parameters,
and inserts ``StandUp`` where an action needs the robot standing; it never adds anything else,
so an empty intent stays empty. Every change is a ``PolicyChange(action, rule, reason)`` with a
stable rule id, for the response record.

Rules, in the order they are applied to each action of the intent:

=================  =====  ==========================================================
rule               kind   meaning
=================  =====  ==========================================================
stale              drop   the utterance was said more than stale_after_s ago (an answer
                          recovered after a restart, a long queue); never StopMove
                          (``safety/stale.py``)
duplicate_request  drop   this request id was already committed ("actions ran twice")
unknown_action     drop   not an Action, or its name is not in the action table
api_id_mismatch    drop   the api_id given differs from the table's (spoofing); the
                          api_id sent is always the table's
disabled           drop   ``enabled: false`` in the table (firmware answers 3203)
not_from_llm       drop   ``from_llm: false`` (Damp) from any source but the trusted ones
                          (default: 'emergency'); the caches replay LLM answers, so
                          'exact' and 'semantic' are not trusted either
high_risk          drop   risk 'high' (flips, jumps, pounce, Damp) unless allow_high_risk
battery_critical   drop   battery known and <= 10 %: only posture actions
battery_low        drop   battery known and <= 20 %: no high-risk action except a
                          posture action (Damp, when allowed at all)
bad_parameter      fix    unknown parameter, or a value that is not a finite number
                          (bool only for 'bool' parameters): dropped, default used
clamped            fix    value outside the table's bounds: clamped into them
zero_velocity      drop   a Move whose velocities (parameters in m/s or rad/s) are all
                          zero: it would be sent, resent and stopped without moving
duplicate          drop   same name and parameters as the action just before it in the
                          output (an LLM stutter); non-adjacent repeats are a sequence
                          and stay
cooldown           drop   the same action was committed less than cooldown_s ago
                          (never StopMove; never an inserted StandUp)
already_in_posture drop   an action that needs standing and ends in the posture the
                          robot is already in (Sit while sitting): it would otherwise
                          become StandUp + Sit
inserted_standup   add    StandUp put before an action that needs standing when the
                          posture tracked through the sequence is not 'standing'
max_actions        drop   the output already holds max_actions actions (counting
                          inserted StandUps); later actions are dropped too
=================  =====  ==========================================================

Posture tracking starts from the state read at check time and follows each action's
``posture`` from the table ('unchanged' keeps it). Missing parameters are filled with the
table's defaults, so what is published is complete.

Duplicates: only an identical adjacent action is collapsed. The failure mode "actions ran
twice" (one request published twice) is guarded by request ids: ``commit`` refuses an id it
has seen (its result then holds no action), and ``check`` drops everything for such an id.
"""
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from claudia_llm.core.errors import ConfigError
from claudia_llm.core.record import Action, PolicyChange

from .actions import ActionRegistry, ActionSpec
from .robot_state import RobotState, RobotStateSnapshot
from .stale import withhold_stale

# Actions allowed at or under the critical battery level: they change or hold the posture
# and do not spend much energy (Damp still needs allow_high_risk and a trusted source).
POSTURE_ACTIONS = frozenset(('StandUp', 'StandDown', 'Sit', 'RiseSit', 'BalanceStand',
                             'RecoveryStand', 'StopMove', 'Damp'))
NEVER_COOLED_DOWN = frozenset(('StopMove',))
TRUSTED_SOURCES = ('emergency',)
PREREQUISITE = 'StandUp'
REMEMBERED_REQUESTS = 4096

VELOCITY_UNITS = frozenset(('m/s', 'rad/s'))

DROP_RULES = frozenset(('stale', 'duplicate_request', 'unknown_action', 'api_id_mismatch',
                        'disabled', 'not_from_llm', 'high_risk', 'battery_critical', 'battery_low',
                        'zero_velocity',
                        'duplicate', 'cooldown', 'already_in_posture', 'max_actions'))
FIX_RULES = frozenset(('bad_parameter', 'clamped'))
ADD_RULES = frozenset(('inserted_standup',))


@dataclass
class PolicyResult:
    """What the policy let through (``actions``) and every change it made (``changes``)."""

    actions: List[Action] = field(default_factory=list)
    changes: List[PolicyChange] = field(default_factory=list)

    def rules(self) -> List[str]:
        """The rule ids of ``changes``, in order."""
        return [c.rule for c in self.changes]


class SafetyPolicy:
    """Allow-list, prerequisites, battery, risk, parameter and cooldown rules for Go2 actions.

    ``check`` is pure (no I/O, no state change) and takes microseconds; ``commit`` records
    what is sent, for the cooldown and request-id rules; ``admit`` does both. All may be
    called from any thread.

    Args:
        registry: the action table (``config/go2_actions.yaml``).
        allow_high_risk: let 'high' risk actions through (``safety.allow_high_risk``).
        max_actions: most actions in one output list, inserted StandUps included (>= 1).
        cooldown_s: the same action again within this many seconds is dropped (>= 0; 0 = off).
        stale_after_s: actions of an utterance older than this are dropped (rule
            ``stale``), seconds (>= 0; 0 = off).
        clock: monotonic time source, seconds.
        battery_critical_percent: at or under it, only ``posture_actions``.
        battery_low_percent: at or under it, no high-risk action.
        trusted_sources: sources whose ``from_llm: false`` actions are accepted.
        posture_actions: names allowed at the critical battery level.

    Raises:
        ConfigError: a bound is invalid, or the table has no enabled StandUp.
    """

    def __init__(self, registry: ActionRegistry, allow_high_risk: bool = False,
                 max_actions: int = 4, cooldown_s: float = 1.0, stale_after_s: float = 6.0,
                 clock: Callable[[], float] = time.monotonic,
                 battery_critical_percent: float = 10.0, battery_low_percent: float = 20.0,
                 trusted_sources: Sequence[str] = TRUSTED_SOURCES,
                 posture_actions: Iterable[str] = POSTURE_ACTIONS):
        if isinstance(max_actions, bool) or not isinstance(max_actions, int) or max_actions < 1:
            raise ConfigError('safety.max_actions must be an integer >= 1, got %r'
                              % (max_actions,))
        if not _finite_number(cooldown_s) or cooldown_s < 0:
            raise ConfigError('safety.cooldown_s must be a number >= 0, got %r' % (cooldown_s,))
        if not _finite_number(stale_after_s) or stale_after_s < 0:
            raise ConfigError('safety.stale_after_s must be a number >= 0, got %r'
                              % (stale_after_s,))
        standup = registry.get(PREREQUISITE)
        if standup is None or not standup.enabled:
            raise ConfigError('the action table needs an enabled %s' % PREREQUISITE)
        self.registry = registry
        self.allow_high_risk = bool(allow_high_risk)
        self.max_actions = max_actions
        self.cooldown_s = float(cooldown_s)
        self.stale_after_s = float(stale_after_s)
        self.battery_critical_percent = float(battery_critical_percent)
        self.battery_low_percent = float(battery_low_percent)
        self.trusted_sources = tuple(trusted_sources)
        self.posture_actions = frozenset(posture_actions)
        self._standup = standup
        self._clock = clock
        self._lock = threading.Lock()
        self._last_sent: Dict[str, float] = {}
        self._requests: OrderedDict[str, float] = OrderedDict()

    def check(self, intent: List[Action], source: str,
              state: Union[RobotStateSnapshot, RobotState],
              request_id: Optional[str] = None,
              age_s: Optional[float] = None) -> PolicyResult:
        """Return the actions that may be sent for ``intent`` and every change made.

        Args:
            intent: the actions a tier understood (any content: it is validated here).
            source: 'emergency', 'exact', 'semantic', 'llm' or 'fallback'.
            state: the robot's state. Pass the ``RobotState`` itself (read here, now) or a
                snapshot taken just now; never one taken when the utterance arrived.
            request_id: the utterance's request id; an id already committed yields nothing.
            age_s: seconds since the utterance was said (None: unknown, never stale);
                over ``stale_after_s`` every action but StopMove is dropped (``stale``).

        Returns:
            PolicyResult with new Action objects (the intent is not modified).
        """
        snap = state.snapshot() if isinstance(state, RobotState) else state
        items = list(intent) if isinstance(intent, (list, tuple)) else [intent]
        with self._lock:
            now = self._clock()
            last_sent = dict(self._last_sent)
            seen = request_id is not None and request_id in self._requests
        if seen:
            return PolicyResult([], [PolicyChange(_label(i), 'duplicate_request',
                                                  'request %s was already sent' % request_id)
                                     for i in items])
        result = PolicyResult()
        items, result.changes = withhold_stale(items, age_s, self.stale_after_s)
        posture = snap.posture
        full = False
        for item in items:
            spec, drop = self._allowed(item, source, snap)
            if spec is None:
                result.changes.append(drop)
                continue
            action = Action(spec.name, spec.api_id,
                            self._parameters(spec, item.parameter, result.changes))
            if _standing_still(spec, action.parameter):
                result.changes.append(PolicyChange(
                    spec.name, 'zero_velocity', '%s with every velocity 0 does not move'
                    % spec.name))
                continue
            drop = self._repeated(action, result.actions, last_sent, now)
            if drop is not None:
                result.changes.append(drop)
                continue
            if (spec.needs_standing and spec.posture not in ('unchanged', 'standing')
                    and posture == spec.posture):
                result.changes.append(PolicyChange(
                    spec.name, 'already_in_posture', 'the robot is already %s' % posture))
                continue
            insert = spec.needs_standing and posture != 'standing'
            if full or len(result.actions) + 1 + int(insert) > self.max_actions:
                full = True
                result.changes.append(PolicyChange(
                    spec.name, 'max_actions', 'at most %d actions per utterance'
                    % self.max_actions))
                continue
            if insert:
                result.actions.append(Action(self._standup.name, self._standup.api_id, {}))
                result.changes.append(PolicyChange(
                    self._standup.name, 'inserted_standup',
                    '%s needs the robot standing; posture was %s' % (spec.name, posture)))
                posture = self._standup.posture
            result.actions.append(action)
            if spec.posture != 'unchanged':
                posture = spec.posture
        return result

    def commit(self, request_id: Optional[str], result: PolicyResult) -> PolicyResult:
        """Record that ``result.actions`` are sent now for ``request_id`` (cooldown, ids).

        Returns:
            ``result`` itself when ``request_id`` is new (or None). For an id already
            committed nothing is recorded and a new PolicyResult without actions is returned,
            with a 'duplicate_request' change per action: publish nothing then.
        """
        with self._lock:
            now = self._clock()
            if request_id is not None:
                if request_id in self._requests:
                    return PolicyResult([], list(result.changes) + [
                        PolicyChange(a.name, 'duplicate_request',
                                     'request %s was already sent' % request_id)
                        for a in result.actions])
                self._requests[request_id] = now
                while len(self._requests) > REMEMBERED_REQUESTS:
                    self._requests.popitem(last=False)
            for action in result.actions:
                self._last_sent[action.name] = now
        return result

    def _allowed(self, item: Any, source: str,
                 snap: RobotStateSnapshot) -> Tuple[Optional[ActionSpec], Optional[PolicyChange]]:
        """Return (spec, None) when ``item`` passes the allow rules, else (None, change)."""
        label = _label(item)
        if not isinstance(item, Action) or not isinstance(item.name, str):
            return None, PolicyChange(label, 'unknown_action', 'not an action: %s' % label)
        spec = self.registry.get(item.name)
        if spec is None:
            return None, PolicyChange(label, 'unknown_action',
                                      '%r is not in the action table' % item.name)
        if item.api_id is not None and (isinstance(item.api_id, bool)
                                        or item.api_id != spec.api_id):
            return None, PolicyChange(label, 'api_id_mismatch', '%s has api_id %d, not %r'
                                      % (spec.name, spec.api_id, item.api_id))
        if not spec.enabled:
            return None, PolicyChange(label, 'disabled', '%s is disabled in the action table'
                                      % spec.name)
        if not spec.from_llm and source not in self.trusted_sources:
            return None, PolicyChange(label, 'not_from_llm', '%s is never taken from source %r'
                                      % (spec.name, source))
        if spec.risk == 'high' and not self.allow_high_risk:
            return None, PolicyChange(label, 'high_risk', '%s is high-risk and '
                                      'safety.allow_high_risk is off' % spec.name)
        battery = snap.battery_percent
        if battery is not None:
            if battery <= self.battery_critical_percent and spec.name not in self.posture_actions:
                return None, PolicyChange(label, 'battery_critical', 'battery %.0f%% <= %.0f%%: '
                                          'posture actions only'
                                          % (battery, self.battery_critical_percent))
            if (battery <= self.battery_low_percent and spec.risk == 'high'
                    and spec.name not in self.posture_actions):
                return None, PolicyChange(label, 'battery_low', 'battery %.0f%% <= %.0f%%: no '
                                          'high-risk action' % (battery, self.battery_low_percent))
        return spec, None

    def _parameters(self, spec: ActionSpec, raw: Any,
                    changes: List[PolicyChange]) -> Dict[str, Any]:
        """Validated, clamped, complete parameters of ``spec``; changes appended."""
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            changes.append(PolicyChange(spec.name, 'bad_parameter', 'parameter must be an '
                                        'object, got %s; defaults used' % type(raw).__name__))
            raw = {}
        values: Dict[str, float] = {}
        for key, value in raw.items():
            param = spec.parameter(key) if isinstance(key, str) else None
            if param is None:
                changes.append(PolicyChange(spec.name, 'bad_parameter',
                                            'unknown parameter %r dropped' % (key,)))
                continue
            number = _as_number(value, param.unit == 'bool')
            if number is None:
                changes.append(PolicyChange(spec.name, 'bad_parameter', '%s=%r is not a number; '
                                            'default %g used' % (key, value, param.default)))
                continue
            clamped = param.clamp(number)
            if clamped != number:
                changes.append(PolicyChange(spec.name, 'clamped', '%s=%g clamped to %g (%g..%g %s)'
                                            % (key, number, clamped, param.minimum,
                                               param.maximum, param.unit)))
            values[key] = clamped
        complete: Dict[str, Any] = {}
        for param in spec.parameters:
            value = values.get(param.name, param.default)
            complete[param.name] = value >= 0.5 if param.unit == 'bool' else float(value)
        return complete

    def _repeated(self, action: Action, out: List[Action], last_sent: Dict[str, float],
                  now: float) -> Optional[PolicyChange]:
        """The 'duplicate' or 'cooldown' change for ``action``, or None."""
        if out and out[-1].name == action.name and out[-1].parameter == action.parameter:
            return PolicyChange(action.name, 'duplicate', 'same as the action before it')
        sent = last_sent.get(action.name)
        if (action.name not in NEVER_COOLED_DOWN and sent is not None
                and now - sent < self.cooldown_s):
            return PolicyChange(action.name, 'cooldown', '%s was sent %.2f s ago (cooldown %g s)'
                                % (action.name, now - sent, self.cooldown_s))
        return None


def _standing_still(spec: ActionSpec, parameter: Dict[str, Any]) -> bool:
    """True for a velocity command (parameters in m/s, rad/s) whose velocities are all 0."""
    speeds = [p.name for p in spec.parameters if p.unit in VELOCITY_UNITS]
    return bool(speeds) and all(parameter.get(name, 0.0) == 0.0 for name in speeds)


def _label(item: Any) -> str:
    """A short printable name for an intent item, for PolicyChange.action."""
    name = item.name if isinstance(item, Action) else item
    text = name if isinstance(name, str) else repr(name)
    return text if len(text) <= 60 else text[:57] + '...'


def _finite_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _as_number(value: Any, bool_ok: bool) -> Optional[float]:
    """``value`` as a float, or None when it is not a finite number (bools only if bool_ok)."""
    if isinstance(value, bool):
        return float(value) if bool_ok else None
    if _finite_number(value):
        return float(value)
    return None
