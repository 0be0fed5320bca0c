"""Text normalisation: the exact-cache key and the strict key of high-risk commands.

``normalize(text)`` folds what does not change the request: Unicode compatibility forms and
width (NFKC), case, punctuation and spaces, fillers, politeness, the robot's name and a
greeting before a command, Japanese spelling variants (by reading, see ``core.japanese``)
and traditional Chinese characters (zhconv, https://github.com/gumblex/zhconv).

``strict_key(text)`` folds only width, case, punctuation, spaces, the name and politeness:
high-risk actions (flips, jumps, pounce, Damp) are understood without the LLM only when the
speaker used one of our canonical words as written (see ``core.commands``).

Cost once the analyser is loaded: about 0.05 ms p50 and 0.3 ms p99 per utterance of the
development set with the analysis cache cleared (``bench/eval_offline.py``).
"""
import re
import unicodedata
from typing import Callable, List, Sequence

from .chinese import (  # noqa: F401 - re-exported: the key's Chinese rules
    ZH_GREETINGS,
    ZH_NAMES,
    ZH_POLITE_HEAD,
    ZH_POLITE_TAIL,
    fold_chinese,
)
from .japanese import is_punctuation, japanese_key, kanji_number

STRICT_PREFIX = '='
"""First character of every strict key; ``normalize`` never outputs it (it is punctuation)."""

_KANA = re.compile(r'[\u3041-\u309f\u30a0-\u30ff]')
_HAN = re.compile(r'[\u3400-\u9fff\uf900-\ufaff]')
_SPACES = re.compile(r'\s+')

EN_FILLERS = frozenset(('um', 'umm', 'uh', 'uhm', 'uhh', 'er', 'erm', 'hmm', 'ah', 'eh'))
EN_POLITE = frozenset(('please', 'pls', 'plz', 'kindly'))
EN_ARTICLES = frozenset(('a', 'an', 'the', 'your', 'some'))
EN_REQUEST_FRAMES = (('can', 'you'), ('could', 'you'), ('would', 'you'), ('will', 'you'),
                     ('can', 'u'), ('i', 'want', 'you', 'to'), ('go', 'ahead', 'and'),
                     ("let's",), ('lets',), ('let', 'us'),
                     ('now',), ('just',), ('show', 'me'), ('show', 'us'))
# Whom it is for, at or with (wave at me, say hello to everyone, hi there): same action.
EN_TAILS = (('for', 'me'), ('now',), ('right', 'now'), ('again',), ('at', 'me'), ('to', 'me'),
            ('for', 'us'), ('with', 'me'), ('with', 'us'), ('to', 'everyone'),
            ('to', 'everybody'), ('for', 'everyone'), ('everyone',), ('everybody',),
            ('there',), ('buddy',), ('mode',))  # mode: damp mode = damp, normal mode
# 'go' before a verb (go sit) is a frame, not before a direction or place (go down, go home).
EN_GO_PLACES = frozenset(('down', 'up', 'back', 'left', 'right', 'forward', 'forwards',
                          'backward', 'backwards', 'away', 'home', 'on', 'to', 'ahead',
                          'straight', 'around', 'over', 'in', 'out', 'off', 'for', 'and'))
EN_NAMES = frozenset(('claudia', 'hey'))
EN_GREETINGS = (('good', 'morning'), ('good', 'evening'), ('good', 'afternoon'), ('hello',),
                ('hi',), ('hey',), ('hiya',), ('yo',))
JA_STRICT_TAIL = re.compile(
    r'(?:ください|下さい|ちょうだい|くれ|くれる|くれますか|お願いします|お願い|おねがいします|'
    r'おねがい|なさい|(?<=[てろい])[ねよ])+$')
JA_STRICT_LIGHT = re.compile(r'(?<=.)(?:(?<=モード)に)?(?:して|しろ|せよ|し)$')
STRICT_NAMES = re.compile(r'^(?:クラちゃん|くらちゃん|クローディア|claudia|hey|ねえ|ねぇ)+(?=.)')


def fold_width_case(text: str) -> str:
    """NFKC (full/half width, compatibility forms) and case folding.

    >>> fold_width_case('ｽﾄｯﾌﾟ ＳＩＴ １')
    'ストップ sit 1'
    """
    return unicodedata.normalize('NFKC', text).casefold()


def strip_punctuation(text: str) -> str:
    r"""Punctuation and symbols become a space; runs of spaces collapse; ends are trimmed.

    The prolonged sound mark ー and apostrophes inside words stay.

    >>> strip_punctuation('「止まれ」！ don\'t   sit?')
    "止まれ don't sit"
    """
    out = []
    for i, c in enumerate(text):
        inner_apostrophe = c == "'" and 0 < i < len(text) - 1 and text[i - 1].isalpha()
        out.append(c if inner_apostrophe or not is_punctuation(c) else ' ')
    return _SPACES.sub(' ', ''.join(out)).strip()


def has_kana(text: str) -> bool:
    """True when ``text`` has hiragana or katakana (then it is analysed as Japanese).

    >>> has_kana('座って'), has_kana('坐下')
    (True, False)
    """
    return bool(_KANA.search(text))


def to_simplified(text: str) -> str:
    """Traditional to simplified Chinese (zhconv, zh-cn); call only on text with no kana.

    >>> to_simplified('請坐下，站起來')
    '请坐下，站起来'
    """
    import zhconv
    return zhconv.convert(text, 'zh-cn')


def _drop_frames(words: List[str], frames: Sequence[Sequence[str]]) -> List[str]:
    changed = True
    while changed:
        changed = False
        for frame in frames:
            n = len(frame)
            if len(words) > n and tuple(words[:n]) == tuple(frame):
                words, changed = words[n:], True
    return words


