"""The Japanese analyser: one fugashi tagger over UniDic-lite, and readings of words.

One tagger (https://github.com/polm/fugashi, https://github.com/polm/unidic-lite) is loaded
on first use and shared by the whole process. Field meanings (``pos1``, ``lForm`` = reading
of the lemma, ``kana`` = reading of the surface, ``cForm`` = conjugation form) are UniDic's
(NINJAL, UniDic manual). The normalisation rules over its output are in ``japanese``.
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
ALL_KANJI = re.compile(r'[\u3400-\u9fff\uf900-\ufaff々]+')


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
