"""Vocabulary families of the lexicon reach their action in spellings and forms not listed.

Each case is a word of a family (tricks, lying down, getting back up, greetings by time of
day) in a script or request form that ``config/lexicon.yaml`` does not list literally: the
readings (``core.understanding.readings``) and the politeness rules must carry it.
"""
import pytest

from claudia_llm.core.safety.actions import ActionRegistry
from claudia_llm.core.understanding import motion
from claudia_llm.core.understanding.commands import compose
from claudia_llm.core.understanding.lexicon import Lexicon

LEXICON = Lexicon.load(None, ActionRegistry.load())
TABLE = {key: answer for key, answer, _entry in LEXICON.answers()}
LISTED = {entry.phrase for entry in LEXICON.entries()}

CASES = [
    ('paw trick', 'オテ', 'Hello'), ('paw trick', 'おてして', 'Hello'),
    ('paw trick', 'あくしゅしてくれる？', 'Hello'), ('paw trick', '握个手吧', 'Hello'),
    ('paw trick', 'shake hands please', 'Hello'), ('paw trick', 'can you give me a paw', 'Hello'),
    ('lying down', 'ヨコタワッテ', 'StandDown'), ('lying down', 'ねんねしてね', 'StandDown'),
    ('lying down', '寝転がってくれませんか', 'StandDown'), ('lying down', '请趴下来', 'StandDown'),
    ('lying down', 'lie flat please', 'StandDown'),
    ('getting back up', 'ふっきして', 'RecoveryStand'),
    ('getting back up', '立て直してください', 'RecoveryStand'),
    ('getting back up', '重新站起來', 'RecoveryStand'),
    ('getting back up', 'could you get back on your feet', 'RecoveryStand'),
    ('greeting by time of day', 'コンバンワ', 'Hello'),
    ('greeting by time of day', 'オヤスミナサイ', 'Hello'),
    ('greeting by time of day', '中午好啊', 'Hello'),
    ('greeting by time of day', 'good evening claudia', 'Hello'),
    ('resting', 'コシカケテ', 'Sit'), ('resting', '歇一会儿吧', 'Sit'),
    ('stretching', 'せのびして', 'Stretch'),
    ('spin trick', 'クルッとまわって', 'Dance1'), ('spin trick', '转个圈吧', 'Dance1'),
    ('spin trick', 'can you spin around', 'Dance1'),
]


@pytest.mark.parametrize('family, text, action', CASES)
def test_family_word_in_an_unlisted_form(family, text, action):
    assert text not in LISTED, 'the case must be a form the lexicon does not list'
    answer = compose(text, TABLE.get, LEXICON.high_risk(), LEXICON.spellings())
    assert answer is not None and [a.name for a in answer.intent] == [action], family


def understood(text):
    answer = compose(text, TABLE.get, LEXICON.high_risk(), LEXICON.spellings())
    return [a.name for a in answer.intent] if answer else []


@pytest.mark.parametrize('text', [
    '休憩したい', 'ひと休みしたいな', 'すわりたいです', '想歇一会儿', '我想坐下',
    'i want to take a break', "i'd like to sit down", 'i wanna rest'])
def test_a_wish_to_rest_is_the_resting_family(text):
    assert text not in LISTED
    assert understood(text) == ['Sit']


@pytest.mark.parametrize('text', ['踊りたい', '握手したい', '想跳舞', 'i want to dance',
                                  '休みたくない', '休憩したくない'])
def test_wishes_of_other_families_and_negated_wishes_are_left_to_the_llm(text):
    assert understood(text) == []


@pytest.mark.parametrize('text, action', [
    ('おつかれさまでした', 'Sit'), ('お疲れさまです', 'Sit'),  # honorific 様 after お + noun
    ('のんびりしてね', 'Sit'), ('ゆっくりしてください', 'Sit'),  # する after a resting adverb
    ('良い姿勢になって', 'StandUp'), ('正しい姿勢にして', 'StandUp'),  # に after a posture noun
    ('きをつけ', 'StandUp'), ('stand at attention please', 'StandUp'),
    ('给大家跳个舞', 'Dance1'), ('跟小朋友们打招呼', 'Hello'),  # zh beneficiary
    ('请刮擦一下', 'Scrape')])
def test_family_rule_in_an_unlisted_form(text, action):
    assert text not in LISTED
    assert understood(text) == [action]


@pytest.mark.parametrize('text', ['ゆっくり', 'ゆっくり歩いて', '横に', 'お客様'])
def test_rules_do_not_widen_other_words(text):
    assert 'Sit' not in understood(text) and 'StandDown' not in understood(text)


@pytest.mark.parametrize('text, actions', [
    ('累死了想坐下', ['Sit']),  # clause-final 了, and the same ask twice is said once
    ('坐下，坐下', ['Sit']), ('站起来了吗', []), ('好了站起来', []),
    ('我累了想休息', ['Sit'])])
def test_clause_final_le_and_repeated_asks(text, actions):
    assert understood(text) == actions


@pytest.mark.parametrize('text, z_sign', [('右に回って', -1), ('ひだりにまわって', 1),
                                          ('spin left', 1), ('向右转圈', -1)])
def test_a_spin_with_a_direction_is_a_turn_not_the_spin_trick(text, z_sign):
    move = ActionRegistry.load().get('Move')
    answer = compose(text, TABLE.get, LEXICON.high_risk(), LEXICON.spellings(),
                     lambda segment: motion.parse(segment, move))
    assert [a.name for a in answer.intent] == ['Move']
    assert answer.intent[0].parameter['z'] * z_sign > 0
