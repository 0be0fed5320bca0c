"""Other texts to try for an utterance, learnt from the lexicon: spellings, loanwords, numbers.

``Variants`` extends ``readings.Spellings`` (kana spellings of the lexicon's written words)
with two more kinds of candidate text, each a mechanism rather than a list of phrases:

- Loanwords: a Japanese utterance made only of katakana loanwords (with する/して, モード
  and politeness around them) is also tried as the English words they come from. UniDic
  records the source word in the lemma (``ノーマル-normal``, ``ウエーブ-wave``), so
  ノーマルモードにして tries "normal mode" and ウェーブして tries "wave" against the
  English lexicon.
- Trick numbers: a known command followed by a number (踊る2, おどって２, 舞踊二番) asks for
  the numbered sibling of its action (Dance1 -> Dance2); the candidate is a lexicon phrase
  of that sibling in the same language (ダンス2).

Every candidate counts only when its whole folded key is a lexicon key, and folded keys
never produce a high-risk action (``core.commands``), so a variant can only reach what a
listed phrase already asks for.
"""
import re
import unicodedata
from typing import Callable, Dict, Iterable, List, Optional, Tuple

from .japanese import PIPELINE, analyse, kanji_number, strip_filler_text
from .normalize import fold_width_case, has_kana
from .readings import Spellings

# (phrase, actions, lang) of one lexicon entry.
Entry = Tuple[str, Tuple[str, ...], str]
_LOANWORD_LEMMA = re.compile(r'^[\u30a1-\u30fcー]+-([a-z]+)$')
_LOANWORD_SURFACE = re.compile(r'^[\u30a1-\u30fcー]+$')
_LIGHT_NOUNS = frozenset(('モード',))
_TRICK_NUMBER = re.compile(
    r'^(?P<stem>.*?\D)\s*(?:第|No\.?|number|#)?\s*'
    r'(?P<n>\d{1,2}|[一二两兩三四五六七八九]|one|two|three|ワン|ツー|スリー)\s*'
    r'(?:番目|番|ばん|号|个|つ目)?$', re.IGNORECASE)
_WORD_NUMBERS = {'one': 1, 'two': 2, 'three': 3, 'ワン': 1, 'ツー': 2, 'スリー': 3}
_NUMBERED_ACTION = re.compile(r'^(?P<base>\D+)(?P<n>\d+)$')


def loanword_english(text: str) -> Optional[str]:
    """The English source words of a utterance made only of katakana loanwords, or None.

    Politeness, a light verb and fillers go first (``core.japanese.PIPELINE``); モード is
    kept as "mode". Source words come from UniDic's lemma field (``ノーマル-normal``).

    >>> loanword_english('ノーマルモードにして'), loanword_english('ウェーブしてください')
    ('normal mode', 'wave')
    >>> loanword_english('ダンスが好き') is None, loanword_english('座って') is None
    (True, True)
    """
    folded = fold_width_case(text)
    if not has_kana(folded):
        return None
    morphs = list(analyse(strip_filler_text(folded)))
    for rule in PIPELINE:
        morphs = rule(morphs)
    words = []
    for m in morphs:
        source = _LOANWORD_LEMMA.match(m.lemma)
        if m.surface in _LIGHT_NOUNS:
            words.append('mode')
        elif source and _LOANWORD_SURFACE.match(m.surface):
            words.append(source.group(1))
        else:
            return None
    return ' '.join(words) or None


def split_trick_number(text: str) -> Optional[Tuple[str, int]]:
    """``(stem, n)`` when ``text`` is a word followed by a number from 1 to 99, else None.

    >>> split_trick_number('踊る2'), split_trick_number('舞踊二番')
    (('踊る', 2), ('舞踊', 2))
    >>> split_trick_number('dance two')
    ('dance', 2)
    >>> split_trick_number('2'), split_trick_number('三歩')
    (None, None)
    """
    match = _TRICK_NUMBER.match(unicodedata.normalize('NFKC', text).strip())
    if not match or not match.group('stem').strip():
        return None
    raw = match.group('n')
    value = _WORD_NUMBERS.get(raw.lower(), None)
    if value is None:
        value = kanji_number(raw)
    if value is None or not 0 < value < 100:
        return None
    return match.group('stem').strip(), value


class Variants(Spellings):
    """Candidate texts for the exact tier (see the module doc), built from the lexicon.

    Args:
        entries: ``(phrase, actions, lang)`` of every lexicon entry, in file order.
        key: the folded exact-cache key of a text (``core.normalize.normalize``).
    """

    def __init__(self, entries: Iterable[Entry], key: Callable[[str], str]):
        entries = list(entries)
        super().__init__(phrase for phrase, _, lang in entries if lang == 'ja')
        self._key = key
        self._by_key: Dict[str, Entry] = {}
        self._by_action: Dict[Tuple[str, str], str] = {}
        for phrase, actions, lang in entries:
            self._by_key.setdefault(key(phrase), (phrase, actions, lang))
            if len(actions) == 1:
                self._by_action.setdefault((actions[0], lang), phrase)

    def variants(self, text: str) -> List[str]:
        """Candidate texts: kana spellings first, then the loanword and trick-number ones.

        >>> v = Variants([('ダンス', ('Dance1',), 'ja'), ('ダンス2', ('Dance2',), 'ja')],
        ...              lambda t: t)
        >>> v.variants('ダンス2番')[-1]
        'ダンス2'
        """
        out = super().variants(text)
        english = loanword_english(text)
        if english is not None:
            out.append(english)
        numbered = self._numbered(text)
        if numbered is not None:
            out.append(numbered)
        return out

    def _numbered(self, text: str) -> Optional[str]:
        """The same-language phrase of the numbered sibling of ``stem``'s action, or None."""
        split = split_trick_number(text)
        if split is None:
            return None
        stem, n = split
        keys = [self._key(stem)] + [self._key(v) for v in super().variants(stem)]
        entry = next((self._by_key[k] for k in keys if k in self._by_key), None)
        if entry is None or len(entry[1]) != 1:
            return None
        action = _NUMBERED_ACTION.match(entry[1][0])
        if action is None:
            return None
        return self._by_action.get((action.group('base') + str(n), entry[2]))
