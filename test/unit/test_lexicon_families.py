"""Vocabulary families of the lexicon reach their action in spellings and forms not listed.

Each case is a word of a family (tricks, lying down, getting back up, greetings by time of
day) in a script or request form that ``config/lexicon.yaml`` does not list literally: the
readings (``core.understanding.readings``) and the politeness rules must carry it.
"""
import pytest

from claudia_llm.core.safety.actions import ActionRegistry
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
]


@pytest.mark.parametrize('family, text, action', CASES)
def test_family_word_in_an_unlisted_form(family, text, action):
    assert text not in LISTED, 'the case must be a form the lexicon does not list'
    answer = compose(text, TABLE.get, LEXICON.high_risk(), LEXICON.spellings())
    assert answer is not None and [a.name for a in answer.intent] == [action], family
