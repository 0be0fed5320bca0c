"""Japanese normalisation rules for the normaliser, the guards and the sequence splitter.

The analyser itself (the fugashi tagger, ``Morph``, readings, numerals) is ``morph``; its
names are imported here too, so callers and the examples below can use either module.

Every rule here takes and returns a list of ``Morph`` and is a plain function, so each can
be tested alone; ``reading_key`` turns what is left into the katakana cache key.
"""
import re
from typing import List, Sequence

from .japanese_aspect import drop_ability, drop_continuing, drop_place_deixis
from .japanese_polite import (  # noqa: F401 - re-exported with the other rules
    drop_aside,
    drop_goal_particle,
    drop_honorific_suffix,
    drop_politeness,
)
from .morph import (  # noqa: F401 - re-exported: callers use the analyser via japanese
    ALL_KANJI,
    Morph,
    analyse,
    deverbal_reading,
    is_punctuation,
    kanji_number,
    katakana,
    surfaces,
    tagger,
)

FILLERS = frozenset(('えーと', 'えっと', 'ええと', 'えーっと', 'あのー', 'あのう', 'えー',
                     'うーん', 'んー', 'まー', 'そのー', 'えと'))
# Fillers that are also words (あの犬 = that dog): dropped only before a pause.
PAUSE_FILLERS = frozenset(('あの', 'その', 'まあ', 'ええ', 'うん'))
# Readings of the robot's names and of calls that only get its attention.
NAME_READINGS = frozenset(('クラチャン', 'クラサン', 'クローディア', 'クラウディア', 'クロディア',
                           'クラディア'))
CALL_READINGS = frozenset(('ネエ', 'ネー', 'ネ', 'オイ', 'オーイ', 'オオイ', 'ホラ', 'ヘイ'))
# Greeting set phrases (reading of the whole phrase -> canonical reading).
GREETINGS = {'コンニチハ': 'コンニチハ', 'コンバンハ': 'コンバンハ', 'オハヨウ': 'オハヨウ',
             'オハヨウゴザイマス': 'オハヨウ', 'オヤスミ': 'オヤスミ',
             'オヤスミナサイ': 'オヤスミ', 'サヨウナラ': 'サヨウナラ', 'ヤア': 'ヤア',
             'ハロー': 'ハロー', 'オッス': 'オッス'}
# A drawn-out vowel in hiragana (のびーして, すわってー) is said, not spelt.
_LONG_VOWEL_AFTER_HIRAGANA = re.compile(r'(?<=[\u3041-\u3096])[ー〜~]+')
# Adverbs that make a verb of resting with する (ゆっくりする = take it easy): する stays.
_RESTING_ADVERBS = frozenset(('ゆっくり', 'のんびり'))


def drop_punctuation(morphs: Sequence[Morph]) -> List[Morph]:
    """Drop punctuation and space tokens.

    >>> surfaces(drop_punctuation(analyse('「座って！」')))
    ['座っ', 'て']
    """
    return [m for m in morphs if m.surface.strip() and not is_punctuation(m.surface)]


def drop_fillers(morphs: Sequence[Morph]) -> List[Morph]:
    """Drop hesitation fillers that stand as their own token.

    Drops えーと, えっと, うーん ... always, and あの, その, まあ when a pause (punctuation or
    space) follows. Run before punctuation goes.

    >>> surfaces(drop_fillers(analyse('えーと座って')))
    ['座っ', 'て']
    >>> surfaces(drop_fillers(analyse('あの、座って')))
    ['、', '座っ', 'て']
    >>> surfaces(drop_fillers(analyse('あの犬')))
    ['あの', '犬']
    """
    out = []
    for i, m in enumerate(morphs):
        nxt = morphs[i + 1] if i + 1 < len(morphs) else None
        pause = nxt is not None and (nxt.start > m.end or is_punctuation(nxt.surface))
        interjection = m.pos1 == '感動詞' or m.pos2 == 'フィラー'
        if interjection and (m.surface in FILLERS or (m.surface in PAUSE_FILLERS and pause)):
            continue
        out.append(m)
    return out


_FILLER_TEXT = re.compile(
    r'(?:^|(?<=[、。，,！!？?\s]))(?:%s|(?:%s)(?=[、。，,！!？?\s]))[ー〜~]*[、。，,！!？?\s]*'
    % ('|'.join(sorted(FILLERS, key=len, reverse=True)),
       '|'.join(sorted(PAUSE_FILLERS, key=len, reverse=True))))


def strip_filler_text(text: str) -> str:
    """Remove fillers at the start or between pauses, and drawn-out vowels, before analysis.

    The analyser may cut えーと、 into えー + と. A filler that is also a word (あの, その)
    needs a pause after it.

    >>> strip_filler_text('えーと、座って'), strip_filler_text('座って、あの、立って')
    ('座って', '座って、立って')
    >>> strip_filler_text('あの犬'), strip_filler_text('のびーして')
    ('あの犬', 'のびして')
    """
    return _LONG_VOWEL_AFTER_HIRAGANA.sub('', _FILLER_TEXT.sub('', text) or text) or text


