"""Emergency stop words (ja, zh, en): recognised before anything else, answered with StopMove.

Biased to recall: a false stop costs one StopMove and a missed chat reply; a missed stop can
cost a collision. So:

- Stop words match anywhere in the utterance ("今すぐ止まれ！", "please stop now"), in any
  width, case or script form (NFKC folds ｽﾄｯﾌﾟ to ストップ, ＳＴＯＰ to stop; katakana is folded
  to hiragana, so トマレ is とまれ), with punctuation, quotes, spaces and long-vowel marks
  removed ("「止まれ」", "ストーップ"), and repeated ("stop stop stop", "とまれとまれ").
- Negation is not parsed: "止まらないで", "don't stop", "不要停止" contain a stop word and
  stop the robot. Telling "don't stop" from "don't move" reliably is not worth a missed stop.
- Very short or ambiguous words count only when they are the whole utterance (possibly
  repeated): the ASR truncations とま / とまっ / ストッ, Chinese 停, "wait", and "lock"
  (ロック, 锁定), which on the Go2 app means freezing the robot in place. So "トマト",
  "ロックが好き" and "wait a second, what is a robot" do not stop it.
- English words are matched as whole words, so "nonstop", "unstoppable", "asphalt" and
  "stand" do not stop it; Japanese and Chinese words as substrings, except where a common word
  contains one (まとめて contains とめて, 受け止めて contains 止めて). 停车 (stop the car) is
  not a stop word, so 停车场 (car park) does not stop it; ストレッチ and ストーリー share only
  スト with ストップ.
"""
import re
import unicodedata
from typing import FrozenSet, Iterable, List

EMERGENCY_ACTION = 'StopMove'

# Matched anywhere in the folded, compacted utterance (regular expressions).
_SUBSTRINGS = (
    # ja: every form of 止まる (止まれ, 止まって, 止まりなさい, 止まらないで ...)
    '止ま', 'とまれ', 'とまって', 'とまりなさい', 'とまろ',
    # ja: 止める / やめる (stop it), but not 受け止めて, 突き止めて, まとめて
    '(?<!受け)(?<!突き)止め[てろな]', '(?<!ま)とめ[てろ]', 'やめ[てろな]',
    'ストップ', '停止', '中止', '[紧緊]急',
    '動かないで', '動くな', 'うごかないで', 'うごくな', 'じっとして', '待て', '待って',
    '危ない', 'あぶない',
    # zh (simplified and traditional)
    '停下', '停住', '[暂暫]停', '急停', '[别別][动動]', '不要[动動]', '站住', '住手',
    '[刹煞][车車]', '危[险險]',
)
# Matched only as the whole utterance, possibly repeated.
_WHOLE = ('とま', 'とまっ', 'ストッ', 'まて', 'まって', '停', 'ロック', '锁定', '鎖定',
          'wait', 'lock')
# English: whole words (tokens) and phrases (token sequences).
_WORDS = frozenset(('stop', 'stops', 'stopped', 'stopping', 'halt', 'halted', 'freeze',
                    'emergency', 'estop', 'abort'))
_PHRASES = ('dont move', 'do not move', 'stand still', 'hold still', 'stay still', 'stay put',
            'watch out', 'look out')

_DROP_CHARS = frozenset('ー〜~')


def _fold(text: str) -> str:
    """NFKC, casefold, katakana -> hiragana."""
    text = unicodedata.normalize('NFKC', text).casefold()
    return ''.join(chr(ord(c) - 0x60) if '\u30a1' <= c <= '\u30f6' else c for c in text)


def _compact(folded: str) -> str:
    """Letters, marks and digits only: no spaces, punctuation, quotes, symbols, long vowels."""
    return ''.join(c for c in folded
                   if unicodedata.category(c)[0] in 'LMN' and c not in _DROP_CHARS)


def _fold_patterns(patterns: Iterable[str]) -> List[str]:
    return [_fold(p) for p in patterns]


_SUBSTRING_RE = re.compile('|'.join(_fold_patterns(_SUBSTRINGS)))
_WHOLE_FOLDED: FrozenSet[str] = frozenset(_compact(p) for p in _fold_patterns(_WHOLE))
_TOKEN_RE = re.compile('[a-z]+')


def is_emergency(text: str) -> bool:
    """Return True when ``text`` asks the robot to stop (see the module doc for the rules).

    Args:
        text: one utterance as recognised, any width, case or punctuation.

    Raises:
        TypeError: ``text`` is not a str.
    """
    if not isinstance(text, str):
        raise TypeError('utterance must be str, got %s' % type(text).__name__)
    folded = _fold(text)
    compact = _compact(folded)
    if not compact:
        return False
    if _SUBSTRING_RE.search(compact):
        return True
    if any(_repeats(compact, word) for word in _WHOLE_FOLDED):
        return True
    tokens = _TOKEN_RE.findall(folded.replace("'", '').replace('\u2019', ''))
    if any(token in _WORDS or any(_repeats(token, w) for w in _WORDS) for token in tokens):
        return True
    joined = ' %s ' % ' '.join(tokens)
    return any(' %s ' % phrase in joined for phrase in _PHRASES)


def _repeats(text: str, unit: str) -> bool:
    """True when ``text`` is ``unit`` once or more times over."""
    count, rest = divmod(len(text), len(unit))
    return count > 0 and rest == 0 and text == unit * count
