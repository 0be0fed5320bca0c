"""Guard features: what a near-miss must not flip (negation, stop, direction, number, question).

A semantic-cache hit requires ``extract_guards(query) == extract_guards(candidate)``, so
「座らないで」 never meets 「座って」, "turn right" never meets "turn left" and 「三歩前へ」 never
meets 「一歩前へ」, however close their embeddings are.

Japanese is read with the morphological analyser (``core.japanese``): negation is the
auxiliary ない/ぬ/ん/ず, the adjective 無い, the prohibitive な after a verb, ダメ, 禁止 and the
prefix 不; an adjective that merely ends in ない (危ない, 少ない) is not. Stopping (止まる,
やめる, ストップ, stop, 停) is a feature of its own, so "stop sitting" differs from "sit" and
"don't stop" from "stop". Chinese and
English use word lists. ``question`` is ``sentence_type(text) == 'question'``
(``core.understanding.sentence_type``), so 「疲れた？」 never meets 「疲れた」. When unsure the
rules say "negated" or "has a direction": a wrong "yes" only costs a semantic hit, a wrong
"no" could flip a command.
"""
import re
from dataclasses import dataclass, field
from typing import FrozenSet, List, Optional, Set, Tuple

from .japanese import Morph, analyse, kanji_number, katakana
from .normalize import fold_width_case, has_kana, to_simplified
from .sentence_type import QUESTION, sentence_type

Number = Tuple[float, str]
_HAN = re.compile(r'[\u3400-\u9fff\uf900-\ufaff]')

DIRECTIONS = ('left', 'right', 'forward', 'back', 'up', 'down')
UNITS = {'歩': 'step', '步': 'step', 'ホ': 'step', 'ポ': 'step', 'step': 'step', 'steps': 'step',
         'メートル': 'm', 'm': 'm', '米': 'm', 'meter': 'm', 'meters': 'm', 'metre': 'm',
         'metres': 'm', '公尺': 'm', 'センチ': 'cm', 'cm': 'cm', '厘米': 'cm', '公分': 'cm',
         '度': 'deg', 'ド': 'deg', '°': 'deg', 'degree': 'deg', 'degrees': 'deg', 'deg': 'deg',
         '回': 'times', 'カイ': 'times', '次': 'times', '遍': 'times', 'time': 'times',
         'times': 'times', '秒': 's', '秒間': 's', 'ビョウ': 's', 'ビョウカン': 's', 'second': 's',
         'seconds': 's', 's': 's',
         '圈': 'turn', '周': 'turn', 'turn': 'turn', 'turns': 'turn', 'round': 'turn',
         '号': 'no', '番': 'no'}
EN_NUMBERS = {'zero': 0, 'one': 1, 'two': 2, 'three': 3, 'four': 4, 'five': 5, 'six': 6,
              'seven': 7, 'eight': 8, 'nine': 9, 'ten': 10, 'once': 1, 'twice': 2}
EN_NEGATIONS = frozenset(('not', 'no', 'never', 'dont', 'cannot', 'nothing', 'nope', 'without',
                          'neither', 'nor'))
EN_STOPS = frozenset(('stop', 'stopping', 'quit', 'cease', 'halt', 'freeze', 'enough'))
EN_ORDINALS = {'first': 1, 'second': 2, 'third': 3, 'fourth': 4, 'fifth': 5, 'sixth': 6,
               'seventh': 7, 'eighth': 8, 'ninth': 9, 'tenth': 10}
EN_DIRECTIONS = {'left': 'left', 'right': 'right', 'forward': 'forward', 'forwards': 'forward',
                 'ahead': 'forward', 'front': 'forward', 'back': 'back', 'backward': 'back',
                 'backwards': 'back', 'behind': 'back', 'up': 'up', 'upward': 'up',
                 'upwards': 'up', 'down': 'down', 'downward': 'down', 'downwards': 'down'}
# Verbs whose particle up/down names a posture, not a direction (sit down, stand up).
EN_POSTURE_VERBS = frozenset(('sit', 'sitting', 'lie', 'lying', 'lay', 'stand', 'standing',
                              'get', 'wake', 'calm', 'settle', 'kneel', 'bow', 'rise', 'cheer',
                              'shut', 'hurry', 'lie_down'))