def is_filler(text: str) -> bool:
    """True when ``text`` holds nothing but fillers and pauses.

    >>> is_filler('えっと、'), is_filler('あの犬')
    (True, False)
    """
    return not _FILLER_TEXT.sub('', text).strip()


def _reading(morphs: Sequence[Morph]) -> str:
    return ''.join(katakana(m.kana or m.surface) for m in morphs)


def fold_greetings(morphs: Sequence[Morph]) -> List[Morph]:
    """Fold a leading greeting set phrase into one token with its canonical reading.

    >>> [m.lform for m in fold_greetings(analyse('おはようございます'))]
    ['オハヨウ']
    >>> [m.lform for m in fold_greetings(analyse('おやすみなさい'))]
    ['オヤスミ']
    """
    morphs = list(morphs)
    for k in range(min(4, len(morphs)), 0, -1):
        canon = GREETINGS.get(_reading(morphs[:k]))
        if canon:
            head = Morph(canon, '感動詞', '挨拶', canon, canon, canon, '',
                         morphs[0].start, morphs[k - 1].end)
            return [head] + morphs[k:]
    return morphs


def _name_length(morphs: Sequence[Morph]) -> int:
    """How many leading tokens spell one of the robot's names by reading (0 if none)."""
    for k in range(min(4, len(morphs)), 0, -1):
        if _reading(morphs[:k]) in NAME_READINGS:
            return k
    return 0


def strip_vocative(morphs: Sequence[Morph]) -> List[Morph]:
    """Drop the robot's name and calls like ねえ/おい at the start or end.

    The name is matched by reading, so ASR kanji like 暗ちゃん match; a particle right after a
    leading name goes with it. Never returns an empty list when given a non-empty one.

    >>> surfaces(strip_vocative(analyse('クラちゃんさ踊って')))
    ['踊っ', 'て']
    >>> surfaces(strip_vocative(analyse('ねえ踊って')))
    ['踊っ', 'て']
    >>> surfaces(strip_vocative(analyse('踊ってクローディア')))
    ['踊っ', 'て']
    """
    out = list(morphs)
    changed = True
    while changed and out:
        changed = False
        k = _name_length(out)
        if k and k < len(out):
            out = out[k:]
            if len(out) > 1 and out[0].surface in ('さ', 'ね', 'よ', 'は'):
                out = out[1:]
            changed = True
        elif len(out) > 1 and out[0].pos1 == '感動詞' and katakana(out[0].kana) in CALL_READINGS:
            out, changed = out[1:], True
        else:
            for k in range(min(4, len(out) - 1), 0, -1):
                if _reading(out[-k:]) in NAME_READINGS:
                    out, changed = out[:-k], True
                    break
    return out


def strip_greeting_prefix(morphs: Sequence[Morph]) -> List[Morph]:
    """Drop a leading greeting when a request follows it; a greeting alone stays.

    Expects ``fold_greetings`` to have run.

    >>> surfaces(strip_greeting_prefix(fold_greetings(analyse('こんにちはお座りして'))))
    ['お', '座り', 'し', 'て']
    >>> surfaces(strip_greeting_prefix(fold_greetings(analyse('こんにちは'))))
    ['コンニチハ']
    """
    if len(morphs) > 1 and morphs[0].pos2 == '挨拶':
        return list(morphs[1:])
    return list(morphs)


def drop_light_verb(morphs: Sequence[Morph]) -> List[Morph]:
    """Drop a final する/やる (in any form, with its て) after a noun, verb or adverb.

    The を or モードに before it goes too: ダンスして = ダンス, ポーズをして = ポーズ. A final
    wish auxiliary たい stays after what is left: 休憩したい = 休憩 + たい. After an adverb
    that makes a verb of resting with する (ゆっくりする = relax), する stays.

    >>> surfaces(drop_light_verb(analyse('ダンスをして')))
    ['ダンス']
    >>> surfaces(drop_light_verb(analyse('ダンプモードにして')))
    ['ダンプ', 'モード']
    >>> surfaces(drop_light_verb(analyse('しない')))
    ['し', 'ない']
    >>> surfaces(drop_light_verb(analyse('休憩したい')))
    ['休憩', 'たい']
    """
    out = list(morphs)
    if len(out) > 2 and out[-1].pos1 == '助動詞' and out[-1].lemma == 'たい':
        return drop_light_verb(out[:-1]) + out[-1:]
    end = len(out)
    if end > 1 and out[-1].lemma == 'て' and out[-1].pos1 == '助詞':
        end -= 1
    if end > 1 and out[end - 1].lemma in ('為る', '遣る') and out[end - 1].pos1 == '動詞' \
            and out[end - 2].surface not in _RESTING_ADVERBS:
        out = out[:end - 1]
        if len(out) > 1 and out[-1].surface == 'を':
            out.pop()
        elif len(out) > 2 and out[-1].surface == 'に' and out[-2].surface == 'モード':
            out.pop()
    return out


