"""Emergency stop words (ja, zh, en): recognised before anything else, answered with StopMove.

Biased to recall: a false stop costs one StopMove and a missed chat reply; a missed stop can
cost a collision. So:

- Stop commands match anywhere in the utterance ("今すぐ止まれ！", "please stop now"), in any
  width, case or script form (NFKC folds ｽﾄｯﾌﾟ to ストップ, ＳＴＯＰ to stop; katakana is folded
  to hiragana, so トマレ is とまれ and 止マレ is 止まれ), with punctuation, quotes, spaces and
  long-vowel marks removed ("「止まれ」", "ストーップ"), and repeated ("stop stop stop").
- Japanese stop verbs match by stem and command ending, in kanji or kana: 止まる/停まる
  (止まれ, 止まって, 止まりなさい, 止まろう, 止まりましょう, 止まるな, 止まらないで, 止まる！),
  止める/やめる (止めて, 止めろ, 止めなさい, 止めよう, 止めないで), so a report such as
  止まった, 止まっている, 止めない, 待っている is not a stop. The nouns ストップ, 停止, 中止
  count when they end the utterance or take する (停止して, ストップしてください), so
  ストップウォッチ, 停止線 and 試合が中止になった do not stop it.
- Negation is not parsed: "止まらないで", "don't stop", "不要停止" contain a stop command and
  stop the robot. Telling "don't stop" from "don't move" reliably is not worth a missed stop.
- Very short or ambiguous words count only when they are the whole utterance (possibly
  repeated): the ASR truncations とま / とまっ / ストッ, やめ, Chinese 停 and 停车, "wait",
  "hold on", "enough", and "lock" (ロック, 锁定), which on the Go2 app means freezing the robot
  in place. So "トマト", "ロックが好き" and "wait a second, what is a robot" do not stop it.
- English words are matched as whole words, so "nonstop", "unstoppable" and "stopwatch" do
  not stop it; "stop" used as a noun ("bus stop", "the next stop", "stop sign") does not
  either, nor "freeze the leftovers" or "brain freeze"; "emergency" counts alone or as
  "emergency stop". Japanese and Chinese compounds that hold a stop word in another sense do
  not count: 受け止めて, 突き止めて, まとめて, 行き止まり, 止まり木, 停车场, 为止, 不停.

Measured on ``test/data/stop_words.tsv`` (stop commands) and ``test/data/not_stops.tsv``
(ordinary sentences with 止 or "stop" in another sense): ``bench/emergency_words.py``.
"""
import re
import unicodedata
from typing import FrozenSet, Iterable, List

EMERGENCY_ACTION = 'StopMove'

_DROP_CHARS = frozenset('ー〜~')

# Japanese stop verbs: stems and the command endings they take (regular expressions).
_GODAN_STEMS = '(?:止ま|停ま|留ま|とま)'
_GODAN_ENDINGS = ('れ', 'って(?!い[るたま]|た|る|ま[すし])', 'りなさい', 'りな$', 'りや$',
                  'りましょう', 'ろう?', 'らないで', 'らんで', 'るな(?!ら)', 'んなさい')
_ICHIDAN_STEMS = ('(?:(?<!受け)(?<!突き)(?<!食い)(?<!引き)(?<!呼び)(?<!抱き)(?<!堰き)(?<!受)'
                  '(?<!突)止め|停め|(?<!(?<!い)ま)(?<!も)(?<!つ)(?<!うけ)(?<!くい)(?<!ひき)'
                  '(?<!よび)(?<!だき)とめ|(?<!あ)やめ)')
_ICHIDAN_ENDINGS = ('て(?!い[るたま]|た|る(?!な)|ま[すし])', 'ろ', 'なさい', 'な(?!い(?!で))',
                    'よう', 'よ$', 'ましょう', 'ないで', 'るな(?!ら)')
# Nouns that stop only at the end or with する: ストップ, 停止, 中止 (停止線 does not).
_JA_NOUN_TAIL = ('(?=$|し[てろなよま]|せよ|する?$|です|だ|ね|よ|って|すとっぷ|停止|中止|ていし|'
                 'ちゅうし)')

# Matched anywhere in the folded, compacted utterance (regular expressions).
_JA_SUBSTRINGS = (
    _GODAN_STEMS + '(?:%s)' % '|'.join(_GODAN_ENDINGS),
    '(?:止ま|停ま)る$',
    _ICHIDAN_STEMS + '(?:%s)' % '|'.join(_ICHIDAN_ENDINGS),
    '(?:ストップ|停止|中止|ていし|ちゅうし)' + _JA_NOUN_TAIL,
    '[動うご]+(?:かないで|くな(?!ら))', 'じっとして', '待て(?![ばるなた])',
    '待って(?!い[るたま]|た|る|ま[すし])', '危ない', 'あぶない', 'ブレーキ',
)
_ZH_SUBSTRINGS = (
    '停下', '停住', '停一下', '停一停', '停停', '快停', '不要再?[动動]', '[暂暫]停', '急停',
    '[别別]乱?[动動]',
    '不[许許][动動]', '原地不[动動]', '站住', '住手', '打住', '[刹煞][车車]',
    '危[险險]', '停止(?![线線]|[营營]业|[营營]業)', '中止', '[紧緊]急(?:停|刹|制[动動])',
    'ストップ', '停止',
    # 停 after an urgency adverb (快点停, 马上停); not 停车场, 停电, 停课, 停业 ...
    '(?:快点儿?|赶快|赶紧|趕快|趕緊|马上|馬上|立刻|立即|立马|立馬|给我|給我)停'
    '(?![车車电電课課业業工产產水留靠放])',
)
# Matched only as the whole utterance, possibly repeated.
_WHOLE = ('とま', 'とまっ', 'とまる', 'ストッ', 'まて', 'まって', 'やめ', '停', '停车', '停車',
          '等等', '等一下', '慢着', '慢著', '够了', '夠了', '紧急', '緊急', 'ロック', '锁定',
          '鎖定', 'wait', 'lock', 'hold on', 'hold it', 'enough', "that's enough", 'whoa',
          'emergency')
