"""core.policy: every rule, the failure modes of earlier Go2 LLM brains, adversarial LLM output."""
import copy
import math
import random
import re
from pathlib import Path

import pytest

from claudia_llm.core.errors import ConfigError
from claudia_llm.core.record import SOURCES, Action
from claudia_llm.core.safety.actions import ActionRegistry, ActionSpec
from claudia_llm.core.safety.policy import (
    ADD_RULES,
    DROP_RULES,
    FIX_RULES,
    POSTURE_ACTIONS,
    PolicyResult,
    SafetyPolicy,
)
from claudia_llm.core.safety.robot_state import POSTURES, RobotState, RobotStateSnapshot

REGISTRY = ActionRegistry.load()
INJECTIONS = Path(__file__).resolve().parents[1] / 'data' / 'injection_ja_zh_en.txt'


class FakeClock:
    """Monotonic seconds that move only when told."""

    def __init__(self, now=100.0):
        self.now = now

    def __call__(self):
        return self.now


def act(name, api_id=None, **parameter):
    """An Action of the table, with its table api_id unless one is given."""
    return Action(name, REGISTRY.get(name).api_id if api_id is None else api_id, parameter)


def state(posture='standing', battery=None):
    return RobotStateSnapshot(posture=posture, battery_percent=battery, stamp=0.0)


def names(result):
    return [a.name for a in result.actions]


def sent(policy, *action_names):
    """Commit the named actions as sent now, without a request id."""
    return policy.commit(None, PolicyResult([act(n) for n in action_names]))


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def policy(clock):
    return SafetyPolicy(REGISTRY, clock=clock)


# --- allow-list -------------------------------------------------------------------------

@pytest.mark.parametrize('item', [Action('Backflip', 9999), Action('front_flip', 1030),
                                  Action('hello', 1016), Action('Hello ', 1016),
                                  Action(5, 1016), Action(None, 1016),
                                  {'name': 'Hello', 'api_id': 1016}, 'Hello', None, 1016])
def test_unknown_actions_and_non_actions_are_dropped(policy, item):
    result = policy.check([item, act('Hello')], 'llm', state())
    assert names(result) == ['Hello']
    assert result.rules() == ['unknown_action']


@pytest.mark.parametrize('api_id', [1030, 1001, 0, -1, '1016', 1016.5, True, 2 ** 63])
def test_spoofed_api_id_is_dropped(policy, api_id):
    result = policy.check([Action('Hello', api_id)], 'llm', state())
    assert result.actions == []
    assert result.rules() == ['api_id_mismatch']


def test_api_id_always_comes_from_the_table(policy):
    result = policy.check([Action('Hello', None), Action('Heart', 1036.0)], 'llm', state())
    assert [(a.name, a.api_id, type(a.api_id)) for a in result.actions] == [
        ('Hello', 1016, int), ('Heart', 1036, int)]
    assert result.changes == []


def test_disabled_action_is_dropped_even_when_high_risk_is_allowed(clock):
    assert REGISTRY.get('Wallow').enabled is False
    permissive = SafetyPolicy(REGISTRY, allow_high_risk=True, clock=clock)
    result = permissive.check([act('Wallow')], 'emergency', state())
    assert result.actions == [] and result.rules() == ['disabled']


@pytest.mark.parametrize('source', ['llm', 'exact', 'semantic', 'fallback'])
def test_damp_is_never_taken_from_llm_or_its_caches(clock, source):
    permissive = SafetyPolicy(REGISTRY, allow_high_risk=True, clock=clock)
    result = permissive.check([act('Damp')], source, state())
    assert result.actions == [] and result.rules() == ['not_from_llm']


def test_damp_from_a_trusted_source_needs_high_risk_allowed(clock):
    strict = SafetyPolicy(REGISTRY, clock=clock)
    assert strict.check([act('Damp')], 'emergency', state()).rules() == ['high_risk']
    permissive = SafetyPolicy(REGISTRY, allow_high_risk=True, clock=clock)
    assert names(permissive.check([act('Damp')], 'emergency', state())) == ['Damp']