def drop_te(morphs: Sequence[Morph]) -> List[Morph]:
    """Drop the final te particle of a request: 座って = 座る.

    >>> surfaces(drop_te(analyse('座って')))
    ['座っ']
    """
    if len(morphs) > 1 and morphs[-1].pos1 == '助詞' and morphs[-1].lemma == 'て':
        return list(morphs[:-1])
    return list(morphs)


def drop_honorific_prefix(morphs: Sequence[Morph]) -> List[Morph]:
    """Drop the beautifying prefix お/ご before a word: お座り = 座り.

    >>> surfaces(drop_honorific_prefix(analyse('おすわり')))
    ['すわり']
    """
    return [m for i, m in enumerate(morphs)
            if not (m.pos1 == '接頭辞' and m.lemma == '御' and i + 1 < len(morphs))]


def drop_object_marker(morphs: Sequence[Morph]) -> List[Morph]:
    """Drop the object particle を, which speech often omits: 腰を振って = 腰振って.

    >>> surfaces(drop_object_marker(analyse('腰を振って')))
    ['腰', '振っ', 'て']
    """
    return [m for m in morphs if not (m.pos1 == '助詞' and m.surface == 'を')]


def drop_manner_adverbs(morphs: Sequence[Morph]) -> List[Morph]:
    """Drop an adverb or adverbial adjective right before a verb.

    ゆっくり座って, 楽しく踊って ask for the same action as 座って, 踊って. An adverb standing
    alone stays (ちんちん).

    >>> surfaces(drop_manner_adverbs(analyse('しっかり立って')))
    ['立っ', 'て']
    >>> surfaces(drop_manner_adverbs(analyse('ちんちん')))
    ['ちんちん']
    """
    out = []
    for i, m in enumerate(morphs):
        nxt = morphs[i + 1] if i + 1 < len(morphs) else None
        adverbial = m.pos1 == '副詞' or (m.pos1 == '形容詞' and m.cform.startswith('連用形'))
        if adverbial and nxt is not None and nxt.pos1 == '動詞' and nxt.pos2 == '一般':
            continue
        out.append(m)
    return out


def drop_light_noun(morphs: Sequence[Morph]) -> List[Morph]:
    """Drop a final 動作/動き/こと after an adjective.

    可愛い動作(をして) asks for what 可愛い does.

    >>> surfaces(drop_light_noun(analyse('可愛い動作')))
    ['可愛い']
    """
    if len(morphs) > 1 and morphs[-1].surface in ('動作', '動き', 'こと') and \
            morphs[-2].pos1 == '形容詞':
        return list(morphs[:-1])
    return list(morphs)


def _token_key(m: Morph) -> str:
    if m.pos2 == '数詞':
        value = kanji_number(m.surface)
        if value is not None:
            return str(value)
    if m.pos1 in ('動詞', '形容詞', '助動詞') and m.lform:
        return m.lform
    if m.pos1 == '名詞':
        if ALL_KANJI.fullmatch(m.surface):
            return m.surface
        if re.search('[ぁ-ゖ]', m.lemma):
            return deverbal_reading(m.lemma) or katakana(m.kana or m.surface)
    return katakana(m.kana or m.surface)


def reading_key(morphs: Sequence[Morph]) -> str:
    """Key of what is left.

    Verbs, adjectives and auxiliaries by lemma reading (so the conjugation does not matter),
    nouns written only in kanji as written, a noun that is a verb's stem form (お座り, 伏せ) as
    that verb, numerals as digits, everything else by its katakana reading.

    >>> reading_key(analyse('すわる')), reading_key(analyse('挨拶')), reading_key(analyse('三'))
    ('スワル', '挨拶', '3')
    """
    return ''.join(_token_key(m) for m in morphs)


PIPELINE = (drop_fillers, drop_punctuation, fold_greetings, strip_vocative,
            strip_greeting_prefix, drop_politeness, drop_continuing, drop_ability,
            drop_place_deixis, drop_aside, drop_light_verb, drop_te,
            drop_politeness, drop_honorific_suffix, drop_goal_particle,
            drop_honorific_prefix, drop_object_marker, drop_manner_adverbs,
            drop_light_noun)


def japanese_key(text: str) -> str:
    """Run every rule of ``PIPELINE`` over ``text`` and return the reading key.

    >>> japanese_key('座って') == japanese_key('おすわりしてください') == japanese_key('お座り')
    True
    >>> japanese_key('座らないで') == japanese_key('座って')
    False
    """
    morphs = list(analyse(strip_filler_text(text)))
    for rule in PIPELINE:
        morphs = rule(morphs)
    return reading_key(morphs)
