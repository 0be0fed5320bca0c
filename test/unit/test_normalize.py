"""Exact-cache key and strict key: each folding rule with its own examples."""
import doctest

import pytest

from claudia_llm.core.understanding import chinese, japanese, japanese_polite, morph
from claudia_llm.core.understanding import normalize as normalize_module
from claudia_llm.core.understanding.normalize import (
    STRICT_PREFIX,
    fold_chinese,
    fold_english,
    fold_width_case,
    normalize,
    strict_key,
    strip_punctuation,
)


@pytest.mark.parametrize('module', [normalize_module, chinese, japanese, japanese_polite, morph])
def test_docstring_examples(module):
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0


SAME_KEY = {
    'width': ['ストップ', 'ｽﾄｯﾌﾟ', 'ストップ！'],
    'latin width and case': ['SIT DOWN', 'ｓｉｔ　ｄｏｗｎ', 'Sit Down'],
    'punctuation': ['止まれ', '「止まれ」', '止まれ！', '止まれ？', '『止まれ』。', ' 止まれ '],
    'ja politeness': ['座って', '座ってください', '座ってくれ', '座ってくれる？', '座りなさい',
                      '座ってね', '座ってもらえますか', '座ってお願いします', 'ちょっと座って',
                      '座ってほしい', '座ってみて'],
    'ja kana and kanji spellings': ['座って', 'すわって', 'お座り', 'おすわり', 'お座りして',
                                    'おすわりしてください', 'すわる', '座れ'],
    'ja adjective forms': ['可愛い', 'かわいい', 'カワイイ', '可愛いね', '可愛いです',
                           '可愛いいね', 'かわいいな'],
    'ja deverbal nouns': ['伏せ', '伏せて', 'ふせて', '伏せる', '伏せなさい'],
    'ja light verb': ['ダンス', 'ダンスして', 'ダンスをして', 'ダンスしてください', 'だんす'],
    'ja object particle': ['腰を振って', '腰振って'],
    'ja manner adverb': ['立って', 'しっかり立って', 'ゆっくり立って'],
    'ja fillers': ['座って', 'えーと、座って', 'えっと座って', 'あの、座って', 'うーん、座って'],
    'ja vocative': ['踊って', 'クラちゃん踊って', 'くらちゃんおどって', 'クラちゃんさ踊って',
                    'クローディア、踊って', 'ねえ踊って', '踊って、クラちゃん'],
    'ja greeting before a command': ['座って', 'こんにちは、お座りしてください',
                                     'おはようございます、座って'],
    'ja numbers': ['三歩', '3歩', '３歩'],
    'kanji-only ja meets its kana-bearing forms': ['回復', '回復して', '回復してください'],
    'zh traditional and simplified': ['站起来', '站起來', '请站起来', '請站起來吧'],
    'zh politeness and fillers': ['坐下', '请坐下', '坐下吧', '嗯，坐下', '麻烦坐下', '坐下好吗'],
    'zh classifier': ['跳舞', '跳个舞', '跳一个舞', '跳個舞'],
    'zh light verb': ['比心', '比个心', '来个比心'],
    'zh greeting and name before a command': ['坐下', '你好，坐下', '克劳迪娅坐下'],
    'en politeness': ['sit down', 'sit down please', 'please sit down', 'could you sit down',
                      'can you please sit down', 'sit down for me'],
    'en fillers and articles': ['strike a pose', 'um strike a pose', 'uh, strike the pose'],
    'en separators': ['sit down', 'sit_down', 'SitDown', 'sit-down'],
    'en vocative and greeting': ['sit', 'hey claudia, sit', 'hi, sit', 'claudia sit',
                                 'hello claudia sit', 'sit, claudia'],
}


@pytest.mark.parametrize('rule', sorted(SAME_KEY))
def test_variants_share_one_key(rule):
    keys = {text: normalize(text) for text in SAME_KEY[rule]}
    assert len(set(keys.values())) == 1, keys
    assert next(iter(keys.values()))


