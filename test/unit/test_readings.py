"""Reading-aware matching: any script and common request forms of a known command.

One test per rule: katakana and hiragana spellings of the lexicon's kanji words, hiragana of
its katakana words, polite request forms, and the rules that keep it safe (negation still
differs, high-risk actions never come from a spelling variant).
"""
import pytest

from claudia_llm.core.record import Action, Answer
from claudia_llm.core.understanding.commands import compose
from claudia_llm.core.understanding.normalize import normalize, strict_key
from claudia_llm.core.understanding.readings import Spellings, hiragana

PHRASES = {'座って': 'Sit', 'お座り': 'Sit', '伏せて': 'StandDown', '立って': 'StandUp',
           '踊って': 'Dance1', 'ダンス': 'Dance1', 'ストレッチ': 'Stretch', 'お辞儀': 'Scrape',
           '立ち上がって': 'StandUp', 'ジャンプ': 'FrontJump', 'ハート': 'Heart'}
HIGH_RISK = {'FrontJump'}
TABLE = {(strict_key(p) if a in HIGH_RISK else normalize(p)):
         Answer('ok', [Action(a, 0)], 'command') for p, a in PHRASES.items()}
SPELLINGS = Spellings([p for p in PHRASES])


def understood(text):
    answer = compose(text, TABLE.get, high_risk=HIGH_RISK, spellings=SPELLINGS)
    return [a.name for a in answer.intent] if answer else []


@pytest.mark.parametrize('rule, text, action', [
    ('katakana verb', 'スワッテ', 'Sit'), ('katakana verb', 'フセテ', 'StandDown'),
    ('katakana verb', 'タッテ', 'StandUp'), ('katakana noun', 'オスワリ', 'Sit'),
    ('katakana noun', 'オジギ', 'Scrape'),
    ('hiragana cut wrongly', 'おどる', 'Dance1'),
    ('hiragana cut wrongly', 'おどりましょう', 'Dance1'),
    ('hiragana of a loanword', 'だんす', 'Dance1'),
    ('hiragana of a loanword', 'すとれっち', 'Stretch'),
    ('hiragana of a loanword', 'はーとして', 'Heart'),
    ('mixed scripts', 'タちあがって', 'StandUp'), ('half width', 'ｽﾜｯﾃ', 'Sit'),
    ('variant with a request form', 'スワッテクダサイ', 'Sit'),
])
def test_other_scripts_resolve_to_the_lexicon_command(rule, text, action):
    assert understood(text) == [action], rule


@pytest.mark.parametrize('text', [
    '座ってくれませんか', '座ってくれないかな', '座ってもらえないかな', '座ってもらってもいい？',
    '座ってごらん', '座ろうか', '座ってもらえますか', 'すわってくれる？', 'お座りしてほしい'])
def test_request_and_polite_forms_fold_to_the_command(text):
    assert normalize(text) == normalize('座って')


@pytest.mark.parametrize('text', ['スワラナイデ', 'おどらないで', 'すわりません'])
def test_negation_still_differs_in_any_script(text):
    assert understood(text) == []


def test_high_risk_never_comes_from_a_spelling_variant():
    assert understood('ジャンプ') == ['FrontJump']  # as written: strict key
    assert understood('じゃんぷ') == []


def test_variants_are_bounded_and_exclude_the_text():
    variants = SPELLINGS.variants('すわってたってすわってたってすわって')
    assert 0 < len(variants) <= 8 and 'すわってたってすわってたってすわって' not in variants
    assert SPELLINGS.variants('x' * 100) == [] and hiragana('ダンス') == 'だんす'
