"""Japanese morphology for the normaliser, the guards and the sequence splitter.

One fugashi tagger over UniDic-lite (https://github.com/polm/fugashi,
https://github.com/polm/unidic-lite) is loaded on first use and shared by the whole
process. Field meanings (``pos1``, ``lForm`` = reading of the lemma, ``kana`` = reading
of the surface, ``cForm`` = conjugation form) are UniDic's (NINJAL, UniDic manual).

Every rule here takes and returns a list of ``Morph`` and is a plain function, so each can
be tested alone; ``reading_key`` turns what is left into the katakana cache key.
"""
import re
import threading
import unicodedata
from functools import lru_cache
from typing import List, NamedTuple, Optional, Sequence, Tuple

_TAGGER = None
_TAGGER_LOCK = threading.Lock()
_CALL_LOCK = threading.Lock()

KANJI_DIGITS = {'〇': 0, '零': 0, '一': 1, '二': 2, '三': 3, '四': 4, '五': 5, '六': 6,
                '七': 7, '八': 8, '九': 9, '两': 2, '兩': 2}
KANJI_UNITS = {'十': 10, '百': 100, '千': 1000}

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
# Request and politeness endings that do not change what is asked (lemmas).
_POLITE_LEMMAS = frozenset(('下さる', '呉れる', '為さる', '頂戴', '貰う', '頂く', '欲しい', '見る',
                            'ます', 'です', '御座る', '御覧'))
_REQUEST_AUX = frozenset(('呉れる', '貰う', '頂く'))
_NEGATIONS = frozenset(('ない', 'ず', 'ぬ', 'ん'))
_FINAL_PARTICLES = frozenset(('ね', 'よ', 'な', 'ぞ', 'ぜ', 'わ', 'さ', 'ねえ', 'なあ', 'よね'))
_SOFTENERS = frozenset(('ちょっと', 'どうか', 'どうぞ', 'ちょい'))


class Morph(NamedTuple):
    """One token and its analysis.

    Surface, UniDic POS (``pos1``/``pos2``), lemma, lemma reading (``lform``), surface reading
    (``kana``), conjugation form (``cform``), and its [start, end) offsets in the analysed
    text (characters).
    """

    surface: str
    pos1: str
    pos2: str
    lemma: str
    lform: str
    kana: str
    cform: str
    start: int
    end: int


def tagger():
    """Return the process-wide fugashi tagger, loading UniDic-lite on first call (~0.2 s)."""
    global _TAGGER
    if _TAGGER is None:
        with _TAGGER_LOCK:
            if _TAGGER is None:
                import fugashi
                _TAGGER = fugashi.Tagger()
    return _TAGGER


@lru_cache(maxsize=4096)
def analyse(text: str) -> Tuple[Morph, ...]:
    """Tokenise ``text``; the 4096 most recent texts are cached.

    The tagger (MeCab) is not thread-safe, so calls are serialised by a lock (~0.05 ms each
    for a short utterance).

    >>> [m.surface for m in analyse('座ってください')]
    ['座っ', 'て', 'ください']
    """
    morphs, pos = [], 0
    tag = tagger()
    with _CALL_LOCK:
        words = [(word.surface, word.feature) for word in tag(text)]
    for surface, feat in words:
        start = text.find(surface, pos)
        start = pos if start < 0 else start
        pos = start + len(surface)
        morphs.append(Morph(surface, feat.pos1 or '', feat.pos2 or '', feat.lemma or surface,
                            feat.lForm or '', feat.kana or '', feat.cForm or '', start, pos))
    return tuple(morphs)


def surfaces(morphs: Sequence[Morph]) -> List[str]:
    """Surfaces of ``morphs``, for examples and tests."""
    return [m.surface for m in morphs]


def katakana(text: str) -> str:
    """Hiragana to katakana; everything else unchanged.

    >>> katakana('すわって ok')
    'スワッテ ok'
    """
    return ''.join(chr(ord(c) + 0x60) if 'ぁ' <= c <= 'ゖ' else c for c in text)


def is_punctuation(text: str) -> bool:
    """True when every character is punctuation, a symbol or a space (ー and っ are not).

    >>> is_punctuation('「！」'), is_punctuation('ー')
    (True, False)
    """
    return all(unicodedata.category(c)[0] in 'PSZ' for c in text)


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
    """Remove fillers at the start or between pauses before analysis.

    The analyser may cut えーと、 into えー + と. A filler that is also a word (あの, その)
    needs a pause after it.

    >>> strip_filler_text('えーと、座って'), strip_filler_text('座って、あの、立って')
    ('座って', '座って、立って')
    >>> strip_filler_text('あの犬')
    'あの犬'
    """
    return _FILLER_TEXT.sub('', text) or text


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


