"""Loanwords and trick numbers: the exact tier's candidate texts beyond kana spellings.

One test per rule of ``core.understanding.variants``, on forms the lexicon does not list:
a katakana loanword reaches the English word it comes from, a known command with a number
reaches its numbered sibling, and neither can ever produce a high-risk action or an action
the lexicon does not have.
"""
import pytest

from claudia_llm.core.record import Action, Answer
from claudia_llm.core.safety.actions import ActionRegistry
from claudia_llm.core.understanding.commands import compose
from claudia_llm.core.understanding.lexicon import Lexicon
from claudia_llm.core.understanding.normalize import normalize, strict_key
from claudia_llm.core.understanding.variants import (
    Variants,
    loanword_english,
    split_trick_number,
)

LEXICON = Lexicon.load(None, ActionRegistry.load())
TABLE = {key: answer for key, answer, _entry in LEXICON.answers()}
LISTED = {entry.phrase for entry in LEXICON.entries()}


def understood(text):
    answer = compose(text, TABLE.get, LEXICON.high_risk(), LEXICON.spellings())
    return [a.name for a in answer.intent] if answer else []


@pytest.mark.parametrize('text, english', [
    ('ウェーブ', 'wave'), ('ウェーブしてください', 'wave'), ('グッドボーイ', 'good boy'),
    ('ノーマルモードにして', 'normal mode'), ('ﾘﾗｯｸｽ', 'relax'),
    ('ダンスが好き', None), ('すわって', None), ('stand up', None), ('ポーズ2', None)])
def test_loanword_english_source_words(text, english):
    assert loanword_english(text) == english


@pytest.mark.parametrize('text, action', [
    ('ウェーブして', 'Hello'), ('グッドボーイ！', 'Heart'),
    ('ノーマルモードにして', 'BalanceStand'), ('ハイファイブ', 'Hello')])
def test_a_loanword_reaches_the_english_lexicon(text, action):
    assert text not in LISTED
    assert understood(text) == [action]


def test_a_loanword_never_reaches_a_high_risk_action():
    jump = Answer('ok', [Action('FrontJump', 1031)], 'command')
    table = {strict_key('jump'): jump, normalize('jump'): jump}
    variants = Variants([('jump', ('FrontJump',), 'en')], normalize)
    assert loanword_english('ジャンプして') == 'jump'
    assert compose('jump', table.get, {'FrontJump'}, variants) == jump  # as written
    assert compose('ジャンプして', table.get, {'FrontJump'}, variants) is None


@pytest.mark.parametrize('text, split', [
    ('おどって２', ('おどって', 2)), ('ダンス二番', ('ダンス', 2)), ('表演2', ('表演', 2)),
    ('dance number 2', ('dance', 2)), ('踊りツー', ('踊り', 2)),
    ('三歩', None), ('2', None), ('右に90度', None), ('ダンス100', None)])
def test_split_trick_number(text, split):
    assert split_trick_number(text) == split


@pytest.mark.parametrize('text, action', [
    ('おどって２', 'Dance2'), ('踊り二番', 'Dance2'), ('表演2', 'Dance2'),
    ('dance number 2', 'Dance2'), ('ダンス1番', 'Dance1'), ('舞って2', 'Dance2')])
def test_a_trick_number_picks_the_numbered_sibling(text, action):
    assert text not in LISTED
    assert understood(text) == [action]


@pytest.mark.parametrize('text', ['踊って7', '座って2', 'ジャンプ2', '挨拶3'])
def test_a_number_without_a_numbered_sibling_is_not_understood(text):
    assert understood(text) == []