# Only where 'right' cannot be the side; 'right now' may be 'turn right now', so it counts.
EN_RIGHT_IDIOMS = (('all', 'right'), ("that's", 'right'), ("you're", 'right'), ('alright',))
ZH_NEGATION = re.compile(r'不|别|没|甭|莫|勿|禁止')
ZH_STOP = re.compile(r'停|住手|够了')
CJK_ORDINAL = re.compile(r'第\s*(\d+|[零〇一二两兩三四五六七八九十百]+)')
ZH_DIRECTIONS = (('left', re.compile(r'左')), ('right', re.compile(r'右')),
                 ('forward', re.compile(r'(?<![之以提])前(?!天|面的人)')),
                 ('back', re.compile(r'(?<![然之以最])后(?!来|天)')),
                 ('up', re.compile(r'[向往朝]上|上面|上方|抬头|抬起')),
                 ('down', re.compile(r'[向往朝]下|下面|下方|低头')))
_ZH_UNITS = '步|米|公尺|厘米|公分|度|次|遍|圈|周|秒'
ZH_NUMBER = re.compile(r'(\d+(?:\.\d+)?|[零〇一二两兩三四五六七八九十百]+)\s*(%s)' % _ZH_UNITS)
_BARE_DIGITS = re.compile(r'(?<![\d.])\d+(?:\.\d+)?(?![\d.]|\s*(?:%s))' % _ZH_UNITS)
JA_DIRECTIONS = {'ミギ': 'right', 'ヒダリ': 'left', 'マエ': 'forward', 'ゼンポウ': 'forward',
                 'ゼンシン': 'forward', 'ウシロ': 'back', 'コウホウ': 'back', 'コウタイ': 'back',
                 'バック': 'back', 'ウエ': 'up', 'ジョウホウ': 'up', 'シタ': 'down',
                 'カホウ': 'down', 'ウセツ': 'right', 'サセツ': 'left', 'ライト': 'right',
                 'レフト': 'left'}


@dataclass(frozen=True)
class Guards:
    """Features two utterances must share before a semantic hit.

    ``negated``: a negation or prohibition anywhere. ``stop``: a request to stop something
    (止まって, やめて, stop, 停). ``directions``: subset of ``DIRECTIONS``. ``numbers``:
    ``(value, unit)`` in order of appearance; unit is one of step, m, cm, deg, times, s,
    turn, no, nth (an ordinal: 第二, second) or '' (a bare number, as in ダンス2).
    ``question``: the utterance is a question (「疲れた？」, 你累了吗, "are you tired").
    """

    negated: bool = False
    directions: FrozenSet[str] = field(default_factory=frozenset)
    numbers: Tuple[Number, ...] = ()
    stop: bool = False
    question: bool = False


@dataclass
class _Found:
    negated: bool = False
    stop: bool = False
    directions: Set[str] = field(default_factory=set)
    numbers: List[Number] = field(default_factory=list)


def extract_guards(text: str) -> Guards:
    """Return the guard features of ``text`` (any language; ~0.1 ms for a short utterance).

    >>> extract_guards('座らないで').negated, extract_guards('座って').negated
    (True, False)
    >>> sorted(extract_guards('右に曲がって').directions), extract_guards('三歩前へ').numbers
    (['right'], ((3.0, 'step'),))
    >>> extract_guards("don't stop") == extract_guards('stop')
    False
    """
    folded = fold_width_case(text)
    found = _Found()
    cjk = has_kana(folded) or bool(_HAN.search(folded))
    if has_kana(folded):
        _japanese(analyse(folded), found)
    elif cjk:
        folded = to_simplified(folded)
        _chinese(folded, found)
    if cjk:
        _cjk_ordinals(folded, found)
    _english(folded, found, digits=not cjk)
    return Guards(found.negated, frozenset(found.directions), tuple(found.numbers), found.stop,
                  sentence_type(text) == QUESTION)


def _is_japanese_negation(morphs: Tuple[Morph, ...], i: int) -> bool:
    m = morphs[i]
    prev = morphs[i - 1] if i else None
    if m.pos1 == '助動詞' and m.lemma in ('ない', 'ぬ', 'ず'):
        return True
    if m.pos1 == '形容詞' and m.lemma == '無い':
        return True
    if m.pos1 == '助詞' and m.surface == 'な' and m.pos2 == '終助詞' and prev is not None \
            and prev.pos1 in ('動詞', '助動詞') and not prev.cform.startswith('連用形-一般'):
        return True  # prohibitive: 座るな, 座んな
    if m.lemma in ('駄目', '禁止', '不') or m.surface in ('だめ', 'ダメ', 'いや', 'イヤ'):
        return True
    return m.pos1 == '接頭辞' and m.lemma in ('不', '非', '無')