def drop_politeness(morphs: Sequence[Morph]) -> List[Morph]:
    """Drop request and politeness forms that do not change what is asked.

    These are ください, てくれ(る), なさい, ちょうだい, てもらえますか, てほしい, てみて,
    お願いします, です/ます, ございます, sentence-final ね/よ/な (not the prohibitive な after a
    verb) and a leading ちょっと/どうか. A negation (ません, くれない) is kept.

    >>> surfaces(drop_politeness(analyse('座ってください')))
    ['座っ', 'て']
    >>> surfaces(drop_politeness(analyse('座ってもらえますか')))
    ['座っ', 'て']
    >>> surfaces(drop_politeness(analyse('座りません')))
    ['座り', 'ん']
    >>> surfaces(drop_politeness(analyse('座ってくれませんか')))
    ['座っ', 'て']
    >>> surfaces(drop_politeness(analyse('座るな')))
    ['座る', 'な']
    >>> surfaces(drop_politeness(analyse('可愛いね')))
    ['可愛い']
    >>> surfaces(drop_politeness(analyse('お願いします')))
    ['お', '願い', 'し', 'ます']
    """
    out = [m for m in morphs if not (m.pos1 == '助動詞' and m.lemma in ('ます', 'です'))]
    while len(out) > 1 and out[0].surface in _SOFTENERS:
        out = out[1:]
    while len(out) > 1:
        last = out[-1]
        if last.pos1 == '助詞' and last.pos2 == '終助詞' and last.surface in _FINAL_PARTICLES:
            if last.surface == 'な' and out[-2].pos1 == '動詞' and \
                    not out[-2].cform.startswith('連用形-一般'):
                break  # prohibitive な (座るな = don't sit)
            out.pop()
        elif last.surface == 'か' and (out[-2].cform.startswith('意志推量形') or len(out) > 2 and (
                out[-2].lemma in _POLITE_LEMMAS or _negated_request(out[:-1]))):
            out.pop()  # 座ってもらえるか, 座ろうか, 座ってくれないか
        elif last.pos1 == '助動詞' and _negated_request(out):
            out.pop()  # くれない / くれません: a polite request, not a negation
        elif last.lemma == '良い' and len(out) > 4 and out[-2].surface == 'も' and \
                out[-3].lemma == 'て' and out[-4].lemma in _REQUEST_AUX:
            del out[-3:]  # 座ってもらってもいい
        elif last.lemma in _POLITE_LEMMAS and out[-2].surface in ('て', 'で', 'し') or \
                last.lemma in ('下さる', '為さる', '頂戴', '御座る'):
            out.pop()
        elif last.lemma == '願う' or (last.lemma == '為る' and out[-2].lemma == '願う'):
            out.pop()
            if out and out[-1].lemma == '御' and len(out) > 1:
                out.pop()
        elif last.surface == 'て' and len(out) > 2 and out[-2].lemma in _POLITE_LEMMAS:
            out.pop()  # the て of てみて
        else:
            break
    if all(m.pos1 == '接頭辞' for m in out):
        return list(morphs)  # politeness alone (お願いします) stays as said
    return out


def _negated_request(morphs: Sequence[Morph]) -> bool:
    """True when ``morphs`` end in て + くれる/もらえる/いただける + a negation (くれない)."""
    return (len(morphs) > 3 and morphs[-1].pos1 == '助動詞' and morphs[-1].lemma in _NEGATIONS
            and morphs[-2].lemma in _REQUEST_AUX and morphs[-3].lemma in ('て', 'で'))


def drop_light_verb(morphs: Sequence[Morph]) -> List[Morph]:
    """Drop a final する/やる (in any form, with its て) after a noun, verb or adverb.

    The を or モードに before it goes too: ダンスして = ダンス, ポーズをして = ポーズ.

    >>> surfaces(drop_light_verb(analyse('ダンスをして')))
    ['ダンス']
    >>> surfaces(drop_light_verb(analyse('ダンプモードにして')))
    ['ダンプ', 'モード']
    >>> surfaces(drop_light_verb(analyse('しない')))
    ['し', 'ない']
    """
    out = list(morphs)
    end = len(out)
    if end > 1 and out[-1].lemma == 'て' and out[-1].pos1 == '助詞':
        end -= 1
    if end > 1 and out[end - 1].lemma in ('為る', '遣る') and out[end - 1].pos1 == '動詞':
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


def kanji_number(text: str) -> Optional[int]:
    """Value of a kanji (or Arabic) numeral up to 9999, else None.

    >>> kanji_number('三'), kanji_number('十二'), kanji_number('二十'), kanji_number('12')
    (3, 12, 20, 12)
    """
    if text.isdecimal():  # not isdigit(): it accepts '➑' and '²', which int() refuses
        return int(text)
    if not text or any(c not in KANJI_DIGITS and c not in KANJI_UNITS for c in text):
        return None
    total, digit = 0, None
    for c in text:
        if c in KANJI_DIGITS:
            digit = KANJI_DIGITS[c] if digit is None else digit * 10 + KANJI_DIGITS[c]
        else:
            total += (1 if digit is None else digit) * KANJI_UNITS[c]
            digit = None
    return total + (digit or 0)


_GODAN = dict(zip('いきぎしちにびみり', 'うくぐすつぬぶむる'))
_ALL_KANJI = re.compile(r'[\u3400-\u9fff\uf900-\ufaff々]+')


@lru_cache(maxsize=1024)
def deverbal_reading(lemma: str) -> Optional[str]:
    """Lemma reading of the verb a noun like 座り, 踊り, 伏せ, 伸び is the stem form of, or None.

    >>> deverbal_reading('座り'), deverbal_reading('伏せ'), deverbal_reading('ハート')
    ('スワル', 'フセル', None)
    """
    if not lemma or lemma[-1] not in _GODAN and not re.match('[ぁ-ゖ]', lemma[-1]):
        return None
    candidates = [lemma + 'る']
    if lemma[-1] in _GODAN:
        candidates.append(lemma[:-1] + _GODAN[lemma[-1]])
    for verb in candidates:
        morphs = analyse(verb)
        if len(morphs) == 1 and morphs[0].pos1 == '動詞' and morphs[0].lemma == verb:
            return morphs[0].lform
    return None


def _token_key(m: Morph) -> str:
    if m.pos2 == '数詞':
        value = kanji_number(m.surface)
        if value is not None:
            return str(value)
    if m.pos1 in ('動詞', '形容詞', '助動詞') and m.lform:
        return m.lform
    if m.pos1 == '名詞':
        if _ALL_KANJI.fullmatch(m.surface):
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
            strip_greeting_prefix, drop_politeness, drop_light_verb, drop_te,
            drop_politeness, drop_honorific_prefix, drop_object_marker, drop_manner_adverbs,
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
