"""core.emergency: stop words in ja/zh/en, with their variants, and words that are not stops."""
import pytest

from claudia_llm.core.safety.actions import ActionRegistry
from claudia_llm.core.understanding.emergency import EMERGENCY_ACTION, is_emergency

STOPS = [
    # ja: the verb 止まる / 止める / とまる in its command forms
    '止まって', '止まれ', '止まりなさい', 'とまれ', 'とまって', 'とめて', '止めて', 'やめて',
    # ja: other stop words
    'ストップ', '停止', '緊急停止', '移動停止', '動かないで', '動くな', 'じっとして', '待て',
    '危ない！',
    # zh
    '停下', '停下来', '停止', '别动', '別動', '不要动', '站住', '暂停', '急停', '住手',
    # en
    'stop', 'halt', 'freeze', 'emergency', "don't move", 'do not move', 'stand still',
    'watch out', 'e-stop',
]

VARIANTS = [
    ('width', 'ｽﾄｯﾌﾟ'), ('width', 'ＳＴＯＰ'), ('case', 'STOP'), ('case', 'Stop!'),
    ('punctuation', 'とまれ！！'), ('punctuation', 'stop.'), ('punctuation', '停下！'),
    ('spaces', ' とまれ '), ('spaces', 'とま れ'), ('quotes', '「止まれ」'),
    ('quotes', '"stop"'), ('quotes', '“停止”'),
    ('repetition', 'stop stop stop'), ('repetition', 'stopstop'),
    ('repetition', 'とまれとまれ'), ('repetition', '停停停'),
    ('long vowel', 'ストーップ'), ('katakana', 'トマレ'), ('katakana', 'ヤメテ'),
    ('surrounding words', '今すぐ止まれ！'), ('surrounding words', 'ねえ、ちょっと止まって'),
    ('surrounding words', 'please stop now'), ('surrounding words', 'Hey robot, HALT.'),
    ('surrounding words', '快停下来'), ('mixed script', 'stopして'),
    ('asr truncation', 'とま'), ('asr truncation', 'とま。'), ('asr truncation', 'とまっ'),
    ('asr truncation', 'ストッ'), ('whole word', '停'), ('whole word', '停！'),
    ('whole word', 'wait'), ('whole word', 'Wait!'), ('whole word', 'ロック'),
    ('whole word', 'lock'), ('whole word', '锁定'),
]

# Ordinary words and sentences that contain pieces of stop words; none may stop the robot.
NOT_STOPS = [
    'ストレッチ', 'ストーリーを話して', 'トマト', 'とまと', 'stand', 'stand up', 'Hello',
    'nonstop', 'unstoppable', 'asphalt', 'halo',
    '停车场在哪里', 'まとめて教えて', '受け止めて', 'ロックが好き', 'rock music',
    'wait a second, what is a robot', 'lock the door later', 'とまとが好き', '立って', 'お座り',
    'こんにちは', '你好', '跳舞', '今日はいい天気', 'what is your name', 'thank you', '', '   ',
    '！？', 'ｈｅｌｌｏ',
]


@pytest.mark.parametrize('text', STOPS)
def test_stop_words(text):
    assert is_emergency(text)


@pytest.mark.parametrize('kind, text', VARIANTS)
def test_stop_word_variants(kind, text):
    assert is_emergency(text), kind


@pytest.mark.parametrize('text', NOT_STOPS)
def test_ordinary_words_do_not_stop(text):
    assert not is_emergency(text)


@pytest.mark.parametrize('text', ['止まらないで', "don't stop", 'never stop dancing', '不要停止'])
def test_negated_stop_still_stops(text):
    """Decision (module doc): negation is not parsed; stopping is always safe."""
    assert is_emergency(text)


@pytest.mark.parametrize('text', ['別停', '不要停', 'keep going'])
def test_no_stop_word_no_stop(text):
    """'Don't stop' without a stop word in it (別停: 停 alone counts only as the whole
    utterance) is an ordinary utterance."""
    assert not is_emergency(text)


@pytest.mark.parametrize('value', [None, b'stop', 3, ['stop']])
def test_non_text_raises_type_error(value):
    with pytest.raises(TypeError):
        is_emergency(value)


def test_emergency_action_is_a_safe_table_action():
    spec = ActionRegistry.load().get(EMERGENCY_ACTION)
    assert spec is not None and spec.enabled and spec.api_id == 1003
    assert spec.risk == 'safe' and not spec.needs_standing


def test_long_chat_without_stop_word_is_not_an_emergency():
    text = 'きょうは天気がいいので、公園まで一緒に歩いて、それから写真を撮りたいです。' * 5
    assert not is_emergency(text)
    assert is_emergency(text + '止まって')
