"""Distance, angle and time phrasings become one timed Move (issue 12 item 2)."""
import doctest
import math
from pathlib import Path

import pytest

from claudia_llm.core.errors import ConfigError
from claudia_llm.core.paths import config_dir
from claudia_llm.core.record import Action, Answer
from claudia_llm.core.safety.actions import ActionRegistry
from claudia_llm.core.understanding import motion
from claudia_llm.core.understanding.commands import compose
from claudia_llm.core.understanding.normalize import normalize

MOVE = ActionRegistry.load().get('Move')
SPEEDS = motion.Phrasing.from_spec(MOVE)


def move_of(text):
    answer = motion.parse(text, MOVE)
    assert answer is not None, text
    assert answer.kind == 'command' and [a.name for a in answer.intent] == ['Move']
    assert answer.intent[0].api_id == 1008 and answer.reply
    return answer.intent[0].parameter


def covered(parameter, axis):
    """Distance (m) or angle (rad) that a Move covers on ``axis``."""
    return parameter[axis] * parameter['duration_s']


@pytest.mark.parametrize('text, metres', [
    ('三歩前へ', 3 * SPEEDS.step_m), ('3歩進んで', 3 * SPEEDS.step_m),
    ('前に2メートル進んでください', 2.0), ('50センチ前に歩いて', 0.5),
    ('three steps forward', 3 * SPEEDS.step_m), ('please walk forward 2 meters', 2.0),
    ('往前走三步', 3 * SPEEDS.step_m), ('请往前走两步', 2 * SPEEDS.step_m),
    ('后退两米', -2.0), ('退后一步', -SPEEDS.step_m), ('go back 1 meter', -1.0),
    ('back up 50 cm', -0.5), ('後ろに一歩下がって', -SPEEDS.step_m),
])
def test_a_distance_is_walked_as_velocity_times_duration(text, metres):
    parameter = move_of(text)
    assert covered(parameter, 'x') == pytest.approx(metres, abs=0.01)
    assert parameter['y'] == parameter['z'] == 0.0
    assert abs(parameter['x']) <= MOVE.parameter('x').maximum


@pytest.mark.parametrize('text, degrees', [
    ('右に90度回って', -90), ('左を向いて', 90), ('turn left 90 degrees', 90),
    ('turn right', -90), ('向左转90度', 90), ('左转九十度', 90), ('向右转', -90),
    ('右に45度曲がってくれる？', -45), ('rotate right 180 degrees', -180),
])
def test_an_angle_is_turned_as_yaw_rate_times_duration(text, degrees):
    parameter = move_of(text)
    assert covered(parameter, 'z') == pytest.approx(math.radians(degrees), abs=0.01)
    assert parameter['x'] == parameter['y'] == 0.0


@pytest.mark.parametrize('text, seconds', [
    ('walk forward for 3 seconds', 3.0), ('前进5秒', 5.0), ('前に3秒歩いて', 3.0),
])
def test_a_time_is_walked_for_that_time_at_the_phrasing_speed(text, seconds):
    parameter = move_of(text)
    assert parameter['duration_s'] == seconds and parameter['x'] == SPEEDS.walk_mps


def test_no_quantity_walks_the_default_duration_and_turns_a_quarter():
    assert move_of('walk forward')['duration_s'] == MOVE.parameter('duration_s').default
    assert move_of('まっすぐ進んで')['x'] > 0
    assert covered(move_of('turn left a little'), 'z') < covered(move_of('turn left'), 'z')
    assert covered(move_of('少し右に回って'), 'z') > covered(move_of('右に回って'), 'z')


def test_sideways_needs_a_distance():
    assert covered(move_of('左に1メートル移動して'), 'y') == pytest.approx(1.0, abs=0.01)
    assert covered(move_of('move right 50 cm'), 'y') == pytest.approx(-0.5, abs=0.01)
    assert motion.parse('往左走', MOVE) is None  # turn or sidestep? the LLM asks


def test_a_far_distance_goes_faster_within_the_bounds_or_not_at_all():
    parameter = move_of('前に2メートル進んで')
    assert parameter['duration_s'] == MOVE.parameter('duration_s').maximum
    assert parameter['x'] <= MOVE.parameter('x').maximum
    assert motion.parse('walk forward 10 meters', MOVE) is None
    assert motion.parse('walk forward for 30 seconds', MOVE) is None
    assert motion.parse('turn left 720 degrees', MOVE) is None


@pytest.mark.parametrize('text', [
    '前に歩かないで', '不要往前走', "don't walk forward",      # negated
    '前に歩く？', 'are you walking forward?',                # questions
    'go back to sleep', '前に歩いて座って', '右を見て',         # more than a motion
    '前に下がって', 'walk forward and left 2 meters',          # contradictory directions
    '一回転して', 'spin around twice', '歩いて', 'move', '走',  # no direction
    '上に2メートル', 'walk forward 3 times', '5歩', '',        # no motion / odd units
])
def test_anything_but_one_plain_motion_is_left_to_the_llm(text):
    assert motion.parse(text, MOVE) is None


def test_sequences_mix_motions_with_cached_commands():
    table = {normalize('座って'): Answer('はい。', [Action('Sit', 1009)], 'command'),
             normalize('sit down'): Answer('OK.', [Action('Sit', 1009)], 'command')}

    def parse(segment):
        return motion.parse(segment, MOVE)

    answer = compose('三歩前へ進んでから座って', table.get, (), None, parse)
    assert [a.name for a in answer.intent] == ['Move', 'Sit']
    answer = compose('右に曲がって、3歩進んで', table.get, (), None, parse)
    assert [(a.name, a.parameter['z'] < 0, a.parameter['x'] > 0) for a in answer.intent] == [
        ('Move', True, False), ('Move', False, True)]
    answer = compose('walk forward 2 meters then sit down', table.get, (), None, parse)
    assert [a.name for a in answer.intent] == ['Move', 'Sit']
    assert compose('三歩前へ進んでから踊って', table.get, (), None, parse) is None


def test_phrasing_speeds_come_from_the_action_table_and_must_be_positive(tmp_path):
    assert SPEEDS.walk_mps == dict(MOVE.phrasing)['walk_mps']
    with pytest.raises(ValueError):
        motion.Phrasing.from_spec(type('S', (), {'phrasing': (('walk_mps', 0),)}))
    table = Path(config_dir() / 'go2_actions.yaml').read_text(encoding='utf-8')
    for bad in ('walk_mps: 0.0', 'walk_mps: 0.3, sprint_mps: 2'):
        path = tmp_path / 'actions.yaml'
        path.write_text(table.replace('walk_mps: 0.3', bad), encoding='utf-8')
        with pytest.raises(ConfigError, match='phrasing'):
            ActionRegistry.load(path)


def test_examples_hold():
    assert doctest.testmod(motion).failed == 0


def test_a_number_without_a_known_unit_is_not_guessed():
    assert motion.parse('5秒間前に歩いて', MOVE).intent[0].parameter['duration_s'] == 5.0
    assert motion.parse('前に5個歩いて', MOVE) is None
    assert motion.parse('walk forward 5', MOVE) is None


def test_a_quantity_the_guards_cannot_read_is_not_walked_as_the_default():
    assert motion.parse('walk forward half a meter', MOVE) is None
    assert motion.parse('往前走半米', MOVE) is None
