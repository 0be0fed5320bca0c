"""Forms around a command that keep its action: keep doing it, can you, here/there."""
import pytest

from claudia_llm.core.safety.actions import ActionRegistry
from claudia_llm.core.understanding.commands import compose
from claudia_llm.core.understanding.lexicon import Lexicon
from claudia_llm.core.understanding.sentence_type import sentence_type

LEXICON = Lexicon.load(None, ActionRegistry.load())
TABLE = {key: answer for key, answer, _entry in LEXICON.answers()}


def understood(text):
    answer = compose(text, TABLE.get, LEXICON.high_risk(), LEXICON.spellings())
    return [a.name for a in answer.intent] if answer else []


@pytest.mark.parametrize('text, action', [
    ('ちょっと座っててね', 'Sit'), ('座っていて', 'Sit'), ('座ってろ', 'Sit'),
    ('座っていなさい', 'Sit'), ('伏せてて', 'StandDown'), ('ふせていてね', 'StandDown'),
    ('お座りできる？', 'Sit'), ('ダンスできる？', 'Dance1'), ('あいさつできる？', 'Hello'),
    ('ここに座って', 'Sit'), ('そこでお座り', 'Sit'), ('あそこで踊って', 'Dance1'),
])
def test_form_around_a_command_keeps_its_action(text, action):
    assert understood(text) == [action]


@pytest.mark.parametrize('text', [
    '座ってる', '座っている', '伏せている',      # statements: it is sitting
    'ダンスできない', '座っていない',           # negated
    'ここにいて', 'そこにいる',                 # about the place, no command
])
def test_statements_negations_and_places_stay_apart(text):
    assert understood(text) == []


@pytest.mark.parametrize('text, kind', [
    ('do a stretch', 'statement'), ('do the dance', 'statement'), ('do it', 'statement'),
    ('do your trick', 'statement'), ('do you dance', 'question'), ('do we sit', 'question'),
    ('does it sit', 'question'), ('do a stretch?', 'question'),
])
def test_english_do_inverts_only_before_a_subject(text, kind):
    assert sentence_type(text) == kind


def test_examples_in_the_rules_hold():
    import doctest

    from claudia_llm.core.understanding import japanese_aspect
    result = doctest.testmod(japanese_aspect)
    assert result.attempted >= 5 and result.failed == 0