@pytest.mark.parametrize('name', ['FrontFlip', 'FrontJump', 'FrontPounce'])
def test_high_risk_refused_unless_allowed(clock, name):
    strict = SafetyPolicy(REGISTRY, clock=clock)
    result = strict.check([act(name)], 'llm', state())
    assert result.actions == [] and result.rules() == ['high_risk']
    permissive = SafetyPolicy(REGISTRY, allow_high_risk=True, clock=clock)
    assert names(permissive.check([act(name)], 'llm', state())) == [name]


# --- max_actions ------------------------------------------------------------------------

def test_at_most_max_actions_and_later_ones_dropped(policy):
    intent = [act(n) for n in ('Hello', 'Heart', 'Stretch', 'Scrape', 'WiggleHips', 'Pose')]
    result = policy.check(intent, 'llm', state('standing'))
    assert names(result) == ['Hello', 'Heart', 'Stretch', 'Scrape']
    assert result.rules() == ['max_actions', 'max_actions']


def test_inserted_standups_count_towards_max_actions(clock):
    policy = SafetyPolicy(REGISTRY, max_actions=3, clock=clock)
    intent = [act('StandDown'), act('Hello'), act('StopMove')]
    result = policy.check(intent, 'llm', state('standing'))
    # StandDown, StandUp, Hello fill the 3 slots; StopMove after them does not fit.
    assert names(result) == ['StandDown', 'StandUp', 'Hello']
    assert result.rules() == ['inserted_standup', 'max_actions']


def test_action_whose_prerequisite_does_not_fit_is_dropped_with_all_after_it(clock):
    policy = SafetyPolicy(REGISTRY, max_actions=2, clock=clock)
    result = policy.check([act('StandDown'), act('Hello'), act('StopMove')], 'llm',
                          state('standing'))
    assert names(result) == ['StandDown']
    assert result.rules() == ['max_actions', 'max_actions']


# --- parameters -------------------------------------------------------------------------

def test_move_speeds_are_clamped_and_missing_ones_default(policy):
    result = policy.check([act('Move', x=5.0, y=-9)], 'llm', state())
    assert result.actions[0].parameter == {'x': 0.6, 'y': -0.4, 'z': 0.0, 'duration_s': 1.0}
    assert result.rules() == ['clamped', 'clamped']
    assert all(isinstance(v, float) for v in result.actions[0].parameter.values())


def test_parameters_within_bounds_are_kept(policy):
    result = policy.check([act('Move', x=0.3, z=-0.5, duration_s=3)], 'llm', state())
    assert result.actions[0].parameter == {'x': 0.3, 'y': 0.0, 'z': -0.5, 'duration_s': 3.0}
    assert result.changes == []


@pytest.mark.parametrize('value', ['fast', None, [1], {'v': 1}, True, math.nan, math.inf])
def test_wrong_parameter_types_are_dropped_for_the_default(policy, value):
    result = policy.check([act('Move', x=value, y=0.2)], 'llm', state())
    assert result.actions[0].parameter == {'x': 0.0, 'y': 0.2, 'z': 0.0, 'duration_s': 1.0}
    assert result.rules() == ['bad_parameter']


def test_unknown_parameters_are_dropped(policy):
    result = policy.check([act('Move', x=0.1, speed=9), act('Heart', loud=True)], 'llm',
                          state())
    assert [a.parameter for a in result.actions] == [
        {'x': 0.1, 'y': 0.0, 'z': 0.0, 'duration_s': 1.0}, {}]
    assert result.rules() == ['bad_parameter', 'bad_parameter']


@pytest.mark.parametrize('parameter', ['x=1', [0.3, 0, 0], 7])
def test_parameter_that_is_not_an_object_gives_defaults(policy, parameter):
    result = policy.check([Action('Euler', 1007, parameter)], 'llm', state())
    assert result.actions[0].parameter == {'x': 0.0, 'y': 0.0, 'z': 0.0, 'duration_s': 2.0}
    assert result.rules() == ['bad_parameter']


@pytest.mark.parametrize('parameter', [{}, {'x': 0, 'y': 0.0, 'z': -0.0}, {'duration_s': 4},
                                       {'x': 'fast'}])