DIFFERENT_KEY = [
    ('座らないで', '座って'),
    ('座るな', '座って'),
    ('座りません', '座ります'),
    ('おすわりしない', 'おすわり'),
    ('座った', '座って'),
    ('右に曲がって', '左に曲がって'),
    ('三歩前へ', '一歩前へ'),
    ('ダンス1', 'ダンス2'),
    ("don't sit", 'sit'),
    ('不要坐下', '坐下'),
    ('别坐下', '坐下'),
    ('turn left', 'turn right'),
    ('あの犬', '犬'),          # あの is a word here, not a filler
    ('こんにちは', '座って'),    # a greeting alone is kept
]


@pytest.mark.parametrize('first, second', DIFFERENT_KEY)
def test_meaningful_differences_are_kept(first, second):
    assert normalize(first) != normalize(second)


def test_greeting_or_name_alone_is_not_emptied():
    assert normalize('こんにちは') == normalize('こんにちは！')
    assert normalize('hi') == 'hi'
    assert normalize('hey') == 'hey'
    assert normalize('hi claudia') == 'hi'
    assert normalize('クラちゃん') != ''


def test_empty_and_punctuation_only_give_empty_key():
    assert normalize('') == ''
    assert normalize('  「」！？ ') == ''


def test_japanese_kanji_are_not_rewritten_to_simplified_in_kana_text():
    # 勢 would become 势 under zhconv; kana in the key means the text is Japanese.
    key = normalize('姿勢を直して')
    assert '姿勢' in key and '姿势' not in key


def test_kanji_only_text_is_folded_to_simplified():
    assert normalize('緊急停止') == normalize('紧急停止')


def test_fold_width_case_and_punctuation_rules():
    assert fold_width_case('ＡＢＣ ｶﾞ') == 'abc ガ'
    assert strip_punctuation('「ダンス」！…') == 'ダンス'
    assert strip_punctuation('ダンス ー') == 'ダンス ー'


def test_fold_english_and_chinese_rules():
    assert fold_english(['would', 'you', 'please', 'sit']) == ['sit']
    assert fold_english(['please']) == ['please']
    assert fold_chinese('请求') == '请求'       # 请求 (request) is not politeness
    assert fold_chinese('两个') == '两个'       # a counted classifier stays


def test_analyser_is_loaded_once():
    assert japanese.tagger() is japanese.tagger()


STRICT_SAME = [
    ('ジャンプ', ['ジャンプして', 'ｼﾞｬﾝﾌﾟ', 'ジャンプしてください！', 'クラちゃん、ジャンプして',
                'ジャンプしろよ']),
    ('jump', ['Jump!', 'please jump', 'JUMP please', 'hey claudia, jump']),
    ('跳', ['请跳一下', '跳吧']),
    ('ダンプモード', ['ダンプモードにして']),
]


@pytest.mark.parametrize('canonical, variants', STRICT_SAME)
def test_strict_key_folds_width_case_punctuation_and_politeness(canonical, variants):
    assert strict_key(canonical) == STRICT_PREFIX + canonical
    for variant in variants:
        assert strict_key(variant) == strict_key(canonical), variant


@pytest.mark.parametrize('variant, canonical', [
    ('じゃんぷ', 'ジャンプ'),          # no kana folding
    ('じゃんぷして', 'ジャンプ'),
    ('ジャンプするな', 'ジャンプ'),     # prohibitive stays
    ('ジャンプしないで', 'ジャンプ'),
    ("don't jump", 'jump'),
    ('不要跳', '跳'),
    ('跳ね', '跳'),                  # a Japanese word ending in ね is not politeness
    ('翻個跟頭', '翻个跟头'),          # no character-set folding
])
def test_strict_key_does_not_fold_spelling_or_negation(variant, canonical):
    assert strict_key(variant) != strict_key(canonical)


def test_strict_and_folded_keys_never_collide():
    for text in ('ジャンプ', 'jump', '前転', 'stop'):
        assert strict_key(text).startswith(STRICT_PREFIX)
        assert not normalize(text).startswith(STRICT_PREFIX)
