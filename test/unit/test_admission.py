"""Admission policy: only stable command and chat answers are cached."""
import pytest

from claudia_llm.core.cache.admission import admit, is_time_dependent
from claudia_llm.core.record import Action, Answer

SIT = Answer('座ります', [Action('Sit', 1009)], 'command')


@pytest.mark.parametrize('text', [
    'what time is it', 'What is the date today?', 'how is the weather', 'battery level?',
    '今何時？', '今日は何曜日', '明日の天気は', 'バッテリーの残量は', '現在几点了',
    '今天天气怎么样', '电量还有多少', '幾點了', "it's five o'clock"])
def test_time_dependent_questions(text):
    assert is_time_dependent(text)
    assert not admit(Answer('…', [], 'chat'), text)
    assert not admit(SIT, text)


@pytest.mark.parametrize('text', ['座って', 'sit down sometimes', 'dance for me', '请坐下',
                                  'ハートして', 'update your firmware'])
def test_not_time_dependent(text):
    assert not is_time_dependent(text)


def test_kinds():
    assert admit(SIT, '座って')
    assert admit(Answer('どういたしまして', [], 'chat'), 'ありがとう')
    assert not admit(Answer('はい', [], 'command'), '座って')  # command without an action
    assert not admit(Answer('  ', [], 'chat'), 'ありがとう')  # chat without a reply
    assert not admit(Answer('晴れです', [], 'volatile'), 'お外はどう？')
    assert not admit(Answer('?', [], 'unknown-kind'), 'こんにちは')
    assert not admit(None, '座って')
    assert not admit(SIT, '座って', error={'code': 'llm_timeout', 'message': 'timeout'})