# English (and romanised Japanese): whole words, and phrases (token sequences).
_WORDS = frozenset(('stop', 'halt', 'freeze', 'estop', 'abort', 'tomare', 'tomatte',
                    'yamete', 'sutoppu'))
_PHRASES = ('dont move', 'do not move', 'stand still', 'hold still', 'stay still', 'stay put',
            'watch out', 'look out', 'emergency stop', 'cut it out', 'knock it off', 'quit it')
# A stop word used as a noun or about something else: "bus stop", "brain freeze".
_NOUN_BEFORE = {
    'stop': frozenset(('the', 'a', 'an', 'this', 'that', 'next', 'last', 'first', 'bus', 'train',
                       'tram', 'pit', 'full', 'one', 'non', 'my', 'your', 'our', 'every',
                       'each', 'rest', 'truck', 'door', 'final', 'request', 'whistle')),
    'halt': frozenset(('a', 'the')),
    'freeze': frozenset(('a', 'the', 'brain', 'deep', 'price', 'wage', 'hiring', 'pay')),
}
_NOUN_AFTER = {
    'stop': frozenset(('sign', 'signs', 'light', 'lights', 'motion', 'watch', 'gap', 'button',
                       'loss', 'word', 'words', 'codon', 'bath')),
    'freeze': frozenset(('the', 'a', 'an', 'them', 'this', 'these', 'those', 'my', 'your',
                         'some', 'leftovers', 'food', 'meat', 'chicken', 'dinner', 'water',
                         'dried')),
}


def _fold(text: str) -> str:
    """NFKC, casefold, katakana -> hiragana."""
    text = unicodedata.normalize('NFKC', text).casefold()
    return ''.join(chr(ord(c) - 0x60) if '\u30a1' <= c <= '\u30f6' else c for c in text)


def _compact(folded: str) -> str:
    """Letters, marks and digits only: no spaces, punctuation, quotes, symbols, long vowels."""
    return ''.join(c for c in folded
                   if unicodedata.category(c)[0] in 'LMN' and c not in _DROP_CHARS)


def _fold_patterns(patterns: Iterable[str]) -> List[str]:
    return [''.join(c for c in _fold(p) if c not in _DROP_CHARS) for p in patterns]


_JA_RE = re.compile('|'.join(_fold_patterns(_JA_SUBSTRINGS)))
_ZH_RE = re.compile('|'.join(_fold_patterns(_ZH_SUBSTRINGS)))
_KANA_RE = re.compile('[\u3041-\u309f]')
_WHOLE_FOLDED: FrozenSet[str] = frozenset(_compact(p) for p in _fold_patterns(_WHOLE))
_TOKEN_RE = re.compile('[a-z]+')


def is_emergency(text: str) -> bool:
    """Return True when ``text`` asks the robot to stop (see the module doc for the rules).

    Args:
        text: one utterance as recognised, any width, case or punctuation.

    Raises:
        TypeError: ``text`` is not a str.

    >>> is_emergency('とまって！'), is_emergency('ストップウォッチ'), is_emergency('bus stop')
    (True, False, False)
    """
    if not isinstance(text, str):
        raise TypeError('utterance must be str, got %s' % type(text).__name__)
    folded = _fold(text)
    compact = _compact(folded)
    if not compact:
        return False
    if (_JA_RE if _KANA_RE.search(compact) else _ZH_RE).search(compact):
        return True
    if any(_repeats(compact, word) for word in _WHOLE_FOLDED):
        return True
    tokens = _TOKEN_RE.findall(folded.replace("'", '').replace('\u2019', ''))
    if any(_is_stop_word(tokens, i) for i in range(len(tokens))):
        return True
    joined = ' %s ' % ' '.join(tokens)
    return any(' %s ' % phrase in joined for phrase in _PHRASES)


def _is_stop_word(tokens: List[str], i: int) -> bool:
    """True when ``tokens[i]`` is a stop word used as a command (not "bus stop")."""
    token = tokens[i]
    word = next((w for w in _WORDS if _repeats(token, w)), None)
    if word is None:
        return False
    before = tokens[i - 1] if i else ''
    after = tokens[i + 1] if i + 1 < len(tokens) else ''
    return not (before in _NOUN_BEFORE.get(word, ()) or after in _NOUN_AFTER.get(word, ()))


def _repeats(text: str, unit: str) -> bool:
    """True when ``text`` is ``unit`` once or more times over."""
    count, rest = divmod(len(text), len(unit))
    return count > 0 and rest == 0 and text == unit * count