def test_a_move_that_does_not_move_is_dropped(policy, parameter):
    result = policy.check([Action('Move', 1008, parameter), act('Hello')], 'llm', state())
    assert names(result) == ['Hello']
    assert result.rules()[-1] == 'zero_velocity'
    assert 'zero_velocity' in DROP_RULES


@pytest.mark.parametrize('duration, expected, rules', [
    (3, 3.0, []), (0.0, 0.2, ['clamped']), (60, 5.0, ['clamped']), ('long', 1.0,
                                                                   ['bad_parameter'])])
def test_move_duration_is_bounded_by_the_table(policy, duration, expected, rules):
    result = policy.check([act('Move', x=0.3, duration_s=duration)], 'llm', state())
    assert result.actions[0].parameter['duration_s'] == expected
    assert result.rules() == rules


def test_a_level_euler_is_kept():  # an angle of 0 is a pose, not a missing velocity
    result = SafetyPolicy(REGISTRY).check([act('Euler')], 'llm', state())
    assert names(result) == ['Euler']


@pytest.mark.parametrize('flag, expected', [(True, True), (False, False), (0, False), (1, True)])
def test_bool_parameters_accept_bools_and_numbers(policy, flag, expected):
    result = policy.check([act('Pose', flag=flag)], 'llm', state())
    assert result.actions[0].parameter == {'flag': expected}


# --- posture ----------------------------------------------------------------------------

@pytest.mark.parametrize('posture', ['lying', 'sitting', 'unknown'])
def test_standup_inserted_when_not_standing(policy, posture):
    result = policy.check([act('Hello')], 'llm', state(posture))
    assert names(result) == ['StandUp', 'Hello']
    assert result.rules() == ['inserted_standup']
    assert result.actions[0].api_id == 1004


def test_no_standup_when_already_standing(policy):
    result = policy.check([act('Hello')], 'llm', state('standing'))
    assert names(result) == ['Hello'] and result.changes == []


def test_posture_is_tracked_through_the_sequence(policy):
    result = policy.check([act('StandDown'), act('Hello'), act('Sit'), act('Heart')], 'llm',
                          state('standing'))
    assert names(result) == ['StandDown', 'StandUp', 'Hello', 'Sit']
    assert result.rules() == ['inserted_standup', 'max_actions']


def test_an_asked_standup_is_not_doubled(policy):
    result = policy.check([act('StandUp'), act('Hello')], 'llm', state('lying'))
    assert names(result) == ['StandUp', 'Hello'] and result.changes == []


def test_actions_that_do_not_need_standing_get_no_standup(policy):
    result = policy.check([act('StopMove'), act('RecoveryStand')], 'llm', state('lying'))
    assert names(result) == ['StopMove', 'RecoveryStand'] and result.changes == []


# --- battery ----------------------------------------------------------------------------

@pytest.mark.parametrize('battery', [0.0, 8.0, 10.0])
def test_critical_battery_allows_posture_actions_only(policy, battery):
    intent = [act('Hello'), act('StandDown'), act('Dance1'), act('Sit')]
    result = policy.check(intent, 'llm', state('standing', battery))
    assert names(result) == ['StandDown', 'StandUp', 'Sit']
    assert result.rules() == ['battery_critical', 'battery_critical', 'inserted_standup']


def test_posture_action_set_matches_the_table():
    for name in POSTURE_ACTIONS:
        spec = REGISTRY.get(name)
        assert spec is not None and not spec.parameters
        assert spec.posture != 'unchanged' or name == 'StopMove'


@pytest.mark.parametrize('battery', [10.5, 15.0, 20.0])
def test_low_battery_refuses_high_risk_even_when_allowed(clock, battery):
    permissive = SafetyPolicy(REGISTRY, allow_high_risk=True, clock=clock)
    result = permissive.check([act('FrontFlip'), act('Hello')], 'llm',
                              state('standing', battery))
    assert names(result) == ['Hello'] and result.rules() == ['battery_low']


@pytest.mark.parametrize('battery', [None, 20.5, 100.0])
def test_no_battery_gating_above_20_or_when_unknown(clock, battery):
    permissive = SafetyPolicy(REGISTRY, allow_high_risk=True, clock=clock)
    result = permissive.check([act('FrontFlip'), act('Dance1')], 'llm',
                              state('standing', battery))
    assert names(result) == ['FrontFlip', 'Dance1']


