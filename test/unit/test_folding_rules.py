"""Folding rules of the exact tier (issue 11): each rule in forms the lexicon does not list.

Rules: Japanese ておく/とく, permission ていい, 一緒に/みんなで, "show me" and cognate
objects, drawn-out vowels in hiragana; Chinese urgency adverbs, subject 你, beneficiary 跟我,
duration and "show me" tails, 来 + verb, classifiers 支/段, verb reduplication; English 'go'
before a verb, 'do a', 'your', tails (at me, to everyone, there); and the families of coming
home / going out greetings and of shaking the hips. Each case is checked to be unlisted.
"""
import pytest

from claudia_llm.core.safety.actions import ActionRegistry
from claudia_llm.core.understanding.commands import compose
from claudia_llm.core.understanding.lexicon import Lexicon

LEXICON = Lexicon.load(None, ActionRegistry.load())
TABLE = {key: answer for key, answer, _entry in LEXICON.answers()}
LISTED = {entry.phrase for entry in LEXICON.entries()}


def understood(text):
    answer = compose(text, TABLE.get, LEXICON.high_risk(), LEXICON.spellings())
    return [a.name for a in answer.intent] if answer else []


@pytest.mark.parametrize('text, action', [
    ('座っといて', 'Sit'), ('立っといて', 'StandUp'), ('座っとけ', 'Sit'),  # ておく
    ('座っておいて', 'Sit'),
    ('休んでいいよ', 'Sit'), ('伏せてもいいよ', 'StandDown'),  # permission
    ('一緒に踊ろう', 'Dance1'), ('みんなで踊ろうよ', 'Dance1'), ('いっしょにあそぼ', 'Dance1'),
    ('踊りを見せて', 'Dance1'), ('ストレッチを見せて', 'Stretch'), ('ダンスを踊って', 'Dance1'),
    ('おじぎを見せてくれる', 'Scrape'),
    ('のびーして', 'Stretch'), ('すわってー', 'Sit'), ('ふせー', 'StandDown')])
def test_japanese_asides_fold_to_the_command(text, action):
    assert text not in LISTED
    assert understood(text) == [action]


@pytest.mark.parametrize('text, action', [
    ('快坐下', 'Sit'), ('赶紧坐下', 'Sit'), ('马上趴下', 'StandDown'),
    ('快点儿站起来吧', 'StandUp'),
    ('请你坐下', 'Sit'), ('你站起来', 'StandUp'),
    ('跟我握手', 'Hello'), ('跟我打个招呼', 'Hello'), ('和我握握手', 'Hello'),
    ('坐一会儿', 'Sit'), ('休息一小会儿吧', 'Sit'), ('跳舞给我看', 'Dance1'),
    ('来跳舞', 'Dance1'), ('跳支舞', 'Dance1'), ('跳段舞给大家看看', 'Dance1'),
    ('来伸个懒腰', 'Stretch'), ('扭扭屁股吧', 'WiggleHips'), ('摇摇屁股', 'WiggleHips'),
    ('挥一挥手', 'Hello'), ('早上好呀', 'Hello')])
def test_chinese_rules_fold_to_the_command(text, action):
    assert text not in LISTED
    assert understood(text) == [action]


@pytest.mark.parametrize('text, action', [
    ('go sit', 'Sit'), ('go take a rest', 'Sit'), ('go lie down now', 'StandDown'),
    ('do a dance', 'Dance1'), ('do a bow', 'Scrape'), ('do a stretch for me', 'Stretch'),
    ('give me your paw', 'Hello'), ('wave at me', 'Hello'), ('say hello to everyone', 'Hello'),
    ('say hi to everybody', 'Hello'), ('hi there', 'Hello'), ('stretch with me', 'Stretch'),
    ('shake your booty please', 'WiggleHips')])
def test_english_frames_and_tails_fold_to_the_command(text, action):
    assert text not in LISTED
    assert understood(text) == [action]


@pytest.mark.parametrize('text, action', [
    ('いってきます', 'Hello'), ('おかえりー', 'Hello'), ('いってらっしゃい', 'Hello'),
    ('我回来啦', 'Hello'), ('你们好', 'Hello'), ("i'm home claudia", 'Hello'),
    ('おしりふりふり', 'WiggleHips'), ('shake your butt', 'WiggleHips'), ('扭一扭', 'WiggleHips')])
def test_new_family_words_in_other_spellings(text, action):
    assert understood(text) == [action]


@pytest.mark.parametrize('text', [
    '踊らないで', 'ダンスを踊らないで', 'ここに置いて', 'いい', '别坐下', '不要跳舞给我看',
    'go down', 'go home', 'go', 'do not sit', '快乐', '快', '来回走', '谢谢', '你累吗',
    'give me your other paw'])
def test_rules_leave_negations_places_and_other_words_alone(text):
    assert understood(text) == []
