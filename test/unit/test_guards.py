"""Guard features: a semantic hit must never flip negation, direction or numbers."""
import dataclasses
import doctest

import pytest

from claudia_llm.core.understanding import guards as guards_module
from claudia_llm.core.understanding.guards import Guards, extract_guards


def test_docstring_examples():
    result = doctest.testmod(guards_module)
    assert result.attempted > 0
    assert result.failed == 0


MUST_DIFFER = [
    ('座らないで', '座って'),
    ('座るな', '座って'),
    ('おすわりしない？', 'おすわり'),
    ('座っちゃダメ', '座って'),
    ('座るのやめて', '座って'),
    ("don't sit", 'sit'),
    ('do not sit', 'sit'),
    ('never sit', 'sit'),
    ('stop sitting', 'sit'),
    ('不要坐下', '坐下'),
    ('别坐下', '坐下'),
    ('別坐下', '坐下'),
    ('没坐下', '坐下'),
    ('右に曲がって', '左に曲がって'),
    ('turn right', 'turn left'),
    ('向右转', '向左转'),
    ('前に進んで', '後ろに下がって'),
    ('go forward', 'go back'),
    ('look up', 'look down'),
    ('三歩前へ', '一歩前へ'),
    ('3歩前へ', '1歩前へ'),
    ('walk two steps', 'walk three steps'),
    ('走两步', '走三步'),
    ('walk 2 meters', 'walk 2 steps'),
    ('ダンス1', 'ダンス2'),
    ('dance 1', 'dance 2'),
    ('turn 90 degrees', 'turn 180 degrees'),
    ('止まらないで', '止まって'),
    ("don't stop", 'stop'),
    ('别停', '停下'),
    ('跳第一支舞', '跳第二支舞'),
    ('第一のダンス', '第二のダンス'),
    ('the first dance', 'the second dance'),
]


@pytest.mark.parametrize('query, candidate', MUST_DIFFER)
def test_flipped_commands_have_different_guards(query, candidate):
    assert extract_guards(query) != extract_guards(candidate)


MUST_MATCH = [
    ('座って', '座ってください'),
    ('座って', 'お座り'),
    ('sit', 'sit down'),            # posture particle, not a direction
    ('stand', 'stand up'),
    ('立って', '立ち上がって'),       # 上 inside a verb is not a direction
    ('坐下', '请坐下'),               # 下 as a verb complement is not a direction
    ('三歩前へ', '3歩前へ'),
    ('三步向前', '3步向前'),
    ('two steps forward', '2 steps forward'),
    ('dance 2', 'ダンス2'),
    ('all right, sit', 'sit'),
]


@pytest.mark.parametrize('query, candidate', MUST_MATCH)
def test_paraphrases_share_guards(query, candidate):
    assert extract_guards(query) == extract_guards(candidate)


@pytest.mark.parametrize('text', ['こんにちは', '可愛い', '楽しい', '危ない', '少ない',
                                  'おはようございます', 'かわいいね', '座りな', 'すごい', 'hello',
                                  '坐下', 'good dog'])
def test_no_false_negation(text):
    assert extract_guards(text).negated is False


@pytest.mark.parametrize('text', ['座らない', '座らずに', '座りません', '座る必要はない',
                                  '座るな', "don't", "won't sit", 'no', '不坐', '别动'])
def test_negation_is_found(text):
    assert extract_guards(text).negated is True


@pytest.mark.parametrize('text, negated, stop', [
    ('止まって', False, True), ('止まらないで', True, True), ('やめて', False, True),
    ('座るのやめて', False, True), ('ストップ', False, True), ('stop', False, True),
    ("don't stop", True, True), ('stop sitting', False, True), ('停下', False, True),
    ('别停', True, True), ('停止跳舞', False, True), ('座って', False, False),
])
def test_stopping_is_its_own_feature(text, negated, stop):
    value = extract_guards(text)
    assert (value.negated, value.stop) == (negated, stop)


@pytest.mark.parametrize('text, directions', [
    ('右に曲がって', {'right'}), ('左へ', {'left'}), ('後ろに下がって', {'back'}),
    ('前に進んで', {'forward'}), ('上を見て', {'up'}), ('下を見て', {'down'}),
    ('turn left', {'left'}), ('go backwards', {'back'}), ('move forward', {'forward'}),
    ('向后退', {'back'}), ('往前走', {'forward'}), ('向上看', {'up'}), ('左右', {'left', 'right'}),
    ('sit down', set()), ('然后跳舞', set()), ('その後ダンス', set()), ('名前は？', set()),
    ('ください', set()), ("that's right", set()), ('turn right now', {'right'}),
])
def test_directions(text, directions):
    assert extract_guards(text).directions == frozenset(directions)


@pytest.mark.parametrize('text, numbers', [
    ('三歩前へ', ((3.0, 'step'),)),
    ('２メートル進んで', ((2.0, 'm'),)),
    ('90度回って', ((90.0, 'deg'),)),
    ('走两步', ((2.0, 'step'),)),
    ('向前走三米', ((3.0, 'm'),)),
    ('跳两次', ((2.0, 'times'),)),
    ('walk three steps', ((3.0, 'step'),)),
    ('move 2m', ((2.0, 'm'),)),
    ('jump twice', ((2.0, 'times'),)),
    ('ダンス2', ((2.0, ''),)),
    ('跳舞2', ((2.0, ''),)),
    ('跳一下', ()),                  # 一下 is a softener, not a count
    ('跳第二支舞', ((2.0, 'nth'),)),
    ('第3のダンス', ((3.0, 'nth'),)),
    ('the second dance', ((2.0, 'nth'),)),
    ('一緒に踊ろう', ()),
])
def test_numbers_and_units(text, numbers):
    assert extract_guards(text).numbers == numbers


def test_guards_are_frozen_and_hashable():
    value = extract_guards('三歩前へ')
    with pytest.raises(dataclasses.FrozenInstanceError):
        value.negated = True
    assert {value: 1}[extract_guards('3歩前へ')] == 1
    assert Guards() == extract_guards('hello')


@pytest.mark.parametrize('text', ['➑歩進んで', '②歩進んで', '³ steps forward', '➑'])
def test_digits_int_refuses_do_not_raise(text):
    assert isinstance(extract_guards(text), Guards)


def test_a_dingbat_digit_is_not_a_number():
    assert extract_guards('➑歩進んで').numbers == ()