def test_damp_allowed_at_critical_battery_when_allowed_at_all(clock):
    permissive = SafetyPolicy(REGISTRY, allow_high_risk=True, clock=clock)
    assert names(permissive.check([act('Damp')], 'emergency', state('standing', 5.0))) == [
        'Damp']


# --- repeats, cooldown, request ids -----------------------------------------------------

def test_adjacent_identical_actions_collapse(policy):
    result = policy.check([act('Hello'), act('Hello'), act('Move', x=0.2), act('Move', x=0.2)],
                          'llm', state())
    assert names(result) == ['Hello', 'Move']
    assert result.rules() == ['duplicate', 'duplicate']


def test_non_adjacent_or_different_repeats_stay(policy):
    result = policy.check([act('Hello'), act('Heart'), act('Hello'), act('Move', x=0.2)],
                          'llm', state())
    assert names(result) == ['Hello', 'Heart', 'Hello', 'Move']
    result = policy.check([act('Move', x=0.2), act('Move', x=-0.2)], 'llm', state())
    assert names(result) == ['Move', 'Move']


def test_same_action_within_cooldown_is_dropped(policy, clock):
    assert names(sent(policy, 'Hello')) == ['Hello']
    clock.now += 0.5
    result = policy.check([act('Hello'), act('Heart')], 'llm', state())
    assert names(result) == ['Heart'] and result.rules() == ['cooldown']
    clock.now += 0.5
    assert names(policy.check([act('Hello')], 'llm', state())) == ['Hello']


def test_stopmove_is_never_cooled_down(policy, clock):
    sent(policy, 'StopMove')
    clock.now += 0.01
    assert names(policy.check([act('StopMove')], 'emergency', state())) == ['StopMove']


def test_inserted_standup_is_not_cooled_down_but_an_asked_one_is(policy, clock):
    sent(policy, 'StandUp')
    clock.now += 0.2
    assert names(policy.check([act('Hello')], 'llm', state('lying'))) == ['StandUp', 'Hello']
    result = policy.check([act('StandUp')], 'llm', state('lying'))
    assert result.actions == [] and result.rules() == ['cooldown']


def test_cooldown_zero_is_off(clock):
    policy = SafetyPolicy(REGISTRY, cooldown_s=0, clock=clock)
    sent(policy, 'Hello')
    assert names(policy.check([act('Hello')], 'llm', state())) == ['Hello']


def test_check_is_pure(policy, clock):
    intent = [act('Hello')]
    for _ in range(3):
        assert names(policy.check(intent, 'llm', state())) == ['Hello']


# --- construction -----------------------------------------------------------------------

@pytest.mark.parametrize('kwargs', [{'max_actions': 0}, {'max_actions': -1},
                                    {'max_actions': 1.5}, {'max_actions': True},
                                    {'cooldown_s': -0.1}, {'cooldown_s': math.nan},
                                    {'cooldown_s': '1'}])
def test_bad_bounds_raise_config_error(kwargs):
    with pytest.raises(ConfigError):
        SafetyPolicy(REGISTRY, **kwargs)


def test_table_without_standup_raises_config_error():
    specs = [s for s in REGISTRY if s.name != 'StandUp']
    with pytest.raises(ConfigError, match='StandUp'):
        SafetyPolicy(ActionRegistry(specs))


def test_intent_objects_are_not_modified(policy):
    intent = [Action('Move', 1, {'x': 9.0, 'bad': 1}), act('Hello'), act('FrontFlip')]
    before = copy.deepcopy(intent)
    result = policy.check(intent, 'llm', state('lying'))
    assert intent == before
    assert all(a is not b for a in result.actions for b in intent)


# --- regressions: failure modes of earlier Go2 LLM brains -------------------------------