def _is_japanese_stop(m: Morph) -> bool:
    if m.pos1 == '動詞' and (m.lemma in ('止める', '止まる', '止す', '辞める')
                           or m.lform in ('ヤメル', 'トマル', 'トメル', 'ヨス')):
        return True
    return m.lemma in ('ストップ-stop', '停止') or m.surface in ('ストップ', '停止')


def _japanese(morphs: Tuple[Morph, ...], found: _Found) -> None:
    for i, m in enumerate(morphs):
        found.negated = found.negated or _is_japanese_negation(morphs, i)
        found.stop = found.stop or _is_japanese_stop(m)
        reading = katakana(m.kana)
        if m.pos1 == '名詞' and reading in JA_DIRECTIONS and not (
                reading == 'シタ' and m.surface not in ('下', 'した')):
            found.directions.add(JA_DIRECTIONS[reading])
        prev = morphs[i - 1] if i else None
        value = kanji_number(m.surface) if m.pos2 == '数詞' or m.surface.isdecimal() else None
        if value is not None and not (prev is not None and prev.surface == '第'):
            nxt = morphs[i + 1] if i + 1 < len(morphs) else None
            unit = _unit(nxt.surface, katakana(nxt.kana)) if nxt is not None else ''
            found.numbers.append((float(value), unit))


def _unit(surface: str, reading: str = '') -> str:
    return UNITS.get(surface) or UNITS.get(reading) or ''


def _chinese(text: str, found: _Found) -> None:
    found.negated = bool(ZH_NEGATION.search(text))
    found.stop = bool(ZH_STOP.search(text))
    found.directions.update(name for name, pattern in ZH_DIRECTIONS if pattern.search(text))
    for match in ZH_NUMBER.finditer(text):
        value = _cjk_number(match.group(1))
        if value is not None and not text[:match.start()].rstrip().endswith('第'):
            found.numbers.append((value, _unit(match.group(2))))
    for match in _BARE_DIGITS.finditer(text):
        if not text[:match.start()].rstrip().endswith('第'):
            found.numbers.append((float(match.group()),
                                  _unit(_next_latin_word(text, match.end()))))


def _cjk_ordinals(text: str, found: _Found) -> None:
    for match in CJK_ORDINAL.finditer(text):
        value = _cjk_number(match.group(1))
        if value is not None:
            found.numbers.append((value, 'nth'))


def _next_latin_word(text: str, pos: int) -> str:
    match = re.match(r'\s*([a-z]+|°)', text[pos:])
    return match.group(1) if match else ''


def _cjk_number(text: str) -> Optional[float]:
    if re.fullmatch(r'\d+(?:\.\d+)?', text):
        return float(text)
    value = kanji_number(text)
    return None if value is None else float(value)


def _english(text: str, found: _Found, digits: bool) -> None:
    """English words of ``text``; Arabic digits too when ``digits`` (no CJK analyser ran)."""
    words = re.findall(r"[a-z]+(?:'[a-z]+)?|\d+(?:\.\d+)?|°", text)
    for i, word in enumerate(words):
        prev = words[i - 1] if i else ''
        nxt = words[i + 1] if i + 1 < len(words) else ''
        if word in EN_NEGATIONS or word.endswith("n't"):
            found.negated = True
        if word in EN_STOPS:
            found.stop = True
        direction = EN_DIRECTIONS.get(word)
        if direction in ('up', 'down') and prev in EN_POSTURE_VERBS:
            direction = None
        if direction == 'right' and ((prev, word) in EN_RIGHT_IDIOMS
                                     or (word, nxt) in EN_RIGHT_IDIOMS):
            direction = None
        if direction:
            found.directions.add(direction)
        is_digit = re.fullmatch(r'\d+(?:\.\d+)?', word) is not None
        value = (float(word) if digits else None) if is_digit else EN_NUMBERS.get(word)
        if value is not None:
            unit = 'times' if word in ('once', 'twice') else _unit(nxt)
            found.numbers.append((float(value), unit))
        elif word in EN_ORDINALS:
            found.numbers.append((float(EN_ORDINALS[word]), 'nth'))
