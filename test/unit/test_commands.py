"""Sequences from exact keys, and the high-risk safety principle."""
import asyncio
import doctest

import pytest

from claudia_llm.core.record import Action, Answer
from claudia_llm.core.safety.actions import ActionRegistry
from claudia_llm.core.understanding import commands as commands_module
from claudia_llm.core.understanding.commands import (
    compose,
    compose_async,
    default_high_risk,
    lookup_one,
    split_sequence,
    store_key,
)
from claudia_llm.core.understanding.lexicon import Lexicon
from claudia_llm.core.understanding.normalize import normalize, strict_key


@pytest.fixture(scope='module')
def lexicon():
    return Lexicon.load(None, ActionRegistry.load())


@pytest.fixture(scope='module')
def table(lexicon):
    return {key: answer for key, answer, _ in lexicon.answers()}


def names(answer):
    return None if answer is None else [a.name for a in answer.intent]


def test_docstring_examples():
    result = doctest.testmod(commands_module)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.parametrize('text, segments', [
    ('立ってから挨拶して', ['立って', '挨拶して']),
    ('立ってそして挨拶', ['立って', '挨拶']),
    ('座って、それからダンス', ['座って', 'ダンス']),
    ('座ってその後立って', ['座って', '立って']),
    ('挨拶したらダンス', ['挨拶し', 'ダンス']),
    ('立ってダンス', ['立って', 'ダンス']),            # te-form chain
    ('まず座って、次に立って', ['座って', '立って']),
    ('座って、えっと、立って', ['座って', '立って']),
    ('sit and then stand up', ['sit', 'stand up']),
    ('first sit, then wave', ['sit', 'wave']),
    ('stand and hello', ['stand', 'hello']),
    ('站起来然后跳舞', ['站起来', '跳舞']),
    ('坐下之后问好', ['坐下', '问好']),
    ('先坐下再站起来', ['坐下', '站起来']),
    ('座ってください', ['座ってください']),          # politeness is not a new command
    ('座ってみて', ['座ってみて']),
    ('手を振って', ['手を振って']),
    ('再见', ['再见']),
])
def test_split_sequence(text, segments):
    assert split_sequence(text) == segments


@pytest.mark.parametrize('text, intent', [
    ('立ってから挨拶して', ['StandUp', 'Hello']),
    ('立って挨拶', ['StandUp', 'Hello']),
    ('立ってダンス', ['StandUp', 'Dance1']),
    ('座ってから立って', ['Sit', 'StandUp']),
    ('ストレッチして、その後ダンス2', ['Stretch', 'Dance2']),
    ('Stand up and then wave', ['StandUp', 'Hello']),
    ('站起来然后跳舞', ['StandUp', 'Dance1']),
    ('坐下，然后比心', ['Sit', 'Heart']),
    ('座りから立つ', ['RiseSit']),                   # a whole-phrase entry wins
    ('座りから立ってダンス', ['RiseSit', 'Dance1']),   # ...also inside a sequence
    ('こんにちは、お座りしてください', ['Sit']),        # a greeting before a command
])
def test_compose_sequences(table, text, intent):
    assert names(compose(text, table.get)) == intent


def test_compose_joins_replies(table):
    answer = compose('sit, then stand up', table.get)
    assert answer.kind == 'command'
    assert answer.reply == ' '.join([table[normalize('sit')].reply,
                                     table[normalize('stand up')].reply])


@pytest.mark.parametrize('text', [
    '座らないで立って',        # a negated segment
    "don't sit and dance",
    '不要坐下然后跳舞',
    '座って、ありがとう',       # a chat segment is not a command
    '座って、天気はどう',       # an unknown segment
    '座らないで',
    '歩いて',                  # Move needs parameters: not in the lexicon
])
def test_compose_fails_unless_every_segment_is_a_command(table, text):
    assert compose(text, table.get) is None


def test_whole_lookup_returns_chat_answers(table):
    answer = compose('ありがとう！', table.get)
    assert answer.kind == 'chat' and answer.intent == []


@pytest.mark.parametrize('text, intent', [
    ('ジャンプ', ['FrontJump']),
    ('ｼﾞｬﾝﾌﾟ！', ['FrontJump']),
    ('ジャンプしてください', ['FrontJump']),
    ('前転して', ['FrontFlip']),
    ('Front flip, please', ['FrontFlip']),
    ('翻个跟头吧', ['FrontFlip']),
    ('立ってジャンプ', ['StandUp', 'FrontJump']),
    ('ダンプモードにして', ['Damp']),
])
def test_high_risk_from_canonical_words(table, text, intent):
    assert names(compose(text, table.get)) == intent


@pytest.mark.parametrize('text', ['じゃんぷ', 'じゃんぷして', 'ぜんてんして', '立ってじゃんぷ',
                                  'ジャンプしないで', 'ジャンプするな', "don't jump", '不要跳'])
def test_high_risk_never_from_folding_or_negation(table, text):
    assert compose(text, table.get) is None


def test_folded_hit_with_high_risk_intent_is_discarded():
    jump = Answer('Jump!', [Action('FrontJump', 1031)], 'command')
    cached = {normalize('じゃんぷして'): jump}     # e.g. an LLM answer stored by its folded key
    assert normalize('ジャンプして') == normalize('じゃんぷして')
    assert lookup_one('ジャンプして', cached.get) is None
    assert compose('ジャンプして', cached.get) is None
    assert lookup_one('ジャンプして', cached.get, high_risk=()) is jump


def test_store_key_puts_high_risk_answers_under_the_strict_key():
    assert 'FrontJump' in default_high_risk()
    jump = Answer('Jump!', [Action('FrontJump', 1031)], 'command')
    sit = Answer('Sit.', [Action('Sit', 1009)], 'command')
    assert store_key('じゃんぷして', jump) == strict_key('じゃんぷして')
    assert store_key('すわって', sit) == normalize('すわって')
    cached = {store_key('じゃんぷして', jump): jump}
    assert compose('じゃんぷして', cached.get) is jump    # the same spelling again
    assert compose('ジャンプして', cached.get) is None    # not another spelling


def test_compose_async_matches_compose(table):
    async def lookup(key):
        await asyncio.sleep(0)
        return table.get(key)

    for text in ('立ってから挨拶して', 'じゃんぷして', 'ジャンプ', 'sit please', '座らないで'):
        expected = names(compose(text, table.get))
        assert names(asyncio.run(compose_async(text, lookup))) == expected