def test_regression_bow_is_scrape_1029_and_never_a_flip(policy):
    scrape, flip = REGISTRY.get('Scrape'), REGISTRY.get('FrontFlip')
    assert scrape.api_id == 1029 and flip.api_id == 1030
    assert 'bow' in scrape.names['en'] and 'お辞儀' in scrape.names['ja']
    bow_words = set(scrape.names['ja'] + scrape.names['zh'] + scrape.names['en'])
    for spec in REGISTRY:
        if spec.name != 'Scrape':
            assert not bow_words & set(sum(spec.names.values(), ()))
    assert names(policy.check([act('Scrape')], 'exact', state())) == ['Scrape']
    assert policy.check([act('FrontFlip')], 'llm', state()).rules() == ['high_risk']
    # "bow" with the flip's id: the id is checked against the table, 1030 never leaves.
    assert policy.check([Action('Scrape', 1030)], 'llm', state()).rules() == [
        'api_id_mismatch']


@pytest.mark.parametrize('source', SOURCES)
def test_regression_every_source_gets_the_standing_check(policy, source):
    result = policy.check([act('Hello')], source, state('lying'))
    assert names(result) == ['StandUp', 'Hello']


def test_regression_no_flip_at_8_percent_even_when_flips_are_allowed(clock):
    permissive = SafetyPolicy(REGISTRY, allow_high_risk=True, clock=clock)
    result = permissive.check([act('FrontFlip')], 'llm', state('standing', 8.0))
    assert result.actions == [] and result.rules() == ['battery_critical']


def test_regression_a_question_stays_without_action(policy):
    for posture in POSTURES:
        result = policy.check([], 'llm', state(posture, 50.0))
        assert result.actions == [] and result.changes == []


def test_regression_actions_run_once_per_request(policy, clock):
    first = policy.commit('req-1', policy.check([act('Hello')], 'llm', state(),
                                                request_id='req-1'))
    assert names(first) == ['Hello'] and first.changes == []
    clock.now += 60.0
    replay = policy.commit('req-1', first)
    assert replay.actions == [] and replay.rules() == ['duplicate_request']
    again = policy.check([act('Hello')], 'llm', state(), request_id='req-1')
    assert again.actions == [] and again.rules() == ['duplicate_request']
    twice = policy.commit('req-1', policy.check([act('Heart')], 'llm', state(),
                                                request_id='req-1'))
    assert twice.actions == [] and 'duplicate_request' in twice.rules()
    other = policy.check([act('Hello')], 'llm', state(), request_id='req-2')
    assert names(policy.commit('req-2', other)) == ['Hello']


def test_regression_commit_race_refuses_the_second_publisher(policy):
    a = policy.check([act('Hello')], 'llm', state(), request_id='req-9')
    b = policy.check([act('Hello')], 'llm', state(), request_id='req-9')
    assert names(a) == names(b) == ['Hello']
    assert policy.commit('req-9', a) is a
    refused = policy.commit('req-9', b)
    assert refused.actions == [] and refused.rules() == ['duplicate_request']
    assert names(b) == ['Hello']  # the checked result itself is not modified


def test_regression_state_is_read_at_check_time_not_at_arrival(policy):
    robot = RobotState('standing', battery_percent=80.0)
    at_arrival = robot.snapshot()
    robot.update_from_sport_mode(5)  # lies down during a 5 s LLM call
    robot.update_battery(9.0)
    result = policy.check([act('Hello'), act('Sit')], 'llm', robot)
    assert names(result) == ['StandUp', 'Sit']
    assert result.rules() == ['battery_critical', 'inserted_standup']
    assert at_arrival.posture == 'standing'  # the stale view would have sent Hello at once


def test_regression_old_state_never_blocks_every_action(policy):
    robot = RobotState('lying', battery_percent=5.0, clock=lambda: 0.0)
    robot.update_from_sport_mode(1)
    robot.update_battery(90.0)
    old_stamp = robot.snapshot()
    assert old_stamp.stamp == 0.0
    assert names(policy.check([act('Hello')], 'llm', old_stamp)) == ['Hello']
    assert names(policy.check([act('Hello')], 'llm', robot)) == ['Hello']


# --- adversarial LLM output -------------------------------------------------------------

_GARBAGE = [None, '', 'x', 7, -3.5, True, [], ['Hello'], {'name': 'Hello'}, math.nan, 1e308]
_FAKE_NAMES = ['front_flip', 'FRONTFLIP', 'frontflip', 'Front Flip', 'Flip', 'backflip',
               'Damp ', ' Hello', 'hello', 'StandUp\n', '1030', 'api_id:1030', 'Dance3',
               'Handstand', 'SelfDestruct', 'Jump', 'Wallow2', 'フリップ', '前空翻']
