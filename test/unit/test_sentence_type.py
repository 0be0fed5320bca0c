"""core.understanding.sentence_type: one case list per rule, ja/zh/en."""
import asyncio

import pytest

from claudia_llm.core.cache.exact import ExactCache
from claudia_llm.core.cache.store import FailoverStore
from claudia_llm.core.record import Action, Answer
from claudia_llm.core.understanding.guards import extract_guards
from claudia_llm.core.understanding.normalize import normalize
from claudia_llm.core.understanding.sentence_type import sentence_type

RULES = {
    'ja question mark': ('question', ['疲れた？', '元気?', '座る？', '疲れる？', '座ってない？']),
    'ja question particle': ('question', ['疲れたの', '元気かな', '眠いのかしら', '何してるの']),
    'ja potential asked': ('request', ['座れる？', 'ダンスできる？', '踊れるか', '寝られる？']),
    'ja interrogative': ('question', ['何が好き', 'どこに行く', '誰と遊んだ']),
    'ja te-form request': ('request', ['座って', 'ふせて', '座ってね', '止まらないで']),
    'ja request auxiliary': ('request', ['座ってください', '座ってくれる？', '立ってくれない？',
                                         '座ってもらえませんか', '座ってほしい',
                                         '座っていただけますか']),
    'ja imperative and volitional': ('request', ['座れ', '座りなさい', '座ろう', '踊りましょう',
                                                 '休みましょうか']),
    'ja statement': ('statement', ['疲れた', 'お座り', '座らない', '座ってない',
                                   '疲れたでしょう']),
    'zh question': ('question', ['你累了吗', '你呢', '你累了？', '你叫什么名字', '跳不跳舞',
                                 '你累了吧？', '你会跳舞吗']),
    'zh request': ('request', ['请坐下', '坐下吧', '坐下好吗', '你能坐下吗', '能不能坐下',
                               '帮我跳个舞']),
    'zh statement': ('statement', ['我累了', '坐下', '你真可爱']),
    'en question': ('question', ['are you tired', 'are you tired?', 'tired?', 'what is your name',
                                 'do you like dancing', 'is it raining', 'sit?',
                                 'have you eaten', 'has the robot sat down']),
    'en request': ('request', ['can you sit down?', 'could you please sit', "let's dance",
                               'please sit', 'would you mind sitting', "why don't you sit"]),
    'en statement': ('statement', ["i'm tired", 'sit down', 'you are cute', 'good dog',
                                   'have a rest', 'have a stretch', 'do the dance']),
}
CASES = [(rule, kind, text) for rule, (kind, texts) in RULES.items() for text in texts]


@pytest.mark.parametrize('rule, kind, text', CASES)
def test_sentence_type_rules(rule, kind, text):
    assert sentence_type(text) == kind, rule


def test_width_and_trailing_punctuation_do_not_matter():
    assert sentence_type('疲れた？！') == sentence_type('疲れた?') == 'question'
    assert sentence_type('ＡＲＥ ＹＯＵ ＴＩＲＥＤ') == 'question'
    assert sentence_type('') == sentence_type('！！') == 'statement'


@pytest.mark.parametrize('value', [None, b'sit', 3])
def test_non_text_raises_type_error(value):
    with pytest.raises(TypeError):
        sentence_type(value)


@pytest.mark.parametrize('statement, question', [
    ('疲れた', '疲れた？'), ('我累了', '我累了吗'), ('tired', 'tired?')])
def test_question_is_a_guard(statement, question):
    assert extract_guards(question).question and not extract_guards(statement).question
    assert extract_guards(question) != extract_guards(statement)


def test_question_never_gets_the_statements_exact_answer():
    """Regression: the LLM answered 「疲れた」 with Sit; 「疲れた？」 must not be served Sit."""
    sit = Answer('休むね。', [Action('Sit', 1009)], 'command')

    async def run():
        cache = ExactCache(FailoverStore(None), 'm', 'p')
        key = normalize('疲れた')
        assert key == normalize('疲れた？')  # the words alone do not tell them apart
        await cache.store_answer(key, sit, sentence=sentence_type('疲れた'))
        statement = await cache.check(key, sentence_type('疲れた'))
        question = await cache.check(key, sentence_type('疲れた？'))
        return statement, question

    statement, question = asyncio.run(run())
    assert statement is not None and statement.answer.intent[0].name == 'Sit'
    assert question is None


def test_lexicon_entries_serve_statements_and_requests_but_not_questions():
    sit = Answer('お座りします。', [Action('Sit', 1009)], 'command')

    async def run():
        cache = ExactCache(FailoverStore(None), 'm', 'p')
        await cache.store_answer(normalize('座って'), sit, source='lexicon')
        return [await cache.check(normalize(t), sentence_type(t))
                for t in ('お座り', '座ってくれる？', '座るの？')]

    noun, request, question = asyncio.run(run())
    assert noun is not None and request is not None and question is None


def test_unknown_sentence_type_raises():
    cache = ExactCache(FailoverStore(None), 'm', 'p')
    with pytest.raises(ValueError, match='sentence type'):
        cache.key('suwaru', 'exclamation')