def fold_english(words: List[str]) -> List[str]:
    """Drop English fillers, politeness, articles, request frames, the name and greetings.

    Request frames are can you, could you, would you ..., show me, 'go' before a verb, 'do'
    before an article, and a trailing 'for me', 'now', 'again', 'at me', 'to everyone', 'there',
    'mode' (damp mode = damp).
    Articles include 'your' and 'some'. Also dropped: the robot's name, a leading 'hey'
    and a greeting before a request.
    Never returns an empty list for a non-empty one.

    >>> fold_english('um could you please sit down'.split())
    ['sit', 'down']
    >>> fold_english('hi claudia sit down'.split())
    ['sit', 'down']
    >>> fold_english('hello claudia'.split()), fold_english(['hey'])
    (['hello'], ['hey'])
    >>> fold_english('go sit'.split()), fold_english('go down'.split())
    (['sit'], ['go', 'down'])
    >>> fold_english('do a dance for us'.split()), fold_english('give me your paw'.split())
    (['dance'], ['give', 'me', 'paw'])
    """
    words = [w for i, w in enumerate(words)  # the light verb of 'do a dance'
             if not (w == 'do' and i + 1 < len(words) and words[i + 1] in EN_ARTICLES)]
    kept = [w for w in words if w not in EN_FILLERS | EN_POLITE | EN_ARTICLES] or list(words)
    changed = True
    while changed:
        changed = False
        if len(kept) > 1 and kept[-1] in EN_NAMES:
            kept, changed = kept[:-1], True
        for tail in EN_TAILS:
            if len(kept) > len(tail) and tuple(kept[-len(tail):]) == tail:
                kept, changed = kept[:-len(tail)], True
    previous = None
    while kept != previous:
        previous = kept
        kept = _drop_frames(kept, EN_REQUEST_FRAMES)
        if len(kept) > 1 and kept[0] == 'go' and kept[1] not in EN_GO_PLACES:
            kept = kept[1:]
        while len(kept) > 1 and kept[0] in EN_NAMES:
            kept = kept[1:]
        kept = _drop_frames(kept, EN_GREETINGS)
    return kept


_NUMERAL_BEFORE_UNIT = re.compile(r'[零〇一二两兩三四五六七八九十百]+(?=[歩步米度回次遍圈秒分])')


def fold_numerals(text: str) -> str:
    """Kanji numerals before a unit become Arabic digits: 三歩 = 3歩, 两步 = 2步.

    >>> fold_numerals('三歩'), fold_numerals('走两步'), fold_numerals('一下')
    ('3歩', '走2步', '一下')
    """
    return _NUMERAL_BEFORE_UNIT.sub(lambda m: str(kanji_number(m.group())), text)


def _fold_mixed(text: str) -> str:
    words = fold_english(text.split(' ')) if text else []
    return fold_chinese(' '.join(words)).replace(' ', '')


def normalize(text: str) -> str:
    """Return the exact-cache key of ``text`` (a utterance of up to a few hundred chars).

    Japanese (any kana present): the reading key of ``core.japanese.japanese_key``; a key
    with no kana left is then folded to simplified Chinese characters like any kanji-only
    text, so 回復して and 回復 meet. Otherwise English and Chinese word rules, traditional to
    simplified Chinese. Spaces are removed last: 'sit down', 'sit_down' and 'SitDown' meet.

    >>> normalize('すわってください') == normalize('お座り') == normalize('座って！')
    True
    >>> normalize('Sit down, please!'), normalize('請坐下')
    ('sitdown', '坐下')
    >>> normalize('座らないで') == normalize('座って')
    False
    """
    wide = fold_width_case(text)
    folded = strip_punctuation(wide)
    if not folded:
        return ''
    if has_kana(folded):
        key = japanese_key(wide) or folded.replace(' ', '')
        return key if has_kana(key) else to_simplified(key)
    key = _fold_mixed(fold_numerals(to_simplified(folded)) if _HAN.search(folded) else folded)
    return key.replace("'", '')


def _strict_fold(text: str, rules: Sequence[Callable[[str], str]]) -> str:
    previous = None
    while text != previous:
        previous = text
        for rule in rules:
            text = rule(text) or text
    return text


def strict_key(text: str) -> str:
    """Return the strict key: ``STRICT_PREFIX`` + ``text`` with only light folding.

    ``text`` is folded only for width, case, punctuation, spaces, the robot's name and
    politeness (ください, して, please, 请, 吧, 一下). No reading, kana or character-set
    folding: ジャンプして and じゃんぷ differ.

    >>> strict_key('ジャンプしてください！'), strict_key('じゃんぷして')
    ('=ジャンプ', '=じゃんぷ')
    >>> strict_key('Jump, please')
    '=jump'
    >>> strict_key('ジャンプするな'), strict_key('请跳一下'), strict_key('不要跳')
    ('=ジャンプするな', '=跳', '=不要跳')
    """
    folded = strip_punctuation(fold_width_case(text))
    words = fold_english(folded.split(' ')) if folded else []
    folded = ''.join(words)
    folded = _strict_fold(folded, (
        lambda t: STRICT_NAMES.sub('', t),
        lambda t: JA_STRICT_TAIL.sub('', t),
        lambda t: JA_STRICT_LIGHT.sub('', t) if has_kana(t) else t,
        lambda t: ZH_POLITE_HEAD.sub('', t),
        lambda t: ZH_POLITE_TAIL.sub('', t)))
    return STRICT_PREFIX + folded