_PARAM_KEYS = ['x', 'y', 'z', 'flag', 'speed', 'api_id', 'data', '', 'X']
_PARAM_VALUES = [0.0, 0.3, -0.3, 5.0, -5.0, 1e9, -1e9, math.inf, -math.inf, math.nan, True,
                 False, 'fast', None, [0.1], {'x': 1}, 1, 0]


def _random_item(rng):
    kind = rng.random()
    if kind < 0.08:
        return rng.choice(_GARBAGE)
    if kind < 0.22:
        name = rng.choice(_FAKE_NAMES + _GARBAGE)
    else:
        name = rng.choice(REGISTRY.names())
    spec = REGISTRY.get(name) if isinstance(name, str) else None
    roll = rng.random()
    if spec is not None and roll < 0.7:
        api_id = spec.api_id
    elif roll < 0.8:
        api_id = None
    else:
        api_id = rng.choice([1030, 1031, 1032, 1001, 1021, 1016, 0, -1, 2 ** 40, '1030', 1.5,
                             True, None])
    if rng.random() < 0.1:
        parameter = rng.choice(['x=1', [1, 2], 5, None])
    else:
        parameter = {rng.choice(_PARAM_KEYS): rng.choice(_PARAM_VALUES)
                     for _ in range(rng.randrange(4))}
    return Action(name, api_id, parameter)


def _assert_safe(policy, intent, source, snap, result):
    """Nothing outside the allow-list and the posture rules in ``result``."""
    assert len(result.actions) <= policy.max_actions
    assert set(result.rules()) <= DROP_RULES | FIX_RULES | ADD_RULES
    posture = snap.posture
    battery = snap.battery_percent
    for action in result.actions:
        spec = REGISTRY.get(action.name)
        assert isinstance(action, Action) and isinstance(spec, ActionSpec)
        assert spec.enabled
        assert type(action.api_id) is int and action.api_id == spec.api_id
        assert spec.from_llm or source in policy.trusted_sources
        assert spec.risk != 'high' or policy.allow_high_risk
        if battery is not None and battery <= 10:
            assert action.name in POSTURE_ACTIONS
        if battery is not None and battery <= 20 and action.name not in POSTURE_ACTIONS:
            assert spec.risk != 'high'
        assert set(action.parameter) == {p.name for p in spec.parameters}
        for param in spec.parameters:
            value = action.parameter[param.name]
            if param.unit == 'bool':
                assert isinstance(value, bool)
            else:
                assert type(value) is float and param.minimum <= value <= param.maximum
        if spec.needs_standing:
            assert posture == 'standing'
        if spec.posture != 'unchanged':
            posture = spec.posture
    # Nothing added but StandUp prerequisites; every intent item is kept or has a drop rule.
    inserted = result.rules().count('inserted_standup')
    dropped = sum(1 for rule in result.rules() if rule in DROP_RULES)
    assert len(result.actions) == len(intent) - dropped + inserted
    asked = [i.name for i in intent if isinstance(i, Action) and isinstance(i.name, str)]
    rest = iter(asked)
    for action in result.actions:
        if action.name != 'StandUp':
            assert action.name in rest  # an ordered subsequence of what was asked


def test_500_adversarial_llm_replies_yield_only_allowed_actions():
    rng = random.Random(20240917)
    clock = FakeClock()
    policy = SafetyPolicy(REGISTRY, clock=clock)
    seen = set()
    for n in range(500):
        intent = [_random_item(rng) for _ in range(rng.choice([0, 1, 2, 3, 5, 8, 12]))]
        snap = state(rng.choice(POSTURES),
                     rng.choice([None, 0.0, 5.0, 10.0, 15.0, 20.0, 50.0, 100.0]))
        before = copy.deepcopy(intent)
        result = policy.check(intent, 'llm', snap, request_id='r%d' % n)
        assert intent == before
        _assert_safe(policy, intent, 'llm', snap, result)
        if rng.random() < 0.5:
            assert policy.commit('r%d' % n, result) is result
        clock.now += rng.choice([0.0, 0.3, 2.0])
        seen.update(result.rules())
        seen.update(a.name for a in result.actions)
    # The run exercised the rules it claims to check.
    assert {'unknown_action', 'api_id_mismatch', 'disabled', 'not_from_llm', 'high_risk',
            'battery_critical', 'max_actions', 'clamped', 'bad_parameter', 'inserted_standup',
            'cooldown'} <= seen
    assert not {'FrontFlip', 'FrontJump', 'FrontPounce', 'Damp', 'Wallow'} & seen


@pytest.mark.parametrize('source', SOURCES)
def test_adversarial_lists_with_high_risk_allowed_keep_table_rules(source):
    rng = random.Random(7)
    policy = SafetyPolicy(REGISTRY, allow_high_risk=True, clock=FakeClock())
    for _ in range(200):
        intent = [_random_item(rng) for _ in range(rng.randrange(10))]
        snap = state(rng.choice(POSTURES), rng.choice([None, 5.0, 15.0, 80.0]))
        _assert_safe(policy, intent, source, snap, policy.check(intent, source, snap))


# --- prompt injection -------------------------------------------------------------------

def _injection_lines():
    lines = INJECTIONS.read_text(encoding='utf-8').splitlines()
    return [line for line in lines if line.strip() and not line.startswith('#')]


def test_injection_list_covers_three_languages():
    lines = _injection_lines()
    assert len(lines) >= 20
    assert any(re.search('[\u3040-\u30ff]', line) for line in lines)  # ja kana
    assert sum(1 for line in lines if re.fullmatch(r'[\x00-\x7f]+', line)) >= 5  # en
    assert any(re.search('[忽略之前指令翻跟头]', line) and not re.search('[\u3040-\u30ff]', line)
               for line in lines)  # zh


def _complying_intents(line):
    """What an LLM fooled by ``line`` might output: flips, Damp, raw or spoofed api ids."""
    ids = [int(n) for n in re.findall(r'\d{4}', line)] or [1030]
    intents = [[act('FrontFlip')], [act('Damp')], [act('Wallow')], [act('FrontJump')],
               [act('StandUp'), act('FrontPounce'), act('FrontFlip')],
               [Action('FrontFlip', None)], [Action('front_flip', 1030)],
               [Action('Hello', 1030)], [Action('Scrape', 1030)],
               [act('Damp'), act('Damp'), act('Damp'), act('Damp'), act('Damp')]]
    for api_id in ids:
        spec = REGISTRY.by_api_id(api_id)
        intents.append([Action('Hello', api_id)])
        intents.append([Action(spec.name if spec else 'Unknown', api_id)])
    return intents


@pytest.mark.parametrize('line', _injection_lines())
def test_injection_attempts_never_yield_high_risk_or_disabled_actions(line):
    policy = SafetyPolicy(REGISTRY, clock=FakeClock())
    forbidden = {s.api_id for s in REGISTRY if s.risk == 'high' or not s.enabled
                 or not s.from_llm}
    for intent in _complying_intents(line):
        for source in ('llm', 'semantic', 'exact'):
            result = policy.check(intent, source, state('lying', 60.0))
            _assert_safe(policy, intent, source, state('lying', 60.0), result)
            assert not {a.api_id for a in result.actions} & forbidden, (line, intent)


def test_sit_while_sitting_is_dropped_not_turned_into_standup_and_sit(policy):
    result = policy.check([act('Sit')], 'exact', state('sitting'))
    assert names(result) == []
    assert [c.rule for c in result.changes] == ['already_in_posture']
    # From lying down the robot has to stand first; from standing it just sits.
    assert names(policy.check([act('Sit')], 'exact', state('lying'))) == ['StandUp', 'Sit']
    assert names(policy.check([act('Sit')], 'exact', state('standing'))) == ['Sit']
    # Posture is tracked through the sequence: Hello stands the robot up again.
    assert names(policy.check([act('Sit'), act('Hello'), act('Sit')], 'llm',
                              state('standing'))) == ['Sit', 'StandUp', 'Hello', 'Sit']
